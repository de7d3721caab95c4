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
    const { compressor, level, windowLog } = message.init;
    const params = {
      [zlib.constants.ZSTD_c_compressionLevel]: level,
      [zlib.constants.ZSTD_c_windowLog]: windowLog,
    };
    compress = compressor === "gzip"
      ? (b) => zlib.deflateSync(b, { level })
      : (b) => zlib.zstdCompressSync(b, { params, pledgedSrcSize: b.length });
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

/**
 * Make a zstd result what Linux's streaming decoder accepts, in place, and return its
 * length: exactly one frame (node's `zstdCompressSync` may append an empty second frame),
 * whose data ends in a block flagged "last" (it may instead end with an empty raw last
 * block, and the kernel then asks for an output page past the block: "zstd decompression
 * failed, data probably corrupt").
 *
 * @param frame Compressed bytes starting with a zstd frame.
 * @returns The length of the (fixed) first frame.
 */
export function zstdFrameLength(frame: Uint8Array): number {
  if (frame.length < 6 || frame[0] !== 0x28 || frame[1] !== 0xb5 || frame[2] !== 0x2f) {
    throw new RangeError("Cannot use zstd output: it does not start with a zstd frame");
  }
  const descriptor = frame[4]!;
  const singleSegment = (descriptor >> 5) & 1;
  const checksum = (descriptor >> 2) & 1;
  let pos = 5 + (singleSegment ? 0 : 1) + [0, 1, 2, 4][descriptor & 3]! +
    [singleSegment, 2, 4, 8][descriptor >> 6]!;
  let previous = -1;
  while (pos + 3 <= frame.length) {
    const header = frame[pos]! | (frame[pos + 1]! << 8) | (frame[pos + 2]! << 16);
    const last = header & 1;
    const type = (header >> 1) & 3;
    const size = header >>> 3;
    if (last && type === 0 && size === 0 && previous >= 0 && !checksum) {
      frame[previous] = frame[previous]! | 1;
      return pos;
    }
    const start = pos;
    pos += 3 + (type === 1 ? 1 : size);
    if (last) return pos + (checksum ? 4 : 0);
    previous = start;
  }
  throw new RangeError("Cannot use zstd output: the frame is truncated");
}

/**
 * The zstd window for an image. Linux sizes its zstd workspace for a window of one block
 * (`max(block_size, 8 KiB)`), and a streaming zstd frame otherwise declares the level's
 * default window (2 MiB at level 3): the kernel then refuses every block with "zstd
 * decompression error: 64" (memory allocation). squashfuse and unsquashfs do not care.
 *
 * @param blockSize The image's block size (a power of two).
 * @returns log2 of the largest window frames may declare.
 */
export function zstdWindowLog(blockSize: number): number {
  return Math.max(10, Math.log2(blockSize));
}

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
  #zstd: boolean;
  #inputLength = new Map<number, number>();

  /**
   * Start `size` workers.
   *
   * @param size Number of workers (at least 1).
   * @param compressor "gzip" (zlib stream, as SquashFS stores it) or "zstd".
   * @param level Compression level.
   * @param blockSize The image's block size: zstd frames declare a window no larger (see
   *   {@linkcode zstdWindowLog}).
   */
  constructor(size: number, compressor: PoolCompressor, level: number, blockSize: number) {
    this.#zstd = compressor === "zstd";
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
      worker.postMessage({ init: { compressor, level, windowLog: zstdWindowLog(blockSize) } });
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
    this.#inputLength.set(id, length);
    this.#load[worker]!++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, worker });
      const ab = own.buffer as ArrayBuffer;
      this.#workers[worker]!.postMessage({ id, buffer: ab, length }, [ab]);
    });
  }

  #settle(message: { id: number; buffer: ArrayBuffer; length?: number; error?: string }): void {
    if (this.#zstd && message.error === undefined) {
      const raw = this.#inputLength.get(message.id) === message.length;
      if (!raw) message.length = zstdFrameLength(new Uint8Array(message.buffer, 0, message.length));
    }
    this.#inputLength.delete(message.id);
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
