/**
 * Reading answers from the user: a line from stdin, or a secret typed without echo on a TTY.
 *
 * @module
 */

const encoder = new TextEncoder();

/**
 * Read one line from stdin (without its newline).
 *
 * @returns The line, or "" at end of input.
 */
export async function readLine(): Promise<string> {
  const bytes: number[] = [];
  const buffer = new Uint8Array(1);
  while (true) {
    const n = await Deno.stdin.read(buffer);
    if (n === null || n === 0) break;
    if (buffer[0] === 0x0a) break;
    bytes.push(buffer[0]!);
  }
  return new TextDecoder().decode(new Uint8Array(bytes)).replace(/\r$/, "");
}

/**
 * Ask a question on stderr and read the answer from stdin.
 *
 * @param question The prompt, e.g. "Username: ".
 * @param secret Turn echo off (on a TTY) while typing.
 * @returns The answer.
 */
export async function ask(question: string, secret = false): Promise<string> {
  Deno.stderr.writeSync(encoder.encode(question));
  if (!secret || !Deno.stdin.isTerminal()) return await readLine();
  Deno.stdin.setRaw(true);
  try {
    const bytes: number[] = [];
    const buffer = new Uint8Array(1);
    while (true) {
      const n = await Deno.stdin.read(buffer);
      if (n === null || n === 0) break;
      const b = buffer[0]!;
      if (b === 0x0d || b === 0x0a) break;
      if (b === 0x03) throw new Error("interrupted");
      if (b === 0x7f || b === 0x08) bytes.pop();
      else bytes.push(b);
    }
    return new TextDecoder().decode(new Uint8Array(bytes));
  } finally {
    Deno.stdin.setRaw(false);
    Deno.stderr.writeSync(encoder.encode("\n"));
  }
}
