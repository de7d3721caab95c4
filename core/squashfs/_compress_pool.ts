/**
 * Data block compression on worker threads. Deno's asynchronous `node:zlib` calls do not run
 * in parallel (measured: 2 and 4 calls in flight were no faster than 1), so each worker
 * runs the synchronous `node:zlib` compressor on the blocks it is sent. The worker's code is
 * an inline module (a blob URL), so `deno compile` needs no `--include` for it.
 *
 * @module
 */
import { workerCodecsCompressor } from "./_codecs_wasm.ts";

/** Compressors the pool runs. */
export type PoolCompressor = "gzip" | "zstd" | "lz4" | "xz";

const WORKER_SOURCE = `
import zlib from "node:zlib";
import { createHash } from "node:crypto";
let compress, blockSize, zstd;
const UNCOMPRESSED = 1 << 24;
function isZero(b) {
  if (b.length === 0 || b[0] !== 0 || b[b.length - 1] !== 0) return false;
  const words = b.length >>> 2;
  if (b.byteOffset % 4 === 0) {
    const v = new Uint32Array(b.buffer, b.byteOffset, words);
    for (let i = 0; i < words; i++) if (v[i] !== 0) return false;
  } else {
    for (let i = 0; i < words * 4; i++) if (b[i] !== 0) return false;
  }
  for (let i = words * 4; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}
// Files are opened once per batch (members of one tar: one open for many tasks; an open
// costs a readlink per path component under --allow-read) and closed when it is done.
function readRange(files, path, offset, slot) {
  let file = files.get(path);
  const fresh = file === undefined;
  if (fresh) {
    file = Deno.openSync(path, { read: true });
    files.set(path, file);
  }
  if (offset > 0 || !fresh) file.seekSync(offset, Deno.SeekMode.Start);
  let got = 0;
  while (got < slot.length) {
    const n = file.readSync(got ? slot.subarray(got) : slot);
    if (n === null || n === 0) throw new RangeError("it shrank while being read");
    got += n;
  }
}
// gzip: deflateSync builds a stream object, a 128 KiB output buffer and a result Buffer per
// block; in a worker those are external memory that V8 collects only after tens of MiB
// have piled up (the largest share of a conversion's peak RSS). Here each block gets a
// fresh zlib handle, written into a reused buffer and closed at once (its native state
// freed then, not at the next GC): the bytes are deflateSync's, as a fresh stream each
// time (a reused one would not do, see below). Internals of Deno's node:zlib, used only
// when they are there and give deflateSync's bytes on samples.
function freshHandleGzip(level, blockSize) {
  try {
    const C = zlib.constants;
    const probe = new zlib.Deflate({ level });
    const handle = probe._handle;
    const Handle = handle.constructor;
    const writeSync = handle[
      Object.getOwnPropertySymbols(handle).find((s) => s.description === "kNativeWriteSync")
    ];
    probe.close();
    if (typeof writeSync !== "function") return undefined;
    const state = new Uint32Array(2);
    const scratch = new Uint8Array(2 * blockSize + 65536);
    const noop = () => {};
    return (b) => {
      const h = new Handle(C.DEFLATE);
      try {
        h.init(15, level, 8, C.Z_DEFAULT_STRATEGY, noop, undefined);
        writeSync.call(h, C.Z_FINISH, b, 0, b.length, scratch, 0, scratch.length, state);
      } finally {
        h.close();
      }
      if (state[1] !== 0) throw new Error("deflate left input unread");
      return scratch.subarray(0, scratch.length - state[0]);
    };
  } catch {
    return undefined;
  }
}
// Both fast paths are checked against the public function on samples before use.
function checked(fast, plain, zstd) {
  if (!fast) return undefined;
  try {
    const text = new TextEncoder().encode("squashfs block ".repeat(400) + "tail");
    const noise = new Uint8Array(5000);
    crypto.getRandomValues(noise);
    for (const sample of [text, noise, text.subarray(0, 100), new Uint8Array(3000)]) {
      const want = plain(sample);
      const got = fast(sample);
      const length = zstd ? zstdFrameLength(want) : want.length;
      if ((zstd ? zstdFrameLength(got) : got.length) !== length) return undefined;
      for (let i = 0; i < length; i++) if (want[i] !== got[i]) return undefined;
    }
    return fast;
  } catch {
    return undefined;
  }
}
// zstd: one compression context for the whole run, through the zlib binding's handle,
// where zstdCompressSync builds a stream object and a context per block (about 70 us a
// block, and garbage). zstd's output does not depend on what a reused context saw before
// (checked on thousands of blocks of every length and levels 1-19); deflate's does (a
// reused stream's window keeps earlier bytes, which change the matches near the end of a
// short input: the bytes would depend on which worker compressed which block), hence a
// fresh handle per gzip block above. Returns a view of a reused buffer.
function reusableZstd(level, windowLog, blockSize) {
  try {
    const C = zlib.constants;
    const scratch = new Uint8Array(2 * blockSize + 65536);
    const stream = new zlib.ZstdCompress({
      params: { [C.ZSTD_c_compressionLevel]: level, [C.ZSTD_c_windowLog]: windowLog },
      pledgedSrcSize: blockSize,
    });
    const handle = stream._handle;
    const state = stream._writeState;
    if (!(state instanceof Uint32Array) || state.length < 2) return undefined;
    let size = 0;
    for (const [key, value] of Object.entries(C)) {
      if (key.startsWith("ZSTD_c_")) size = Math.max(size, value + 1);
    }
    const params = new Uint32Array(size).fill(0xffffffff);
    params[C.ZSTD_c_compressionLevel] = level;
    params[C.ZSTD_c_windowLog] = windowLog;
    const noop = () => {};
    const compress = (b) => {
      handle.reset();
      // pledgedSrcSize again for every frame: a single-segment frame, as the public call
      if (!handle.init(params, noop, b.length)) throw new Error("zstd init failed");
      handle.writeSync(C.ZSTD_e_end, b, 0, b.length, scratch, 0, scratch.length);
      if (state[1] !== 0) throw new Error("zstd left input unread");
      return scratch.subarray(0, scratch.length - state[0]);
    };
    return compress;
  } catch {
    return undefined;
  }
}
// Metadata blocks for the writer, whose thread waits on the shared buffer (see
// compressSync): words REQ (request number; -1: stop), RESP (the number answered), STATUS (1:
// ok, 2: error), LENGTH (input, then output length: 0 when not smaller; or the error text's).
// This thread serves nothing else meanwhile: the writer asks only once its data is done.
function serveMetadata(sab) {
  const ctrl = new Int32Array(sab, 0, 4);
  const data = new Uint8Array(sab, 16);
  let seen = 0;
  for (;;) {
    // A timeout, so that terminate() gets a chance to stop a thread whose writer is gone.
    Atomics.wait(ctrl, 0, seen, 1000);
    const req = Atomics.load(ctrl, 0);
    if (req < 0) return;
    if (req === seen) continue;
    seen = req;
    try {
      const input = data.slice(0, ctrl[3]);
      const c = compress(input);
      const len = zstd ? zstdFrameLength(c) : c.length;
      if (len < input.length) data.set(c.subarray(0, len));
      ctrl[3] = len < input.length ? len : 0;
      ctrl[2] = 1;
    } catch (error) {
      const text = new TextEncoder().encode(String(error && error.message || error));
      const n = Math.min(text.length, data.length);
      data.set(text.subarray(0, n));
      ctrl[3] = n;
      ctrl[2] = 2;
    }
    Atomics.store(ctrl, 1, req);
    Atomics.notify(ctrl, 1);
  }
}
// One batch: each task's input lies in its slot of the buffer (copied there by the writer,
// or read here from a host file); the results are written back into the same buffer from
// its start (each output is no longer than its input, so it never overtakes unread input).
function runBatch(message) {
  const { id, buffer, tasks } = message;
  const bytes = new Uint8Array(buffer);
  const results = [];
  const files = new Map();
  try {
    runTasks(bytes, tasks, results, files);
  } finally {
    for (const file of files.values()) file.close();
  }
  self.postMessage({ id, buffer, results }, [buffer]);
}
function runTasks(bytes, tasks, results, files) {
  let out = 0;
  for (const t of tasks) {
    const slot = bytes.subarray(t.at, t.at + t.length);
    if (t.hashOnly) {
      // A re-read of an earlier file for its digest: one that cannot be read gets none.
      let digest;
      try {
        readRange(files, t.path, t.offset, slot);
        digest = createHash("sha256").update(slot).digest("hex");
      } catch {
        try {
          files.get(t.path)?.close();
        } catch {
          // already closed
        }
        files.delete(t.path);
      }
      results.push({ out, words: [], tail: 0, digest });
      continue;
    }
    if (t.path !== undefined) {
      try {
        readRange(files, t.path, t.offset, slot);
      } catch (error) {
        throw new Error("Cannot pack \\"" + t.path + "\\": " + (error && error.message));
      }
    }
    if (t.pieces !== undefined) {
      for (const p of t.pieces) {
        try {
          readRange(files, p.path, p.offset, slot.subarray(p.at, p.at + p.length));
        } catch (error) {
          throw new Error("Cannot pack \\"" + p.path + "\\": " + (error && error.message));
        }
      }
    }
    const digest = t.hash ? createHash("sha256").update(slot).digest("hex") : undefined;
    const start = out;
    const words = [];
    let tail = 0;
    for (let p = 0; p < t.length; p += blockSize) {
      const n = Math.min(blockSize, t.length - p);
      const src = t.at + p;
      if (n < blockSize && t.tailRaw) {
        bytes.copyWithin(out, src, src + n);
        out += n;
        tail = n;
        break;
      }
      const block = bytes.subarray(src, src + n);
      if (!t.fragment && isZero(block)) {
        words.push(0);
        continue;
      }
      const c = compress(block);
      if (c.length < n) {
        bytes.set(c, out);
        const len = zstd ? zstdFrameLength(bytes.subarray(out, out + c.length)) : c.length;
        words.push(len);
        out += len;
      } else {
        bytes.copyWithin(out, src, src + n);
        words.push(n | UNCOMPRESSED);
        out += n;
      }
    }
    results.push({ out: start, words, tail, digest });
  }
}
self.onmessage = (event) => {
  const message = event.data;
  if (message.init) {
    const { compressor, level, windowLog } = message.init;
    const params = {
      [zlib.constants.ZSTD_c_compressionLevel]: level,
      [zlib.constants.ZSTD_c_windowLog]: windowLog,
    };
    blockSize = message.init.blockSize;
    zstd = compressor === "zstd";
    // One output chunk per block (the default is 16 KiB chunks, concatenated: garbage that
    // grew each worker's heap); the compressed bytes do not depend on it.
    const chunkSize = Math.max(blockSize, 16384);
    if (compressor === "lz4" || compressor === "xz") {
      compress = workerCodecsCompressor(message.init.codecs, compressor, level, blockSize);
      return;
    }
    const plain = compressor === "gzip"
      ? (b) => zlib.deflateSync(b, { level, chunkSize })
      : (b) => zlib.zstdCompressSync(b, { params, pledgedSrcSize: b.length, chunkSize });
    const fast = zstd ? reusableZstd(level, windowLog, blockSize) : freshHandleGzip(level, blockSize);
    compress = checked(fast, plain, zstd) ?? plain;
    return;
  }
  if (message.serve) {
    serveMetadata(message.serve);
    return;
  }
  if (message.tasks) {
    try {
      runBatch(message);
    } catch (error) {
      self.postMessage({ id: message.id, error: String(error && error.message || error) });
    }
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
` + zstdFrameLength.toString() + workerCodecsCompressor.toString();

let workerUrl: string | undefined;

/** How long {@linkcode CompressPool.compressSync} waits for a worker before giving up. */
const SYNC_TIMEOUT_MS = 120_000;

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

/** One piece of work in a batch: a range of a file, compressed block by block. */
export interface BatchTask {
  /** Where the task's input lies in the batch buffer (its slot). */
  at: number;
  /** Bytes of input. */
  length: number;
  /** Read the input from this host file (at `offset`) into the slot, instead of it being there. */
  path?: string;
  /** Offset in the host file. */
  offset?: number;
  /** Hash the input (sha256, hex). */
  hash?: boolean;
  /** Return a final short block raw (a tail for a fragment) instead of compressing it. */
  tailRaw?: boolean;
  /** A fragment block: one block, compressed even when all zero. */
  fragment?: boolean;
  /**
   * Ranges of host files to read into the slot first (at `at` within it): the tails a
   * fragment block holds that no earlier task read.
   */
  pieces?: { at: number; length: number; path: string; offset: number }[];
  /**
   * Only hash the input read from `path` (an earlier file read again for its digest); a
   * read that fails gives no digest instead of failing the batch.
   */
  hashOnly?: boolean;
}

/** What a worker made of one task; its output lies in the batch buffer from `out`. */
export interface TaskResult {
  /** Where the task's output starts in the returned buffer. */
  out: number;
  /**
   * One SquashFS block-size word per block: the stored length, with bit 24 set for a block
   * stored uncompressed, or 0 for an all-zero block (a hole, nothing stored).
   */
  words: number[];
  /** Length of the raw tail after the blocks (with `tailRaw`), else 0. */
  tail: number;
  /** sha256 of the input (hex), with `hash`. */
  digest?: string;
}

/** A finished batch: the buffer (now holding the outputs) and one result per task. */
export interface BatchResult {
  /** The batch buffer, back from the worker. */
  buffer: ArrayBuffer;
  /** Results in task order. */
  results: TaskResult[];
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
  #batches = new Map<
    number,
    { resolve: (r: BatchResult) => void; reject: (e: Error) => void; worker: number }
  >();
  #sync: { ctrl: Int32Array; data: Uint8Array; seq: number } | undefined;

  /**
   * Start `size` workers.
   *
   * @param size Number of workers (at least 1).
   * @param compressor "gzip" (zlib stream, as SquashFS stores it), "zstd", "lz4" or "xz".
   * @param level Compression level.
   * @param blockSize The image's block size: zstd frames declare a window no larger (see
   *   {@linkcode zstdWindowLog}).
   * @param codecs The codecs module's bytes, for "lz4" and "xz" (`codecsWasmBytes()`).
   */
  constructor(
    size: number,
    compressor: PoolCompressor,
    level: number,
    blockSize: number,
    codecs?: Uint8Array,
  ) {
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
      worker.postMessage({
        init: { compressor, level, blockSize, windowLog: zstdWindowLog(blockSize), codecs },
      });
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

  /**
   * Compress one small block (a metadata block) on the first worker while this thread
   * waits for it, so that this thread needs no compressor of its own (loading `node:zlib`
   * costs ~20 ms of CPU). Same bytes as the data blocks' compressor gives. From the first
   * call until {@linkcode CompressPool.close} the first worker waits on a shared buffer for
   * these requests (a round trip is two futex wake-ups, no message) and takes no batch: meant
   * for an idle pool (the writer's tables, once every data block is written).
   *
   * @param block The bytes.
   * @returns The compressed bytes (a fresh array), or undefined when they would not be
   *   smaller than the input.
   */
  compressSync(block: Uint8Array): Uint8Array | undefined {
    if (this.#failed) throw this.#failed;
    if (this.#sync && this.#sync.data.length < 2 * block.length + 1024) this.#endSync();
    if (!this.#sync) {
      const sab = new SharedArrayBuffer(16 + Math.max(64 * 1024, 2 * block.length + 1024));
      this.#sync = { ctrl: new Int32Array(sab, 0, 4), data: new Uint8Array(sab, 16), seq: 0 };
      this.#workers[0]!.postMessage({ serve: sab });
    }
    const sync = this.#sync;
    const { ctrl, data } = sync;
    data.set(block);
    ctrl[3] = block.length;
    const seq = ++sync.seq;
    Atomics.store(ctrl, 0, seq);
    Atomics.notify(ctrl, 0);
    const deadline = Date.now() + SYNC_TIMEOUT_MS;
    while (Atomics.load(ctrl, 1) !== seq) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error("Cannot compress a metadata block: the compression worker did not answer");
      }
      Atomics.wait(ctrl, 1, Atomics.load(ctrl, 1), left);
    }
    const length = ctrl[3]!;
    if (ctrl[2] !== 1) {
      const reason = new TextDecoder().decode(data.slice(0, length));
      throw new Error(`Cannot compress a metadata block: ${reason}`);
    }
    return length === 0 ? undefined : data.slice(0, length);
  }

  /** Let the first worker go back to its messages (it served {@linkcode compressSync}). */
  #endSync(): void {
    if (!this.#sync) return;
    Atomics.store(this.#sync.ctrl, 0, -1);
    Atomics.notify(this.#sync.ctrl, 0);
    this.#sync = undefined;
  }

  /**
   * Run a batch of tasks on the least busy worker: one message each way, the buffer
   * transferred there and back (never copied).
   *
   * @param buffer The batch buffer, holding the inline tasks' input in their slots.
   * @param tasks The tasks, their slots laid out in order from the buffer's start.
   * @returns The buffer (holding the outputs) and a result per task.
   */
  runBatch(buffer: ArrayBuffer, tasks: BatchTask[]): Promise<BatchResult> {
    if (this.#failed) return Promise.reject(this.#failed);
    let worker = 0;
    for (let i = 1; i < this.#load.length; i++) {
      if (this.#load[i]! < this.#load[worker]!) worker = i;
    }
    const id = this.#nextId++;
    this.#load[worker]!++;
    return new Promise((resolve, reject) => {
      this.#batches.set(id, { resolve, reject, worker });
      this.#workers[worker]!.postMessage({ id, buffer, tasks }, [buffer]);
    });
  }

  #settle(
    message: {
      id: number;
      buffer: ArrayBuffer;
      length?: number;
      error?: string;
      results?: TaskResult[];
    },
  ): void {
    const batch = this.#batches.get(message.id);
    if (batch) {
      this.#batches.delete(message.id);
      this.#load[batch.worker]!--;
      if (message.error !== undefined) batch.reject(new Error(message.error));
      else batch.resolve({ buffer: message.buffer, results: message.results! });
      return;
    }
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
    for (const batch of this.#batches.values()) batch.reject(error);
    this.#batches.clear();
  }

  /** Stop the workers; pending blocks are rejected. */
  close(): void {
    this.#endSync();
    for (const worker of this.#workers) worker.terminate();
    this.#fail(new Error("Cannot compress a block: the pool is closed"));
  }
}
