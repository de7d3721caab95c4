/**
 * Field decoding for 512-byte tar header blocks (v7, ustar, GNU and old GNU): numbers in
 * octal or base-256, NUL-terminated byte strings, and the header checksum.
 *
 * @module
 */

/** Size of a tar block; headers and data are padded to it. */
export const BLOCK = 512;

/** Byte offsets of the fields every tar dialect shares (ustar layout). */
export const FIELD = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  checksum: [148, 8],
  typeflag: [156, 1],
  linkname: [157, 100],
  magic: [257, 8],
  uname: [265, 32],
  gname: [297, 32],
  devmajor: [329, 8],
  devminor: [337, 8],
  prefix: [345, 155],
  /** Old GNU sparse: four (offset, numbytes) pairs of 12-byte numbers. */
  gnuSparse: [386, 96],
  gnuIsExtended: [482, 1],
  gnuRealSize: [483, 12],
} as const satisfies Record<string, readonly [number, number]>;

/** The dialect a header's magic field announces. */
export type TarDialect = "ustar" | "gnu" | "v7";

/**
 * Which dialect a header block uses, from its magic and version fields.
 *
 * @param block A 512-byte header.
 * @returns "ustar" (POSIX, with a name prefix), "gnu" (old GNU layout) or "v7".
 */
export function dialectOf(block: Uint8Array): TarDialect {
  // "ustar\0" + "00" is POSIX; "ustar  \0" is GNU's pre-POSIX layout.
  if (
    block[257] === 0x75 && block[258] === 0x73 && block[259] === 0x74 && block[260] === 0x61 &&
    block[261] === 0x72
  ) {
    if (block[262] === 0x20 && block[263] === 0x20) return "gnu";
    return "ustar";
  }
  return "v7";
}

/**
 * Whether a block is all zeros (the end-of-archive marker).
 *
 * @param block A 512-byte block.
 * @returns True when every byte is zero.
 */
export function isZeroBlock(block: Uint8Array): boolean {
  // Compare 32-bit words when aligned: end markers are checked once per archive, but a
  // misread here ends the archive, so keep it exact rather than clever.
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/**
 * Verify a header's checksum: the sum of all header bytes with the checksum field counted
 * as spaces. Both the unsigned sum (POSIX) and the signed sum (some historic tars) pass.
 *
 * @param block A 512-byte header.
 * @returns True when the stored checksum matches.
 */
export function checksumOk(block: Uint8Array): boolean {
  const stored = parseOctal(block, 148, 8);
  if (stored === undefined) return false;
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return stored === unsigned || stored === signed;
}

/** Parse an octal field (spaces/NULs around digits allowed); undefined when malformed. */
function parseOctal(block: Uint8Array, off: number, len: number): number | undefined {
  let i = off;
  const end = off + len;
  while (i < end && (block[i] === 0x20 || block[i] === 0)) i++;
  if (i === end) return 0;
  let value = 0;
  let digits = 0;
  for (; i < end; i++) {
    const b = block[i]!;
    if (b === 0x20 || b === 0) break;
    if (b < 0x30 || b > 0x37) return undefined;
    value = value * 8 + (b - 0x30);
    digits++;
  }
  for (; i < end; i++) if (block[i] !== 0x20 && block[i] !== 0) return undefined;
  return digits ? value : 0;
}

/**
 * Decode a numeric header field: octal text, or GNU/star base-256 (first byte 0x80 for a
 * positive number, 0xff for a negative one).
 *
 * @param block The header block.
 * @param off Field offset.
 * @param len Field length.
 * @param what Field name, for the error message.
 * @returns The value as a safe integer.
 * @throws {SyntaxError} When the field is not a number or exceeds 2^53.
 */
export function parseNumber(block: Uint8Array, off: number, len: number, what: string): number {
  const first = block[off]!;
  if (first === 0x80 || first === 0xff) {
    const negative = first === 0xff;
    let value = 0n;
    for (let i = off; i < off + len; i++) {
      const b = i === off ? (negative ? 0xff : 0) : block[i]!;
      value = (value << 8n) | BigInt(b);
    }
    if (negative) value -= 1n << BigInt(8 * len);
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new SyntaxError(`${what} field ${value} is out of range`);
    }
    return Number(value);
  }
  const value = parseOctal(block, off, len);
  if (value === undefined) {
    throw new SyntaxError(
      `${what} field is not an octal number: ${
        JSON.stringify(latin1(block.subarray(off, off + len)))
      }`,
    );
  }
  if (!Number.isSafeInteger(value)) throw new SyntaxError(`${what} field ${value} is out of range`);
  return value;
}

/**
 * A NUL-terminated byte string from a header field (copied, so the block may be reused).
 *
 * @param block The header block.
 * @param off Field offset.
 * @param len Field length.
 * @returns The bytes before the first NUL (or the whole field).
 */
export function parseBytes(block: Uint8Array, off: number, len: number): Uint8Array {
  // A plain loop: a subarray and indexOf per field cost more than the scan (every header).
  const limit = off + len;
  let end = off;
  while (end < limit && block[end] !== 0) end++;
  return block.slice(off, end);
}

/**
 * A display form of name bytes for error messages only (invalid UTF-8 shown as \xNN).
 *
 * @param bytes Name bytes.
 * @returns A printable string; never used as a key or written anywhere.
 */
export function displayName(bytes: Uint8Array): string {
  let out = "";
  let i = 0;
  const decoder = new TextDecoder("utf-8", { fatal: true });
  while (i < bytes.length) {
    const b = bytes[i]!;
    if (b >= 0x20 && b < 0x7f) {
      out += String.fromCharCode(b);
      i++;
      continue;
    }
    // Try a multi-byte UTF-8 sequence; fall back to an escape for a bad byte.
    const n = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    if (n > 1 && i + n <= bytes.length) {
      try {
        out += decoder.decode(bytes.subarray(i, i + n));
        i += n;
        continue;
      } catch {
        // not UTF-8: escape below
      }
    }
    out += `\\x${b.toString(16).padStart(2, "0")}`;
    i++;
  }
  return out;
}

function latin1(bytes: Uint8Array): string {
  return String.fromCharCode(...bytes);
}
