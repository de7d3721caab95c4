/**
 * Data block compression on worker threads. Deno's asynchronous `node:zlib` calls do not run
 * in parallel (measured: 2 and 4 calls in flight were no faster than 1), so each worker
 * runs the synchronous `node:zlib` compressor on the blocks it is sent. The worker's code is
 * an inline module (a blob URL), so `deno compile` needs no `--include` for it.
 *
 * @module
 */

/** Compressors the pool runs. */
export type PoolCompressor = "gzip" | "zstd";

const WORKER_SOURCE = `
import zlib from "node:zlib";
let compress;
self.onmessage = (event) => {
  const message = event.data;
  if (message.init) {
    const { compressor, level } = message.init;
    const zstd = { params: { [zlib.constants.ZSTD_c_compressionLevel]: level } };
    compress = compressor === "gzip"
      ? (b) => zlib.deflateSync(b, { level })
      : (b) => zlib.zstdCompressSync(b, zstd);
    return;
  }
  const { id, buffer, length } = message;
  try {
    const block = new Uint8Array(buffer, 0, length);
    const out = compress(block);
    // The result goes back in the same buffer (it is smaller), so buffers circulate
    // between the writer and the workers instead of being allocated per block.
    if (out.length < length) block.set(out);
    const used = out.length < length ? out.length : length;
    self.postMessage({ id, buffer, length: used }, [buffer]);
  } catch (error) {
    self.postMessage({ id, buffer, error: String(error) }, [buffer]);
  }
};
`;

let workerUrl: string | undefined;

interface Pending {
  resolve: (bytes: Uint8Array) => void;
  reject: (error: Error) => void;
  worker: number;
}

/**
 * A fixed set of compression workers. `compress` resolves with the compressed block, or with
 * the input itself when compression would not make it smaller.
 */
export class CompressPool {
  #workers: Worker[];
  #load: number[];
  #pending = new Map<number, Pending>();
  #nextId = 0;
  #failed: Error | undefined;

  /**
   * Start `size` workers.
   *
   * @param size Number of workers (at least 1).
   * @param compressor "gzip" (zlib stream, as SquashFS stores it) or "zstd".
   * @param level Compression level.
   */
  constructor(size: number, compressor: PoolCompressor, level: number) {
    workerUrl ??= URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "text/javascript" }));
    this.#workers = [];
    this.#load = [];
    for (let i = 0; i < Math.max(1, size); i++) {
      const worker = new Worker(workerUrl, { type: "module" });
      worker.onmessage = (event) => this.#settle(event.data);
      worker.onerror = (event) => {
        event.preventDefault();
        this.#fail(new Error(`Cannot compress a block: worker failed: ${event.message}`));
      };
      worker.postMessage({ init: { compressor, level } });
      this.#workers.push(worker);
      this.#load.push(0);
    }
  }

  /** The number of workers. */
  get size(): number {
    return this.#workers.length;
  }

  /**
   * Compress the first `length` bytes of a buffer on the least busy worker. The buffer is
   * transferred and comes back holding the result: the caller must not use it meanwhile.
   *
   * @param buffer A buffer of its own (offset 0, owning its whole ArrayBuffer).
   * @param length How many of its bytes to compress.
   * @returns A view of the same memory: the compressed bytes, or the `length` input bytes
   *   unchanged when compression does not make them smaller (same length as the input).
   */
  compress(buffer: Uint8Array, length: number): Promise<Uint8Array> {
    if (this.#failed) return Promise.reject(this.#failed);
    const own = buffer.byteOffset === 0 && buffer.byteLength === buffer.buffer.byteLength
      ? buffer
      : buffer.slice(0, length);
    let worker = 0;
    for (let i = 1; i < this.#load.length; i++) {
      if (this.#load[i]! < this.#load[worker]!) worker = i;
    }
    const id = this.#nextId++;
    this.#load[worker]!++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, worker });
      const ab = own.buffer as ArrayBuffer;
      this.#workers[worker]!.postMessage({ id, buffer: ab, length }, [ab]);
    });
  }

  #settle(message: { id: number; buffer: ArrayBuffer; length?: number; error?: string }): void {
    const pending = this.#pending.get(message.id);
    if (!pending) return;
    this.#pending.delete(message.id);
    this.#load[pending.worker]!--;
    if (message.error !== undefined) {
      pending.reject(new Error(`Cannot compress a block: ${message.error}`));
    } else {
      pending.resolve(new Uint8Array(message.buffer, 0, message.length!));
    }
  }

  #fail(error: Error): void {
    this.#failed = error;
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }

  /** Stop the workers; pending blocks are rejected. */
  close(): void {
    for (const worker of this.#workers) worker.terminate();
    this.#fail(new Error("Cannot compress a block: the pool is closed"));
  }
}
