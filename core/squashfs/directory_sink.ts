/**
 * An {@linkcode FsSink} that materialises a tree in a host directory (sandbox builds, tests),
 * never writing outside it.
 *
 * Containment rules (security-record.md: symlinked parents are the field's main escape):
 * - names are validated again here (no empty, ".", ".." or NUL components), whatever the
 *   producer did;
 * - every parent directory is checked with lstat (or was created by this sink); a parent
 *   that is a symlink or not a directory is refused, so nothing is written through a link;
 * - files are created with O_CREAT|O_EXCL (`createNew`), which never follows a symlink, and
 *   an existing name is an error (the target should be a fresh directory);
 * - owners and times are set with lchown/lutimes (never following links); modes only on
 *   what this sink itself created as a file or directory;
 * - hard links may only name entries this sink created.
 *
 * Limits of Deno's filesystem API, reported (not silent) in {@linkcode DirectorySinkReport}:
 * names that are not valid UTF-8 cannot be expressed (Deno paths are strings), device nodes,
 * FIFOs and sockets cannot be created (no mknod/mkfifo), extended attributes cannot be set
 * unless the caller passes an `xattrWriter` (a host helper, e.g. `setfattr --restore`, run
 * once by {@linkcode DirectorySink.finish}; as non-root only `user.*` is attempted).
 * Owners are set only when running as root (as non-root, chown is skipped and counted).
 * Directory modes and times are applied by {@linkcode DirectorySink.finish}, deepest first,
 * so read-only directories can still be filled and children do not disturb parents' mtimes.
 *
 * @module
 */
import { lchown, lutimes } from "node:fs/promises";
import type { EntryMeta, FsSink } from "./fstree.ts";
import type { XattrWriter } from "./extract.ts";
import { displayName } from "../tar/header.ts";

/** What a {@linkcode DirectorySink} could not reproduce. */
export interface DirectorySinkReport {
  /** Entries whose owner was not set (not running as root, or `chown: false`). */
  chownSkipped: number;
  /** Device nodes not created. */
  devicesSkipped: number;
  /** FIFOs and sockets not created. */
  specialsSkipped: number;
  /** Extended attributes not set. */
  xattrsSkipped: number;
  /** Entries skipped because their name is not valid UTF-8. */
  unrepresentableNames: number;
  /** Entries written. */
  written: number;
}

/** Options of {@linkcode DirectorySink}. */
export interface DirectorySinkOptions {
  /** Set owners (default: when running as root). */
  chown?: boolean;
  /** Told about each skipped entry (display name and reason). */
  onSkip?: (path: string, reason: string) => void;
  /** Sets extended attributes in one batch at finish (without one, they are counted skipped). */
  xattrWriter?: XattrWriter;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Materialises an FsSink tree under one directory. */
export class DirectorySink implements FsSink {
  readonly #root: string;
  readonly #chown: boolean;
  readonly #onSkip: ((path: string, reason: string) => void) | undefined;
  readonly #xattrWriter: XattrWriter | undefined;
  /** Attributes to set at finish (host path, attributes). */
  readonly #xattrItems: { path: string; xattrs: ReadonlyMap<string, Uint8Array> }[] = [];
  /** Directories known to be real directories made or checked by us (path keys). */
  readonly #dirs = new Set<string>([""]);
  /** Non-directories this sink created (hard-link targets must be among them). */
  readonly #created = new Set<string>();
  /** Explicit directory metadata, applied by finish(). */
  readonly #dirMeta = new Map<string, EntryMeta>();
  readonly #report: DirectorySinkReport = {
    chownSkipped: 0,
    devicesSkipped: 0,
    specialsSkipped: 0,
    xattrsSkipped: 0,
    unrepresentableNames: 0,
    written: 0,
  };

  /**
   * Prepare to write into `root`.
   *
   * @param root An existing, preferably empty, directory; nothing is written outside it.
   * @param options Ownership policy and a skip callback.
   */
  constructor(root: string, options: DirectorySinkOptions = {}) {
    this.#root = root.replace(/\/+$/, "") || "/";
    this.#chown = options.chown ?? Deno.uid() === 0;
    this.#onSkip = options.onSkip;
    this.#xattrWriter = options.xattrWriter;
  }

  /** Validate a path and return its components as strings, or undefined when skipped. */
  #parts(path: Uint8Array, allowRoot = false): string[] | undefined {
    if (path.length === 0) {
      if (allowRoot) return [];
      throw new TypeError("Cannot write an entry with an empty name");
    }
    const parts: string[] = [];
    let start = 0;
    for (let i = 0; i <= path.length; i++) {
      if (i < path.length && path[i] !== 0x2f) continue;
      const part = path.subarray(start, i);
      start = i + 1;
      if (
        part.length === 0 || part.includes(0) ||
        (part.length === 1 && part[0] === 0x2e) ||
        (part.length === 2 && part[0] === 0x2e && part[1] === 0x2e)
      ) {
        throw new TypeError(
          `Cannot write "${
            displayName(path)
          }": names must be relative, without empty, "." or ".." components`,
        );
      }
      try {
        parts.push(utf8.decode(part));
      } catch {
        this.#skip(path, "the name is not valid UTF-8, which Deno cannot create");
        this.#report.unrepresentableNames++;
        return undefined;
      }
    }
    return parts;
  }

  #skip(path: Uint8Array, reason: string): void {
    this.#onSkip?.(displayName(path), reason);
  }

  /** Make sure every parent of `parts` is a real directory inside the root. */
  async #parents(parts: string[], path: Uint8Array): Promise<string> {
    let rel = "";
    for (let i = 0; i < parts.length - 1; i++) {
      rel = rel ? `${rel}/${parts[i]}` : parts[i]!;
      if (this.#dirs.has(rel)) continue;
      const abs = `${this.#root}/${rel}`;
      let info: Deno.FileInfo | undefined;
      try {
        info = await Deno.lstat(abs);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
      if (!info) {
        await Deno.mkdir(abs, { mode: 0o700 });
      } else if (!info.isDirectory || info.isSymlink) {
        throw new Error(
          `Cannot write "${displayName(path)}": its parent "${rel}" is ${
            info.isSymlink ? "a symlink" : "not a directory"
          }; refusing to write through it`,
        );
      }
      this.#dirs.add(rel);
    }
    return `${this.#root}/${parts.join("/")}`;
  }

  async #owner(abs: string, meta: EntryMeta): Promise<void> {
    if (this.#chown) await lchown(abs, meta.uid, meta.gid);
    else this.#report.chownSkipped++;
  }

  #xattrs(meta: EntryMeta, abs: string): void {
    if (!meta.xattrs?.size) return;
    if (!this.#xattrWriter) {
      this.#report.xattrsSkipped += meta.xattrs.size;
      return;
    }
    // Only root may set trusted.* and security.*; user.* is what an owner can set.
    const xattrs = this.#chown
      ? meta.xattrs
      : new Map([...meta.xattrs].filter(([name]) => name.startsWith("user.")));
    this.#report.xattrsSkipped += meta.xattrs.size - xattrs.size;
    if (xattrs.size) this.#xattrItems.push({ path: abs, xattrs });
  }

  /**
   * Create a directory (mode 0700 until {@linkcode DirectorySink.finish} applies `meta`).
   *
   * @param path Relative path bytes; empty for the root itself.
   * @param meta Mode, owner and time, applied at finish.
   */
  async directory(path: Uint8Array, meta: EntryMeta): Promise<void> {
    const parts = this.#parts(path, true);
    if (!parts) return;
    const key = parts.join("/");
    if (parts.length && !this.#dirs.has(key)) {
      const abs = await this.#parents(parts, path);
      try {
        await Deno.mkdir(abs, { mode: 0o700 });
      } catch (error) {
        if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
        const info = await Deno.lstat(abs);
        if (!info.isDirectory || info.isSymlink) {
          throw new Error(
            `Cannot create directory "${displayName(path)}": a non-directory is there`,
          );
        }
      }
      this.#dirs.add(key);
    }
    this.#xattrs(meta, key ? `${this.#root}/${key}` : this.#root);
    if (!this.#dirMeta.has(key)) this.#report.written++;
    this.#dirMeta.set(key, meta);
  }

  /**
   * Create a regular file (never over an existing name) and write its data.
   *
   * @param path Relative path bytes.
   * @param meta Mode, owner and time.
   * @param size Bytes `data` yields.
   * @param data The content.
   */
  async file(
    path: Uint8Array,
    meta: EntryMeta,
    size: number,
    data: AsyncIterable<Uint8Array>,
  ): Promise<void> {
    const parts = this.#parts(path);
    if (!parts) {
      for await (const _ of data) { /* consume: the producer waits for it */ }
      return;
    }
    const abs = await this.#parents(parts, path);
    // createNew = O_CREAT|O_EXCL: fails on any existing name, symlinks included.
    const file = await Deno.open(abs, { createNew: true, write: true, mode: 0o600 });
    let written = 0;
    try {
      for await (const chunk of data) {
        for (let off = 0; off < chunk.length;) off += await file.write(chunk.subarray(off));
        written += chunk.length;
      }
    } finally {
      file.close();
    }
    if (written !== size) {
      throw new Error(
        `Cannot write "${displayName(path)}": got ${written} bytes, expected ${size}`,
      );
    }
    await this.#owner(abs, meta);
    await Deno.chmod(abs, meta.mode & 0o7777); // after chown, which clears setuid bits
    await lutimes(abs, meta.mtime, meta.mtime);
    this.#xattrs(meta, abs);
    this.#created.add(parts.join("/"));
    this.#report.written++;
  }

  /**
   * Create a symbolic link (the target is stored, never followed).
   *
   * @param path Relative path bytes.
   * @param meta Owner and time.
   * @param target Link target bytes.
   */
  async symlink(path: Uint8Array, meta: EntryMeta, target: Uint8Array): Promise<void> {
    const parts = this.#parts(path);
    if (!parts) return;
    let text: string;
    try {
      text = utf8.decode(target);
    } catch {
      this.#skip(path, "the symlink target is not valid UTF-8, which Deno cannot create");
      this.#report.unrepresentableNames++;
      return;
    }
    const abs = await this.#parents(parts, path);
    await Deno.symlink(text, abs); // fails if the name exists; the target is never followed
    await this.#owner(abs, meta);
    await lutimes(abs, meta.mtime, meta.mtime);
    this.#xattrs(meta, abs);
    this.#created.add(parts.join("/"));
    this.#report.written++;
  }

  /**
   * Create a hard link to an entry this sink created.
   *
   * @param path Relative path bytes of the new name.
   * @param target Path of the existing entry.
   */
  async hardlink(path: Uint8Array, target: Uint8Array): Promise<void> {
    const parts = this.#parts(path);
    const targetParts = this.#parts(target);
    if (!parts || !targetParts) return;
    const targetKey = targetParts.join("/");
    if (!this.#created.has(targetKey)) {
      throw new Error(
        `Cannot link "${displayName(path)}" to "${
          displayName(target)
        }": the target is not an entry of this tree`,
      );
    }
    const targetAbs = await this.#parents(targetParts, target);
    const abs = await this.#parents(parts, path);
    await Deno.link(targetAbs, abs); // link(2) does not follow a symlink at the target
    this.#created.add(parts.join("/"));
    this.#report.written++;
  }

  /**
   * Count a device node as skipped (Deno cannot create one).
   *
   * @param path Relative path bytes.
   * @param _meta Unused.
   * @param kind "chardev" or "blockdev".
   * @param _major Unused.
   * @param _minor Unused.
   */
  device(
    path: Uint8Array,
    _meta: EntryMeta,
    kind: "chardev" | "blockdev",
    _major: number,
    _minor: number,
  ): void {
    if (!this.#parts(path)) return;
    this.#report.devicesSkipped++;
    this.#skip(path, `${kind} nodes cannot be created here`);
  }

  /**
   * Count a FIFO or socket as skipped (Deno cannot create one).
   *
   * @param path Relative path bytes.
   * @param _meta Unused.
   * @param kind "fifo" or "socket".
   */
  special(path: Uint8Array, _meta: EntryMeta, kind: "fifo" | "socket"): void {
    if (!this.#parts(path)) return;
    this.#report.specialsSkipped++;
    this.#skip(path, `${kind}s cannot be created here`);
  }

  /**
   * Apply directory modes, owners and times (deepest first) and return what was skipped.
   *
   * @returns Counts of written and skipped entries.
   */
  async finish(): Promise<DirectorySinkReport> {
    // Before directory modes: read-only directories are still 0700 here.
    if (this.#xattrItems.length && this.#xattrWriter) {
      try {
        await this.#xattrWriter(this.#xattrItems);
      } catch (error) {
        const n = this.#xattrItems.reduce((sum, item) => sum + item.xattrs.size, 0);
        this.#report.xattrsSkipped += n;
        this.#onSkip?.(".", `extended attributes not (all) set: ${(error as Error).message}`);
      }
    }
    const keys = [...this.#dirs].sort((a, b) => depth(b) - depth(a));
    for (const key of keys) {
      const meta = this.#dirMeta.get(key);
      const abs = key ? `${this.#root}/${key}` : this.#root;
      if (!meta) {
        // Implied parents get the SquashFS writer's default; an undeclared root is left alone.
        if (key) await Deno.chmod(abs, 0o755);
        continue;
      }
      await this.#owner(abs, meta);
      await Deno.chmod(abs, meta.mode & 0o7777);
      await lutimes(abs, meta.mtime, meta.mtime);
    }
    return { ...this.#report };
  }
}

function depth(key: string): number {
  if (key === "") return 0;
  let n = 1;
  for (let i = key.indexOf("/"); i >= 0; i = key.indexOf("/", i + 1)) n++;
  return n;
}
