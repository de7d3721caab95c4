/**
 * Merge OCI image layers (tar streams, gzip, zstd or plain) into one {@linkcode FsSink} in a
 * single streaming pass, with the image-spec's semantics: `.wh.<name>` whiteouts, opaque
 * directories (`.wh..wh..opq`), a later layer replacing a file by a directory or the
 * reverse, hard links, and no `.wh.` names in the result.
 *
 * ## Design: top layer first
 *
 * Layers are read from the top (last applied) down. The first layer that speaks about a
 * path decides it, so when a lower layer's entry arrives we already know whether it
 * survives: shadowed and whited-out entries are skipped without their data ever reaching
 * the sink (no wasted blocks, nothing to delete later), which an FsSink could not do
 * anyway because it has no "remove". Memory holds one small record per decided path
 * (`nodes`), plus, for the layer being read, the entries a hard link could still name.
 * This is charliecloud's "resolve whiteouts on member lists" idea, done while streaming.
 *
 * A path's record says how it hides lower layers: a whiteout or non-directory hides the path
 * and everything beneath it; a directory hides a lower entry at the same path, and, when
 * opaque from layer depth `o`, hides children coming from layers deeper than `o`. Records
 * carry the depth of the layer that set them, because OCI whiteouts and opaque markers act
 * on lower layers only, never on entries of their own layer.
 *
 * Hard links: tar links point at an earlier member of the same archive. When that member
 * was shadowed by an upper layer (its data skipped) but the link survives, the link needs
 * the old content: the layer is opened a second time after its pass and only those members
 * are streamed (rare: a file replaced while a hard link to it was kept).
 *
 * ## Refused (clear errors, nothing guessed)
 * - ".." components in names or link targets; whiteouts named `.wh.`, `.wh..`, `.wh...`.
 * - An entry beneath a non-directory of its own layer (e.g. symlink `a` then file `a/x`:
 *   the classic symlink-then-write-through escape).
 * - A lower layer turning into a symlink a directory an upper layer wrote into without
 *   declaring it (following symlinked parents across layers is not supported).
 * - The same non-directory path twice in one layer; hard links to a member that is not
 *   earlier in the same layer, or to a directory.
 *
 * @module
 */
import type { Hash } from "node:crypto";
import { decompress, detectCompression } from "../codec/decompress.ts";
import { FileChunks } from "../codec/file_chunks.ts";
import { displayName } from "../tar/header.ts";
import { normalizeMemberPath } from "../tar/path.ts";
import type { ReadTarOptions, TarEntry } from "../tar/reader.ts";
import { readTar } from "../tar/reader.ts";
import type { EntryMeta, FsSink } from "./fstree.ts";
import { HOST_OFFSET, HOST_PATH, keyToPath, pathKey } from "./fstree.ts";

/** One layer: a name for messages and a way to (re)open its bytes. */
export interface LayerSource {
  /** Name for messages: a digest or a file name. */
  name: string;
  /**
   * The layer's DiffID ("sha256:<hex>" of the uncompressed tar, from the image config's
   * `rootfs.diff_ids`): when given, the uncompressed stream is hashed as it is read (to its
   * very end) and a mismatch fails the merge.
   */
  diffId?: string;
  /**
   * The layer's file on the host, when it is one. An uncompressed tar there (without a
   * `diffId` to check) is read with seeks: its members' data is not read by the merge but
   * handed to the sink as ranges of this file ({@linkcode HOST_PATH} and
   * {@linkcode HOST_OFFSET}), which the SquashFS writer's workers read themselves; sinks
   * that iterate the data get the same bytes. Compressed layers are streamed from `open`.
   */
  path?: string;
  /** Open a fresh stream of the layer's bytes (gzip, zstd or uncompressed tar). */
  open():
    | ReadableStream<Uint8Array>
    | AsyncIterable<Uint8Array>
    | Promise<ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>>;
}

/** Options of {@linkcode mergeLayers}. */
export interface MergeLayersOptions {
  /** Limits passed to the tar reader. */
  tar?: ReadTarOptions;
  /** Called after each layer's pass with its index (in application order). */
  onLayerDone?: (index: number, stats: MergeStats) => void;
}

/** Counts reported by {@linkcode mergeLayers}. */
export interface MergeStats {
  /** Tar members read (metadata headers excluded). */
  entries: number;
  /** Entries given to the sink. */
  written: number;
  /** Entries skipped because an upper layer shadowed or whited them out. */
  shadowed: number;
  /** Whiteout and opaque markers seen. */
  whiteouts: number;
  /** File bytes given to the sink. */
  bytes: number;
  /** Layers read a second time for hard links to shadowed members. */
  rereads: number;
}

type NodeKind = "dir" | "implicit" | "nondir" | "whiteout";

interface PathNode {
  kind: NodeKind;
  /** Depth (0 = top layer) of the layer that set this record. */
  layer: number;
  /** Children from layers deeper than this are hidden (Infinity: none). */
  opaque: number;
  /** For "nondir": whether it is a symlink (messages only). */
  symlink?: boolean;
  /** For "implicit": made anew after this layer whited the path out (no lower metadata). */
  fresh?: boolean;
}

/** What a member of the current layer became, for hard links that name it later. */
type Member =
  | { state: "written"; as: string }
  | { state: "pending"; group: RereadGroup }
  | { state: "shadowed"; entry: Omit<TarEntry, "data"> }
  | { state: "directory" };

interface RereadGroup {
  index: number;
  entry: Omit<TarEntry, "data">;
  paths: string[];
}

const WH = ".wh.";
const OPAQUE = ".wh..wh..opq";
const MAX_MTIME = 0xffffffff;

/**
 * Apply `layers` (in application order, base first) into `sink`.
 *
 * @param layers The layers, base first, as in an image manifest.
 * @param sink Receives the final tree (each final entry once; directories may be updated).
 * @param options Tar limits and a progress callback.
 * @returns Counts of what was read, written and skipped.
 * @throws {SyntaxError} On malformed archives or refused layer content (see module doc);
 *   the message names the layer and the entry.
 */
export async function mergeLayers(
  layers: readonly LayerSource[],
  sink: FsSink,
  options: MergeLayersOptions = {},
): Promise<MergeStats> {
  const stats: MergeStats = {
    entries: 0,
    written: 0,
    shadowed: 0,
    whiteouts: 0,
    bytes: 0,
    rereads: 0,
  };
  const nodes = new Map<string, PathNode>();
  /** Paths an upper layer wrote beneath without declaring them, to the deepest such layer. */
  const undeclared = new Map<string, number>();

  for (let index = layers.length - 1; index >= 0; index--) {
    const layer = layers[index]!;
    const depth = layers.length - 1 - index;
    const label = `layer ${index + 1}/${layers.length} "${layer.name}"`;
    const members = new Map<string, Member>();
    const groups: RereadGroup[] = [];
    const whitedOut: string[] = [];
    const fail = (entry: TarEntry | undefined, what: string, cause?: unknown): never => {
      const at = entry ? ` entry "${displayName(entry.path)}"` : "";
      throw new SyntaxError(`Cannot apply ${label}:${at} ${what}`, { cause });
    };

    const plain = layer.diffId === undefined && layer.path !== undefined
      ? openPlainTar(layer.path)
      : undefined;
    const hostTar = plain ? layer.path : undefined;
    const opened = plain ?? decompress(await layer.open(), { name: layer.name });
    const hashed = layer.diffId === undefined
      ? undefined
      : new HashingStream(opened, (await import("node:crypto")).createHash("sha256"));
    try {
      for await (const entry of readTar(hashed ?? opened, options.tar)) {
        stats.entries++;
        let path: Uint8Array;
        try {
          path = normalizeMemberPath(entry.path);
        } catch (error) {
          return fail(entry, (error as Error).message, error);
        }
        const key = pathKey(path);
        const slash = key.lastIndexOf("/");
        const base = key.slice(slash + 1);
        const parent = slash < 0 ? "" : key.slice(0, slash);

        // Names inside a ".wh."-named directory are markers' debris: never part of the result.
        if (hasWhiteoutAncestor(key)) {
          stats.whiteouts++;
          continue;
        }
        if (base.startsWith(WH)) {
          stats.whiteouts++;
          applyMarker(nodes, entry, base, parent, depth, fail);
          if (base !== OPAQUE) whitedOut.push((parent ? `${parent}/` : "") + base.slice(4));
          continue;
        }

        // An upper layer wrote beneath this path without declaring it: what this layer puts
        // here is what that layer went through. A symlink would have been followed (as
        // umoci does); that is refused rather than silently done differently.
        const usedBy = undeclared.get(key);
        if (usedBy !== undefined && usedBy < depth) {
          if (entry.kind === "symlink" && !ancestorsHide(nodes, key, depth)) {
            fail(
              entry,
              "is a symlink, but an upper layer wrote beneath this path without declaring the directory; following symlinked parents across layers is not supported",
            );
          }
          undeclared.delete(key);
        }
        markUndeclared(undeclared, nodes, members, key, depth);

        if (isHidden(nodes, key, depth, entry, fail)) {
          stats.shadowed++;
          if (entry.kind === "hardlink") {
            // A shadowed link may itself be named by a later link: remember its source.
            const target = members.get(linkKey(entry, fail));
            // Same inode as its target: a later link to it is a link to the target.
            if (target) members.set(key, target);
          } else if (entry.kind === "directory") {
            members.set(key, { state: "directory" });
          } else {
            members.set(key, { state: "shadowed", entry: meta(entry) });
          }
          continue;
        }

        // The entry is live: make its parents exist in the records.
        claimAncestors(nodes, key, depth);
        const existing = nodes.get(key);
        const isDir = entry.kind === "directory";
        const node: PathNode = {
          kind: isDir ? "dir" : "nondir",
          layer: depth,
          opaque: existing?.opaque ?? Infinity,
          symlink: entry.kind === "symlink",
        };
        if (existing?.kind === "whiteout" && existing.layer === depth) node.opaque = depth;
        nodes.set(key, node);

        switch (entry.kind) {
          case "directory":
            members.set(key, { state: "directory" });
            await sink.directory(path, entryMeta(entry));
            break;
          case "file":
            members.set(key, { state: "written", as: key });
            await sink.file(
              path,
              entryMeta(entry),
              entry.size,
              hostTar !== undefined && entry.dataOffset !== undefined
                ? hostRange(entry.data, hostTar, entry.dataOffset)
                : entry.data,
            );
            stats.bytes += entry.size;
            break;
          case "symlink":
            members.set(key, { state: "written", as: key });
            await sink.symlink(path, symlinkMeta(entry), entry.linkTarget);
            break;
          case "chardev":
          case "blockdev":
            members.set(key, { state: "written", as: key });
            await sink.device(path, entryMeta(entry), entry.kind, entry.devmajor, entry.devminor);
            break;
          case "fifo":
            members.set(key, { state: "written", as: key });
            await sink.special(path, entryMeta(entry), "fifo");
            break;
          case "hardlink": {
            const targetKey = linkKey(entry, fail);
            const target = members.get(targetKey);
            if (targetKey === key) fail(entry, "is a hard link to itself");
            if (!target) {
              fail(
                entry,
                `is a hard link to "${
                  displayName(keyToPath(targetKey))
                }", which is not an earlier member of this layer`,
              );
            } else if (target.state === "directory") {
              fail(entry, "is a hard link to a directory");
            } else if (target.state === "written") {
              members.set(key, target);
              await sink.hardlink(path, keyToPath(target.as));
            } else if (target.state === "pending") {
              target.group.paths.push(key);
              members.set(key, target);
            } else if (target.entry.kind === "file") {
              // The data was skipped: read this layer again after its pass.
              const group: RereadGroup = {
                index: target.entry.index,
                entry: target.entry,
                paths: [key],
              };
              groups.push(group);
              const pending: Member = { state: "pending", group };
              members.set(key, pending);
              members.set(targetKey, pending);
            } else {
              // A shadowed symlink, device or FIFO: its header says all there is.
              await writeFromHeader(sink, path, target.entry);
              members.set(key, { state: "written", as: key });
              members.set(targetKey, { state: "written", as: key });
            }
            break;
          }
        }
        stats.written++;
      }
      if (hashed) {
        const digest = await hashed.finish();
        if (digest !== layer.diffId) {
          fail(undefined, `its content has digest ${digest}, but the image says ${layer.diffId}`);
        }
      }
    } catch (error) {
      await hashed?.close();
      // Archive and decompression errors get the layer's name; the sink's own errors (disk
      // full, refused entries) pass through unchanged.
      if (!(error instanceof SyntaxError) || error.message.startsWith("Cannot apply")) throw error;
      throw new SyntaxError(`Cannot apply ${label}: ${error.message}`, { cause: error });
    }

    // A path this layer whited out and did not recreate did not exist below the upper layers
    // that wrote beneath it: they made fresh directories there, not a trip through a symlink.
    for (const target of whitedOut) {
      if ((undeclared.get(target) ?? Infinity) < depth) undeclared.delete(target);
    }

    if (groups.length) {
      stats.rereads++;
      await reread(layer, label, groups, sink, stats, options.tar);
    }
    options.onLayerDone?.(index, stats);
  }
  return stats;
}

/**
 * A pass-through that hashes what flows through it. Its iterator ignores `return()` (the tar
 * reader stops at the end-of-archive marker) so that {@linkcode HashingStream.finish} can
 * hash the padding after it too.
 */
class HashingStream implements AsyncIterable<Uint8Array> {
  readonly #source: AsyncIterator<Uint8Array>;
  readonly #hash: Hash;

  /** `hash` is a fresh sha256 (`node:crypto` is imported only for layers with a DiffID). */
  constructor(source: AsyncIterable<Uint8Array>, hash: Hash) {
    this.#source = source[Symbol.asyncIterator]();
    this.#hash = hash;
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return {
      next: async () => {
        const result = await this.#source.next();
        if (!result.done) this.#hash.update(result.value);
        return result;
      },
      return: () => Promise.resolve({ done: true, value: undefined }),
    };
  }

  /** Hash the rest of the stream; returns "sha256:<hex>". */
  async finish(): Promise<string> {
    for (;;) {
      const result = await this.#source.next();
      if (result.done) break;
      this.#hash.update(result.value);
    }
    return `sha256:${this.#hash.digest("hex")}`;
  }

  /** Release the source early (after an error). */
  async close(): Promise<void> {
    await this.#source.return?.();
  }
}

/**
 * The layer file as a seekable chunk source when it is an uncompressed tar, else undefined
 * (closed again: compressed layers are streamed through `open`).
 */
function openPlainTar(path: string): FileChunks | undefined {
  const chunks = new FileChunks(path);
  if (detectCompression(chunks.head(6)) === "none") return chunks;
  chunks.close();
  return undefined;
}

/** A member's data that names where it lies in the tar on disk, for sinks that read it. */
function hostRange(
  data: AsyncIterable<Uint8Array>,
  path: string,
  offset: number,
): AsyncIterable<Uint8Array> & { [HOST_PATH]: string; [HOST_OFFSET]: number } {
  return {
    [Symbol.asyncIterator]: () => data[Symbol.asyncIterator](),
    [HOST_PATH]: path,
    [HOST_OFFSET]: offset,
  };
}

/** Whether any component but the last starts with ".wh.". */
function hasWhiteoutAncestor(key: string): boolean {
  let start = 0;
  for (;;) {
    const slash = key.indexOf("/", start);
    if (slash < 0) return false;
    if (key.startsWith(WH, start)) return true;
    start = slash + 1;
  }
}

type Fail = (entry: TarEntry | undefined, what: string, cause?: unknown) => never;

/** Record a whiteout (`.wh.<name>`) or opaque marker (`.wh..wh..opq`) of layer `depth`. */
function applyMarker(
  nodes: Map<string, PathNode>,
  entry: TarEntry,
  base: string,
  parent: string,
  depth: number,
  fail: Fail,
): void {
  if (base === OPAQUE) {
    // Only a directory still visible from this layer can be made opaque.
    if (ancestorsHide(nodes, parent, depth)) return;
    const self = nodes.get(parent);
    if (self && self.layer < depth && (self.kind === "whiteout" || self.kind === "nondir")) return;
    // A directory nobody above declared exists (the marker is in it) without metadata yet;
    // a lower layer's entry for it may still provide some.
    claimAncestors(nodes, parent, depth, true);
    const node = nodes.get(parent)!;
    node.opaque = Math.min(node.opaque, depth);
    return;
  }
  if (base.startsWith(".wh..wh.")) return; // AUFS bookkeeping (e.g. .wh..wh.plnk): ignored
  const name = base.slice(WH.length);
  if (name === "" || name === "." || name === "..") {
    fail(entry, `is an invalid whiteout (it would remove "${name}")`);
  }
  const target = parent === "" ? name : `${parent}/${name}`;
  if (ancestorsHide(nodes, target, depth)) return;
  const node = nodes.get(target);
  if (!node) {
    // Parents are not created: whiting out a path in a missing directory adds nothing.
    nodes.set(target, { kind: "whiteout", layer: depth, opaque: Infinity });
  } else if (node.kind === "dir" || node.kind === "implicit") {
    // The directory of this or an upper layer stays; what lower layers had under it goes.
    node.opaque = Math.min(node.opaque, depth);
  }
}

/** The last list {@linkcode ancestorsOf} made, and the parent it was made for. */
let ancestorsMemo: { parent: string; list: readonly string[] } = { parent: "", list: [""] };

/**
 * The keys of the strict ancestors of `key`, root ("") first. Shared with the previous call
 * for the same parent (members of a directory follow each other in a tar, and each is
 * looked up several times): never modify it.
 */
function ancestorsOf(key: string): readonly string[] {
  if (key === "") return [];
  const slash = key.lastIndexOf("/");
  const parent = slash < 0 ? "" : key.slice(0, slash);
  if (parent === ancestorsMemo.parent) return ancestorsMemo.list;
  const list = [""];
  for (let i = key.indexOf("/"); i >= 0; i = key.indexOf("/", i + 1)) list.push(key.slice(0, i));
  ancestorsMemo = { parent, list };
  return list;
}

/** Whether an ancestor record hides entries of layer `depth` at `key`. */
function ancestorsHide(nodes: Map<string, PathNode>, key: string, depth: number): boolean {
  for (const ancestor of ancestorsOf(key)) {
    const node = nodes.get(ancestor);
    if (!node) continue;
    if (node.opaque < depth) return true;
    if ((node.kind === "whiteout" || node.kind === "nondir") && node.layer < depth) return true;
  }
  return false;
}

/**
 * Whether an entry at `key` from layer `depth` is hidden by upper layers. Refuses an entry
 * beneath a non-directory of its own layer and a non-directory given twice in one layer.
 */
function isHidden(
  nodes: Map<string, PathNode>,
  key: string,
  depth: number,
  entry: TarEntry,
  fail: Fail,
): boolean {
  for (const ancestor of ancestorsOf(key)) {
    const node = nodes.get(ancestor);
    if (!node) continue;
    if (node.opaque < depth) return true;
    if (node.kind === "whiteout" || node.kind === "nondir") {
      if (node.layer < depth) return true;
      if (node.kind === "nondir") {
        fail(
          entry,
          `lies beneath "${displayName(keyToPath(ancestor))}", which this layer made a ${
            node.symlink ? "symlink" : "non-directory"
          }`,
        );
      }
    }
  }
  const node = nodes.get(key);
  if (!node) return false;
  if (node.layer < depth) {
    if (node.kind === "implicit" && !node.fresh && entry.kind === "directory") {
      return false; // gives the undeclared directory its metadata
    }
    if ((node.kind === "dir" || node.kind === "implicit") && entry.kind !== "directory") {
      // Shadowed itself, this non-directory still replaced whatever lower layers had at
      // this path: their children must not show through the upper directory.
      node.opaque = Math.min(node.opaque, depth);
    }
    return true;
  }
  // Same layer.
  if (node.kind === "whiteout") return false;
  if ((node.kind === "dir" || node.kind === "implicit") && entry.kind === "directory") return false;
  return fail(entry, "appears twice in this layer");
}

/**
 * Make every ancestor of `key` (and `key` itself when `self`) a directory record: implicit
 * where none exists, or where this layer had whited it out for lower layers.
 */
function claimAncestors(
  nodes: Map<string, PathNode>,
  key: string,
  depth: number,
  self = false,
): void {
  const keys = self ? [...ancestorsOf(key), key] : ancestorsOf(key);
  for (const ancestor of keys) {
    const node = nodes.get(ancestor);
    if (!node) {
      nodes.set(ancestor, { kind: "implicit", layer: depth, opaque: Infinity });
    } else if (node.kind === "whiteout") {
      nodes.set(ancestor, { kind: "implicit", layer: depth, opaque: depth, fresh: true });
    }
  }
}

/**
 * Record that layer `depth` wrote `key` beneath ancestors it did not declare itself (nor
 * whited out, which makes them fresh directories), whether or not the entry survives.
 */
function markUndeclared(
  undeclared: Map<string, number>,
  nodes: Map<string, PathNode>,
  members: Map<string, Member>,
  key: string,
  depth: number,
): void {
  for (const ancestor of ancestorsOf(key)) {
    if (ancestor === "" || members.get(ancestor)?.state === "directory") continue;
    const node = nodes.get(ancestor);
    if (node && node.layer === depth && node.opaque === depth) continue; // whited out here
    undeclared.set(ancestor, depth);
  }
}

function linkKey(entry: TarEntry, fail: Fail): string {
  try {
    return pathKey(normalizeMemberPath(entry.linkTarget));
  } catch (error) {
    return fail(entry, `hard link target: ${(error as Error).message}`, error);
  }
}

function meta(entry: TarEntry): Omit<TarEntry, "data"> {
  const { data: _data, ...rest } = entry;
  return rest;
}

/**
 * The sink metadata of a tar entry.
 *
 * @param entry A tar entry.
 * @returns Mode bits, owner, mtime clamped to SquashFS's 32-bit range, and xattrs if any.
 */
export function entryMeta(entry: Omit<TarEntry, "data">): EntryMeta {
  const result: EntryMeta = {
    mode: entry.mode & 0o7777,
    uid: entry.uid,
    gid: entry.gid,
    mtime: Math.min(Math.max(entry.mtime, 0), MAX_MTIME),
  };
  if (entry.xattrs.size) result.xattrs = entry.xattrs;
  return result;
}

/** Symlinks are 0777 on Linux whatever the tar says; store what an unpacked tree shows. */
function symlinkMeta(entry: Omit<TarEntry, "data">): EntryMeta {
  return { ...entryMeta(entry), mode: 0o777 };
}

async function writeFromHeader(sink: FsSink, path: Uint8Array, entry: Omit<TarEntry, "data">) {
  switch (entry.kind) {
    case "symlink":
      return await sink.symlink(path, symlinkMeta(entry), entry.linkTarget);
    case "chardev":
    case "blockdev":
      return await sink.device(path, entryMeta(entry), entry.kind, entry.devmajor, entry.devminor);
    case "fifo":
      return await sink.special(path, entryMeta(entry), "fifo");
  }
}

/** Second read of a layer: stream the shadowed members that surviving hard links need. */
async function reread(
  layer: LayerSource,
  label: string,
  groups: RereadGroup[],
  sink: FsSink,
  stats: MergeStats,
  tarOptions: ReadTarOptions | undefined,
): Promise<void> {
  const wanted = new Map(groups.map((group) => [group.index, group]));
  const last = Math.max(...wanted.keys());
  for await (
    const entry of readTar(decompress(await layer.open(), { name: layer.name }), tarOptions)
  ) {
    const group = wanted.get(entry.index);
    if (group) {
      if (entry.kind !== "file" || entry.size !== group.entry.size) {
        throw new SyntaxError(`Cannot apply ${label}: the layer changed between two reads`);
      }
      const [first, ...others] = group.paths.map(keyToPath);
      await sink.file(first!, entryMeta(entry), entry.size, entry.data);
      stats.bytes += entry.size;
      for (const other of others) await sink.hardlink(other, first!);
    }
    if (entry.index >= last) return;
  }
  throw new SyntaxError(`Cannot apply ${label}: the layer changed between two reads`);
}
