/**
 * Unpack a SquashFS image (opened with {@linkcode SquashfsReader}) into a directory,
 * never writing outside it.
 *
 * Why it is safe (security-record.md, CVE-2021-40153/41072 class):
 * - The crate rejects names with '/', NUL, "." or ".." and unsorted or duplicate entries,
 *   and every entry's parent is a directory entry of the image, which this module created
 *   itself with `mkdir` (which fails on anything already there) or, for a target that
 *   already existed, checked with `lstat` to be a real directory, never a symlink.
 * - Files are created with O_CREAT|O_EXCL (`createNew`), which refuses an existing path
 *   and a symlink in the final component; symlinks are created as links, never followed.
 * - Directories stay mode 0700 until the end, so other local users cannot swap a
 *   component for a symlink while we write; final modes and times are set children first.
 * - Hard links are made only to a path this extraction created inside the target.
 * - Device nodes are made only as root (else a reported skip); setuid/setgid bits are kept
 *   only as root. Deno has no mknod or setxattr, so FIFOs, devices and xattrs go through
 *   host helpers the caller passes in (`runtime/` spawns `mknod` and `setfattr`); without
 *   them these entries are reported skips, never silent. Sockets are bound in-process.
 * - Deno's file APIs take UTF-8 strings, so names that are not valid UTF-8 cannot be
 *   created: they (and what lies under them) are reported skips.
 *
 * On failure, a target directory this call created is removed again.
 *
 * @module
 */
import * as fs from "node:fs";
import { SingletError } from "../errors.ts";
import { isSparseChunk, showPath, type SquashfsEntry, type SquashfsReader } from "./reader.ts";

/** Creates FIFOs and device nodes (Deno cannot call mknod itself). */
export interface NodeMaker {
  /**
   * Create one node.
   *
   * @param path Absolute path to create (does not exist yet).
   * @param kind Node kind.
   * @param mode Permission bits.
   * @param major Device major (0 for FIFOs).
   * @param minor Device minor (0 for FIFOs).
   */
  make(
    path: string,
    kind: "fifo" | "chardev" | "blockdev",
    mode: number,
    major: number,
    minor: number,
  ): Promise<void>;
}

/** Applies extended attributes in one batch (Deno cannot call setxattr itself). */
export type XattrWriter = (
  items: readonly { path: string; xattrs: ReadonlyMap<string, Uint8Array> }[],
) => Promise<void>;

/** Options of {@linkcode extractSquashfs}. */
export interface ExtractOptions {
  /** Only these paths (and everything below them) are extracted, with their parents. */
  paths?: readonly (Uint8Array | string)[];
  /** Host helper for FIFOs and devices. */
  nodeMaker?: NodeMaker;
  /** Host helper for xattrs. */
  xattrWriter?: XattrWriter;
  /** Called once per entry that is not extracted, with the reason. */
  onSkip?: (path: string, reason: string) => void;
  /** Called after each file with bytes written so far and the total to write. */
  onProgress?: (done: number, total: number) => void;
  /** Act as root (keep owners, setuid bits, create devices). Default: `Deno.uid() === 0`. */
  asRoot?: boolean;
}

/** What an extraction did. */
export interface ExtractReport {
  /** Directories created (including the target). */
  directories: number;
  /** Regular files written. */
  files: number;
  /** Symlinks created. */
  symlinks: number;
  /** Hard links created. */
  hardlinks: number;
  /** FIFOs and device nodes created. */
  nodes: number;
  /** File bytes written. */
  bytes: number;
  /** Entries not extracted, with the reason. */
  skipped: { path: string; reason: string }[];
}

const PATH_MAX = 4096;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Extract `reader`'s image into `target`.
 *
 * @param reader An open image.
 * @param target Directory to fill; created when missing (its parent must exist). An
 *   existing directory is used as is, but nothing in it is overwritten.
 * @param options Subset of paths, host helpers, callbacks.
 * @returns Counts and the reported skips.
 * @throws {SingletError} when a path cannot be created, something already exists at a
 *   path, or the image is corrupt.
 */
export async function extractSquashfs(
  reader: SquashfsReader,
  target: string,
  options: ExtractOptions = {},
): Promise<ExtractReport> {
  const asRoot = options.asRoot ?? Deno.uid() === 0;
  const report: ExtractReport = {
    directories: 0,
    files: 0,
    symlinks: 0,
    hardlinks: 0,
    nodes: 0,
    bytes: 0,
    skipped: [],
  };
  const entries = reader.list();
  const selected = select(reader, options.paths);

  let created = false;
  try {
    Deno.mkdirSync(target, { mode: 0o700 });
    created = true;
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw fsError("create", target, error);
    const info = Deno.statSync(target);
    if (!info.isDirectory) {
      throw new SingletError(`Cannot extract into "${target}": it exists and is not a directory`, {
        hint: "name a new or existing directory",
      });
    }
  }
  const base = Deno.realPathSync(target);
  const umask = probeUmask(base);
  // New files take the process's uid and gid (our directories have no setgid bit while
  // we write), so chown is only needed when the image says otherwise, or when the target
  // existed before (it may have a setgid bit).
  const uid = Deno.uid(), gid = Deno.gid();
  const owner: Owner = {
    asRoot,
    umask,
    mustChown: (e) => !created || e.uid !== uid || e.gid !== gid,
  };

  // String paths of directories we created or checked (index -> absolute path).
  const dirPath = new Map<number, string>([[0, base]]);
  const madeDirs: { path: string; entry: SquashfsEntry }[] = [];
  const firstPath = new Map<number, string>();
  const xattrItems: { path: string; xattrs: ReadonlyMap<string, Uint8Array> }[] = [];
  let total = 0;
  for (const e of entries) if (selected[e.index] && e.type === "file") total += e.size;

  const skip = (e: SquashfsEntry, reason: string) => {
    const path = showPath(reader.pathOf(e));
    report.skipped.push({ path, reason });
    options.onSkip?.(path, reason);
  };

  try {
    if (created) {
      report.directories++;
      madeDirs.push({ path: base, entry: entries[0]! });
    }
    for (const e of entries) {
      if (e.index === 0 || !selected[e.index]) continue;
      const parentPath = dirPath.get(e.parent);
      if (parentPath === undefined) continue; // parent skipped (already reported)
      let name: string;
      try {
        name = utf8.decode(e.name);
      } catch {
        skip(e, "name is not valid UTF-8 (Deno's file APIs cannot create it)");
        continue;
      }
      const path = `${parentPath}/${name}`;
      if (new TextEncoder().encode(path).length >= PATH_MAX) {
        skip(e, `path is longer than ${PATH_MAX} bytes`);
        continue;
      }
      const linkedTo = e.hardlinkOf === undefined ? undefined : firstPath.get(e.hardlinkOf);
      if (linkedTo !== undefined) {
        createHardlink(linkedTo, path);
        report.hardlinks++;
        continue;
      }
      switch (e.type) {
        case "directory":
          makeDir(path);
          dirPath.set(e.index, path);
          madeDirs.push({ path, entry: e });
          report.directories++;
          break;
        case "file": {
          report.bytes += writeFile(reader, e, path, owner);
          report.files++;
          options.onProgress?.(report.bytes, total);
          break;
        }
        case "symlink": {
          let linkTarget: string;
          try {
            linkTarget = utf8.decode(e.linkTarget!);
          } catch {
            skip(e, "symlink target is not valid UTF-8 (Deno's file APIs cannot create it)");
            continue;
          }
          try {
            Deno.symlinkSync(linkTarget, path);
          } catch (error) {
            throw fsError("create symlink", path, error);
          }
          setOwnerModeTime(path, e, asRoot, true);
          report.symlinks++;
          break;
        }
        case "socket":
          createSocket(parentPath, path);
          setOwnerModeTime(path, e, asRoot, false);
          report.nodes++;
          break;
        default: {
          if (e.type !== "fifo" && !asRoot) {
            skip(e, "device nodes are only created as root");
            continue;
          }
          if (!options.nodeMaker) {
            skip(e, "no mknod helper available");
            continue;
          }
          const isFifo = e.type === "fifo";
          await options.nodeMaker.make(
            path,
            e.type as "fifo" | "chardev" | "blockdev",
            e.mode & 0o777,
            isFifo ? 0 : e.major!,
            isFifo ? 0 : e.minor!,
          );
          setOwnerModeTime(path, e, asRoot, false);
          report.nodes++;
        }
      }
      const origin = e.hardlinkOf ?? e.index;
      if (!firstPath.has(origin)) firstPath.set(origin, path);
      if (e.xattrId >= 0) {
        const all = reader.xattrs(e);
        const xattrs = asRoot ? all : new Map([...all].filter(([k]) => k.startsWith("user.")));
        if (xattrs.size) xattrItems.push({ path, xattrs });
      }
    }
    if (xattrItems.length) {
      if (options.xattrWriter) {
        await options.xattrWriter(xattrItems);
      } else {
        for (const item of xattrItems) {
          report.skipped.push({
            path: item.path,
            reason: "xattrs not applied: no setfattr helper",
          });
          options.onSkip?.(item.path, "xattrs not applied: no setfattr helper");
        }
      }
    }
    // Directories last, deepest first: their final modes may forbid writing, and
    // writing children changes their mtime.
    for (let i = madeDirs.length - 1; i >= 0; i--) {
      setOwnerModeTime(madeDirs[i]!.path, madeDirs[i]!.entry, asRoot, false);
    }
  } catch (error) {
    if (created) {
      try {
        Deno.removeSync(base, { recursive: true });
      } catch {
        // best effort: the original error matters more
      }
    }
    throw error;
  }
  return report;
}

/** Mark which entries to extract: the requested subtrees and their ancestors. */
function select(
  reader: SquashfsReader,
  paths: readonly (Uint8Array | string)[] | undefined,
): Uint8Array {
  const entries = reader.list();
  const selected = new Uint8Array(entries.length);
  if (!paths || paths.length === 0) return selected.fill(1);
  const requested = new Uint8Array(entries.length);
  for (const p of paths) {
    const e = reader.lookup(p);
    if (!e) {
      throw new SingletError(
        `Cannot extract "${showPath(p)}" from "${reader.source}": no such path in the image`,
        { hint: "run 'singlet squashfs list' to see what the image holds" },
      );
    }
    requested[e.index] = 1;
    for (let a = e.parent; a >= 0; a = entries[a]!.parent) selected[a] = 1;
  }
  // Walk order puts parents first, so one pass propagates selection down subtrees.
  for (const e of entries) {
    if (requested[e.index] || (e.parent >= 0 && requested[e.parent])) {
      selected[e.index] = 1;
      requested[e.index] = 1;
    }
  }
  return selected;
}

function makeDir(path: string): void {
  try {
    Deno.mkdirSync(path, { mode: 0o700 });
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) {
      const info = Deno.lstatSync(path);
      if (info.isDirectory && !info.isSymlink) {
        Deno.chmodSync(path, 0o700);
        return;
      }
      throw new SingletError(
        `Cannot extract directory "${path}": something that is not a directory is already there`,
        { hint: "extract into an empty or new directory" },
      );
    }
    throw fsError("create directory", path, error);
  }
}

/**
 * Deno cannot mknod a socket, but binding a Unix listener creates one; closing the
 * listener unlinks its path, so bind a temporary name and hard-link the socket into place.
 */
function createSocket(dir: string, path: string): void {
  const temp = `${dir}/.singlet-socket-${crypto.randomUUID()}`;
  let listener: Deno.Listener | undefined;
  try {
    listener = Deno.listen({ transport: "unix", path: temp });
    Deno.linkSync(temp, path);
  } catch (error) {
    throw fsError("create socket", path, error);
  } finally {
    listener?.close();
    try {
      Deno.removeSync(temp);
    } catch {
      // already unlinked by close()
    }
  }
}

/** Measure the umask with a probe file in a directory of ours. */
function probeUmask(dir: string): number {
  const probe = `${dir}/.singlet-umask-${crypto.randomUUID()}`;
  try {
    Deno.openSync(probe, { write: true, createNew: true, mode: 0o777 }).close();
    const mode = Deno.lstatSync(probe).mode ?? 0o644;
    return 0o777 & ~mode;
  } catch (error) {
    throw fsError("write into", dir, error);
  } finally {
    try {
      Deno.removeSync(probe);
    } catch {
      // not created
    }
  }
}

function createHardlink(existing: string, path: string): void {
  try {
    Deno.linkSync(existing, path);
  } catch (error) {
    throw fsError("create hard link", path, error);
  }
}

/**
 * Write one regular file. It is created with its final permission bits (chmod follows only
 * when the umask took some away, or for setuid/setgid/sticky bits; the file sits in a 0700
 * directory of ours meanwhile) and its times are set
 * through the open descriptor: on a rootfs of small files, every path-based call saved
 * is a path walk (and a Deno permission resolution) saved.
 */
function writeFile(
  reader: SquashfsReader,
  e: SquashfsEntry,
  path: string,
  owner: Owner,
): number {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { write: true, createNew: true, mode: e.mode & 0o777 });
  } catch (error) {
    throw fsError("create file", path, error);
  }
  let written = 0;
  try {
    let hole = false;
    for (const chunk of reader.fileChunks(e)) {
      // Holes stay holes, as unsquashfs leaves them.
      hole = isSparseChunk(chunk);
      if (hole) {
        file.seekSync(chunk.length, Deno.SeekMode.Current);
      } else {
        let off = 0;
        while (off < chunk.length) off += file.writeSync(chunk.subarray(off));
      }
      written += chunk.length;
    }
    if (hole) file.truncateSync(written);
    file.utimeSync(e.mtime, e.mtime);
  } catch (error) {
    throw fsError("write file", path, error);
  } finally {
    file.close();
  }
  try {
    // chown clears setuid/setgid, so special bits are set after it.
    if (owner.asRoot && owner.mustChown(e)) Deno.chownSync(path, e.uid, e.gid);
    const special = owner.asRoot ? e.mode & 0o7000 : e.mode & 0o1000;
    if (special || (e.mode & owner.umask & 0o777)) Deno.chmodSync(path, (e.mode & 0o777) | special);
  } catch (error) {
    throw fsError("set owner and mode of", path, error);
  }
  return written;
}

/** Who extracts, and whether an owner must be set explicitly. */
interface Owner {
  asRoot: boolean;
  /** The process umask (measured: reading it needs a permission singlet does not hold). */
  umask: number;
  mustChown(e: SquashfsEntry): boolean;
}

function setOwnerModeTime(path: string, e: SquashfsEntry, asRoot: boolean, link: boolean): void {
  try {
    if (link) {
      if (asRoot) fs.lchownSync(path, e.uid, e.gid);
      fs.lutimesSync(path, e.mtime, e.mtime);
      return;
    }
    // chown clears setuid/setgid, so the mode comes after it.
    if (asRoot) Deno.chownSync(path, e.uid, e.gid);
    Deno.chmodSync(path, asRoot ? e.mode : e.mode & 0o1777);
    Deno.utimeSync(path, e.mtime, e.mtime);
  } catch (error) {
    throw fsError("set owner, mode and time of", path, error);
  }
}

function fsError(action: string, path: string, error: unknown): SingletError {
  if (error instanceof SingletError) return error;
  const reason = error instanceof Error
    ? error.message.replace(/ \(os error \d+\).*$/, "")
    : String(error);
  const hint = error instanceof Deno.errors.AlreadyExists
    ? "extract into an empty or new directory"
    : error instanceof Deno.errors.NotFound
    ? "create the parent directory of the target first"
    : "check free space and permissions of the target";
  return new SingletError(`Cannot ${action} "${path}": ${reason}`, { hint, cause: error });
}
