/**
 * Block decompressors for the SquashFS reader, by superblock compressor id, on
 * `node:zlib` (native and faster here than any WASM build: DEVELOPERS.md). gzip images
 * store zlib-format streams; zstd uses `zstdDecompressSync`. LZ4 blocks are simple enough
 * to decode in the reader's crate (`wasm/sqfs_read/src/lz4.rs`), passed in by the caller;
 * xz and lzma are decoded by the codecs crate (`wasm/codecs`, `lzma-rs`), also passed in.
 * lzo has no decoder here, so it fails with a clear "not supported" error.
 *
 * @module
 */
import * as zlib from "node:zlib";
import type { Codecs } from "./_codecs_wasm.ts";

/** SquashFS compressor ids and names. */
export const COMPRESSOR_NAMES: Readonly<Record<number, string>> = {
  1: "gzip",
  2: "lzma",
  3: "lzo",
  4: "xz",
  5: "lz4",
  6: "zstd",
};

/** Decompress `src`, producing at most `max` bytes (more is corruption). */
export type Decompressor = (src: Uint8Array, max: number) => Uint8Array;

function toU8(b: Uint8Array): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * The decompressor for a compressor id.
 *
 * @param id Superblock compressor id.
 * @param lz4 The LZ4 block decoder (from the reader's WASM instance).
 * @param codecs The codecs instance, needed for xz (4) and lzma (2) only.
 * @returns The decompressor, or a string saying why the id is unsupported.
 */
export function decompressorFor(
  id: number,
  lz4?: Decompressor,
  codecs?: Codecs,
): Decompressor | string {
  if (id === 5 && lz4) return lz4;
  if (id === 4 && codecs) return (src, max) => codecs.xz(src, max);
  if (id === 2 && codecs) return (src, max) => codecs.lzma(src, max);
  switch (id) {
    case 1:
      return (src, max) => toU8(zlib.inflateSync(src, { maxOutputLength: max }));
    case 6:
      return (src, max) => toU8(zlib.zstdDecompressSync(src, { maxOutputLength: max }));
    default:
      return `compressor ${COMPRESSOR_NAMES[id] ?? id} is not supported ` +
        `(singlet reads gzip, zstd, lz4, xz and lzma SquashFS images)`;
  }
}
