/**
 * The marshaller for the `sqfs` WebAssembly module (wasm/sqfs): loads it lazily (so commands
 * that never pack, such as `singlet exec`, never compile it), instantiates one instance per
 * image with the host's metadata compressor as its import, and turns the raw
 * `extern "C"` (pointer, length) ABI with negative error codes into typed calls.
 *
 * @module
 */

/** The ABI version this marshaller speaks (`sqfs_abi_version`). */
const ABI_VERSION = 1;

let compiled: Promise<WebAssembly.Module> | undefined;

/**
 * Compile the module once per process. The base64 module is imported with a literal
 * specifier so `deno compile` embeds it without `--include`.
 */
function sqfsModule(): Promise<WebAssembly.Module> {
  compiled ??= (async () => {
    const { default: base64 } = await import("../../wasm/gen/sqfs.wasm.ts");
    return await WebAssembly.compile(Uint8Array.fromBase64(base64));
  })();
  return compiled;
}

/**
 * Compresses one metadata block for the module. Returns the compressed bytes, or
 * `undefined` when they would not be smaller (the block is then stored uncompressed).
 */
export type MetadataCompressor = (block: Uint8Array) => Uint8Array | undefined;

/** The raw exports of wasm/sqfs (see wasm/README.md for the ABI). */
export interface SqfsExports {
  /** The module's linear memory. */
  memory: WebAssembly.Memory;
  /** The module's ABI version. */
  sqfs_abi_version(): number;
  /** Allocate bytes in the module's memory; returns the pointer. */
  sqfs_alloc(len: number): number;
  /** Free an allocation (pointer and its length). */
  sqfs_free(ptr: number, len: number): void;
  /** Pointer to the last error message. */
  sqfs_error_ptr(): number;
  /** Length of the last error message. */
  sqfs_error_len(): number;
  /** The crate's other exports (see wasm/sqfs/src/lib.rs). */
  [name: string]: unknown;
}

/**
 * One instance of the `sqfs` module with helpers to pass bytes in and out. Each image gets
 * its own instance, so its memory goes away with it.
 */
export class SqfsInstance {
  /** The raw exports. */
  readonly raw: SqfsExports;

  private constructor(raw: SqfsExports) {
    this.raw = raw;
  }

  /**
   * Instantiate the module.
   *
   * @param compress The metadata block compressor the module calls synchronously.
   * @returns A ready instance.
   */
  static async create(compress: MetadataCompressor): Promise<SqfsInstance> {
    const module = await sqfsModule();
    // The import needs the memory, which exists only once instantiated.
    const late: { memory?: WebAssembly.Memory } = {};
    const imports = {
      env: {
        // (in_ptr, in_len, out_ptr, out_cap) -> bytes written; 0 = store uncompressed.
        sqfs_host_compress: (inPtr: number, inLen: number, outPtr: number, outCap: number) => {
          const memory = late.memory!;
          const input = new Uint8Array(memory.buffer, inPtr, inLen);
          let output: Uint8Array | undefined;
          try {
            output = compress(input);
          } catch {
            return -1;
          }
          if (output === undefined || output.length > outCap) return 0;
          new Uint8Array(memory.buffer, outPtr, output.length).set(output);
          return output.length;
        },
      },
    };
    const instance = await WebAssembly.instantiate(module, imports);
    const self = new SqfsInstance(instance.exports as unknown as SqfsExports);
    late.memory = self.raw.memory;
    const version = self.raw.sqfs_abi_version();
    if (version !== ABI_VERSION) {
      throw new Error(`Cannot load wasm/sqfs: ABI version ${version}, expected ${ABI_VERSION}`);
    }
    return self;
  }

  /**
   * A view of the module's memory, made fresh on each call (views detach when it grows).
   *
   * @returns The whole memory as bytes.
   */
  bytes(): Uint8Array {
    return new Uint8Array(this.raw.memory.buffer);
  }

  /**
   * Copy bytes into a new module allocation.
   *
   * @param data The bytes.
   * @returns The pointer; free it with {@linkcode SqfsInstance.free} and `data.length`.
   */
  put(data: Uint8Array): number {
    const ptr = this.raw.sqfs_alloc(data.length);
    this.bytes().set(data, ptr);
    return ptr;
  }

  /**
   * Free a module allocation.
   *
   * @param ptr Pointer from `put` or an export.
   * @param len Its length.
   */
  free(ptr: number, len: number): void {
    this.raw.sqfs_free(ptr, len);
  }

  /**
   * Throw the module's last error when `code` is negative.
   *
   * @param code A return value of an export.
   * @param action What was being done, for the message ("add an entry").
   * @returns `code` when it is not an error.
   */
  check(code: number, action: string): number {
    if (code >= 0) return code;
    const message = new TextDecoder().decode(
      this.bytes().slice(
        this.raw.sqfs_error_ptr(),
        this.raw.sqfs_error_ptr() + this.raw.sqfs_error_len(),
      ),
    );
    throw new RangeError(`Cannot ${action}: ${message || `error code ${code}`}`);
  }
}
