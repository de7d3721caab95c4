/**
 * Block decompressors for the SquashFS reader, by superblock compressor id. gzip images
 * store zlib-format streams, inflated by `node:zlib` (native, the fastest here:
 * DEVELOPERS.md) or, for a reader opened `light`, by the built-in `DecompressionStream`;
 * zstd uses `node:zlib`'s `zstdDecompressSync`. LZ4 blocks are simple enough to decode in
 * the reader's crate (`wasm/sqfs_read/src/lz4.rs`), passed in by the caller; xz and lzma
 * are decoded by the codecs crate (`wasm/codecs`, `lzma-rs`), also passed in. lzo has no
 * decoder here, so it fails with a clear "not supported" error.
 *
 * `node:zlib` is imported on first use only: loading it (and the `node:` modules it pulls
 * in) costs about 20 ms of CPU, more than `singlet exec` spends inflating the few metadata
 * blocks and small files it reads (measured: `DecompressionStream` costs ~7 ms to load and
 * ~40 µs per 8 KiB block, `inflateSync` ~25 µs).
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

/** Decompress `src` asynchronously, producing at most `max` bytes (more is corruption). */
export type AsyncDecompressor = (src: Uint8Array, max: number) => Promise<Uint8Array>;

/** How a reader decompresses its blocks. */
export interface BlockDecoder {
  /** The synchronous decoder; absent for a `light` gzip reader. */
  sync?: Decompressor;
  /** The asynchronous decoder (the synchronous one when there is one). */
  async: AsyncDecompressor;
}

function toU8(b: Uint8Array): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

type Zlib = typeof import("node:zlib");
let zlibModule: Promise<Zlib> | undefined;

/** `node:zlib`, imported once, on first use. */
function loadZlib(): Promise<Zlib> {
  zlibModule ??= import("node:zlib");
  return zlibModule;
}

/**
 * Inflate one zlib-format stream with the built-in `DecompressionStream`, stopping as soon
 * as the output passes `max` bytes (a small corrupt block cannot make it allocate more).
 *
 * @param src The compressed block.
 * @param max Largest output accepted.
 * @returns The inflated bytes.
 * @throws {RangeError} When the output would exceed `max`.
 * @throws {TypeError} When the stream is corrupt.
 */
export async function inflateStream(src: Uint8Array, max: number): Promise<Uint8Array> {
  const stream = new DecompressionStream("deflate");
  const writer = stream.writable.getWriter();
  // errors surface through the reader; these promises only need handling
  writer.write(src as Uint8Array<ArrayBuffer>).catch(() => {});
  writer.close().catch(() => {});
  const reader = stream.readable.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > max) {
      await reader.cancel().catch(() => {});
      throw new RangeError(`the block inflates to more than ${max} bytes`);
    }
    parts.push(value);
  }
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/**
 * The decoder for a compressor id.
 *
 * @param id Superblock compressor id.
 * @param options `lz4`: the LZ4 block decoder (from the reader's WASM instance); `codecs`:
 *   the codecs instance, needed for xz (4) and lzma (2) only; `light`: inflate gzip
 *   blocks with `DecompressionStream` and leave `node:zlib` unloaded (no `sync` decoder).
 * @returns The decoder, or a string saying why the id is unsupported.
 */
export async function blockDecoder(
  id: number,
  options: { lz4?: Decompressor; codecs?: Codecs | undefined; light?: boolean } = {},
): Promise<BlockDecoder | string> {
  let sync: Decompressor | undefined;
  if (id === 5 && options.lz4) sync = options.lz4;
  else if (id === 4 && options.codecs) sync = (src, max) => options.codecs!.xz(src, max);
  else if (id === 2 && options.codecs) sync = (src, max) => options.codecs!.lzma(src, max);
  else if (id === 1 && options.light) return { async: inflateStream };
  else if (id === 1) {
    const zlib = await loadZlib();
    sync = (src, max) => toU8(zlib.inflateSync(src, { maxOutputLength: max }));
  } else if (id === 6) {
    const zlib = await loadZlib();
    sync = (src, max) => toU8(zlib.zstdDecompressSync(src, { maxOutputLength: max }));
  } else {
    return `compressor ${COMPRESSOR_NAMES[id] ?? id} is not supported ` +
      `(singlet reads gzip, zstd, lz4, xz and lzma SquashFS images)`;
  }
  const decode = sync;
  return { sync: decode, async: (src, max) => Promise.resolve().then(() => decode(src, max)) };
}
