/**
 * The compressor-options metadata block SquashFS stores right after the superblock (flag
 * 0x0400). Only LZ4 needs one: Linux refuses an LZ4 image without it
 * (`lz4_comp_opts`: "LZ4 compressed filesystems always have compression options"), and
 * squashfs-tools writes version 1 (`LZ4_LEGACY`) with flags 0 (or 1 for `-Xhc`).
 *
 * @module
 */

/** Superblock flag: a compressor-options block follows the superblock. */
export const FLAG_COMPRESSOR_OPTIONS = 0x0400;

/**
 * The options block a compressor needs, as an uncompressed metadata block (2-byte header
 * with bit 15 set, then the payload), or `undefined` when it needs none.
 *
 * @param compressor The image's compressor.
 * @returns The bytes to write at offset 96, or `undefined`.
 */
export function compressorOptionsBlock(compressor: string): Uint8Array | undefined {
  if (compressor !== "lz4") return undefined;
  const block = new Uint8Array(10);
  const view = new DataView(block.buffer);
  view.setUint16(0, 0x8000 | 8, true);
  view.setUint32(2, 1, true); // LZ4_LEGACY
  view.setUint32(6, 0, true); // no LZ4_HC
  return block;
}
