/**
 * The edit-rebuild fast path: a `Bootstrap: localimage` recipe from a SIF or SquashFS image
 * whose only sections are metadata (`%runscript`, `%labels`, `%environment`, `%help`,
 * `%startscript`, `%test`) changes no file of the base tree, so the base image's tree is
 * streamed straight from its SquashFS reader into the writer (no extraction to disk, no
 * directory walk) with the new `/.singularity.d` files in place of the old ones.
 *
 * @module
 */
import type { Definition } from "./deffile.ts";
import { finalStage } from "./deffile.ts";
import { localImageKind } from "./image_build.ts";
import type { FsSink } from "../squashfs/fstree.ts";
import { SquashfsReader } from "../squashfs/reader.ts";
import { FsType } from "../sif/mod.ts";
import { openSif } from "../sif/load.ts";
import type { MetaEntry } from "../image/singularity_d.ts";

/**
 * Whether a definition qualifies for {@linkcode emitWithMetadata}: one stage, localimage
 * from a SIF or SquashFS image, and no section that runs code or copies files.
 *
 * @param def The templated definition.
 * @returns The base image path when it qualifies.
 */
export async function metadataOnlyBase(def: Definition): Promise<string | undefined> {
  if (def.stages.length !== 1) return undefined;
  const stage = finalStage(def);
  if (stage.header.get("bootstrap")?.trim().toLowerCase() !== "localimage") return undefined;
  const s = stage.sections;
  if (s.pre || s.setup || s.post || s.files.length || stage.apps.size) return undefined;
  const from = stage.header.get("from")?.trim();
  if (!from) return undefined;
  const kind = await localImageKind(from);
  return kind === "sif" || kind === "squashfs" ? from : undefined;
}

/**
 * Open the root filesystem of a SIF or SquashFS image.
 *
 * @param image The image path.
 * @returns A reader (close it when done).
 */
export async function openRootfsReader(image: string): Promise<SquashfsReader> {
  if ((await localImageKind(image)) === "squashfs") return await SquashfsReader.open(image);
  const sif = await openSif(image);
  try {
    const root = sif.primaryPartition();
    if (root.partition?.fsType !== FsType.Squash) {
      throw new TypeError(`"${image}": the root filesystem is not SquashFS`);
    }
    return await SquashfsReader.open(image, { offset: root.offset, size: root.size });
  } finally {
    sif.close();
  }
}

/**
 * Feed the reader's tree into `sink`, leaving out the paths that `entries` replace, then
 * the entries themselves (directories the tree already has are kept as they are).
 *
 * @param reader The base image.
 * @param sink The writer.
 * @param entries The new metadata entries.
 */
export async function emitWithMetadata(
  reader: SquashfsReader,
  sink: FsSink,
  entries: readonly MetaEntry[],
): Promise<void> {
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  const replaced = new Set(entries.filter((e) => e.kind !== "directory").map((e) => e.path));
  const present = new Set<string>();
  const list = reader.list();
  const paths: Uint8Array[] = [];
  for (const { path, entry } of reader.walk()) {
    paths[entry.index] = path;
    const key = decoder.decode(path);
    if (replaced.has(key)) continue;
    present.add(key);
    const meta = {
      mode: entry.mode,
      uid: entry.uid,
      gid: entry.gid,
      mtime: entry.mtime,
      ...(entry.xattrId >= 0 ? { xattrs: reader.xattrs(entry) } : {}),
    };
    if (entry.hardlinkOf !== undefined) {
      const target = paths[entry.hardlinkOf]!;
      if (!replaced.has(decoder.decode(target))) {
        await sink.hardlink(path, target);
        continue;
      }
    }
    switch (entry.type) {
      case "directory":
        await sink.directory(path, meta);
        break;
      case "file": {
        const origin = entry.hardlinkOf === undefined ? entry : list[entry.hardlinkOf]!;
        const chunks = reader.fileChunks(origin);
        await sink.file(
          path,
          meta,
          entry.size,
          (async function* () {
            for (const chunk of chunks) yield chunk;
          })(),
        );
        break;
      }
      case "symlink":
        await sink.symlink(path, meta, entry.linkTarget ?? new Uint8Array(0));
        break;
      case "blockdev":
      case "chardev":
        await sink.device(path, meta, entry.type, entry.major ?? 0, entry.minor ?? 0);
        break;
      default:
        await sink.special(path, meta, entry.type);
    }
  }
  const mtime = Math.floor(Date.now() / 1000);
  for (const entry of entries) {
    const path = encoder.encode(entry.path);
    if (entry.kind === "directory") {
      if (!present.has(entry.path)) {
        await sink.directory(path, { mode: entry.mode, uid: 0, gid: 0, mtime });
      }
    } else if (entry.kind === "symlink") {
      await sink.symlink(
        path,
        { mode: 0o777, uid: 0, gid: 0, mtime },
        encoder.encode(entry.target),
      );
    } else {
      const data = encoder.encode(entry.content);
      await sink.file(
        path,
        { mode: entry.mode, uid: 0, gid: 0, mtime },
        data.length,
        (async function* () {
          yield data;
        })(),
      );
    }
  }
}
