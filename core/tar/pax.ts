/**
 * POSIX pax extended header records (`"<len> <key>=<value>\n"`), kept as bytes: keys are
 * ASCII in practice, values (paths, xattr values) are arbitrary bytes and never decoded.
 *
 * @module
 */

/** One pax record: the key as a string, the value as raw bytes. */
export interface PaxRecord {
  /** Record keyword, e.g. "path", "SCHILY.xattr.user.x", "GNU.sparse.offset". */
  key: string;
  /** Raw value bytes (no trailing newline). */
  value: Uint8Array;
}

const utf8 = new TextDecoder();

/**
 * Parse the data of a pax extended header ('x' or 'g') into records, in order (repeated
 * keys are kept: GNU sparse 0.0 repeats offset/numbytes pairs).
 *
 * @param data The header's data (its declared size, unpadded).
 * @returns The records.
 * @throws {SyntaxError} On a malformed record.
 */
export function parsePax(data: Uint8Array): PaxRecord[] {
  const records: PaxRecord[] = [];
  let pos = 0;
  while (pos < data.length) {
    // Trailing NUL padding (some writers) ends the list.
    if (data[pos] === 0) break;
    let len = 0;
    let i = pos;
    while (i < data.length && data[i]! >= 0x30 && data[i]! <= 0x39 && i - pos < 12) {
      len = len * 10 + (data[i]! - 0x30);
      i++;
    }
    if (i === pos || data[i] !== 0x20 || len <= i - pos + 1 || pos + len > data.length) {
      throw new SyntaxError(`malformed pax record at byte ${pos}`);
    }
    const end = pos + len;
    if (data[end - 1] !== 0x0a) {
      throw new SyntaxError(`pax record at byte ${pos} lacks its newline`);
    }
    const body = data.subarray(i + 1, end - 1);
    const eq = body.indexOf(0x3d);
    if (eq <= 0) throw new SyntaxError(`pax record at byte ${pos} has no keyword`);
    records.push({ key: utf8.decode(body.subarray(0, eq)), value: body.slice(eq + 1) });
    pos = end;
  }
  return records;
}

/**
 * Decode a decimal pax value (integer, or seconds with a fraction for times).
 *
 * @param value The value bytes.
 * @param key The keyword, for the error message.
 * @param fraction Whether a fractional part is allowed (times); it is truncated.
 * @returns The integer value.
 * @throws {SyntaxError} When the value is not a safe integer.
 */
export function paxNumber(value: Uint8Array, key: string, fraction = false): number {
  const text = utf8.decode(value);
  const match = fraction ? /^(-?\d+)(\.\d*)?$/.exec(text) : /^(\d+)$/.exec(text);
  if (!match) throw new SyntaxError(`pax ${key}=${JSON.stringify(text)} is not a number`);
  const n = Number(match[1]);
  if (!Number.isSafeInteger(n)) throw new SyntaxError(`pax ${key}=${text} is out of range`);
  return n;
}

/**
 * Decode a LIBARCHIVE.xattr name (percent-encoded) to the attribute name.
 *
 * @param encoded The part of the key after "LIBARCHIVE.xattr.".
 * @returns The attribute name.
 */
export function decodeLibarchiveName(encoded: string): string {
  try {
    return decodeURIComponent(encoded);
  } catch {
    return encoded;
  }
}

/**
 * Decode a base64 value (LIBARCHIVE.xattr values; padding optional).
 *
 * @param value The base64 bytes.
 * @returns The decoded bytes.
 */
export function decodeBase64(value: Uint8Array): Uint8Array {
  let text = utf8.decode(value).replace(/\s+/g, "");
  while (text.length % 4) text += "=";
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
