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
import zlib from "node:zlib";
import { createHash } from "node:crypto";
import { Buffer } from "node:buffer";
import type { EntryMeta, FsSink } from "./fstree.ts";
import { pathKey } from "./fstree.ts";
import { SqfsInstance } from "./_wasm.ts";
import { CompressPool, zstdFrameLength, zstdWindowLog } from "./_compress_pool.ts";

/** Compressors the writer supports. */
export type SquashfsCompressor = "gzip" | "zstd";

/** Options of {@linkcode SquashfsWriter}. */
export interface SquashfsWriterOptions {
  /** Block compressor (default "gzip", which every kernel reads). */
  compressor?: SquashfsCompressor;
  /** Compression level (gzip 1-9, default {@linkcode DEFAULT_GZIP_LEVEL}; zstd 1-22, default 3). */
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
  /** Do not detect duplicate files (saves hashing every byte). */
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
const COMPRESSOR_ID: Record<SquashfsCompressor, number> = { gzip: 1, zstd: 6 };
const FLAG_NO_FRAGMENTS = 0x10;
const FLAG_DUPLICATES = 0x40;
const UNCOMPRESSED_BLOCK = 1 << 24;
const NO_FRAGMENT = 0xffffffff;
const SUPERBLOCK_SIZE = 96;
const PAD = 4096;
/** Blocks of a file held back until its hash is known (1 MiB at the default block size). */
const HOLD_BLOCKS = 8;

const TYPE = { directory: 1, file: 2, symlink: 3, blockdev: 4, chardev: 5, fifo: 6, socket: 7 };

/** One queued block: its compressed bytes (null for a hole) and what it belongs to. */
interface Job {
  result: Promise<Uint8Array | null>;
  rawLength: number;
  file: FileState | undefined;
  fragment: boolean;
  cancelled: boolean;
}

/** A regular file whose blocks are in flight. */
interface FileState {
  id: number;
  size: number;
  start: number | undefined;
  sizes: number[];
  pendingJobs: number;
  sparse: number;
  frag: number;
  fragOffset: number;
  ended: boolean;
  complete: boolean;
  done: Promise<void>;
  resolve: () => void;
}

/** A finished file's data location, for duplicates to point at. */
interface FileData {
  state: FileState;
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
  #queue: Job[] = [];
  #paths = new Map<string, { id: number; dir: boolean }>();
  #fragBuf: Uint8Array;
  #free: Uint8Array[] = [];
  #fragLen = 0;
  #fragCount = 0;
  #dups = new Map<string, FileData>();
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
    // Enough blocks queued to keep every worker busy while this thread reads the next ones.
    this.#window = 16 * pool.size;
    this.#fragBuf = new Uint8Array(this.#blockSize);
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
    const level = options.level ??
      (compressor === "gzip" ? DEFAULT_GZIP_LEVEL : DEFAULT_ZSTD_LEVEL);
    const [min, max] = compressor === "gzip" ? [1, 9] : [1, 22];
    if (!Number.isInteger(level) || level < min || level > max) {
      throw new RangeError(
        `Cannot use ${compressor} level ${level}: it must be an integer from ${min} to ${max}`,
      );
    }
    const compressSync = metadataCompressor(compressor, level, blockSize);
    const wasm = await SqfsInstance.create((block) => {
      const out = compressSync(block);
      return out.length < block.length ? out : undefined;
    });
    let flags = 0;
    if (options.noFragments) flags |= FLAG_NO_FRAGMENTS;
    if (!options.noDuplicates) flags |= FLAG_DUPLICATES;
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
    const workers = Math.max(1, options.parallelism ?? navigator.hardwareConcurrency ?? 2);
    const pool = new CompressPool(workers, compressor, level, blockSize);
    const writer = new SquashfsWriter(wasm, file, base, { ...options, blockSize }, pool, paths);
    writer.#seek(SUPERBLOCK_SIZE);
    return writer;
  }

  #seek(pos: number): void {
    this.#out.seekSync(this.#base + pos, Deno.SeekMode.Start);
  }

  #write(bytes: Uint8Array): void {
    let done = 0;
    while (done < bytes.length) done += this.#out.writeSync(bytes.subarray(done));
    this.#pos += bytes.length;
  }

  #call(name: string, action: string, ...args: number[]): number {
    const fn = this.#wasm.raw[name] as (...a: number[]) => number;
    return this.#wasm.check(fn(...args), action);
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
    const id = this.#call("sqfs_node", `add "${show(path)}"`, TYPE[kind], ...this.#meta(meta));
    const np = this.#wasm.put(name);
    try {
      this.#call("sqfs_link", `add "${show(path)}"`, parent, id, np, name.length);
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
   * Add a regular file, streaming its data into blocks. Resolves once the data is consumed;
   * its blocks may still be compressing.
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
    const id = this.#newNode(path, "file", meta);
    this.#xattrs(id, meta, path);
    let resolve!: () => void;
    const done = new Promise<void>((r) => (resolve = r));
    const state: FileState = {
      id,
      size,
      start: undefined,
      sizes: [],
      pendingJobs: 0,
      sparse: 0,
      frag: NO_FRAGMENT,
      fragOffset: 0,
      ended: false,
      complete: false,
      done,
      resolve,
    };
    const bs = this.#blockSize;
    const hash = this.#opts.noDuplicates ? undefined : createHash("sha256");
    const jobs: Job[] = [];
    // With duplicate detection, the blocks of small files are held until the whole file is
    // hashed: a duplicate then costs no compression and no pipeline stall.
    const held: Uint8Array[] = [];
    let holding = hash !== undefined;
    let block = this.#takeBlock(Math.min(bs, size));
    let fill = 0;
    let total = 0;
    for await (const chunk of data) {
      hash?.update(chunk);
      this.#consumed += chunk.length;
      let at = 0;
      while (at < chunk.length) {
        if (total + (chunk.length - at) > size) {
          throw new RangeError(
            `Cannot add "${show(path)}": it has more than the ${size} bytes announced`,
          );
        }
        const n = Math.min(block.length - fill, chunk.length - at);
        block.set(chunk.subarray(at, at + n), fill);
        fill += n;
        at += n;
        total += n;
        if (fill === bs) {
          if (holding && held.length < HOLD_BLOCKS) {
            held.push(block);
          } else {
            holding = false;
            for (const b of held.splice(0)) jobs.push(await this.#submitBlock(b, state));
            jobs.push(await this.#submitBlock(block, state));
          }
          block = this.#takeBlock(Math.min(bs, size - total));
          fill = 0;
        }
      }
    }
    if (total !== size) {
      throw new RangeError(
        `Cannot add "${show(path)}": it has ${total} bytes, ${size} were announced`,
      );
    }
    this.#dataBytes += size;
    const tail = fill > 0 ? block.subarray(0, fill) : undefined;
    if (hash && size > 0) {
      const key = `${size}:${hash.digest("hex")}`;
      const original = this.#dups.get(key);
      if (original) {
        for (const b of held.splice(0)) this.#recycle(b);
        for (const job of jobs) job.cancelled = true;
        if (jobs.length > 0) {
          await this.#drain();
          if (state.start !== undefined) {
            this.#pos = state.start;
            this.#seek(this.#pos);
          }
        }
        // The original's last blocks may still be queued: write them out first.
        if (!original.state.complete) await this.#drain();
        await original.state.done;
        const o = original.state;
        this.#setFile(id, size, o.start ?? 0, o.frag, o.fragOffset, o.sparse, o.sizes);
        this.#duplicates++;
        return;
      }
      this.#dups.set(key, { state });
    }
    for (const b of held.splice(0)) jobs.push(await this.#submitBlock(b, state));
    if (tail) {
      if (this.#opts.noFragments) {
        jobs.push(await this.#submitBlock(tail, state));
      } else {
        await this.#addFragment(tail, state);
      }
    }
    state.ended = true;
    if (state.pendingJobs === 0) this.#completeFile(state);
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
    // the block being filled keeps its place in line: it is written first
    await this.#flushFragment();
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
    state.complete = true;
    state.resolve();
  }

  /** A buffer for a block: a recycled full-size one when possible (no allocation churn). */
  #takeBlock(size: number): Uint8Array {
    if (size === this.#blockSize) {
      const free = this.#free.pop();
      if (free) return free;
    }
    return new Uint8Array(size);
  }

  /** Give a full-size block buffer back once its bytes are written. */
  #recycle(bytes: Uint8Array): void {
    const buffer = bytes.buffer as ArrayBuffer;
    if (buffer.byteLength === this.#blockSize && this.#free.length < this.#window + 8) {
      this.#free.push(new Uint8Array(buffer));
    }
  }

  async #submitBlock(block: Uint8Array, state: FileState): Promise<Job> {
    state.pendingJobs++;
    const hole = isZero(block);
    // Read the length first: compress() transfers (detaches) the block's buffer.
    const rawLength = block.length;
    if (hole) this.#recycle(block);
    const job: Job = {
      result: hole ? Promise.resolve(null) : this.#pool.compress(block, rawLength),
      rawLength,
      file: state,
      fragment: false,
      cancelled: false,
    };
    await this.#enqueue(job);
    return job;
  }

  async #addFragment(tail: Uint8Array, state: FileState): Promise<void> {
    if (this.#fragLen + tail.length > this.#blockSize) await this.#flushFragment();
    state.frag = this.#fragCount;
    state.fragOffset = this.#fragLen;
    this.#fragBuf.set(tail, this.#fragLen);
    this.#fragLen += tail.length;
  }

  async #flushFragment(): Promise<void> {
    if (this.#fragLen === 0) return;
    // The filled buffer goes to a worker; filling continues in a fresh one.
    const block = this.#fragBuf;
    const rawLength = this.#fragLen;
    this.#fragBuf = this.#takeBlock(this.#blockSize);
    this.#fragLen = 0;
    this.#fragCount++;
    await this.#enqueue({
      result: this.#pool.compress(block, rawLength),
      rawLength,
      file: undefined,
      fragment: true,
      cancelled: false,
    });
  }

  async #enqueue(job: Job): Promise<void> {
    // A job dropped by abort() must not become an unhandled rejection.
    job.result.catch(() => {});
    if (this.#closed) throw new Error("Cannot add to a SquashFS image after finish or abort");
    this.#queue.push(job);
    while (this.#queue.length > this.#window) await this.#writeHead();
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) await this.#writeHead();
  }

  async #writeHead(): Promise<void> {
    const job = this.#queue.shift()!;
    const bytes = await job.result;
    if (job.cancelled) return;
    // Compression results no smaller than the input are replaced by the input itself.
    const raw = bytes !== null && bytes.length === job.rawLength;
    if (job.fragment) {
      const word = bytes!.length | (raw ? UNCOMPRESSED_BLOCK : 0);
      this.#call("sqfs_fragment", "record a fragment", this.#pos, word);
      this.#write(bytes!);
      this.#recycle(bytes!);
      return;
    }
    const state = job.file!;
    if (state.start === undefined) state.start = this.#pos;
    if (bytes === null) {
      state.sizes.push(0);
      state.sparse += job.rawLength;
    } else {
      state.sizes.push(bytes.length | (raw ? UNCOMPRESSED_BLOCK : 0));
      this.#write(bytes);
      this.#recycle(bytes);
    }
    this.#opts.onProgress?.(this.#consumed);
    state.pendingJobs--;
    if (state.pendingJobs === 0 && state.ended) this.#completeFile(state);
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
      await this.#flushFragment();
      await this.#drain();
      this.#closed = true;
      this.#pool.close();
      const dataEnd = this.#pos;
      const len = this.#call("sqfs_finish", "build the SquashFS tables", dataEnd);
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
    await Promise.allSettled(this.#queue.map((j) => j.result));
    this.#queue = [];
    this.#pool.close();
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

function show(path: Uint8Array): string {
  return new TextDecoder().decode(path);
}

/** Whether a block is all zero bytes (a hole in a sparse file). */
function isZero(block: Uint8Array): boolean {
  if (block.length === 0 || block[0] !== 0 || block[block.length - 1] !== 0) return false;
  const words = block.length >>> 2;
  if (block.byteOffset % 4 === 0) {
    const view = new Uint32Array(block.buffer, block.byteOffset, words);
    for (let i = 0; i < words; i++) if (view[i] !== 0) return false;
  } else {
    for (let i = 0; i < words * 4; i++) if (block[i] !== 0) return false;
  }
  for (let i = words * 4; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

function metadataCompressor(
  compressor: SquashfsCompressor,
  level: number,
  blockSize: number,
): (b: Uint8Array) => Uint8Array {
  if (compressor === "gzip") return (b) => asBytes(zlib.deflateSync(b, { level }));
  const params = {
    [zlib.constants.ZSTD_c_compressionLevel]: level,
    [zlib.constants.ZSTD_c_windowLog]: zstdWindowLog(blockSize),
  };
  return (b) => {
    // pledgedSrcSize (Node >= 23.8; missing from the typings) gives a single-segment frame.
    const options = { params, pledgedSrcSize: b.length } as zlib.ZstdOptions;
    const out = asBytes(zlib.zstdCompressSync(b, options));
    return out.subarray(0, zstdFrameLength(out));
  };
}

function asBytes(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}
