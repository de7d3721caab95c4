/**
 * Run the singlet CLI exactly as users do: through bin/singlet, i.e. the same entry point
 * and the same permission flags (cli/permissions.args) as the compiled binary.
 *
 * @module
 */

/** The repository root. */
export const REPO_ROOT: string = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");
/** The launcher every test goes through. */
export const SINGLET_BIN: string = `${REPO_ROOT}/bin/singlet`;

/** What a singlet run produced. */
export interface SingletResult {
  /** Exit code. */
  code: number;
  /** Standard output, decoded. */
  stdout: string;
  /** Standard error, decoded. */
  stderr: string;
}

/** Options of {@linkcode runSinglet}. */
export interface RunSingletOptions {
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Working directory. */
  cwd?: string;
  /** Bytes or text fed to stdin. */
  stdin?: string | Uint8Array;
}

/**
 * Run `bin/singlet ARGS...` and capture its output.
 *
 * @param args Arguments after the program name.
 * @param options Environment, cwd, stdin.
 * @returns Exit code and decoded output.
 */
export async function runSinglet(
  args: readonly string[],
  options: RunSingletOptions = {},
): Promise<SingletResult> {
  const command = new Deno.Command(SINGLET_BIN, {
    args: [...args],
    env: { NO_COLOR: "1", ...options.env },
    ...(options.cwd ? { cwd: options.cwd } : {}),
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  });
  const child = command.spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(
      typeof options.stdin === "string" ? new TextEncoder().encode(options.stdin) : options.stdin,
    );
    await writer.close();
  }
  const output = await child.output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}
