/**
 * Directory input for the SquashFS writer: walks a sandbox directory (without following
 * symlinks) and feeds every entry to an {@linkcode FsSink} in a deterministic order
 * (depth first, names sorted by their bytes), with hard links detected by device and inode.
 *
 * Extended attributes: neither `Deno` nor `node:fs` has `getxattr`/`listxattr`, and `core/`
 * never spawns processes, so the caller may pass an {@linkcode XattrProvider} (the CLI's
 * runs `getfattr` once over the whole tree, `runtime/xattr_reader.ts`); without one the
 * entries carry no xattrs.
 *
 * Known gap, from Deno's API: `Deno.readDir`/`Deno.readLink` return names as strings,
 * so a name or symlink target that is not valid UTF-8 cannot be read losslessly: such an
 * entry is an error (or, with `skipUnreadable`, skipped with a warning).
 *
 * @module
 */
import type { EntryMeta, FsSink } from "./fstree.ts";
import { HOST_PATH, LATE_XATTRS, type LateXattrsSink, pathKey } from "./fstree.ts";
import type { XattrTable } from "./xattr_dump.ts";

/**
 * Reads the extended attributes of a whole directory tree at once (symlinks not followed),
 * keyed by path relative to `dir`. Called once, when the source is emitted.
 */
export type XattrProvider = (dir: string) => Promise<XattrTable>;

/** Options of {@linkcode DirectorySource.scan}. */
export interface DirectorySourceOptions {
  /** Skip entries whose names are not valid UTF-8 (with a warning) instead of failing. */
  skipUnreadable?: boolean;
  /** Receives warnings (skipped entries). */
  onWarning?: (message: string) => void;
  /** Reads the tree's extended attributes (without one, entries carry none). */
  xattrs?: XattrProvider;
}

/** The entry types a directory walk finds. */
export type Kind = "file" | "directory" | "symlink" | "chardev" | "blockdev" | "fifo" | "socket";

/** One entry found by {@linkcode DirectorySource.scan}. */
export interface ScannedEntry {
  /** Path relative to the image root, as bytes. */
  path: Uint8Array;
  /** Host path. */
  host: string;
  /** File type. */
  kind: Kind;
  /** Mode, owner and time (xattrs are added at emit time, from the provider). */
  meta: EntryMeta;
  /** Size of a regular file, 0 otherwise. */
  size: number;
  /** Device number of a device node (Linux dev_t). */
  rdev: number;
  /** For the second and later names of a hard-linked inode: the first name. */
  linkTo?: Uint8Array;
}

const encoder = new TextEncoder();

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

function kindOf(info: Deno.FileInfo): Kind | undefined {
  if (info.isSymlink) return "symlink";
  if (info.isDirectory) return "directory";
  if (info.isFile) return "file";
  if (info.isCharDevice) return "chardev";
  if (info.isBlockDevice) return "blockdev";
  if (info.isFifo) return "fifo";
  if (info.isSocket) return "socket";
  return undefined;
}

function metaOf(info: Deno.FileInfo): EntryMeta {
  return {
    mode: (info.mode ?? 0o644) & 0o7777,
    uid: info.uid ?? 0,
    gid: info.gid ?? 0,
    mtime: Math.floor((info.mtime?.getTime() ?? 0) / 1000),
  };
}

function join(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + 1 + b.length);
  out.set(a);
  out[a.length] = 0x2f;
  out.set(b, a.length + 1);
  return out;
}

/**
 * A scanned directory tree, ready to be fed to a sink. Scanning first gives the total data
 * size (for progress) and fails early on unreadable entries, before any output is written.
 */
export class DirectorySource {
  /** Every entry, in the order they will be emitted (the root first). */
  readonly entries: readonly ScannedEntry[];
  /** Total bytes of regular files (hard links counted once). */
  readonly totalBytes: number;

  #root: string;
  #xattrs: XattrProvider | undefined;

  private constructor(
    entries: ScannedEntry[],
    totalBytes: number,
    root: string,
    xattrs: XattrProvider | undefined,
  ) {
    this.entries = entries;
    this.totalBytes = totalBytes;
    this.#root = root;
    this.#xattrs = xattrs;
  }

  /**
   * Walk `dir` (lstat only; symlinks are never followed).
   *
   * @param dir The directory whose contents become the image root.
   * @param options What to do with names Deno cannot read; where xattrs come from.
   * @returns The scanned tree.
   */
  static scan(dir: string, options: DirectorySourceOptions = {}): DirectorySource {
    const entries: ScannedEntry[] = [];
    let total = 0;
    for (const entry of walkTree(dir, options)) {
      if (entry.kind === "file" && !entry.linkTo) total += entry.size;
      entries.push(entry);
    }
    return new DirectorySource(entries, total, dir, options.xattrs);
  }

  /**
   * Walk `dir` and feed each entry to `sink` as it is found: the entries and order of
   * {@linkcode DirectorySource.scan} then {@linkcode DirectorySource.emit}, with the walk
   * overlapping the sink's work (no total known beforehand; an unreadable entry fails part
   * way instead of before anything is written).
   *
   * @param dir The directory whose contents become the image root.
   * @param sink The receiver (usually a SquashFS writer).
   * @param options What to do with names Deno cannot read; where xattrs come from.
   * @param chunkSize Read size for file contents.
   */
  static async walkInto(
    dir: string,
    sink: FsSink,
    options: DirectorySourceOptions = {},
    chunkSize = 1 << 20,
  ): Promise<void> {
    const buffer = new Uint8Array(chunkSize);
    if (!options.xattrs) {
      for (const entry of walkTree(dir, options)) await emitEntry(entry, sink, buffer, undefined);
      return;
    }
    // The provider (a getfattr process walking the tree) runs while this thread walks it
    // too. A sink that takes attributes late gets the entries as they are found, and their
    // attributes once the provider is done; any other gets them after that.
    const pending = options.xattrs(dir);
    const late = (sink as Partial<LateXattrsSink>)[LATE_XATTRS];
    if (typeof late === "function") {
      pending.catch(() => {}); // awaited below, or first when the walk fails
      const paths: Uint8Array[] = [];
      try {
        for (const entry of walkTree(dir, options)) {
          await emitEntry(entry, sink, buffer, undefined);
          if (!entry.linkTo) paths.push(entry.path);
        }
      } catch (error) {
        await pending; // its error first, as when it ran before the walk
        throw error;
      }
      const xattrs = await pending;
      if (xattrs.size === 0) return;
      for (const path of paths) {
        const found = xattrs.get(pathKey(path));
        if (found?.size) late.call(sink, path, found);
      }
      return;
    }
    let entries: ScannedEntry[];
    try {
      entries = [...walkTree(dir, options)];
    } catch (error) {
      await pending; // its error first, as when it ran before the walk
      throw error;
    }
    const xattrs = await pending;
    for (const entry of entries) await emitEntry(entry, sink, buffer, xattrs);
  }

  /**
   * Feed every entry to `sink`, reading file contents as it goes.
   *
   * @param sink The receiver (usually a SquashFS writer).
   * @param chunkSize Read size for file contents.
   */
  async emit(sink: FsSink, chunkSize = 1 << 20): Promise<void> {
    const buffer = new Uint8Array(chunkSize);
    // One provider call for the whole tree (one getfattr process), before any entry.
    const xattrs = this.#xattrs ? await this.#xattrs(this.#root) : undefined;
    for (const entry of this.entries) await emitEntry(entry, sink, buffer, xattrs);
  }
}

/**
 * The entries under `dir` (lstat only; symlinks are never followed), the root first, depth
 * first, names sorted by their bytes; later names of a hard-linked inode carry `linkTo`.
 */
function* walkTree(dir: string, options: DirectorySourceOptions): Generator<ScannedEntry> {
  const rootInfo = Deno.lstatSync(dir);
  if (!rootInfo.isDirectory) {
    throw new TypeError(`Cannot pack "${dir}": not a directory`);
  }
  yield {
    path: new Uint8Array(0),
    host: dir,
    kind: "directory",
    meta: metaOf(rootInfo),
    size: 0,
    rdev: 0,
  };
  const inodes = new Map<string, Uint8Array>();
  function* walk(hostDir: string, rel: Uint8Array): Generator<ScannedEntry> {
    const names: { name: string; bytes: Uint8Array }[] = [];
    for (const e of Deno.readDirSync(hostDir)) {
      names.push({ name: e.name, bytes: encoder.encode(e.name) });
    }
    names.sort((a, b) => compareBytes(a.bytes, b.bytes));
    for (const { name, bytes } of names) {
      const host = `${hostDir}/${name}`;
      const path = join(rel, bytes);
      let info: Deno.FileInfo;
      try {
        if (name.includes("\uFFFD")) throw new Deno.errors.NotFound();
        info = Deno.lstatSync(host);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
        const message = `Cannot pack "${host}": its name is not valid UTF-8, which Deno ` +
          `cannot read back (or it vanished during the scan)`;
        if (!options.skipUnreadable) throw new TypeError(message);
        options.onWarning?.(`${message}; skipped`);
        continue;
      }
      const kind = kindOf(info);
      if (!kind) {
        options.onWarning?.(`Cannot pack "${host}": unknown file type; skipped`);
        continue;
      }
      const entry: ScannedEntry = {
        path,
        host,
        kind,
        meta: metaOf(info),
        size: kind === "file" ? info.size : 0,
        rdev: info.rdev ?? 0,
      };
      if (kind !== "directory" && (info.nlink ?? 1) > 1 && info.ino !== null) {
        const key = `${info.dev}:${info.ino}`;
        const first = inodes.get(key);
        if (first) entry.linkTo = first;
        else inodes.set(key, path);
      }
      yield entry;
      if (kind === "directory") yield* walk(host, path);
    }
  }
  yield* walk(dir, new Uint8Array(0));
}

/** Feed one scanned entry to a sink (file contents read as it goes). */
async function emitEntry(
  e: ScannedEntry,
  sink: FsSink,
  buffer: Uint8Array,
  xattrs: XattrTable | undefined,
): Promise<void> {
  if (e.linkTo) {
    await sink.hardlink(e.path, e.linkTo);
    return;
  }
  const found = xattrs?.get(pathKey(e.path));
  const meta = found?.size ? { ...e.meta, xattrs: found } : e.meta;
  switch (e.kind) {
    case "directory":
      await sink.directory(e.path, meta);
      break;
    case "file":
      await sink.file(e.path, meta, e.size, hostFile(e.host, e.size, buffer));
      break;
    case "symlink": {
      const target = Deno.readLinkSync(e.host);
      if (target.includes("\uFFFD")) {
        throw new TypeError(
          `Cannot pack symlink "${e.host}": its target is not valid UTF-8, which Deno cannot read back`,
        );
      }
      await sink.symlink(e.path, meta, encoder.encode(target));
      break;
    }
    case "chardev":
    case "blockdev":
      await sink.device(e.path, meta, e.kind, major(e.rdev), minor(e.rdev));
      break;
    case "fifo":
    case "socket":
      await sink.special(e.path, meta, e.kind);
      break;
  }
}

/**
 * A file's content for a sink: read lazily in chunks when iterated, and naming its host path
 * ({@linkcode HOST_PATH}) so that a sink able to read the file itself (the SquashFS writer's
 * workers) need not pass the bytes through this thread.
 */
function hostFile(
  path: string,
  size: number,
  buffer: Uint8Array,
): AsyncIterable<Uint8Array> & { [HOST_PATH]: string } {
  return {
    [HOST_PATH]: path,
    [Symbol.asyncIterator]: () => readChunks(path, size, buffer),
  };
}

/** Linux's major() of a 64-bit dev_t. */
function major(rdev: number): number {
  const big = BigInt(rdev);
  return Number(((big >> 8n) & 0xfffn) | ((big >> 32n) & ~0xfffn));
}

/** Linux's minor() of a 64-bit dev_t. */
function minor(rdev: number): number {
  const big = BigInt(rdev);
  return Number((big & 0xffn) | ((big >> 12n) & ~0xffn));
}

/**
 * Read exactly `size` bytes of a file into a reused buffer (the sink copies each chunk
 * before asking for the next).
 */
async function* readChunks(
  path: string,
  size: number,
  buffer: Uint8Array,
): AsyncGenerator<Uint8Array> {
  if (size === 0) return;
  const file = Deno.openSync(path, { read: true });
  try {
    let left = size;
    while (left > 0) {
      const view = buffer.subarray(0, Math.min(buffer.length, left));
      const n = file.readSync(view);
      if (n === null || n === 0) {
        throw new RangeError(`Cannot pack "${path}": it shrank while being read`);
      }
      left -= n;
      yield view.subarray(0, n);
    }
  } finally {
    file.close();
  }
}
