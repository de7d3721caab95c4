/**
 * Little-endian field helpers shared by the header and descriptor codecs.
 *
 * @module
 */

/**
 * Read a little-endian int64 as a number, refusing values a number cannot hold exactly.
 *
 * @param view The view to read from.
 * @param offset Byte offset of the field.
 * @param field Field name, for the error message.
 * @returns The value.
 * @throws {RangeError} When the value is outside ±2^53.
 */
export function readInt64(view: DataView, offset: number, field: string): number {
  // Two 32-bit reads instead of a BigInt: this runs for every field of every descriptor.
  const lo = view.getUint32(offset, true);
  const hi = view.getInt32(offset + 4, true);
  const value = hi * 4294967296 + lo;
  if (hi >= 0x200000 || hi < -0x200000 || !Number.isSafeInteger(value)) {
    throw new RangeError(`${field} is out of range (${view.getBigInt64(offset, true)})`);
  }
  return value;
}

/**
 * Write a number as a little-endian int64.
 *
 * @param view The view to write to.
 * @param offset Byte offset of the field.
 * @param value A safe integer.
 */
export function writeInt64(view: DataView, offset: number, value: number | bigint): void {
  view.setBigInt64(offset, typeof value === "bigint" ? value : BigInt(value), true);
}

/**
 * The bytes of a NUL-padded field with trailing NULs removed (Go's `TrimRight(s, "\x00")`).
 *
 * @param field The raw field.
 * @returns A view without the trailing NULs.
 */
export function trimNul(field: Uint8Array): Uint8Array {
  let end = field.length;
  while (end > 0 && field[end - 1] === 0) end--;
  return field.subarray(0, end);
}

const strictDecoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Decode UTF-8 strictly.
 *
 * @param bytes The bytes.
 * @returns The text, or undefined when the bytes are not valid UTF-8.
 */
export function decodeUtf8(bytes: Uint8Array): string | undefined {
  if (bytes.length === 0) return "";
  // Names are nearly always ASCII: skip the decoder for them.
  let ascii = true;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i]! >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return String.fromCharCode(...bytes);
  try {
    return strictDecoder.decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * Format 16 bytes as a lowercase UUID string (8-4-4-4-12).
 *
 * @param id The 16 bytes.
 * @returns The UUID text.
 */
export function formatUuid(id: Uint8Array): string {
  const hex = Array.from(id, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${
    hex.slice(20, 32)
  }`;
}

/**
 * Parse a UUID string (with or without dashes) into 16 bytes.
 *
 * @param text The UUID.
 * @returns The 16 bytes.
 * @throws {SyntaxError} When the text is not a UUID.
 */
export function parseUuid(text: string): Uint8Array {
  const hex = text.replace(/^urn:uuid:/i, "").replace(/[{}]/g, "").replaceAll("-", "");
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new SyntaxError(`Cannot parse UUID "${text}"`);
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}
