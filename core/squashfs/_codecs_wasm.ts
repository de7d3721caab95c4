/**
 * Loader and marshaller for `wasm/gen/codecs.wasm` (crate `wasm/codecs`): LZ4 and xz
 * compression for the writer and xz / lzma decompression for the reader, the codecs no Deno
 * built-in provides. Raw `extern "C"` (ptr, len) ABI, like the other crates.
 *
 * @module
 */
import { SqfsWasmError } from "./_sqfs_read_wasm.ts";

const ABI_VERSION = 2;

interface Exports {
  memory: WebAssembly.Memory;
  cx_abi_version(): number;
  cx_alloc(len: number): number;
  cx_free(ptr: number, len: number): void;
  cx_error_ptr(): number;
  cx_error_len(): number;
  cx_out_ptr(): number;
  cx_lz4_compress(src: number, len: number, dst: number, cap: number): number;
  cx_xz_compress(
    src: number,
    len: number,
    dst: number,
    cap: number,
    preset: number,
    dictSize: number,
  ): number;
  cx_xz_decompress(src: number, len: number, cap: number): number;
  cx_lzma_decompress(src: number, len: number, cap: number): number;
}

let bytes: Promise<Uint8Array> | undefined;

/**
 * The module's bytes, decoded once per process and lazily (only LZ4 and xz writers and
 * xz/lzma readers need them). The literal specifier lets `deno compile` embed the base64 module.
 *
 * @returns The WebAssembly binary (shared: do not modify).
 */
export function codecsWasmBytes(): Promise<Uint8Array> {
  bytes ??= (async () => {
    const { default: base64 } = await import("../../wasm/gen/codecs.wasm.ts");
    return Uint8Array.fromBase64(base64);
  })();
  return bytes;
}

/** One instance of the codecs module; not shared between threads. */
export class Codecs {
  #x: Exports;
  #in = 0;
  #inCap = 0;
  #out = 0;
  #outCap = 0;

  private constructor(exports: Exports) {
    this.#x = exports;
    if (exports.cx_abi_version() !== ABI_VERSION) {
      throw new RangeError("codecs.wasm has an unexpected ABI version: run `deno task wasm:build`");
    }
  }

  /**
   * Instantiate the module.
   *
   * @returns A fresh instance.
   */
  static async create(): Promise<Codecs> {
    const module = await WebAssembly.compile(await codecsWasmBytes() as BufferSource);
    const instance = await WebAssembly.instantiate(module, {});
    return new Codecs(instance.exports as unknown as Exports);
  }

  #input(src: Uint8Array): number {
    if (src.length > this.#inCap) {
      if (this.#inCap) this.#x.cx_free(this.#in, this.#inCap);
      this.#inCap = Math.max(src.length, 65536);
      this.#in = this.#x.cx_alloc(this.#inCap);
    }
    new Uint8Array(this.#x.memory.buffer, this.#in, src.length).set(src);
    return this.#in;
  }

  #error(code: number, what: string, verb = "decompress"): never {
    const m = new Uint8Array(this.#x.memory.buffer, this.#x.cx_error_ptr(), this.#x.cx_error_len());
    const text = new TextDecoder().decode(m);
    // An unsupported feature is the reader's "unsupported" error, not corruption.
    if (code === -2) throw new SqfsWasmError(code, text);
    throw new RangeError(`Cannot ${verb} ${what}: ${text}`);
  }

  /**
   * Compress one block with LZ4 (raw block format, as SquashFS stores it).
   *
   * @param src The block.
   * @returns The compressed bytes (a copy), or `undefined` when they are not smaller.
   */
  lz4Compress(src: Uint8Array): Uint8Array | undefined {
    return this.#compress(src, (i, n, o, cap) => this.#x.cx_lz4_compress(i, n, o, cap));
  }

  /**
   * Compress one block into one .xz stream (CRC32 check, one LZMA2 block), as SquashFS
   * stores xz blocks (`mksquashfs -comp xz`).
   *
   * @param src The block.
   * @param preset The xz preset, 0 to 9 (mksquashfs uses 6).
   * @param dictSize The LZMA2 dictionary size: the image's block size (what Linux
   *   allocates for an xz image without compressor options).
   * @returns The compressed bytes (a copy), or `undefined` when they are not smaller.
   */
  xzCompress(src: Uint8Array, preset: number, dictSize: number): Uint8Array | undefined {
    return this.#compress(src, (i, n, o, cap) => {
      const r = this.#x.cx_xz_compress(i, n, o, cap, preset, dictSize);
      if (r < 0) this.#error(r, "an xz block", "compress");
      return r;
    });
  }

  #compress(
    src: Uint8Array,
    fn: (src: number, len: number, dst: number, cap: number) => number,
  ): Uint8Array | undefined {
    const inPtr = this.#input(src);
    const cap = src.length - 1;
    if (cap <= 0) return undefined;
    if (cap > this.#outCap) {
      if (this.#outCap) this.#x.cx_free(this.#out, this.#outCap);
      this.#outCap = Math.max(cap, 65536);
      this.#out = this.#x.cx_alloc(this.#outCap);
    }
    const n = fn(inPtr, src.length, this.#out, cap);
    if (n <= 0) return undefined;
    return new Uint8Array(this.#x.memory.buffer, this.#out, n).slice();
  }

  /**
   * Decompress one xz stream (SquashFS compressor 4).
   *
   * @param src The compressed block.
   * @param max The most bytes it may produce (more is corruption).
   * @returns The decompressed bytes (a copy).
   */
  xz(src: Uint8Array, max: number): Uint8Array {
    return this.#decompress(src, max, "an xz block", this.#x.cx_xz_decompress);
  }

  /**
   * Decompress one LZMA-alone stream (SquashFS compressor 2).
   *
   * @param src The compressed block.
   * @param max The most bytes it may produce (more is corruption).
   * @returns The decompressed bytes (a copy).
   */
  lzma(src: Uint8Array, max: number): Uint8Array {
    return this.#decompress(src, max, "an lzma block", this.#x.cx_lzma_decompress);
  }

  #decompress(
    src: Uint8Array,
    max: number,
    what: string,
    fn: (src: number, len: number, cap: number) => number,
  ): Uint8Array {
    const inPtr = this.#input(src);
    const n = fn(inPtr, src.length, max);
    if (n < 0) this.#error(n, what);
    return new Uint8Array(this.#x.memory.buffer, this.#x.cx_out_ptr(), n).slice();
  }
}

/**
 * The LZ4 or xz compressor of a compression worker (see `_compress_pool.ts`): this
 * function's source is copied into the worker's inline module, so it is self-contained (no
 * imports, no closures over this module). It instantiates the module from its bytes
 * synchronously.
 *
 * @param wasm The codecs module bytes ({@linkcode codecsWasmBytes}).
 * @param codec "lz4", or "xz" (one .xz stream per block).
 * @param preset The xz preset, 0 to 9 (ignored for lz4).
 * @param dictSize The xz LZMA2 dictionary size: the image's block size (ignored for lz4).
 * @returns A compressor returning the compressed bytes, or the input itself when they are
 *   not smaller (the pool then stores the block uncompressed).
 */
export function workerCodecsCompressor(
  wasm: Uint8Array,
  codec: "lz4" | "xz",
  preset = 0,
  dictSize = 0,
): (b: Uint8Array) => Uint8Array {
  const x = new WebAssembly.Instance(new WebAssembly.Module(wasm as BufferSource), {})
    .exports as unknown as Exports;
  let inPtr = 0, inCap = 0, outPtr = 0, outCap = 0;
  return (b: Uint8Array): Uint8Array => {
    if (b.length > inCap) {
      if (inCap) x.cx_free(inPtr, inCap);
      if (outCap) x.cx_free(outPtr, outCap);
      inCap = outCap = Math.max(b.length, 65536);
      inPtr = x.cx_alloc(inCap);
      outPtr = x.cx_alloc(outCap);
    }
    new Uint8Array(x.memory.buffer, inPtr, b.length).set(b);
    const cap = b.length - 1;
    const n = b.length < 2
      ? 0
      : codec === "lz4"
      ? x.cx_lz4_compress(inPtr, b.length, outPtr, cap)
      : x.cx_xz_compress(inPtr, b.length, outPtr, cap, preset, dictSize);
    if (n < 0) {
      const text = new Uint8Array(x.memory.buffer, x.cx_error_ptr(), x.cx_error_len());
      throw new Error(new TextDecoder().decode(text));
    }
    return n > 0 ? new Uint8Array(x.memory.buffer, outPtr, n).slice() : b;
  };
}
