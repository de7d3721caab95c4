/**
 * Describe a directory tree as stable text (type, mode, size, link count, content hash,
 * symlink target, user xattrs), so tests compare unpacked or mounted trees with one string.
 * Uses GNU find, sha256sum and getfattr because Deno paths are strings and cannot name
 * the fixtures' non-UTF-8 files.
 *
 * @module
 */

/** Options of {@linkcode describeTree}. */
export interface DescribeTreeOptions {
  /** Also list `user.*` extended attributes (needs getfattr); default true. */
  xattrs?: boolean;
  /** Also print "uid:gid" of every entry; default false (unpackers map owners differently). */
  owners?: boolean;
}

const decoder = new TextDecoder();

/**
 * Escape a name for display: printable ASCII stays, other bytes become `\xNN`.
 *
 * @param bytes Raw name.
 * @returns Display text.
 */
export function escapeName(bytes: Uint8Array): string {
  let out = "";
  for (const byte of bytes) {
    if (byte === 0x5c) out += "\\\\";
    else if (byte >= 0x20 && byte < 0x7f) out += String.fromCharCode(byte);
    else out += `\\x${byte.toString(16).padStart(2, "0")}`;
  }
  return out;
}

function splitNul(bytes: Uint8Array): Uint8Array[] {
  const parts: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0) {
      parts.push(bytes.subarray(start, i));
      start = i + 1;
    }
  }
  return parts;
}

async function capture(program: string, args: string[]): Promise<Uint8Array> {
  const output = await new Deno.Command(program, { args, stdout: "piped", stderr: "piped" })
    .output();
  if (!output.success) {
    throw new Error(`${program} ${args.join(" ")} failed: ${decoder.decode(output.stderr)}`);
  }
  return output.stdout;
}

/** Turn getfattr's octal escapes (`\351`) back into bytes. */
function unescapeOctal(text: Uint8Array): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const digits = decoder.decode(text.subarray(i + 1, i + 4));
    if (text[i] === 0x5c && /^[0-7]{3}$/.test(digits)) {
      out.push(parseInt(digits, 8));
      i += 3;
    } else out.push(text[i]!);
  }
  return new Uint8Array(out);
}

function hexToText(hex: string): string {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return JSON.stringify(escapeName(bytes));
}

/**
 * Describe every entry under `dir` (not `dir` itself), one line each, sorted by name bytes:
 * `dir MODE PATH`, `file MODE size=N links=N sha256=<16 hex> PATH`, `symlink PATH -> TARGET`,
 * other types as `<find %y> MODE PATH`; then `xattr NAME="VALUE" PATH` lines.
 *
 * @param dir The tree's root.
 * @param options What else to include.
 * @returns The description, one line per entry, ending in a newline (empty for an empty dir).
 */
export async function describeTree(
  dir: string,
  options: DescribeTreeOptions = {},
): Promise<string> {
  const root = dir.replace(/\/+$/, "");
  const listing = splitNul(
    await capture("find", [root, "-mindepth", "1", "-printf", "%y %m %s %n %U:%G %P\\0%l\\0"]),
  );
  const hashes = new Map<string, string>();
  const sums = splitNul(
    await capture("find", [
      root,
      "-mindepth",
      "1",
      "-type",
      "f",
      "-exec",
      "sha256sum",
      "-z",
      "{}",
      "+",
    ]),
  );
  for (const line of sums) {
    // "<64 hex>  <root>/<path>"
    hashes.set(
      escapeName(line.subarray(66 + root.length + 1)),
      decoder.decode(line.subarray(0, 16)),
    );
  }
  const xattrs = new Map<string, string[]>();
  if (options.xattrs ?? true) {
    const dump = await capture("getfattr", [
      "-R",
      "-h",
      "-d",
      "-m",
      "^user\\.",
      "-e",
      "hex",
      "--absolute-names",
      root,
    ]);
    let current = "";
    let start = 0;
    for (let i = 0; i <= dump.length; i++) {
      if (i < dump.length && dump[i] !== 0x0a) continue;
      const line = dump.subarray(start, i);
      start = i + 1;
      const text = decoder.decode(line);
      if (text.startsWith("# file: ")) {
        current = escapeName(unescapeOctal(line.subarray(8 + root.length + 1)));
      } else if (text.includes("=0x")) {
        const [name, value] = text.split("=0x") as [string, string];
        const list = xattrs.get(current) ?? [];
        list.push(`xattr ${name}=${hexToText(value)} ${current}`);
        xattrs.set(current, list);
      }
    }
  }
  const entries: { raw: Uint8Array; line: string; path: string }[] = [];
  for (let i = 0; i + 1 < listing.length; i += 2) {
    const record = listing[i]!;
    // The path is everything after the fifth space (names may contain spaces).
    let spaces = 0;
    let at = 0;
    while (spaces < 5 && at < record.length) if (record[at++] === 0x20) spaces++;
    const [type, mode, size, links, owner] = decoder.decode(record.subarray(0, at - 1)).split(" ");
    const raw = record.subarray(at);
    const path = escapeName(raw);
    const own = options.owners ? `${owner} ` : "";
    const modeText = (mode ?? "").padStart(4, "0");
    let line: string;
    if (type === "d") line = `dir ${modeText} ${own}${path}`;
    else if (type === "f") {
      line = `file ${modeText} ${own}size=${size} links=${links} sha256=${
        hashes.get(path)
      } ${path}`;
    } else if (type === "l") line = `symlink ${own}${path} -> ${escapeName(listing[i + 1]!)}`;
    else line = `${type} ${modeText} ${own}${path}`;
    entries.push({ raw, line, path });
  }
  entries.sort((a, b) => {
    const length = Math.min(a.raw.length, b.raw.length);
    for (let i = 0; i < length; i++) if (a.raw[i] !== b.raw[i]) return a.raw[i]! - b.raw[i]!;
    return a.raw.length - b.raw.length;
  });
  const lines: string[] = [];
  for (const entry of entries) lines.push(entry.line, ...(xattrs.get(entry.path) ?? []));
  return lines.length ? lines.join("\n") + "\n" : "";
}
