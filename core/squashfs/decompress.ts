/**
 * Block decompressors for the SquashFS reader, by superblock compressor id. gzip images
 * store zlib-format streams, inflated by `node:zlib` (native, the fastest here:
 * DEVELOPERS.md) or, for a reader opened `light`, by the reader's own crate
 * (`wasm/sqfs_read/src/inflate.rs`, `miniz_oxide`); zstd uses `node:zlib`'s
 * `zstdDecompressSync`. LZ4 blocks are simple enough to decode in the reader's crate
 * (`wasm/sqfs_read/src/lz4.rs`); xz and lzma are decoded by the codecs crate
 * (`wasm/codecs`, `lzma-rs`); the caller passes those in. lzo has no decoder here, so it
 * fails with a clear "not supported" error.
 *
 * `node:zlib` is imported on first use only: loading it (and the `node:` modules it pulls
 * in) costs about 20 ms of CPU, more than `singlet exec` spends inflating the few metadata
 * blocks and small files it reads (`DecompressionStream` was measured too: ~7 ms to load).
 *
 * @module
 */
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

let zlibModule: Promise<typeof import("node:zlib")> | undefined;

/** Block decoders implemented in WebAssembly, passed in by the reader. */
export interface WasmDecoders {
  /** LZ4 blocks (the reader's crate). */
  lz4?: Decompressor;
  /** zlib streams (the reader's crate), used by `light` readers. */
  inflate?: Decompressor;
  /** The codecs instance, needed for xz (4) and lzma (2) only. */
  codecs?: Codecs | undefined;
}

/**
 * The decompressor for a compressor id.
 *
 * @param id Superblock compressor id.
 * @param wasm The WebAssembly decoders available.
 * @param light Inflate gzip blocks with `wasm.inflate`, leaving `node:zlib` unloaded.
 * @returns The decompressor, or a string saying why the id is unsupported.
 */
export async function decompressorFor(
  id: number,
  wasm: WasmDecoders = {},
  light = false,
): Promise<Decompressor | string> {
  if (id === 5 && wasm.lz4) return wasm.lz4;
  if (id === 4 && wasm.codecs) return (src, max) => wasm.codecs!.xz(src, max);
  if (id === 2 && wasm.codecs) return (src, max) => wasm.codecs!.lzma(src, max);
  if (id === 1 && light && wasm.inflate) return wasm.inflate;
  if (id === 1 || id === 6) {
    zlibModule ??= import("node:zlib");
    const zlib = await zlibModule;
    return id === 1
      ? (src, max) => toU8(zlib.inflateSync(src, { maxOutputLength: max }))
      : (src, max) => toU8(zlib.zstdDecompressSync(src, { maxOutputLength: max }));
  }
  return `compressor ${COMPRESSOR_NAMES[id] ?? id} is not supported ` +
    `(singlet reads gzip, zstd, lz4, xz and lzma SquashFS images)`;
}
