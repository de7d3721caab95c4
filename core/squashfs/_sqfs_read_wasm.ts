/**
 * Loader and marshaller for `wasm/gen/sqfs_read.wasm` (crate `wasm/sqfs_read`): a raw
 * `extern "C"` (ptr, len) ABI, no wasm-bindgen. Each {@linkcode SqfsWasm} wraps one
 * instance (one image); instances are cheap (the module is compiled once).
 *
 * @module
 */

/** Error codes returned by the crate (negative i32). */
export const E_CORRUPT: number = -1;
/** A valid image using a feature the crate does not implement. */
export const E_UNSUPPORTED: number = -2;
/** The host broke the call protocol (a bug in singlet). */
export const E_USAGE: number = -3;
/** A size limit was hit. */
export const E_LIMIT: number = -4;

/** ABI table kind: fragment table. */
export const T_FRAGMENT: number = 1;
/** ABI table kind: uid/gid table. */
export const T_ID: number = 2;
/** ABI table kind: export table. */
export const T_EXPORT: number = 3;
/** ABI table kind: xattr id table. */
export const T_XATTR_ID: number = 4;
/** ABI metadata region kind: inode table. */
export const M_INODE: number = 5;
/** ABI metadata region kind: directory table. */
export const M_DIR: number = 6;
/** ABI metadata region kind: xattr key/value table. */
export const M_XATTR_KV: number = 7;

interface Exports {
  memory: WebAssembly.Memory;
  sq_alloc(len: number): number;
  sq_free(ptr: number, len: number): void;
  sq_error_ptr(): number;
  sq_error_len(): number;
  sq_open(ptr: number, len: number, lo: number, hi: number): number;
  sq_close(h: number): void;
  sq_layout(h: number): number;
  sq_set_xattr_header(h: number, ptr: number, len: number): number;
  sq_set_index(h: number, kind: number, ptr: number, len: number): number;
  sq_set_table(h: number, kind: number, ptr: number, len: number): number;
  sq_set_meta(
    h: number,
    kind: number,
    ptr: number,
    len: number,
    mapPtr: number,
    mapLen: number,
  ): number;
  sq_walk(h: number): number;
  sq_fragments(h: number): number;
  sq_xattrs(h: number, idx: number): number;
  sq_lz4(h: number, ptr: number, len: number, cap: number): number;
  sq_inflate(h: number, ptr: number, len: number, cap: number): number;
  sq_out_ptr(h: number): number;
  sq_out_len(h: number): number;
}

/** A failure reported by the crate: `code` is one of the `E_*` constants. */
export class SqfsWasmError extends Error {
  /** Error class from the crate. */
  readonly code: number;
  /**
   * Wrap a crate error.
   *
   * @param code Negative error code.
   * @param message The crate's message.
   */
  constructor(code: number, message: string) {
    super(message);
    this.name = "SqfsWasmError";
    this.code = code;
  }
}

let compiled: Promise<WebAssembly.Module> | undefined;

/**
 * Compile the module once per process, lazily (commands that never read SquashFS never
 * pay for it). The literal specifier lets `deno compile` embed the base64 module.
 */
function loadModule(): Promise<WebAssembly.Module> {
  compiled ??= (async () => {
    const { default: base64 } = await import("../../wasm/gen/sqfs_read.wasm.ts");
    return await WebAssembly.compile(Uint8Array.fromBase64(base64));
  })();
  return compiled;
}

/** One crate instance holding one image's parsed state. */
export class SqfsWasm {
  #x: Exports;
  #handle = 0;

  private constructor(exports: Exports) {
    this.#x = exports;
  }

  /**
   * Instantiate the module.
   *
   * @returns A fresh instance (compiling the module on first use).
   */
  static async create(): Promise<SqfsWasm> {
    const instance = await WebAssembly.instantiate(await loadModule(), {});
    return new SqfsWasm(instance.exports as unknown as Exports);
  }

  #check(rc: number): number {
    if (rc >= 0) return rc;
    const ptr = this.#x.sq_error_ptr();
    const len = this.#x.sq_error_len();
    const message = new TextDecoder().decode(new Uint8Array(this.#x.memory.buffer, ptr, len));
    throw new SqfsWasmError(rc, message);
  }

  /** Copy `bytes` into wasm memory, run `fn(ptr, len)`, free. */
  #withBytes<T>(bytes: Uint8Array, fn: (ptr: number, len: number) => T): T {
    const ptr = this.#x.sq_alloc(bytes.length);
    if (ptr === 0) throw new SqfsWasmError(E_LIMIT, `cannot allocate ${bytes.length} bytes`);
    try {
      new Uint8Array(this.#x.memory.buffer, ptr, bytes.length).set(bytes);
      return fn(ptr, bytes.length);
    } finally {
      this.#x.sq_free(ptr, bytes.length);
    }
  }

  /**
   * Parse and validate the superblock.
   *
   * @param superblock The first 96 bytes of the image.
   * @param imageSize Bytes available from the superblock to the end of the file/partition.
   */
  open(superblock: Uint8Array, imageSize: number): void {
    this.#handle = this.#withBytes(superblock, (p, l) =>
      this.#check(
        this.#x.sq_open(p, l, imageSize % 0x1_0000_0000, Math.floor(imageSize / 0x1_0000_0000)),
      ));
  }

  /**
   * Read the layout slots.
   *
   * @returns The slots (see `wasm/sqfs_read/src/reader.rs`) as numbers, -1 for absent.
   */
  layout(): number[] {
    const ptr = this.#check(this.#x.sq_layout(this.#handle));
    const view = new BigUint64Array(this.#x.memory.buffer, ptr, 32);
    return Array.from(view, (v) => v === 0xffff_ffff_ffff_ffffn ? -1 : Number(v));
  }

  /**
   * Feed the xattr table header.
   *
   * @param header The 16-byte xattr table header.
   */
  setXattrHeader(header: Uint8Array): void {
    this.#withBytes(header, (p, l) => this.#check(this.#x.sq_set_xattr_header(this.#handle, p, l)));
  }

  /**
   * Feed a table index.
   *
   * @param kind `T_*` table kind.
   * @param index Raw little-endian u64 block pointers.
   */
  setIndex(kind: number, index: Uint8Array): void {
    this.#withBytes(index, (p, l) => this.#check(this.#x.sq_set_index(this.#handle, kind, p, l)));
  }

  /**
   * Feed a decompressed table.
   *
   * @param kind `T_*` table kind.
   * @param data Concatenated decompressed metadata blocks of the table.
   */
  setTable(kind: number, data: Uint8Array): void {
    this.#withBytes(data, (p, l) => this.#check(this.#x.sq_set_table(this.#handle, kind, p, l)));
  }

  /**
   * Feed a decompressed metadata region.
   *
   * @param kind `M_*` region kind.
   * @param data Concatenated decompressed metadata blocks.
   * @param map (disk offset, data offset) u32 pairs, one per block.
   */
  setMeta(kind: number, data: Uint8Array, map: Uint8Array): void {
    this.#withBytes(
      data,
      (p, l) =>
        this.#withBytes(
          map,
          (mp, ml) => this.#check(this.#x.sq_set_meta(this.#handle, kind, p, l, mp, ml)),
        ),
    );
  }

  #out(): Uint8Array {
    const ptr = this.#check(this.#x.sq_out_ptr(this.#handle));
    const len = this.#check(this.#x.sq_out_len(this.#handle));
    return new Uint8Array(this.#x.memory.buffer, ptr, len).slice();
  }

  /**
   * Walk the directory tree.
   *
   * @returns Number of records and the record buffer (a copy).
   */
  walk(): { count: number; records: Uint8Array } {
    const count = this.#check(this.#x.sq_walk(this.#handle));
    return { count, records: this.#out() };
  }

  /**
   * Validate the fragment table.
   *
   * @returns Fragment entries, 12 bytes each (u64 start, u32 size word).
   */
  fragments(): Uint8Array {
    this.#check(this.#x.sq_fragments(this.#handle));
    return this.#out();
  }

  /**
   * Decode one xattr set.
   *
   * @param idx Xattr id.
   * @returns Encoded pairs (see `wasm/sqfs_read/src/xattr.rs`).
   */
  xattrs(idx: number): Uint8Array {
    this.#check(this.#x.sq_xattrs(this.#handle, idx));
    return this.#out();
  }

  /**
   * Decompress one LZ4 block (no built-in decoder exists).
   *
   * @param src The compressed block.
   * @param max Largest output accepted (the block size).
   * @returns The decompressed bytes (a copy).
   */
  lz4(src: Uint8Array, max: number): Uint8Array {
    this.#withBytes(src, (p, l) => this.#check(this.#x.sq_lz4(this.#handle, p, l, max)));
    return this.#out();
  }

  /**
   * Inflate one zlib stream (a gzip image's block) with the crate's `miniz_oxide`, for
   * readers that must not load `node:zlib` (see `SquashfsOpenOptions.light`).
   *
   * @param src The compressed block.
   * @param max Largest output accepted (the block size).
   * @returns The inflated bytes (a copy).
   */
  inflate(src: Uint8Array, max: number): Uint8Array {
    this.#withBytes(src, (p, l) => this.#check(this.#x.sq_inflate(this.#handle, p, l, max)));
    return this.#out();
  }

  /** Free the crate's state. */
  close(): void {
    if (this.#handle > 0) this.#x.sq_close(this.#handle);
    this.#handle = 0;
  }
}
