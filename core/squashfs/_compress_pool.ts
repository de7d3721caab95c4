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
  const { id, block } = message;
  try {
    const out = compress(block);
    if (out.length >= block.length) {
      self.postMessage({ id, raw: true, bytes: block }, [block.buffer]);
      return;
    }
    const own = new Uint8Array(out.length);
    own.set(out);
    self.postMessage({ id, raw: false, bytes: own }, [own.buffer]);
  } catch (error) {
    self.postMessage({ id, error: String(error) });
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

  /** @returns The number of workers. */
  get size(): number {
    return this.#workers.length;
  }

  /**
   * Compress one block on the least busy worker. The block's buffer is transferred: the
   * caller must not use it afterwards (the result may be that very buffer).
   *
   * @param block The bytes; copied first when they do not own their whole buffer.
   * @returns The compressed bytes, or the input when compression does not help.
   */
  compress(block: Uint8Array): Promise<Uint8Array> {
    if (this.#failed) return Promise.reject(this.#failed);
    const own = block.byteOffset === 0 && block.byteLength === block.buffer.byteLength
      ? block
      : block.slice();
    let worker = 0;
    for (let i = 1; i < this.#load.length; i++) {
      if (this.#load[i]! < this.#load[worker]!) worker = i;
    }
    const id = this.#nextId++;
    this.#load[worker]!++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, worker });
      this.#workers[worker]!.postMessage({ id, block: own }, [own.buffer as ArrayBuffer]);
    });
  }

  #settle(message: { id: number; bytes?: Uint8Array; error?: string }): void {
    const pending = this.#pending.get(message.id);
    if (!pending) return;
    this.#pending.delete(message.id);
    this.#load[pending.worker]!--;
    if (message.error !== undefined) {
      pending.reject(new Error(`Cannot compress a block: ${message.error}`));
    } else {
      pending.resolve(message.bytes!);
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
