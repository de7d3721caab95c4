/**
 * Read SquashFS 4.0 images without mounting: list, stat, read files, and (through
 * `extract.ts`) unpack to a directory. The image may be a file of its own or a partition
 * inside a SIF at a byte offset.
 *
 * The split: this module owns I/O (positional reads) and decompression (`decompress.ts`:
 * `node:zlib`, native, or the crate's inflater for a `light` reader); the Rust crate
 * `wasm/sqfs_read` owns every on-disk structure (superblock, table indexes, inodes,
 * directories, xattrs) and validates them. The host reads the
 * inode, directory and xattr tables whole, decompresses their metadata blocks and hands
 * the concatenation over once; the crate walks the tree in one call and returns a flat
 * record buffer. A whole-image walk therefore crosses the WASM boundary about ten
 * times, however many inodes there are, and only file data flows through TypeScript.
 * Measured on a gzip image of /usr/share (224 MB, 54,030 entries): opening it (all
 * metadata read, inflated, validated and walked) takes 110-260 ms, and `singlet squashfs
 * list` runs in 0.97 s against 1.24 s for `unsquashfs -lls`, so parsing in TypeScript
 * could not be meaningfully faster; extraction time is dominated by the kernel (see
 * bench/squashfs_extract_bench.ts).
 *
 * Names and link targets are bytes (`Uint8Array`), never decoded and re-encoded.
 *
 * @module
 */
import { SingletError } from "../errors.ts";
import { FsType } from "../sif/_layout.ts";
import { openSif } from "../sif/load.ts";
import type { ExtractOptions, ExtractReport } from "./extract.ts";
import { COMPRESSOR_NAMES, type Decompressor, decompressorFor } from "./decompress.ts";
import { Codecs } from "./_codecs_wasm.ts";
import {
  M_DIR,
  M_INODE,
  M_XATTR_KV,
  SqfsWasm,
  SqfsWasmError,
  T_EXPORT,
  T_FRAGMENT,
  T_ID,
  T_XATTR_ID,
} from "./_sqfs_read_wasm.ts";

/** The kinds of entry a SquashFS image holds, as the reader reports them. */
export type SquashfsEntryType =
  | "directory"
  | "file"
  | "symlink"
  | "blockdev"
  | "chardev"
  | "fifo"
  | "socket";

const TYPES: readonly SquashfsEntryType[] = [
  "directory",
  "file",
  "symlink",
  "blockdev",
  "chardev",
  "fifo",
  "socket",
];

/** One entry of the image (a directory entry; hard links give several per inode). */
export interface SquashfsEntry {
  /** Position in walk order (0 is the root). */
  readonly index: number;
  /** Index of the parent directory entry, -1 for the root. */
  readonly parent: number;
  /** Last path component as bytes (empty for the root). */
  readonly name: Uint8Array;
  /** Entry type. */
  readonly type: SquashfsEntryType;
  /** Permission bits including setuid/setgid/sticky (low 12 bits of st_mode). */
  readonly mode: number;
  /** Owner uid. */
  readonly uid: number;
  /** Owner gid. */
  readonly gid: number;
  /** Modification time, seconds since the epoch. */
  readonly mtime: number;
  /** Inode number inside the image. */
  readonly inode: number;
  /** Link count stored in the inode. */
  readonly nlink: number;
  /** File size; symlink target length; directory listing size as unsquashfs prints it. */
  readonly size: number;
  /** Symlink target bytes. */
  readonly linkTarget?: Uint8Array;
  /** Device numbers of block and character devices. */
  readonly major?: number;
  /** Device minor number. */
  readonly minor?: number;
  /**
   * For the second and later names of the same inode (hard links): the index of the
   * first entry, which carries the data.
   */
  readonly hardlinkOf?: number;
  /** Xattr id inside the image, -1 when none. */
  readonly xattrId: number;
}

/** Where a regular file's data lies (kept apart from the public entry). */
interface FileData {
  blocksStart: number;
  fragment: number;
  fragmentOffset: number;
  blocks: Uint32Array;
}

/** Options of {@linkcode SquashfsReader.open}. */
export interface SquashfsOpenOptions {
  /** Byte offset of the SquashFS superblock in the file (a SIF partition's offset). */
  offset?: number;
  /** Bytes from `offset` that belong to the image (a SIF partition's size). */
  size?: number;
  /**
   * For callers that read a few small files (`singlet exec` reads `/etc/passwd`): inflate
   * gzip blocks with the reader's own WebAssembly crate (`miniz_oxide`) and never load
   * `node:zlib` (about 20 ms of start-up). Slower per byte than `node:zlib`: not for
   * extracting whole images. No effect on other compressors.
   */
  light?: boolean;
}

/** Largest decompressed metadata accepted (inode + directory + xattr tables). */
const META_LIMIT = 1 << 30;
/** Shared zeros for sparse blocks (1 MiB, the largest block size); never written to. */
const SPARSE_BLOCK = new Uint8Array(1 << 20);

/**
 * Whether a chunk from {@linkcode SquashfsReader.fileChunks} is a sparse block (a hole:
 * all zeros, stored as nothing), so a writer may seek over it instead of writing.
 *
 * @param chunk A chunk yielded by `fileChunks`.
 * @returns True for a hole.
 */
export function isSparseChunk(chunk: Uint8Array): boolean {
  return chunk.buffer === SPARSE_BLOCK.buffer;
}
const META_BLOCK = 8192;
const NO_FRAGMENT = 0xffff_ffff;
const FRAGMENT_CACHE = 16;

function u32(view: DataView, at: number): number {
  return view.getUint32(at, true);
}

/**
 * A SquashFS image opened for reading.
 *
 * @example Usage
 * ```ts ignore
 * const image = await SquashfsReader.open("rootfs.sqfs");
 * for (const entry of image.list()) console.log(image.pathString(entry), entry.size);
 * image.close();
 * ```
 */
export class SquashfsReader {
  /** The path the image was opened from. */
  readonly source: string;
  /** Data block size of the image. */
  readonly blockSize: number;
  /** Compressor name ("gzip", "zstd"). */
  readonly compressor: string;
  /** Superblock modification time. */
  readonly mtime: number;
  #file: Deno.FsFile | undefined;
  #offset: number;
  #decompress: Decompressor;
  #wasm: SqfsWasm;
  #entries: SquashfsEntry[] = [];
  #files = new Map<number, FileData>();
  #fragments: Uint8Array = new Uint8Array(0);
  #fragmentCache = new Map<number, Uint8Array>();
  #xattrCache = new Map<number, Map<string, Uint8Array>>();
  #children: Int32Array = new Int32Array(0);
  #nextSibling: Int32Array = new Int32Array(0);

  private constructor(
    source: string,
    file: Deno.FsFile,
    offset: number,
    wasm: SqfsWasm,
    decompress: Decompressor,
    layout: number[],
  ) {
    this.source = source;
    this.#file = file;
    this.#offset = offset;
    this.#wasm = wasm;
    this.#decompress = decompress;
    this.blockSize = layout[19]!;
    this.compressor = COMPRESSOR_NAMES[layout[18]!] ?? String(layout[18]);
    this.mtime = layout[23]!;
  }

  /**
   * Open and fully index an image: superblock, tables, and the whole directory tree are
   * read and validated here, so later calls only read file data.
   *
   * @param path Image file (SquashFS, or a SIF with `offset`).
   * @param options Partition offset and size inside the file.
   * @returns The reader; call {@linkcode SquashfsReader.close} when done.
   * @throws {SingletError} when the file cannot be read or the image is corrupt or uses an
   *   unsupported compressor.
   */
  static async open(path: string, options: SquashfsOpenOptions = {}): Promise<SquashfsReader> {
    const wasm = await SqfsWasm.create();
    let fd: Deno.FsFile;
    try {
      if (Deno.statSync(path).isDirectory) {
        throw new SingletError(`Cannot open SquashFS image "${path}": it is a directory`, {
          hint: "name a SquashFS image or SIF file",
        });
      }
      fd = Deno.openSync(path, { read: true });
    } catch (error) {
      if (error instanceof SingletError) throw error;
      const reason = error instanceof Deno.errors.NotFound
        ? "file does not exist"
        : error instanceof Deno.errors.PermissionDenied
        ? "permission denied"
        : errorText(error);
      throw new SingletError(`Cannot open SquashFS image "${path}": ${reason}`, {
        hint: "check the path and that you may read the file",
        cause: error,
      });
    }
    try {
      const fileSize = fd.statSync().size;
      if (options.offset === undefined && fileSize >= 42 && isSif(preadExact(fd, 32, 10))) {
        options = { ...options, ...(await sifPartition(path)) };
      }
      const offset = options.offset ?? 0;
      if (!Number.isSafeInteger(offset) || offset < 0 || offset > fileSize) {
        throw new SqfsWasmError(-1, `offset ${offset} is outside the file (${fileSize} bytes)`);
      }
      const available = fileSize - offset;
      const size = options.size === undefined ? available : Math.min(options.size, available);
      const sb = preadExact(fd, offset, Math.min(96, size));
      wasm.open(sb, size);
      const layout = wasm.layout();
      const id = layout[18]!;
      // xz and lzma decoders live in their own module, loaded only for such images.
      const codecs = id === 2 || id === 4 ? await Codecs.create() : undefined;
      const decompress = await decompressorFor(id, {
        lz4: (src, max) => wasm.lz4(src, max),
        inflate: (src, max) => wasm.inflate(src, max),
        codecs,
      }, !!options.light);
      if (typeof decompress === "string") {
        throw new SingletError(`Cannot read SquashFS image "${path}": ${decompress}`, {
          hint: "repack the image with -comp gzip, -comp zstd, -comp xz or -comp lz4",
        });
      }
      const reader = new SquashfsReader(path, fd, offset, wasm, decompress, layout);
      reader.#load(layout);
      return reader;
    } catch (error) {
      fd.close();
      wasm.close();
      throw imageError(path, error);
    }
  }

  /** Release the file and the parser state. */
  close(): void {
    this.#file?.close();
    this.#file = undefined;
    this.#wasm.close();
  }

  #pread(position: number, length: number): Uint8Array {
    if (!this.#file) throw new Error(`Cannot read "${this.source}": the reader is closed`);
    return preadExact(this.#file, this.#offset + position, length);
  }

  #load(layout: number[]): void {
    const wasm = this.#wasm;
    // 1. The xattr header and every table index, so region ends are known.
    if (layout[17]! >= 0) wasm.setXattrHeader(this.#pread(layout[17]!, 16));
    layout = wasm.layout();
    const tables: [number, number][] = [[T_FRAGMENT, 6], [T_ID, 9], [T_EXPORT, 12], [
      T_XATTR_ID,
      14,
    ]];
    const indexes = new Map<number, number[]>();
    for (const [kind, slot] of tables) {
      const blocks = layout[slot + 1]!;
      if (blocks <= 0) continue;
      const raw = this.#pread(layout[slot]!, blocks * 8);
      wasm.setIndex(kind, raw);
      const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      indexes.set(
        kind,
        Array.from({ length: blocks }, (_, i) => Number(view.getBigUint64(i * 8, true))),
      );
    }
    layout = wasm.layout();
    // 2. Metadata regions: inodes, directories, xattr keys/values.
    let budget = META_LIMIT;
    const region = (kind: number, start: number, end: number) => {
      const { data, map } = this.#readRegion(start, end, budget);
      budget -= data.length;
      wasm.setMeta(kind, data, map);
    };
    region(M_INODE, layout[0]!, layout[1]!);
    region(M_DIR, layout[2]!, layout[3]!);
    if (layout[4]! >= 0) region(M_XATTR_KV, layout[4]!, layout[5]!);
    // 3. Indexed tables (the export table is only needed for the region ends above).
    for (const [kind, slot] of tables) {
      if (kind === T_EXPORT) continue;
      const pointers = indexes.get(kind);
      if (!pointers) continue;
      wasm.setTable(kind, this.#readTable(pointers, layout[slot + 2]!));
    }
    if (indexes.has(T_FRAGMENT)) this.#fragments = wasm.fragments();
    // 4. The tree.
    const { count, records } = wasm.walk();
    this.#decodeRecords(count, records);
  }

  /** Read and decompress the metadata blocks in [start, end). */
  #readRegion(start: number, end: number, budget: number): { data: Uint8Array; map: Uint8Array } {
    const raw = this.#pread(start, end - start);
    const parts: Uint8Array[] = [];
    const mapParts: number[] = [];
    let total = 0;
    let pos = 0;
    while (pos < raw.length) {
      if (pos + 2 > raw.length) throw corrupt(`metadata block header at ${start + pos} is cut off`);
      const header = raw[pos]! | (raw[pos + 1]! << 8);
      const len = header & 0x7fff;
      if (len === 0 || len > META_BLOCK || pos + 2 + len > raw.length) {
        throw corrupt(`metadata block at ${start + pos} has invalid size ${len}`);
      }
      const payload = raw.subarray(pos + 2, pos + 2 + len);
      const block = header & 0x8000 ? payload : this.#inflate(payload, META_BLOCK, start + pos);
      mapParts.push(pos, total);
      parts.push(block);
      total += block.length;
      if (total > budget) throw corrupt(`metadata tables exceed ${META_LIMIT} bytes`);
      pos += 2 + len;
    }
    return { data: concat(parts, total), map: new Uint8Array(new Uint32Array(mapParts).buffer) };
  }

  /** Read the metadata blocks an index points to until `need` bytes are decompressed. */
  #readTable(pointers: number[], need: number): Uint8Array {
    const parts: Uint8Array[] = [];
    let total = 0;
    for (const p of pointers) {
      const head = this.#pread(p, 2);
      const header = head[0]! | (head[1]! << 8);
      const len = header & 0x7fff;
      if (len === 0 || len > META_BLOCK) {
        throw corrupt(`table metadata block at ${p} has invalid size ${len}`);
      }
      const payload = this.#pread(p + 2, len);
      const block = header & 0x8000 ? payload : this.#inflate(payload, META_BLOCK, p);
      parts.push(block);
      total += block.length;
      if (total >= need) break;
    }
    return concat(parts, total);
  }

  #inflate(src: Uint8Array, max: number, at: number): Uint8Array {
    try {
      return this.#decompress(src, max);
    } catch (error) {
      if (error instanceof SqfsWasmError && error.code === -2) throw error;
      throw corrupt(`block at ${at} does not decompress: ${errorText(error)}`);
    }
  }

  #decodeRecords(count: number, records: Uint8Array): void {
    const view = new DataView(records.buffer, records.byteOffset, records.byteLength);
    const entries: SquashfsEntry[] = new Array(count);
    this.#children = new Int32Array(count).fill(-1);
    this.#nextSibling = new Int32Array(count).fill(-1);
    const lastChild = new Int32Array(count).fill(-1);
    let at = 0;
    for (let index = 0; index < count; index++) {
      const parentRaw = u32(view, at);
      const parent = parentRaw === 0xffff_ffff ? -1 : parentRaw;
      const first = u32(view, at + 4);
      const typeId = records[at + 8]!;
      const nameLen = view.getUint16(at + 10, true);
      const size = Number(view.getBigUint64(at + 40, true));
      const xattr = u32(view, at + 36);
      const name = records.subarray(at + 48, at + 48 + nameLen);
      const type = TYPES[typeId - 1]!;
      let p = at + 48 + nameLen;
      const entry: {
        -readonly [K in keyof SquashfsEntry]: SquashfsEntry[K];
      } = {
        index,
        parent,
        name,
        type,
        mode: view.getUint16(at + 12, true),
        uid: u32(view, at + 16),
        gid: u32(view, at + 20),
        mtime: u32(view, at + 24),
        inode: u32(view, at + 28),
        nlink: u32(view, at + 32),
        size,
        xattrId: xattr === 0xffff_ffff ? -1 : xattr,
      };
      if (first !== index) {
        entry.hardlinkOf = first;
        const origin = entries[first]!;
        if (origin.linkTarget) entry.linkTarget = origin.linkTarget;
        if (origin.major !== undefined) {
          entry.major = origin.major;
          entry.minor = origin.minor!;
        }
      } else if (type === "file") {
        const blocksStart = Number(view.getBigUint64(p, true));
        const fragment = u32(view, p + 8);
        const fragmentOffset = u32(view, p + 12);
        const n = u32(view, p + 16);
        const blocks = new Uint32Array(n);
        for (let i = 0; i < n; i++) blocks[i] = u32(view, p + 20 + i * 4);
        p += 20 + n * 4;
        this.#files.set(index, { blocksStart, fragment, fragmentOffset, blocks });
      } else if (type === "symlink") {
        entry.linkTarget = records.slice(p, p + size);
        p += size;
      } else if (type === "blockdev" || type === "chardev") {
        entry.major = u32(view, p);
        entry.minor = u32(view, p + 4);
        p += 8;
      }
      entries[index] = entry;
      if (parent >= 0) {
        if (lastChild[parent] === -1) this.#children[parent] = index;
        else this.#nextSibling[lastChild[parent]!] = index;
        lastChild[parent] = index;
      }
      at = p;
    }
    this.#entries = entries;
  }

  /**
   * Every entry in walk order: depth first, each directory's children sorted by name
   * bytes (the order `unsquashfs -lln` prints).
   *
   * @returns The entries; index 0 is the root.
   */
  list(): readonly SquashfsEntry[] {
    return this.#entries;
  }

  /**
   * Every entry with its path, in walk order (paths are built one at a time, so memory
   * stays proportional to the image, not to the sum of path lengths).
   *
   * @returns Pairs of path bytes ("" for the root) and entry.
   */
  *walk(): Generator<{ path: Uint8Array; entry: SquashfsEntry }> {
    for (const entry of this.#entries) yield { path: this.pathOf(entry), entry };
  }

  /**
   * The path of an entry relative to the image root, as bytes ("" for the root).
   *
   * @param entry An entry of this image.
   * @returns Path bytes, components joined by '/'.
   */
  pathOf(entry: SquashfsEntry): Uint8Array {
    const parts: Uint8Array[] = [];
    let length = 0;
    for (
      let e: SquashfsEntry | undefined = entry;
      e && e.parent >= 0;
      e = this.#entries[e.parent]
    ) {
      parts.push(e.name);
      length += e.name.length + 1;
    }
    const out = new Uint8Array(Math.max(0, length - 1));
    let pos = 0;
    for (let i = parts.length - 1; i >= 0; i--) {
      out.set(parts[i]!, pos);
      pos += parts[i]!.length;
      if (i > 0) out[pos++] = 0x2f;
    }
    return out;
  }

  /**
   * The children of a directory entry, in name order.
   *
   * @param entry A directory entry.
   * @returns Its entries.
   */
  children(entry: SquashfsEntry): SquashfsEntry[] {
    const out: SquashfsEntry[] = [];
    for (let c = this.#children[entry.index]!; c >= 0; c = this.#nextSibling[c]!) {
      out.push(this.#entries[c]!);
    }
    return out;
  }

  /**
   * Look an entry up by path, without following symlinks (lstat semantics).
   *
   * @param path Path relative to the image root ('/'-separated; a leading '/' and "."
   *   components are ignored). Bytes, or a string encoded as UTF-8.
   * @returns The entry, or undefined when nothing is there.
   */
  lookup(path: Uint8Array | string): SquashfsEntry | undefined {
    const bytes = typeof path === "string" ? new TextEncoder().encode(path) : path;
    let current = this.#entries[0]!;
    let start = 0;
    while (start <= bytes.length) {
      let end = bytes.indexOf(0x2f, start);
      if (end < 0) end = bytes.length;
      const part = bytes.subarray(start, end);
      start = end + 1;
      if (part.length === 0 || (part.length === 1 && part[0] === 0x2e)) continue;
      if (current.type !== "directory") return undefined;
      let found: SquashfsEntry | undefined;
      for (let c = this.#children[current.index]!; c >= 0; c = this.#nextSibling[c]!) {
        if (bytesEqual(this.#entries[c]!.name, part)) {
          found = this.#entries[c]!;
          break;
        }
      }
      if (!found) return undefined;
      current = found;
    }
    return current;
  }

  /**
   * Metadata of the entry at `path` (lstat semantics).
   *
   * @param path Path inside the image.
   * @returns The entry.
   * @throws {SingletError} when the path does not exist in the image.
   */
  stat(path: Uint8Array | string): SquashfsEntry {
    const entry = this.lookup(path);
    if (!entry) {
      throw new SingletError(
        `Cannot find "${showPath(path)}" in SquashFS image "${this.source}": no such entry`,
        { hint: "run 'singlet squashfs list' to see what the image holds" },
      );
    }
    return entry;
  }

  /**
   * The extended attributes of an entry.
   *
   * @param entry An entry of this image.
   * @returns Full attribute names ("user.foo") to value bytes; empty when none.
   */
  xattrs(entry: SquashfsEntry): Map<string, Uint8Array> {
    if (entry.xattrId < 0) return new Map();
    const cached = this.#xattrCache.get(entry.xattrId);
    if (cached) return cached;
    let raw: Uint8Array;
    try {
      raw = this.#wasm.xattrs(entry.xattrId);
    } catch (error) {
      throw imageError(this.source, error);
    }
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const out = new Map<string, Uint8Array>();
    const count = u32(view, 0);
    let p = 4;
    const decoder = new TextDecoder("latin1");
    for (let i = 0; i < count; i++) {
      const prefix = view.getUint16(p, true);
      const nameLen = view.getUint16(p + 2, true);
      const name = decoder.decode(raw.subarray(p + 4, p + 4 + nameLen));
      p += 4 + nameLen;
      const valueLen = u32(view, p);
      const value = raw.slice(p + 4, p + 4 + valueLen);
      p += 4 + valueLen;
      out.set(XATTR_PREFIX[prefix]! + name, value);
    }
    this.#xattrCache.set(entry.xattrId, out);
    return out;
  }

  /**
   * The contents of a regular file, block by block (synchronous; used by extraction).
   * Chunks are read-only views into shared buffers (fragment cache, the zero block of
   * holes): copy them to keep or change them.
   *
   * @param entry A file entry (or a hard link to one).
   * @returns Successive chunks whose lengths add up to `entry.size`.
   */
  *fileChunks(entry: SquashfsEntry): Generator<Uint8Array> {
    try {
      yield* this.#chunks(entry);
    } catch (error) {
      throw imageError(this.source, error);
    }
  }

  /**
   * A regular file's data as stored: its data blocks still compressed (one contiguous
   * region) with their size words, and where its tail lies in a fragment block. A writer with the
   * same compressor and block size can store them as they are (see
   * `SquashfsWriter.rawFile`), which is how an unchanged image is rebuilt without
   * recompressing it.
   *
   * @param entry A file entry (or a hard link to one).
   * @returns Size words, the stored block bytes and the tail's fragment (absent when none).
   */
  rawFileData(entry: SquashfsEntry): {
    words: Uint32Array;
    data: Uint8Array;
    fragment?: { index: number; offset: number; length: number };
  } {
    const origin = entry.hardlinkOf === undefined ? entry : this.#entries[entry.hardlinkOf]!;
    const data = this.#files.get(origin.index);
    if (origin.type !== "file" || !data) {
      throw new SingletError(
        `Cannot read "${showPath(this.pathOf(entry))}" from "${this.source}": not a regular file`,
      );
    }
    let bytes = 0;
    for (const word of data.blocks) bytes += word & 0xff_ffff;
    const stored = bytes > 0 ? this.#pread(data.blocksStart, bytes) : new Uint8Array(0);
    const remaining = origin.size - data.blocks.length * this.blockSize;
    if (remaining <= 0 || data.fragment === NO_FRAGMENT) {
      return { words: data.blocks, data: stored };
    }
    return {
      words: data.blocks,
      data: stored,
      fragment: { index: data.fragment, offset: data.fragmentOffset, length: remaining },
    };
  }

  /**
   * A fragment block as stored (still compressed) and its size word.
   *
   * @param index The fragment's index (from {@linkcode SquashfsReader.rawFileData}).
   * @returns The size word (bit 24: stored uncompressed) and the stored bytes.
   */
  rawFragment(index: number): { word: number; data: Uint8Array } {
    const view = new DataView(this.#fragments.buffer, this.#fragments.byteOffset);
    if ((index + 1) * 12 > this.#fragments.length) {
      throw imageError(this.source, corrupt(`fragment ${index} is not in the fragment table`));
    }
    const start = Number(view.getBigUint64(index * 12, true));
    const word = u32(view, index * 12 + 8);
    return { word, data: this.#pread(start, word & 0xff_ffff) };
  }

  *#chunks(entry: SquashfsEntry): Generator<Uint8Array> {
    const origin = entry.hardlinkOf === undefined ? entry : this.#entries[entry.hardlinkOf]!;
    const data = this.#files.get(origin.index);
    if (origin.type !== "file" || !data) {
      throw new SingletError(
        `Cannot read "${showPath(this.pathOf(entry))}" from "${this.source}": not a regular file`,
      );
    }
    const bs = this.blockSize;
    let remaining = origin.size;
    let pos = data.blocksStart;
    const blocks = data.blocks;
    let i = 0;
    while (i < blocks.length) {
      // Batch consecutive stored blocks into one read of up to 4 MiB.
      let j = i;
      let bytes = 0;
      while (j < blocks.length && bytes < (4 << 20)) {
        bytes += blocks[j]! & 0xff_ffff;
        j++;
      }
      const raw = bytes > 0 ? this.#pread(pos, bytes) : new Uint8Array(0);
      let rp = 0;
      for (let k = i; k < j; k++) {
        const word = blocks[k]!;
        const len = word & 0xff_ffff;
        const expect = Math.min(bs, remaining);
        let out: Uint8Array;
        if (len === 0) {
          out = SPARSE_BLOCK.subarray(0, expect);
        } else {
          const src = raw.subarray(rp, rp + len);
          out = word & 0x100_0000 ? src : this.#inflate(src, bs, pos + rp);
          rp += len;
        }
        if (out.length !== expect) {
          throw imageError(
            this.source,
            corrupt(
              `data block ${k} of inode ${origin.inode} holds ${out.length} bytes, expected ${expect}`,
            ),
          );
        }
        remaining -= expect;
        yield out;
      }
      pos += bytes;
      i = j;
    }
    if (remaining > 0) {
      if (data.fragment === NO_FRAGMENT) {
        throw imageError(
          this.source,
          corrupt(`inode ${origin.inode} ends without its last ${remaining} bytes`),
        );
      }
      const frag = this.#fragment(data.fragment);
      if (data.fragmentOffset + remaining > frag.length) {
        throw imageError(
          this.source,
          corrupt(`inode ${origin.inode} tail lies outside fragment ${data.fragment}`),
        );
      }
      yield frag.subarray(data.fragmentOffset, data.fragmentOffset + remaining);
    }
  }

  #fragment(index: number): Uint8Array {
    const cached = this.#fragmentCache.get(index);
    if (cached) return cached;
    const view = new DataView(this.#fragments.buffer, this.#fragments.byteOffset);
    const start = Number(view.getBigUint64(index * 12, true));
    const word = u32(view, index * 12 + 8);
    const len = word & 0xff_ffff;
    const raw = this.#pread(start, len);
    const block = word & 0x100_0000 ? raw : this.#inflate(raw, this.blockSize, start);
    if (this.#fragmentCache.size >= FRAGMENT_CACHE) {
      this.#fragmentCache.delete(this.#fragmentCache.keys().next().value!);
    }
    this.#fragmentCache.set(index, block);
    return block;
  }

  /**
   * Extract the image (or some paths of it) into a directory; see
   * {@linkcode extractSquashfs} for the guarantees.
   *
   * @param dir Target directory (created when missing).
   * @param options Paths to extract, host helpers for FIFOs, devices and xattrs, callbacks.
   * @returns What was extracted and what was skipped, with reasons.
   */
  async extract(dir: string, options: ExtractOptions = {}): Promise<ExtractReport> {
    // Loaded on use: extract.ts imports this module.
    const { extractSquashfs } = await import("./extract.ts");
    return await extractSquashfs(this, dir, options);
  }

  /**
   * A regular file's contents as a stream.
   *
   * @param path Path inside the image (symlinks are not followed).
   * @returns A byte stream of the file.
   * @throws {SingletError} when the path is missing or not a regular file.
   */
  readFile(path: Uint8Array | string): ReadableStream<Uint8Array> {
    const entry = this.stat(path);
    if (entry.type !== "file") {
      throw new SingletError(
        `Cannot read "${showPath(path)}" from "${this.source}": not a regular file (${entry.type})`,
      );
    }
    const chunks = this.fileChunks(entry);
    return new ReadableStream<Uint8Array>({
      pull: (controller) => {
        try {
          const next = chunks.next();
          if (next.done) controller.close();
          else controller.enqueue(next.value.slice());
        } catch (error) {
          controller.error(error);
        }
      },
    });
  }
}

const XATTR_PREFIX = ["user.", "trusted.", "security."];

const SIF_MAGIC = new TextEncoder().encode("SIF_MAGIC\0");

function isSif(bytes: Uint8Array): boolean {
  return bytesEqual(bytes, SIF_MAGIC);
}

/** Locate the primary system partition of a SIF, which must be SquashFS. */
async function sifPartition(path: string): Promise<{ offset: number; size: number }> {
  const image = await openSif(path);
  try {
    const part = image.primaryPartition();
    const extra = part.extra;
    if (extra.kind === "partition" && extra.fsType !== FsType.Squash) {
      throw new SingletError(
        `Cannot read the root filesystem of SIF image "${path}": it is not SquashFS ` +
          `(filesystem type ${extra.fsType})`,
        { hint: "only SquashFS partitions can be listed or extracted" },
      );
    }
    return { offset: part.offset, size: part.size };
  } finally {
    image.close();
  }
}

/**
 * Read exactly `length` bytes at `position`. Deno's own file API (seek, then read) rather
 * than `node:fs`: importing `node:fs` costs every `singlet exec` several ms of start-up, and
 * reads are synchronous, so nothing can move the file position in between.
 */
function preadExact(file: Deno.FsFile, position: number, length: number): Uint8Array {
  const buf = new Uint8Array(length);
  let done = 0;
  file.seekSync(position, Deno.SeekMode.Start);
  while (done < length) {
    const n = file.readSync(buf.subarray(done));
    if (n === null || n <= 0) {
      throw corrupt(`unexpected end of file reading ${length} bytes at ${position}`);
    }
    done += n;
  }
  return buf;
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(total);
  let p = 0;
  for (const part of parts) {
    out.set(part, p);
    p += part.length;
  }
  return out;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function corrupt(message: string): SqfsWasmError {
  return new SqfsWasmError(-1, message);
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Printable form of a byte path for messages (invalid UTF-8 shown as \xNN).
 *
 * @param path Bytes or string.
 * @returns A printable string.
 */
export function showPath(path: Uint8Array | string): string {
  if (typeof path === "string") return path;
  let out = "";
  for (const b of path) {
    out += b >= 0x20 && b < 0x7f && b !== 0x5c
      ? String.fromCharCode(b)
      : `\\x${b.toString(16).padStart(2, "0")}`;
  }
  return out;
}

function imageError(path: string, error: unknown): Error {
  if (error instanceof SingletError) return error;
  if (error instanceof SqfsWasmError) {
    const unsupported = error.code === -2;
    return new SingletError(`Cannot read SquashFS image "${path}": ${error.message}`, {
      hint: unsupported
        ? "repack the image with mksquashfs (SquashFS 4.0, gzip, zstd, xz or lz4)"
        : "the image is corrupt or truncated: rebuild or download it again",
      cause: error,
    });
  }
  return new SingletError(`Cannot read SquashFS image "${path}": ${errorText(error)}`, {
    cause: error,
  });
}
