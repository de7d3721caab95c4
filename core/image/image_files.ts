/**
 * Read files inside a container image without mounting it: a SIF (its primary SquashFS
 * partition, plus its Deffile and `inspect-metadata.json` objects), a bare SquashFS image,
 * or a sandbox directory.
 *
 * Symbolic links are followed inside the image only: an absolute link target is taken
 * relative to the image root, `..` never climbs above it, so a sandbox whose runscript
 * links to `/etc/shadow` reads the image's `/etc/shadow` (usually absent), never the host's.
 *
 * @module
 */
import { SingletError } from "../errors.ts";
import { DataType, FsType } from "../sif/_layout.ts";
import { openSif, type SifImage } from "../sif/load.ts";
import { SquashfsReader } from "../squashfs/reader.ts";
import type { MetaEntry } from "./singularity_d.ts";

/** Read access to the files of an image. Paths are relative to the image root. */
export interface ImageFiles {
  /** What kind of image this is. */
  readonly kind: "sif" | "squashfs" | "sandbox" | "memory";
  /** The path the image was opened from. */
  readonly source: string;
  /**
   * A regular file's content (symlinks followed inside the image).
   *
   * @returns The text, or undefined when the path is missing or not a regular file.
   */
  readText(path: string): Promise<string | undefined>;
  /**
   * A directory's entry names (symlinks followed inside the image).
   *
   * @returns The names, or undefined when the path is missing or not a directory.
   */
  listDir(path: string): Promise<string[] | undefined>;
  /**
   * Where a regular file really is inside a SquashFS image: `path` with every symbolic
   * link resolved inside the image (no component of the result is a link). Absent for
   * sandboxes.
   *
   * @returns The image path (without a leading "/"), or undefined when `path` does not
   *   name a regular file.
   */
  filePath?(path: string): string | undefined;
  /** The SIF `Def.FILE` object's text, when the image is a SIF that has one. */
  readonly deffileObject?: string;
  /** The SIF `JSON.Generic` object named `inspect-metadata.json`, when present. */
  readonly inspectMetadataObject?: string;
  /** Release the image. */
  close(): void;
}

/** Largest metadata file read into memory (a runscript or labels.json is a few KiB). */
const MAX_TEXT = 16 << 20;
const MAX_HOPS = 40;

interface Node {
  type: "directory" | "file" | "symlink" | "other";
  target?: string;
}

/** Resolve `path` inside an image whose entries `lookup` describes (no symlink leaves it). */
function resolve(lookup: (path: string) => Node | undefined, path: string) {
  let parts = path.split("/").filter((p) => p !== "" && p !== ".");
  let resolved: string[] = [];
  let hops = 0;
  while (parts.length > 0) {
    const part = parts.shift()!;
    if (part === "..") {
      resolved.pop();
      continue;
    }
    const candidate = [...resolved, part].join("/");
    const node = lookup(candidate);
    if (!node) return undefined;
    if (node.type === "symlink") {
      if (++hops > MAX_HOPS) return undefined;
      const target = node.target ?? "";
      if (target.startsWith("/")) resolved = [];
      parts = [...target.split("/").filter((p) => p !== "" && p !== "."), ...parts];
      continue;
    }
    resolved.push(part);
  }
  const final = resolved.join("/");
  return { path: final, node: final === "" ? { type: "directory" as const } : lookup(final)! };
}

// one decoder for every name: constructing one costs more than decoding a short name, and
// listing a busybox /bin decodes 400 of them
const decoder = new TextDecoder();

function decodeText(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

class SquashfsFiles implements ImageFiles {
  readonly kind: "sif" | "squashfs";
  readonly source: string;
  readonly deffileObject?: string;
  readonly inspectMetadataObject?: string;
  #reader: SquashfsReader;
  #sif: SifImage | undefined;

  constructor(
    kind: "sif" | "squashfs",
    source: string,
    reader: SquashfsReader,
    sif?: SifImage,
    objects: { deffile?: string; inspect?: string } = {},
  ) {
    this.kind = kind;
    this.source = source;
    this.#reader = reader;
    this.#sif = sif;
    if (objects.deffile !== undefined) this.deffileObject = objects.deffile;
    if (objects.inspect !== undefined) this.inspectMetadataObject = objects.inspect;
  }

  #lookup = (path: string): Node | undefined => {
    const entry = this.#reader.lookup(path);
    if (!entry) return undefined;
    if (entry.type === "symlink") {
      return { type: "symlink", target: decodeText(entry.linkTarget ?? new Uint8Array()) };
    }
    return { type: entry.type === "directory" || entry.type === "file" ? entry.type : "other" };
  };

  async readText(path: string): Promise<string | undefined> {
    const found = resolve(this.#lookup, path);
    if (found?.node.type !== "file") return undefined;
    const entry = this.#reader.stat(found.path);
    if (entry.size > MAX_TEXT) return undefined;
    // the blocks straight from the reader: a ReadableStream and a Response cost more
    // than the few kilobytes read (a launch reads /etc/passwd and /etc/group)
    const bytes = new Uint8Array(entry.size);
    let at = 0;
    for (const chunk of this.#reader.fileChunks(entry)) {
      bytes.set(chunk, at);
      at += chunk.length;
    }
    return await Promise.resolve(decodeText(bytes));
  }

  filePath(path: string): string | undefined {
    const found = resolve(this.#lookup, path);
    return found?.node.type === "file" ? found.path : undefined;
  }

  listDir(path: string): Promise<string[] | undefined> {
    const found = resolve(this.#lookup, path);
    if (found?.node.type !== "directory") return Promise.resolve(undefined);
    const entry = found.path === "" ? this.#reader.list()[0]! : this.#reader.stat(found.path);
    return Promise.resolve(this.#reader.children(entry).map((c) => decodeText(c.name)));
  }

  close(): void {
    this.#reader.close();
    this.#sif?.close();
  }
}

class SandboxFiles implements ImageFiles {
  readonly kind = "sandbox" as const;
  readonly source: string;
  #root: string;

  constructor(root: string) {
    this.source = root;
    this.#root = root.replace(/\/+$/, "") || "/";
  }

  #lookup = (path: string): Node | undefined => {
    const full = `${this.#root}/${path}`;
    try {
      const info = Deno.lstatSync(full);
      if (info.isSymlink) return { type: "symlink", target: Deno.readLinkSync(full) };
      return { type: info.isDirectory ? "directory" : info.isFile ? "file" : "other" };
    } catch {
      return undefined;
    }
  };

  async readText(path: string): Promise<string | undefined> {
    const found = resolve(this.#lookup, path);
    if (found?.node.type !== "file") return undefined;
    const full = `${this.#root}/${found.path}`;
    try {
      if ((await Deno.lstat(full)).size > MAX_TEXT) return undefined;
      return await Deno.readTextFile(full);
    } catch {
      return undefined;
    }
  }

  async listDir(path: string): Promise<string[] | undefined> {
    const found = resolve(this.#lookup, path);
    if (found?.node.type !== "directory") return undefined;
    const names: string[] = [];
    try {
      for await (const entry of Deno.readDir(`${this.#root}/${found.path}`)) names.push(entry.name);
    } catch {
      return undefined;
    }
    return names;
  }

  close(): void {}
}

class MemoryFiles implements ImageFiles {
  readonly kind = "memory" as const;
  readonly source: string;
  #entries = new Map<string, MetaEntry>();

  constructor(entries: readonly MetaEntry[], source: string) {
    this.source = source;
    for (const entry of entries) this.#entries.set(entry.path, entry);
  }

  #lookup = (path: string): Node | undefined => {
    const entry = this.#entries.get(path);
    if (!entry) return undefined;
    return entry.kind === "symlink"
      ? { type: "symlink", target: entry.target }
      : { type: entry.kind === "directory" ? "directory" : "file" };
  };

  readText(path: string): Promise<string | undefined> {
    const found = resolve(this.#lookup, path);
    const entry = found && this.#entries.get(found.path);
    return Promise.resolve(entry?.kind === "file" ? entry.content : undefined);
  }

  listDir(path: string): Promise<string[] | undefined> {
    const found = resolve(this.#lookup, path);
    if (found?.node.type !== "directory") return Promise.resolve(undefined);
    const prefix = found.path === "" ? "" : `${found.path}/`;
    const names = [...this.#entries.keys()]
      .filter((p) => p.startsWith(prefix) && p.length > prefix.length)
      .map((p) => p.slice(prefix.length))
      .filter((rest) => !rest.includes("/"));
    return Promise.resolve(names);
  }

  close(): void {}
}

/**
 * Read access to a generated layout ({@linkcode singularityDEntries}) as if it were an
 * image: lets a pull compute its `inspect-metadata.json` object before the image exists.
 *
 * @param entries The layout entries.
 * @param source A name for messages.
 * @returns Read access to those entries.
 */
export function entriesImageFiles(
  entries: readonly MetaEntry[],
  source = "<generated layout>",
): ImageFiles {
  return new MemoryFiles(entries, source);
}

const SIF_MAGIC = new TextEncoder().encode("SIF_MAGIC");
const SQUASHFS_MAGIC = new TextEncoder().encode("hsqs");

function startsWith(bytes: Uint8Array, at: number, magic: Uint8Array): boolean {
  return magic.every((b, i) => bytes[at + i] === b);
}

async function readObjectText(sif: SifImage, dataType: number, name?: string) {
  const found = sif.select(name === undefined ? { dataType } : { dataType, name });
  const last = found[found.length - 1];
  if (!last || last.size > MAX_TEXT) return undefined;
  return decodeText(await sif.readObject(last));
}

/**
 * Open an image for reading its files: a SIF, a SquashFS file, or a sandbox directory.
 *
 * @param path The image.
 * @returns Read access to its files; call `close()` when done.
 * @throws {SingletError} When the path is missing or is not an image singlet can read.
 */
export async function openImageFiles(path: string): Promise<ImageFiles> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    throw new SingletError(`Cannot open image "${path}": ${(error as Error).message}`, {
      hint: "check the path to the image",
      cause: error,
    });
  }
  if (info.isDirectory) return new SandboxFiles(path);
  const head = new Uint8Array(64);
  const file = await Deno.open(path, { read: true });
  try {
    let got = 0;
    while (got < head.length) {
      const n = await file.read(head.subarray(got));
      if (n === null) break;
      got += n;
    }
  } finally {
    file.close();
  }
  if (startsWith(head, 0, SQUASHFS_MAGIC)) {
    return new SquashfsFiles("squashfs", path, await SquashfsReader.open(path, { light: true }));
  }
  if (!startsWith(head, 32, SIF_MAGIC)) {
    throw new SingletError(
      `Cannot open image "${path}": not a SIF image, a SquashFS image or a sandbox directory`,
      { hint: "give the path of a .sif file, a SquashFS image or a sandbox directory" },
    );
  }
  const sif = await openSif(path);
  try {
    const root = sif.primaryPartition();
    if (root.partition?.fsType !== FsType.Squash) {
      throw new SingletError(
        `Cannot read the root filesystem of SIF image "${path}": it is not SquashFS`,
        { hint: "singlet reads SquashFS partitions; encrypted and ext3 images need singularity" },
      );
    }
    // light: a few small files are read (no node:zlib to load; see SquashfsOpenOptions)
    const reader = await SquashfsReader.open(path, {
      offset: root.offset,
      size: root.size,
      light: true,
    });
    const objects: { deffile?: string; inspect?: string } = {};
    const deffile = await readObjectText(sif, DataType.Deffile);
    if (deffile !== undefined) objects.deffile = deffile;
    const inspect = await readObjectText(sif, DataType.GenericJSON, "inspect-metadata.json");
    if (inspect !== undefined) objects.inspect = inspect;
    return new SquashfsFiles("sif", path, reader, sif, objects);
  } catch (error) {
    sif.close();
    throw error;
  }
}
