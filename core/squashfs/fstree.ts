/**
 * The contract between filesystem-tree producers (OCI layer tars, sandbox directories) and
 * the SquashFS writer: producers call an {@linkcode FsSink} once per final entry, in any
 * order that puts a directory's explicit metadata before or after its children; the sink
 * creates missing parent directories itself (mode 0755, root-owned, mtime 0) and replaces
 * their metadata if the directory itself arrives later.
 *
 * Names are bytes: a path is a `Uint8Array` of '/'-separated components, relative to the
 * image root, with no leading '/', no empty, "." or ".." components. Where a map key is
 * needed, use {@linkcode pathKey} (one char per byte, lossless), never UTF-8 decoding.
 *
 * @module
 */

/** The kinds of entry a SquashFS image holds. */
export type EntryKind =
  | "file"
  | "directory"
  | "symlink"
  | "hardlink"
  | "chardev"
  | "blockdev"
  | "fifo"
  | "socket";

/** Ownership, permissions, time and extended attributes of one entry. */
export interface EntryMeta {
  /** Permission bits including setuid, setgid and sticky (the low 12 bits of st_mode). */
  mode: number;
  /** Owner user ID. */
  uid: number;
  /** Owner group ID. */
  gid: number;
  /** Modification time, seconds since the epoch (SquashFS stores 32 bits unsigned). */
  mtime: number;
  /** Extended attributes: full name ("user.foo", "security.capability") to value bytes. */
  xattrs?: ReadonlyMap<string, Uint8Array>;
}

/**
 * Receives the entries of a filesystem tree. Implemented by the SquashFS writer; fed by the
 * OCI layer merger and the directory walker.
 */
export interface FsSink {
  /** Declare a directory (creating or updating its metadata). */
  directory(path: Uint8Array, meta: EntryMeta): void | Promise<void>;
  /**
   * Add a regular file. Resolves when `data` has been consumed; the sink may still be
   * compressing in the background. All-zero blocks may be stored sparse.
   *
   * @param size Exact byte length `data` will yield.
   */
  file(
    path: Uint8Array,
    meta: EntryMeta,
    size: number,
    data: AsyncIterable<Uint8Array>,
  ): Promise<void>;
  /** Add a symbolic link whose target is `target` (bytes, stored as is). */
  symlink(path: Uint8Array, meta: EntryMeta, target: Uint8Array): void | Promise<void>;
  /** Add a hard link to an entry already given to this sink at `target`. */
  hardlink(path: Uint8Array, target: Uint8Array): void | Promise<void>;
  /** Add a character or block device node. */
  device(
    path: Uint8Array,
    meta: EntryMeta,
    kind: "chardev" | "blockdev",
    major: number,
    minor: number,
  ): void | Promise<void>;
  /** Add a FIFO or a socket. */
  special(path: Uint8Array, meta: EntryMeta, kind: "fifo" | "socket"): void | Promise<void>;
}

/** Which {@linkcode FsSink} method an entry arrives through. */
export type SinkEntryKind = "directory" | "file" | "symlink" | "device" | "special";

/**
 * A sink that passes every entry on to another one unchanged, for sinks that record or
 * rewrite entries on their way to a writer: override {@linkcode ForwardingSink.visit} (and
 * {@linkcode ForwardingSink.visitLink} for hard links, which carry no metadata).
 */
export class ForwardingSink implements FsSink {
  readonly #inner: FsSink;

  /**
   * Forward to `inner`.
   *
   * @param inner The sink every entry is passed on to.
   */
  constructor(inner: FsSink) {
    this.#inner = inner;
  }

  /**
   * Sees an entry with metadata before it is passed on.
   *
   * @param _path The entry's path.
   * @param meta Its metadata.
   * @param _kind The method it arrived through.
   * @returns The metadata to pass on (as given, unless overridden).
   */
  protected visit(_path: Uint8Array, meta: EntryMeta, _kind: SinkEntryKind): EntryMeta {
    return meta;
  }

  /**
   * Sees a hard link before it is passed on.
   *
   * @param _path The link's path.
   */
  protected visitLink(_path: Uint8Array): void {}

  /** Passes the directory on. */
  directory(path: Uint8Array, meta: EntryMeta): void | Promise<void> {
    return this.#inner.directory(path, this.visit(path, meta, "directory"));
  }

  /** Passes the file on. */
  file(
    path: Uint8Array,
    meta: EntryMeta,
    size: number,
    data: AsyncIterable<Uint8Array>,
  ): Promise<void> {
    return this.#inner.file(path, this.visit(path, meta, "file"), size, data);
  }

  /** Passes the symbolic link on. */
  symlink(path: Uint8Array, meta: EntryMeta, target: Uint8Array): void | Promise<void> {
    return this.#inner.symlink(path, this.visit(path, meta, "symlink"), target);
  }

  /** Passes the hard link on. */
  hardlink(path: Uint8Array, target: Uint8Array): void | Promise<void> {
    this.visitLink(path);
    return this.#inner.hardlink(path, target);
  }

  /** Passes the device node on. */
  device(
    path: Uint8Array,
    meta: EntryMeta,
    kind: "chardev" | "blockdev",
    major: number,
    minor: number,
  ): void | Promise<void> {
    return this.#inner.device(path, this.visit(path, meta, "device"), kind, major, minor);
  }

  /** Passes the FIFO or socket on. */
  special(path: Uint8Array, meta: EntryMeta, kind: "fifo" | "socket"): void | Promise<void> {
    return this.#inner.special(path, this.visit(path, meta, "special"), kind);
  }
}

/**
 * A lossless string form of a byte path, for use as a map key (one char per byte).
 *
 * @param path The path bytes.
 * @returns A string whose char codes are the bytes.
 */
export function pathKey(path: Uint8Array): string {
  let key = "";
  for (let i = 0; i < path.length; i += 8192) {
    // apply, not spread: a typed array spread goes through its iterator (5x slower here)
    key += String.fromCharCode.apply(null, path.subarray(i, i + 8192) as unknown as number[]);
  }
  return key;
}

/**
 * The inverse of {@linkcode pathKey}.
 *
 * @param key A string made by `pathKey`.
 * @returns The path bytes.
 */
export function keyToPath(key: string): Uint8Array {
  const bytes = new Uint8Array(key.length);
  for (let i = 0; i < key.length; i++) bytes[i] = key.charCodeAt(i);
  return bytes;
}

/**
 * An optional property of the `data` given to {@linkcode FsSink.file}: the host path the
 * same bytes can be read from. A sink may read that file itself (the SquashFS writer lets
 * its compression workers read it) instead of iterating `data`; other sinks ignore it.
 */
export const HOST_PATH: unique symbol = Symbol.for("singlet.squashfs.hostPath");

/**
 * With {@linkcode HOST_PATH}: where in that file the bytes start (default 0), e.g. a
 * member's data inside a plain tar on disk.
 */
export const HOST_OFFSET: unique symbol = Symbol.for("singlet.squashfs.hostOffset");

/**
 * An optional method of an {@linkcode FsSink}: `sink[LATE_XATTRS](path, xattrs)` replaces the
 * extended attributes of an entry already given to it. A producer whose attributes arrive
 * late (a `getfattr` walk running beside its own) may give such a sink its entries without
 * them first and set them with it afterwards; other sinks get each entry once its attributes
 * are known. The SquashFS writer has it (same image either way).
 */
export const LATE_XATTRS: unique symbol = Symbol.for("singlet.squashfs.lateXattrs");

/** An {@linkcode FsSink} that takes extended attributes after the entry ({@linkcode LATE_XATTRS}). */
export interface LateXattrsSink extends FsSink {
  /** Replace the extended attributes of the entry at `path` (given earlier). */
  [LATE_XATTRS](path: Uint8Array, xattrs: ReadonlyMap<string, Uint8Array>): void;
}
