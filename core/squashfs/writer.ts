/**
 * The SquashFS 4.0 writer: an {@linkcode FsSink} that streams file data into compressed
 * blocks (`node:zlib` on worker threads, a bounded in-flight window, written in order so
 * the bytes never depend on the parallelism) and hands the tree to the `sqfs` WebAssembly
 * module, which builds the inode, directory, fragment, id and xattr tables.
 *
 * Memory is bounded by metadata (one node per entry, the block-size list of each file) plus
 * 16 blocks in flight per compression worker, never by file data.
 *
 * @module
 */
import type { EntryMeta, FsSink } from "./fstree.ts";
import { HOST_OFFSET, HOST_PATH, LATE_XATTRS, pathKey } from "./fstree.ts";
import { SqfsInstance } from "./_wasm.ts";
import type { BatchResult, BatchTask } from "./_compress_pool.ts";
import { CompressPool } from "./_compress_pool.ts";
import { Codecs, codecsWasmBytes } from "./_codecs_wasm.ts";
import { compressorOptionsBlock, FLAG_COMPRESSOR_OPTIONS } from "./_compressor_options.ts";

/** Compressors the writer supports. */
export type SquashfsCompressor = "gzip" | "zstd" | "lz4" | "xz";

/** Options of {@linkcode SquashfsWriter}. */
export interface SquashfsWriterOptions {
  /** Block compressor (default "gzip", which every kernel reads). */
  compressor?: SquashfsCompressor;
  /**
   * Compression level (gzip 1-9, default {@linkcode DEFAULT_GZIP_LEVEL}; zstd 1-22, default 3;
   * xz 0-9, the xz preset, default 6 as mksquashfs; lz4 has none).
   */
  level?: number;
  /** Data block size, a power of two from 4 KiB to 1 MiB (default 131072). */
  blockSize?: number;
  /** Make every entry owned by root (`mksquashfs -all-root`). */
  allRoot?: boolean;
  /** Force this owner uid on every entry. */
  uid?: number;
  /** Force this group gid on every entry. */
  gid?: number;
  /** Force this modification time (seconds since the epoch) on every entry. */
  mtime?: number;
  /** Store every file's tail in its own short block instead of packing tails into fragments. */
  noFragments?: boolean;
  /** Drop extended attributes. */
  noXattrs?: boolean;
  /** Do not detect duplicate files (saves hashing the files whose sizes repeat). */
  noDuplicates?: boolean;
  /** Compression worker threads (default: the number of CPUs). */
  parallelism?: number;
  /** Called after each data block is written, with the total input bytes consumed so far. */
  onProgress?: (bytesIn: number) => void;
}

/** Where the image goes: a path (written atomically), or an open file at an offset. */
export type SquashfsOutput = string | { file: Deno.FsFile; offset: number };

/** Summary of a finished image. */
export interface SquashfsStats {
  /** Bytes of the image, including the padding to 4 KiB. */
  bytes: number;
  /** Input bytes of regular files. */
  dataBytes: number;
  /** Number of inodes. */
  entries: number;
  /** Files stored as references to an identical earlier file. */
  duplicates: number;
}

/** The default gzip level: near level 9's size at a fraction of its time (see bench/). */
export const DEFAULT_GZIP_LEVEL = 7;
const DEFAULT_ZSTD_LEVEL = 3;
/** mksquashfs's xz: LZMA2 at liblzma's default preset, the dictionary = the block size. */
const DEFAULT_XZ_LEVEL = 6;
const COMPRESSOR_ID: Record<SquashfsCompressor, number> = { gzip: 1, zstd: 6, lz4: 5, xz: 4 };
const LEVELS: Record<SquashfsCompressor, [min: number, max: number, fallback: number]> = {
  gzip: [1, 9, DEFAULT_GZIP_LEVEL],
  zstd: [1, 22, DEFAULT_ZSTD_LEVEL],
  xz: [0, 9, DEFAULT_XZ_LEVEL],
  lz4: [0, 0, 0],
};
const FLAG_NO_FRAGMENTS = 0x10;
const FLAG_DUPLICATES = 0x40;
const UNCOMPRESSED_BLOCK = 1 << 24;
const NO_FRAGMENT = 0xffffffff;
const SUPERBLOCK_SIZE = 96;
const PAD = 4096;
/** Input bytes of one batch message to a worker, and of a file range (512 KiB). */
const RANGE_BYTES = 1 << 19;
/** Most tasks in one batch (small files). */
const BATCH_TASKS = 256;
/**
 * Ranges per batch message: each message costs tens of microseconds of fixed overhead on
 * both threads (about 850 messages for the 120 MB bench tree with one range each).
 */
const BATCH_RANGES = 2;

const TYPE = { directory: 1, file: 2, symlink: 3, blockdev: 4, chardev: 5, fifo: 6, socket: 7 };

/** Tasks gathered for one message to a worker; its buffer carries input and output. */
interface Batch {
  buffer: ArrayBuffer;
  used: number;
  tasks: BatchTask[];
  /** Settles when the worker answers (set up before posting, so ranges can wait on it). */
  result: Promise<BatchResult>;
  resolve: (r: BatchResult) => void;
  reject: (e: Error) => void;
  posted: boolean;
  /** Tasks not yet decided on by the chain. */
  undecided: number;
  /** Tasks not yet written out; the buffer is reused when none are left. */
  unwritten: number;
}

/** Filled fragment blocks sent to a worker together, in one message. */
interface FragmentGroup {
  /** Room for the group's blocks, one block size apart. */
  buffer: ArrayBuffer;
  tasks: BatchTask[];
  /** Settles when the worker answers (set up before posting: writes queue on it). */
  result: Promise<BatchResult>;
  resolve: (r: BatchResult) => void;
  reject: (e: Error) => void;
  /** Blocks not yet written out; the buffer is reused when none are left. */
  unwritten: number;
}

/** A tail read by the worker from a host file into a fragment block, at `at` in the block. */
type FragmentPiece = NonNullable<BatchTask["pieces"]>[number];

/** A regular file whose ranges are in flight. */
interface FileState {
  id: number;
  size: number;
  start: number | undefined;
  sizes: number[];
  sparse: number;
  frag: number;
  fragOffset: number;
  /** sha256 of each range (hex), when detecting duplicates. */
  digests: string[];
}

/**
 * The first file of its size, not hashed when it was packed (a file whose size no other
 * file has cannot be a duplicate): where to read it again once a second file of that size
 * comes.
 */
interface Unhashed {
  state: FileState;
  path: string;
  offset: number;
}

/**
 * Writes a SquashFS 4.0 image from the entries an {@linkcode FsSink} producer gives it.
 * Producers call the sink methods one at a time (awaiting each); then {@linkcode finish}.
 *
 * @example Usage
 * ```ts ignore
 * import { SquashfsWriter } from "./writer.ts";
 * const enc = new TextEncoder();
 * const w = await SquashfsWriter.create("out.sqfs", { compressor: "zstd" });
 * const meta = { mode: 0o644, uid: 0, gid: 0, mtime: 0 };
 * await w.file(enc.encode("hello.txt"), meta, 3, (async function* () {
 *   yield enc.encode("hi\n");
 * })());
 * await w.finish();
 * ```
 */
export class SquashfsWriter implements FsSink {
  #wasm: SqfsInstance;
  #out: Deno.FsFile;
  #base: number;
  #tempPath: string | undefined;
  #finalPath: string | undefined;
  #pos: number;
  #blockSize: number;
  #opts: SquashfsWriterOptions;
  #pool: CompressPool;
  #window: number;
  #rangeBytes: number;
  #batchBytes: number;
  #paths = new Map<string, { id: number; dir: boolean }>();
  #fragGroup: FragmentGroup;
  #fragGroupSize: number;
  #free: ArrayBuffer[] = [];
  #fragFree: ArrayBuffer[] = [];
  #fragLen = 0;
  #fragCount = 0;
  /** Tails in the fragment block being filled that the worker reads from host files. */
  #fragPieces: FragmentPiece[] = [];
  /** Fragment groups posted and not yet written out. */
  #fragGroupsOut = 0;
  #dups = new Map<string, FileState>();
  /**
   * File sizes seen so far: the first file of that size while it is unhashed and can be
   * read again, else null (it was hashed, or it is being hashed now).
   */
  #sizes = new Map<number, Unhashed | null>();
  /** The batch being filled (not yet posted). */
  #open: Batch | undefined;
  /** Batches posted and not yet decided on. */
  #inFlight = 0;
  /** Batches posted and not yet written out. */
  #held = 0;
  /** Ranges are written out in submission order by this chain of handlers. */
  #chain: Promise<void> = Promise.resolve();
  #failed: Error | undefined;
  #waiters: (() => void)[] = [];
  /** Writes waiting for a fragment block in front of them, in order. */
  #outQueue: { write: (r?: BatchResult) => void; wait?: Promise<BatchResult> | undefined }[] = [];
  #pumping: Promise<void> | undefined;
  #dataBytes = 0;
  #consumed = 0;
  #duplicates = 0;
  #entries = 1;
  #closed = false;
  #encoder = new TextEncoder();

  private constructor(
    wasm: SqfsInstance,
    out: Deno.FsFile,
    base: number,
    opts: SquashfsWriterOptions,
    pool: CompressPool,
    paths: { temp?: string; final?: string },
  ) {
    this.#wasm = wasm;
    this.#out = out;
    this.#base = base;
    this.#pos = SUPERBLOCK_SIZE;
    this.#opts = opts;
    this.#blockSize = opts.blockSize ?? 131072;
    this.#pool = pool;
    // Enough batches queued to keep every worker busy while this thread prepares the next.
    this.#window = 3 * pool.size;
    this.#rangeBytes = Math.max(1, Math.floor(RANGE_BYTES / this.#blockSize)) * this.#blockSize;
    this.#batchBytes = BATCH_RANGES * this.#rangeBytes;
    this.#fragGroupSize = Math.max(1, Math.floor(this.#batchBytes / this.#blockSize));
    this.#fragGroup = this.#newFragmentGroup();
    this.#tempPath = paths.temp;
    this.#finalPath = paths.final;
    this.#paths.set("", { id: 0, dir: true });
  }

  /**
   * Open a writer.
   *
   * @param output A path (written to a temporary sibling, renamed by `finish`), or an open
   *   file and the offset the image starts at.
   * @param options Compressor, level, block size, ownership and feature switches.
   * @returns The writer.
   */
  static async create(
    output: SquashfsOutput,
    options: SquashfsWriterOptions = {},
  ): Promise<SquashfsWriter> {
    const compressor = options.compressor ?? "gzip";
    const blockSize = options.blockSize ?? 131072;
    if (!(blockSize >= 4096 && blockSize <= 1 << 20 && (blockSize & (blockSize - 1)) === 0)) {
      throw new RangeError(
        `Cannot create a SquashFS image with block size ${blockSize}: it must be a power of two from 4096 to 1048576`,
      );
    }
    if (!(compressor in COMPRESSOR_ID)) {
      throw new RangeError(`Cannot use compressor ${compressor}: use gzip, zstd, xz or lz4`);
    }
    if (compressor === "lz4" && options.level !== undefined) {
      throw new RangeError("Cannot use lz4 with a level: lz4 has no compression levels");
    }
    const [min, max, fallback] = LEVELS[compressor];
    const level = options.level ?? fallback;
    if (!Number.isInteger(level) || level < min || level > max) {
      throw new RangeError(
        `Cannot use ${compressor} level ${level}: it must be an integer from ${min} to ${max}`,
      );
    }
    // The workers first: each takes tens of milliseconds to load its modules, meanwhile
    // this thread compiles the WebAssembly module and opens the output.
    const workers = Math.max(1, options.parallelism ?? navigator.hardwareConcurrency ?? 2);
    const wasmCodec = compressor === "lz4" || compressor === "xz";
    const codecs = wasmCodec ? await codecsWasmBytes() : undefined;
    const pool = new CompressPool(workers, compressor, level, blockSize, codecs);
    try {
      const lz4 = compressor === "lz4" ? await Codecs.create() : undefined;
      // gzip, zstd and xz metadata blocks are compressed by a worker (this thread then
      // loads no node:zlib and no xz encoder), once the data blocks are done (the tables are
      // built in finish).
      const wasm = await SqfsInstance.create(
        lz4
          ? (block) => {
            const out = lz4.lz4Compress(block);
            return out !== undefined && out.length < block.length ? out : undefined;
          }
          : (block) => pool.compressSync(block),
      );
      let flags = 0;
      if (options.noFragments) flags |= FLAG_NO_FRAGMENTS;
      if (!options.noDuplicates) flags |= FLAG_DUPLICATES;
      const compressorOptions = compressorOptionsBlock(compressor);
      if (compressorOptions) flags |= FLAG_COMPRESSOR_OPTIONS;
      wasm.check(
        (wasm.raw.sqfs_init as (b: number, c: number, f: number) => number)(
          blockSize,
          COMPRESSOR_ID[compressor],
          flags,
        ),
        "start a SquashFS image",
      );
      let file: Deno.FsFile;
      let base = 0;
      const paths: { temp?: string; final?: string } = {};
      if (typeof output === "string") {
        const slash = output.lastIndexOf("/");
        const dir = slash >= 0 ? output.slice(0, slash + 1) : "";
        const name = output.slice(slash + 1);
        paths.final = output;
        paths.temp = `${dir}.${name}.${crypto.randomUUID().slice(0, 8)}.tmp`;
        file = await Deno.open(paths.temp, { write: true, create: true, truncate: true });
      } else {
        file = output.file;
        base = output.offset;
      }
      const writer = new SquashfsWriter(wasm, file, base, { ...options, blockSize }, pool, paths);
      writer.#seek(SUPERBLOCK_SIZE);
      if (compressorOptions) writer.#write(compressorOptions);
      return writer;
    } catch (error) {
      pool.close();
      throw error;
    }
  }

  #seek(pos: number): void {
    this.#out.seekSync(this.#base + pos, Deno.SeekMode.Start);
  }

  #write(bytes: Uint8Array): void {
    let done = 0;
    while (done < bytes.length) done += this.#out.writeSync(bytes.subarray(done));
    this.#pos += bytes.length;
  }

  /** Call a WASM export; `action` (a function where it would cost a path decode) names it. */
  #call(name: string, action: string | (() => string), ...args: number[]): number {
    const fn = this.#wasm.raw[name] as (...a: number[]) => number;
    const code = fn(...args);
    if (code >= 0) return code;
    return this.#wasm.check(code, typeof action === "string" ? action : action());
  }

  #meta(meta: EntryMeta): [number, number, number, number] {
    const o = this.#opts;
    let uid = meta.uid;
    let gid = meta.gid;
    if (o.allRoot) uid = gid = 0;
    if (o.uid !== undefined) uid = o.uid;
    if (o.gid !== undefined) gid = o.gid;
    const mtime = o.mtime ?? meta.mtime;
    return [meta.mode & 0o7777, uid >>> 0, gid >>> 0, Math.max(0, Math.min(mtime, 0xffffffff))];
  }

  #xattrs(id: number, meta: EntryMeta, path: Uint8Array): void {
    if (this.#opts.noXattrs || !meta.xattrs) return;
    for (const [key, value] of meta.xattrs) {
      const k = this.#encoder.encode(key);
      const kp = this.#wasm.put(k);
      const vp = this.#wasm.put(value);
      try {
        this.#call(
          "sqfs_xattr_add",
          `add xattr "${key}" to "${show(path)}"`,
          id,
          kp,
          k.length,
          vp,
          value.length,
        );
      } finally {
        this.#wasm.free(kp, k.length);
        this.#wasm.free(vp, value.length);
      }
    }
  }

  /** Find or create the parent directory of `path`; returns its node id and the name. */
  #parent(path: Uint8Array): [number, Uint8Array] {
    if (path.length === 0 || path[0] === 0x2f) {
      throw new TypeError(`Cannot add "${show(path)}": paths must be relative and non-empty`);
    }
    const slash = path.lastIndexOf(0x2f);
    const name = path.subarray(slash + 1);
    if (slash < 0) return [0, name];
    const parentPath = path.subarray(0, slash);
    const known = this.#paths.get(pathKey(parentPath));
    if (known) {
      if (!known.dir) {
        throw new TypeError(`Cannot add "${show(path)}": its parent is not a directory`);
      }
      return [known.id, name];
    }
    const id = this.#newNode(parentPath, "directory", { mode: 0o755, uid: 0, gid: 0, mtime: 0 });
    return [id, name];
  }

  #newNode(path: Uint8Array, kind: keyof typeof TYPE, meta: EntryMeta): number {
    if (this.#closed) throw new Error("Cannot add to a SquashFS image after finish or abort");
    const key = pathKey(path);
    if (this.#paths.has(key)) {
      throw new TypeError(`Cannot add "${show(path)}": the image already has an entry there`);
    }
    const [parent, name] = this.#parent(path);
    const action = () => `add "${show(path)}"`;
    const id = this.#call("sqfs_node", action, TYPE[kind], ...this.#meta(meta));
    const np = this.#wasm.put(name);
    try {
      this.#call("sqfs_link", action, parent, id, np, name.length);
    } finally {
      this.#wasm.free(np, name.length);
    }
    this.#paths.set(key, { id, dir: kind === "directory" });
    this.#entries++;
    return id;
  }

  /**
   * Declare a directory, or update the metadata of one created implicitly.
   *
   * @param path Relative path bytes; empty for the image root.
   * @param meta Mode, owner, time and xattrs.
   */
  directory(path: Uint8Array, meta: EntryMeta): void {
    const known = this.#paths.get(pathKey(path));
    if (known) {
      if (!known.dir) {
        throw new TypeError(`Cannot add directory "${show(path)}": a non-directory is there`);
      }
      this.#call("sqfs_set_meta", `update "${show(path)}"`, known.id, ...this.#meta(meta));
      this.#call("sqfs_xattr_clear", `update "${show(path)}"`, known.id);
      this.#xattrs(known.id, meta, path);
      return;
    }
    const id = this.#newNode(path, "directory", meta);
    this.#xattrs(id, meta, path);
  }

  /**
   * Replace the extended attributes of an entry already added ({@linkcode LATE_XATTRS}).
   *
   * @param path Relative path bytes of the entry.
   * @param xattrs Its attributes: full name to value.
   */
  [LATE_XATTRS](path: Uint8Array, xattrs: ReadonlyMap<string, Uint8Array>): void {
    if (this.#closed) throw new Error("Cannot add to a SquashFS image after finish or abort");
    const known = this.#paths.get(pathKey(path));
    if (!known) {
      throw new TypeError(`Cannot set the xattrs of "${show(path)}": it is not in the image`);
    }
    if (this.#opts.noXattrs) return;
    this.#call("sqfs_xattr_clear", `update "${show(path)}"`, known.id);
    this.#xattrs(known.id, { mode: 0, uid: 0, gid: 0, mtime: 0, xattrs }, path);
  }

  /**
   * Add a symbolic link.
   *
   * @param path Relative path bytes.
   * @param meta Mode, owner, time and xattrs.
   * @param target The link target, stored as is.
   */
  symlink(path: Uint8Array, meta: EntryMeta, target: Uint8Array): void {
    const id = this.#newNode(path, "symlink", meta);
    const tp = this.#wasm.put(target);
    try {
      this.#call("sqfs_symlink", `add symlink "${show(path)}"`, id, tp, target.length);
    } finally {
      this.#wasm.free(tp, target.length);
    }
    this.#xattrs(id, meta, path);
  }

  /**
   * Add a hard link: a second name for an entry already added.
   *
   * @param path Relative path bytes of the new name.
   * @param target Path of the existing entry.
   */
  hardlink(path: Uint8Array, target: Uint8Array): void {
    const known = this.#paths.get(pathKey(target));
    if (!known) {
      throw new TypeError(
        `Cannot add hard link "${show(path)}": its target "${show(target)}" is not in the image`,
      );
    }
    if (known.dir) {
      throw new TypeError(`Cannot add hard link "${show(path)}": "${show(target)}" is a directory`);
    }
    const key = pathKey(path);
    if (this.#paths.has(key)) {
      throw new TypeError(`Cannot add "${show(path)}": the image already has an entry there`);
    }
    const [parent, name] = this.#parent(path);
    const np = this.#wasm.put(name);
    try {
      this.#call("sqfs_link", `add hard link "${show(path)}"`, parent, known.id, np, name.length);
    } finally {
      this.#wasm.free(np, name.length);
    }
    this.#paths.set(key, { id: known.id, dir: false });
  }

  /**
   * Add a character or block device.
   *
   * @param path Relative path bytes.
   * @param meta Mode, owner, time and xattrs.
   * @param kind "chardev" or "blockdev".
   * @param major Major number.
   * @param minor Minor number.
   */
  device(
    path: Uint8Array,
    meta: EntryMeta,
    kind: "chardev" | "blockdev",
    major: number,
    minor: number,
  ): void {
    const id = this.#newNode(path, kind, meta);
    this.#call("sqfs_device", `add device "${show(path)}"`, id, major, minor);
    this.#xattrs(id, meta, path);
  }

  /**
   * Add a FIFO or a socket.
   *
   * @param path Relative path bytes.
   * @param meta Mode, owner, time and xattrs.
   * @param kind "fifo" or "socket".
   */
  special(path: Uint8Array, meta: EntryMeta, kind: "fifo" | "socket"): void {
    const id = this.#newNode(path, kind, meta);
    this.#xattrs(id, meta, path);
  }

  /**
   * Add a regular file. Its data goes to the compression workers in batches of ranges (up
   * to 512 KiB each); when `data` names a host file ({@linkcode HOST_PATH}, and
   * {@linkcode HOST_OFFSET} where the bytes start in it), the workers read it themselves and
   * `data` is not iterated. Resolves once the data is handed over; its
   * blocks may still be compressing.
   *
   * @param path Relative path bytes.
   * @param meta Mode, owner, time and xattrs.
   * @param size Exact byte length of `data`.
   * @param data The content.
   */
  async file(
    path: Uint8Array,
    meta: EntryMeta,
    size: number,
    data: AsyncIterable<Uint8Array>,
  ): Promise<void> {
    this.#throwIfFailed();
    const id = this.#newNode(path, "file", meta);
    this.#xattrs(id, meta, path);
    const state: FileState = {
      id,
      size,
      start: undefined,
      sizes: [],
      sparse: 0,
      frag: NO_FRAGMENT,
      fragOffset: 0,
      digests: [],
    };
    const range = this.#rangeBytes;
    const host = (data as { [HOST_PATH]?: string })[HOST_PATH];
    const base = (data as { [HOST_OFFSET]?: number })[HOST_OFFSET] ?? 0;
    const reread = host === undefined ? undefined : { state, path: host, offset: base };
    let hash = false;
    if (size > 0 && !this.#opts.noDuplicates) {
      // A new size is the common case: decided here, without an await.
      if (!this.#sizes.has(size)) {
        this.#sizes.set(size, reread ?? null);
        hash = reread === undefined;
      } else {
        hash = await this.#needsHash(size);
      }
    }
    if (
      host !== undefined && !hash && size > 0 && size < this.#blockSize && !this.#opts.noFragments
    ) {
      // All tail and nothing to hash: no batch task at all. The tail is placed in the
      // fragment block in its turn, and the worker compressing that block reads it there.
      while (this.#fragGroupsOut >= this.#window) {
        this.#throwIfFailed();
        await new Promise<void>((resolve) => this.#waiters.push(resolve));
      }
      this.#throwIfFailed();
      this.#chain = this.#chain.then(() => {
        if (this.#failed) return;
        this.#addFragmentPiece({ at: 0, length: size, path: host, offset: base }, state);
        this.#output(() => {
          this.#progress(size);
          this.#completeFile(state);
        });
      }).catch((error) => this.#fail(error));
    } else if (host !== undefined) {
      for (let offset = 0; offset < size; offset += range) {
        const length = Math.min(range, size - offset);
        const batch = this.#openWithRoom(length) ?? await this.#batchWithRoom(length);
        const task = { at: batch.used, length, path: host, offset: base + offset, hash };
        this.#addTask(batch, state, task, offset, size);
      }
    } else {
      let total = 0;
      let batch: Batch | undefined;
      let slot = 0;
      let slotLength = 0;
      let fill = 0;
      for await (const chunk of data) {
        let at = 0;
        while (at < chunk.length) {
          if (total + (chunk.length - at) > size) {
            throw new RangeError(
              `Cannot add "${show(path)}": it has more than the ${size} bytes announced`,
            );
          }
          if (batch === undefined) {
            slotLength = Math.min(range, size - total);
            batch = this.#openWithRoom(slotLength) ?? await this.#batchWithRoom(slotLength);
            slot = batch.used;
            batch.used += slotLength; // reserved while it fills
            fill = 0;
          }
          const n = Math.min(slotLength - fill, chunk.length - at);
          new Uint8Array(batch.buffer, slot + fill, n).set(chunk.subarray(at, at + n));
          fill += n;
          at += n;
          total += n;
          if (fill === slotLength) {
            batch.used -= slotLength;
            const task = { at: slot, length: slotLength, hash };
            this.#addTask(batch, state, task, total - fill, size);
            batch = undefined;
          }
        }
      }
      if (total !== size) {
        if (batch) batch.used -= slotLength;
        throw new RangeError(
          `Cannot add "${show(path)}": it has ${total} bytes, ${size} were announced`,
        );
      }
    }
    this.#dataBytes += size;
    if (size === 0) this.#setFile(id, 0, 0, NO_FRAGMENT, 0, 0, []);
  }

  #throwIfFailed(): void {
    if (this.#failed) throw this.#failed;
  }

  /**
   * For a file whose size an earlier file had (so it is hashed: a file of a size no other
   * file has is no duplicate, and is hashed only when it cannot be read again later, i.e.
   * streamed data; `file` decides that case): the first file of that size, unless hashed
   * already, is hashed now, its ranges read again from its host file ahead of this file's,
   * so that its digest is known when this one is decided.
   *
   * @returns true (the file is to be hashed).
   */
  async #needsHash(size: number): Promise<boolean> {
    const first = this.#sizes.get(size);
    if (first) {
      this.#sizes.set(size, null);
      const range = this.#rangeBytes;
      const digests = { list: [] as string[], complete: true };
      for (let offset = 0; offset < size; offset += range) {
        const length = Math.min(range, size - offset);
        const batch = this.#openWithRoom(length) ?? await this.#batchWithRoom(length);
        const task: BatchTask = {
          at: batch.used,
          length,
          path: first.path,
          offset: first.offset + offset,
          hashOnly: true,
        };
        this.#addHashTask(batch, task, first.state, digests, offset + length === size);
      }
    }
    return true;
  }

  /** Queue a re-read of an earlier file's range, hashed only; the last one registers it. */
  #addHashTask(
    batch: Batch,
    task: BatchTask,
    state: FileState,
    digests: { list: string[]; complete: boolean },
    last: boolean,
  ): void {
    const index = batch.tasks.length;
    batch.tasks.push(task);
    batch.used += task.length;
    batch.undecided++;
    batch.unwritten++;
    this.#chain = this.#chain.then(async () => {
      if (this.#failed) return;
      const result = await batch.result;
      this.#decided(batch);
      const digest = result.results[index]!.digest;
      // A file that cannot be read again (changed or gone since) is left unregistered.
      if (digest === undefined) digests.complete = false;
      else digests.list.push(digest);
      if (last && digests.complete) this.#dups.set(dupKey(state.size, digests.list), state);
      this.#output(() => this.#release(batch, result));
    }).catch((error) => this.#fail(error));
    if (batch.used >= this.#batchBytes || batch.tasks.length >= BATCH_TASKS) this.#post();
  }

  /** Queue a range of a file in `batch`; its handler joins the chain of writes. */
  #addTask(
    batch: Batch,
    state: FileState,
    task: BatchTask,
    offset: number,
    size: number,
  ): void {
    const last = offset + task.length === size;
    task.tailRaw = last && !this.#opts.noFragments;
    const index = batch.tasks.length;
    batch.tasks.push(task);
    batch.used += task.length;
    batch.undecided++;
    batch.unwritten++;
    const first = offset === 0;
    const length = task.length;
    this.#chain = this.#chain.then(() =>
      this.#handleRange(batch, index, state, first, last, length)
    )
      .catch((error) => this.#fail(error));
    if (batch.used >= this.#batchBytes || batch.tasks.length >= BATCH_TASKS) this.#post();
  }

  #fail(error: unknown): void {
    this.#failed ??= error instanceof Error ? error : new Error(String(error));
    this.#wake();
  }

  #wake(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /** The open batch if it has `length` bytes free, else a new one (waiting for room). */
  /** The open batch if it has `length` bytes free (the common case, without an await). */
  #openWithRoom(length: number): Batch | undefined {
    const open = this.#open;
    return open && !this.#closed && open.used + length <= open.buffer.byteLength ? open : undefined;
  }

  async #batchWithRoom(length: number): Promise<Batch> {
    if (this.#closed) throw new Error("Cannot add to a SquashFS image after finish or abort");
    const open = this.#open;
    if (open && open.used + length <= open.buffer.byteLength) return open;
    this.#post();
    // Posted batches not yet decided on keep the workers busy; buffers waiting behind a
    // fragment block that is still compressing are bounded too (and before waiting, the
    // fragment blocks filled so far go out: writes may be queued behind them).
    if (this.#inFlight >= this.#window || this.#held >= this.#window + 2) this.#postFragments();
    while (this.#inFlight >= this.#window || this.#held >= this.#window + 2) {
      this.#throwIfFailed();
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
    this.#throwIfFailed();
    let resolve!: (r: BatchResult) => void;
    let reject!: (e: Error) => void;
    const result = new Promise<BatchResult>((ok, no) => {
      resolve = ok;
      reject = no;
    });
    // A batch dropped by abort() must not become an unhandled rejection.
    result.catch(() => {});
    const batch: Batch = {
      buffer: this.#takeBuffer(),
      used: 0,
      tasks: [],
      result,
      resolve,
      reject,
      posted: false,
      undecided: 0,
      unwritten: 0,
    };
    this.#open = batch;
    return batch;
  }

  /** Send the open batch to a worker. */
  #post(): void {
    const batch = this.#open;
    if (!batch) return;
    this.#open = undefined;
    if (batch.tasks.length === 0) {
      this.#free.push(batch.buffer);
      batch.resolve({ buffer: batch.buffer, results: [] });
      return;
    }
    batch.posted = true;
    this.#inFlight++;
    this.#held++;
    this.#pool.runBatch(batch.buffer, batch.tasks).then(batch.resolve, batch.reject);
  }

  /** One task of a batch is written out; the last one frees the batch for reuse. */
  #release(batch: Batch, result: BatchResult): void {
    if (--batch.unwritten > 0) return;
    this.#recycle(result.buffer);
    this.#held--;
    this.#wake();
  }

  /** One task of a batch is decided on; the last one lets the producer post another. */
  #decided(batch: Batch): void {
    if (--batch.undecided > 0) return;
    this.#inFlight--;
    this.#wake();
  }

  /**
   * Decide what one range of a file becomes (duplicate or not, where its tail goes), in
   * submission order (called by the chain); the writes themselves go through the output
   * queue, so a fragment block still compressing delays them without stopping this.
   */
  async #handleRange(
    batch: Batch,
    index: number,
    state: FileState,
    first: boolean,
    last: boolean,
    length: number,
  ): Promise<void> {
    if (this.#failed) return;
    const result = await batch.result;
    this.#decided(batch);
    const t = result.results[index]!;
    const bytes = new Uint8Array(result.buffer);
    const hashing = t.digest !== undefined;
    if (hashing) state.digests.push(t.digest!);
    let key: string | undefined;
    if (hashing && first && last) {
      // A file of one range: a duplicate is known before anything is written.
      key = dupKey(state.size, state.digests);
      const original = this.#dups.get(key);
      if (original) {
        this.#output(() => {
          this.#duplicateOf(state, original, length);
          this.#release(batch, result);
        });
        return;
      }
    }
    const stored = t.words.reduce((sum, w) => sum + (w & ~UNCOMPRESSED_BLOCK), 0);
    if (t.words.length > 0) {
      this.#output(() => {
        if (state.start === undefined) state.start = this.#pos;
        const bs = this.#blockSize;
        for (let i = 0; i < t.words.length; i++) {
          const word = t.words[i]!;
          state.sizes.push(word);
          if (word === 0) state.sparse += Math.min(bs, length - i * bs);
        }
        if (stored > 0) this.#write(bytes.subarray(t.out, t.out + stored));
      });
    }
    if (!last) {
      this.#output(() => {
        this.#progress(length);
        this.#release(batch, result);
      });
      return;
    }
    if (hashing && key === undefined) {
      // Longer files are written as their ranges arrive; a duplicate rewinds the output.
      key = dupKey(state.size, state.digests);
      const original = this.#dups.get(key);
      if (original) {
        this.#output(() => {
          if (state.start !== undefined) {
            this.#pos = state.start;
            this.#seek(this.#pos);
          }
          this.#duplicateOf(state, original, length);
          this.#release(batch, result);
        });
        return;
      }
    }
    if (key !== undefined) this.#dups.set(key, state);
    state.digests = [];
    if (t.tail > 0) {
      const tailAt = t.out + stored;
      this.#addFragment(bytes.subarray(tailAt, tailAt + t.tail), state);
    }
    this.#output(() => {
      this.#progress(length);
      this.#release(batch, result);
      this.#completeFile(state);
    });
  }

  #progress(length: number): void {
    this.#consumed += length;
    this.#opts.onProgress?.(this.#consumed);
  }

  /**
   * Run `write` once everything queued before it is written, and, with `wait`, once that
   * compression is done (a fragment block).
   */
  #output(write: (r?: BatchResult) => void, wait?: Promise<BatchResult>): void {
    if (this.#outQueue.length === 0 && wait === undefined) {
      write();
      return;
    }
    this.#outQueue.push({ write, wait });
    this.#startPump();
  }

  /**
   * Start the output pump unless it runs. An item queued after the pump's loop ended but
   * before its promise settled would otherwise wait for the next item: the pump restarts
   * itself when it finds work left.
   */
  #startPump(): void {
    this.#pumping ??= this.#pump().catch((error) => {
      // Nothing more is written after a failure: a queued write whose block failed (a
      // closed pool rejects it) would otherwise restart the pump forever.
      this.#outQueue.length = 0;
      this.#fail(error);
    }).finally(() => {
      this.#pumping = undefined;
      if (this.#outQueue.length > 0) this.#startPump();
    });
  }

  /** Wait until the output queue is empty and no pump runs (a pump may restart itself). */
  async #pumped(): Promise<void> {
    while (this.#pumping) await this.#pumping;
  }

  /** Wait until everything submitted so far has been compressed and written, in order. */
  async #drain(): Promise<void> {
    this.#throwIfFailed();
    this.#post();
    await this.#chain;
    this.#postFragments();
    await this.#pumped();
    this.#throwIfFailed();
  }

  async #pump(): Promise<void> {
    while (this.#outQueue.length > 0) {
      const item = this.#outQueue[0]!;
      const result = item.wait ? await item.wait : undefined;
      item.write(result);
      this.#outQueue.shift();
    }
  }

  #duplicateOf(state: FileState, original: FileState, length: number): void {
    const o = original;
    this.#setFile(state.id, state.size, o.start ?? 0, o.frag, o.fragOffset, o.sparse, o.sizes);
    this.#duplicates++;
    this.#progress(length);
  }

  /**
   * Add a regular file whose data blocks are already compressed with this writer's
   * compressor and block size (from `SquashfsReader.rawFileData`): the blocks are written
   * as they are, the tail goes into a fragment as usual.
   *
   * @param path Path in the image.
   * @param meta Owner, mode, time, xattrs.
   * @param size The file's size.
   * @param words The blocks' size words (bit 24: stored uncompressed; 0: a hole).
   * @param data The stored blocks, back to back.
   * @param tail The bytes after the last full block, if any: the bytes themselves, or
   *   where they lie in a fragment block added with {@linkcode SquashfsWriter.rawFragment}.
   */
  async rawFile(
    path: Uint8Array,
    meta: EntryMeta,
    size: number,
    words: ArrayLike<number>,
    data: Uint8Array,
    tail?: Uint8Array | { fragment: number; offset: number; length: number },
  ): Promise<void> {
    const id = this.#newNode(path, "file", meta);
    this.#xattrs(id, meta, path);
    const bs = this.#blockSize;
    const tailLength = tail === undefined ? 0 : tail.length;
    if (words.length * bs + tailLength < size || tailLength >= bs) {
      throw new RangeError(`Cannot add "${show(path)}": its blocks do not add up to ${size}`);
    }
    // blocks are written in queue order: everything compressed so far goes first
    await this.#drain();
    const start = this.#pos;
    let sparse = 0;
    const sizes: number[] = [];
    for (let i = 0; i < words.length; i++) {
      const word = words[i]!;
      sizes.push(word);
      if ((word & 0xff_ffff) === 0) sparse += Math.min(bs, size - i * bs);
    }
    if (data.length > 0) this.#write(data);
    this.#dataBytes += size;
    this.#consumed += size;
    const state = { frag: NO_FRAGMENT, fragOffset: 0 } as FileState;
    if (tail instanceof Uint8Array) {
      if (tail.length > 0) await this.#addFragment(tail, state);
    } else if (tail) {
      if (tail.fragment >= this.#fragCount) {
        throw new RangeError(`Cannot add "${show(path)}": fragment ${tail.fragment} is unknown`);
      }
      state.frag = tail.fragment;
      state.fragOffset = tail.offset;
    }
    this.#setFile(id, size, start, state.frag, state.fragOffset, sparse, sizes);
    this.#opts.onProgress?.(this.#consumed);
  }

  /**
   * Add a fragment block as stored by an image with the same compressor and block size
   * (`SquashfsReader.rawFragment`), for {@linkcode SquashfsWriter.rawFile} tails.
   *
   * @param word Its size word (bit 24: stored uncompressed).
   * @param data Its stored bytes.
   * @returns The fragment's index in this image.
   */
  async rawFragment(word: number, data: Uint8Array): Promise<number> {
    if ((word & 0xff_ffff) !== data.length || data.length > this.#blockSize) {
      throw new RangeError("Cannot add a fragment block: its size word does not match");
    }
    // Tails of files added so far reach the fragment buffer only when their batch has been
    // processed: drain first, then the block being filled keeps its place in line.
    await this.#drain();
    this.#flushFragment();
    await this.#drain();
    const index = this.#fragCount;
    this.#call("sqfs_fragment", "record a fragment", this.#pos, word);
    this.#write(data);
    this.#fragCount++;
    return index;
  }

  #setFile(
    id: number,
    size: number,
    start: number,
    frag: number,
    fragOffset: number,
    sparse: number,
    sizes: number[],
  ): void {
    const words = new Uint8Array(sizes.length * 4);
    const view = new DataView(words.buffer);
    sizes.forEach((s, i) => view.setUint32(i * 4, s, true));
    const ptr = this.#wasm.put(words);
    try {
      this.#call(
        "sqfs_file",
        "record a file",
        id,
        size,
        start,
        frag,
        fragOffset,
        sparse,
        ptr,
        sizes.length,
      );
    } finally {
      this.#wasm.free(ptr, words.length);
    }
  }

  #completeFile(state: FileState): void {
    this.#setFile(
      state.id,
      state.size,
      state.start ?? 0,
      state.frag,
      state.fragOffset,
      state.sparse,
      state.sizes,
    );
  }

  /** A batch buffer: a recycled one when possible (no allocation churn). */
  #takeBuffer(): ArrayBuffer {
    return this.#free.pop() ?? new ArrayBuffer(this.#batchBytes);
  }

  /** Give a batch buffer back once its bytes are written. */
  #recycle(buffer: ArrayBuffer): void {
    if (buffer.byteLength === this.#batchBytes && this.#free.length < this.#window + 3) {
      this.#free.push(buffer);
    }
  }

  /** Place a tail that the worker compressing its fragment block reads from a host file. */
  #addFragmentPiece(piece: FragmentPiece, state: FileState): void {
    if (this.#fragLen + piece.length > this.#blockSize) this.#flushFragment();
    state.frag = this.#fragCount;
    state.fragOffset = this.#fragLen;
    piece.at = this.#fragLen;
    this.#fragPieces.push(piece);
    this.#fragLen += piece.length;
  }

  #addFragment(tail: Uint8Array, state: FileState): void {
    if (this.#fragLen + tail.length > this.#blockSize) this.#flushFragment();
    state.frag = this.#fragCount;
    state.fragOffset = this.#fragLen;
    const slot = this.#fragGroup.tasks.length * this.#blockSize;
    new Uint8Array(this.#fragGroup.buffer, slot + this.#fragLen, tail.length).set(tail);
    this.#fragLen += tail.length;
  }

  #newFragmentGroup(): FragmentGroup {
    let resolve!: (r: BatchResult) => void;
    let reject!: (e: Error) => void;
    const result = new Promise<BatchResult>((ok, no) => {
      resolve = ok;
      reject = no;
    });
    result.catch(() => {}); // surfaced by the output queue
    const buffer = this.#fragFree.pop() ??
      new ArrayBuffer(this.#fragGroupSize * this.#blockSize);
    return { buffer, tasks: [], result, resolve, reject, unwritten: 0 };
  }

  /**
   * Close the fragment block being filled; the output queue writes it in its turn, once its
   * group has been compressed. A full group goes to a worker at once.
   */
  #flushFragment(): void {
    if (this.#fragLen === 0) return;
    const group = this.#fragGroup;
    const index = group.tasks.length;
    const task: BatchTask = { at: index * this.#blockSize, length: this.#fragLen, fragment: true };
    if (this.#fragPieces.length > 0) {
      task.pieces = this.#fragPieces;
      this.#fragPieces = [];
    }
    group.tasks.push(task);
    group.unwritten++;
    this.#fragLen = 0;
    this.#fragCount++;
    this.#output((result) => {
      const t = result!.results[index]!;
      const word = t.words[0]!;
      this.#call("sqfs_fragment", "record a fragment", this.#pos, word);
      this.#write(new Uint8Array(result!.buffer, t.out, word & ~UNCOMPRESSED_BLOCK));
      if (--group.unwritten === 0) {
        if (this.#fragFree.length < 4) this.#fragFree.push(result!.buffer);
        this.#fragGroupsOut--;
        this.#wake();
      }
    }, group.result);
    if (group.tasks.length === this.#fragGroupSize) this.#postFragments();
  }

  /** Send the closed fragment blocks to a worker, in one message. */
  #postFragments(): void {
    const group = this.#fragGroup;
    if (group.tasks.length === 0) return;
    this.#fragGroup = this.#newFragmentGroup();
    this.#fragGroupsOut++;
    // The block being filled moves to the new group's first slot (its pieces, at offsets
    // within the block, stay listed until it is closed).
    if (this.#fragLen > 0) {
      new Uint8Array(this.#fragGroup.buffer).set(
        new Uint8Array(group.buffer, group.tasks.length * this.#blockSize, this.#fragLen),
      );
    }
    this.#pool.runBatch(group.buffer, group.tasks).then(group.resolve, group.reject);
  }

  /**
   * Write the remaining blocks and the tables, pad to 4 KiB and (for a path) rename the
   * temporary file into place.
   *
   * @returns Size and counts of the image.
   */
  async finish(): Promise<SquashfsStats> {
    if (this.#closed) throw new Error("Cannot finish a SquashFS image twice");
    try {
      this.#throwIfFailed();
      this.#post();
      await this.#chain;
      this.#flushFragment();
      this.#postFragments();
      await this.#pumped();
      this.#throwIfFailed();
      this.#closed = true;
      const dataEnd = this.#pos;
      const len = this.#call("sqfs_finish", "build the SquashFS tables", dataEnd);
      this.#pool.close();
      const ptr = (this.#wasm.raw.sqfs_result_ptr as () => number)();
      const all = this.#wasm.bytes().slice(ptr, ptr + len);
      this.#wasm.free(ptr, len);
      const superblock = all.subarray(0, SUPERBLOCK_SIZE);
      this.#write(all.subarray(SUPERBLOCK_SIZE));
      const padded = Math.ceil(this.#pos / PAD) * PAD;
      this.#write(new Uint8Array(padded - this.#pos));
      this.#seek(0);
      this.#write(superblock);
      if (this.#finalPath !== undefined) {
        await this.#out.truncate(padded);
        this.#out.close();
        await Deno.rename(this.#tempPath!, this.#finalPath);
      }
      return {
        bytes: padded,
        dataBytes: this.#dataBytes,
        entries: this.#entries,
        duplicates: this.#duplicates,
      };
    } catch (error) {
      await this.abort();
      throw error;
    }
  }

  /** Give up: wait for in-flight work, and remove the temporary file when writing to a path. */
  async abort(): Promise<void> {
    this.#closed = true;
    this.#pool.close();
    this.#open?.reject(new Error("Cannot compress a block: the image was aborted"));
    this.#fragGroup.reject(new Error("Cannot compress a block: the image was aborted"));
    this.#open = undefined;
    this.#fail(new Error("Cannot add to a SquashFS image after abort"));
    await this.#chain;
    await this.#pumped();
    if (this.#tempPath !== undefined) {
      try {
        this.#out.close();
      } catch {
        // already closed
      }
      await Deno.remove(this.#tempPath).catch(() => {});
      this.#tempPath = undefined;
      this.#finalPath = undefined;
    }
  }
}

const decoder = new TextDecoder();

/** The duplicate-detection key of a file: its size and the sha256 of each range. */
function dupKey(size: number, digests: string[]): string {
  return `${size}:${digests.join(",")}`;
}

function show(path: Uint8Array): string {
  return decoder.decode(path);
}
