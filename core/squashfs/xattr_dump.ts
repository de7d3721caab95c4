/**
 * The text format of `getfattr --dump` (`-d -e hex`), read as bytes: one block per file,
 * `# file: PATH`, then `NAME=0xHEX` lines, then a blank line. getfattr escapes bytes that
 * would break the format (newline, `=`, backslash, other control characters) as a
 * backslash and three octal digits, and prints every other byte as it is, so a path is
 * recovered byte for byte (names that are not UTF-8 included). The counterpart of
 * `setfattr --restore`, which `runtime/fsnodes.ts` feeds with the same format.
 *
 * @module
 */
import { pathKey } from "./fstree.ts";

/**
 * Extended attributes of a tree: attribute name to value, by entry path relative to the
 * tree's root ({@linkcode pathKey} of its bytes; `""` is the root itself).
 */
export type XattrTable = Map<string, Map<string, Uint8Array>>;

const BACKSLASH = 0x5c;
const NEWLINE = 0x0a;

/** Undo getfattr's `\ooo` escapes. */
function unescape(bytes: Uint8Array): Uint8Array {
  if (!bytes.includes(BACKSLASH)) return bytes;
  const out = new Uint8Array(bytes.length);
  let n = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === BACKSLASH && isOctal(bytes, i + 1)) {
      out[n++] = ((bytes[i + 1]! - 48) << 6) | ((bytes[i + 2]! - 48) << 3) | (bytes[i + 3]! - 48);
      i += 3;
    } else {
      out[n++] = b;
    }
  }
  return out.subarray(0, n);
}

function isOctal(bytes: Uint8Array, at: number): boolean {
  for (let i = at; i < at + 3; i++) {
    const c = bytes[i];
    if (c === undefined || c < 48 || c > 55) return false;
  }
  return true;
}

function startsWith(a: Uint8Array, prefix: Uint8Array): boolean {
  if (a.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (a[i] !== prefix[i]) return false;
  return true;
}

function hexValue(text: string, line: string): Uint8Array {
  if (text === '""') return new Uint8Array(0);
  if (!/^0x([0-9a-fA-F]{2})*$/.test(text)) {
    throw new SyntaxError(`Cannot read getfattr output: value in "${line}" is not hex`);
  }
  const out = new Uint8Array((text.length - 2) / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 + 2 * i, 4 + 2 * i), 16);
  return out;
}

/**
 * Parse the output of `getfattr -R -h -P -d -m - -e hex --absolute-names ROOT`.
 *
 * @param dump getfattr's standard output.
 * @param root The path given to getfattr, exactly (it prefixes every `# file:` path).
 * @returns The attributes by path relative to `root`; files without any are absent.
 * @throws {SyntaxError} when the text is not a getfattr hex dump or names a path outside
 *   `root`.
 */
export function parseGetfattrDump(dump: Uint8Array, root: string): XattrTable {
  const table: XattrTable = new Map();
  const rootBytes = new TextEncoder().encode(root.replace(/\/+$/, "") || "/");
  const decoder = new TextDecoder();
  let current: Map<string, Uint8Array> | undefined;
  let start = 0;
  while (start < dump.length) {
    let end = dump.indexOf(NEWLINE, start);
    if (end < 0) end = dump.length;
    const line = dump.subarray(start, end);
    start = end + 1;
    if (line.length === 0) {
      current = undefined;
      continue;
    }
    const text = decoder.decode(line);
    if (text.startsWith("# file: ")) {
      const path = unescape(line.subarray(8));
      let rel: Uint8Array;
      if (path.length === rootBytes.length && startsWith(path, rootBytes)) {
        rel = new Uint8Array(0);
      } else if (
        startsWith(path, rootBytes) &&
        (rootBytes[rootBytes.length - 1] === 0x2f || path[rootBytes.length] === 0x2f)
      ) {
        rel = path.subarray(rootBytes.length + (rootBytes[rootBytes.length - 1] === 0x2f ? 0 : 1));
      } else {
        throw new SyntaxError(`Cannot read getfattr output: "${text}" is not below "${root}"`);
      }
      current = new Map();
      table.set(pathKey(rel), current);
      continue;
    }
    if (text.startsWith("#")) continue;
    if (!current) {
      throw new SyntaxError(`Cannot read getfattr output: "${text}" comes before any "# file:"`);
    }
    const eq = line.indexOf(0x3d);
    if (eq <= 0) throw new SyntaxError(`Cannot read getfattr output: "${text}" has no value`);
    const name = decoder.decode(unescape(line.subarray(0, eq)));
    current.set(name, hexValue(decoder.decode(line.subarray(eq + 1)), text));
  }
  return table;
}
