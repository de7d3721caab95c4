/**
 * The edit-rebuild fast path: a one-stage `Bootstrap: localimage` recipe on a SIF or
 * SquashFS image that only changes metadata (`%runscript`, `%labels`, `%environment`,
 * `%help`, `%startscript`, `%test` with `--notest`) is rebuilt without extracting the base:
 * every entry is passed from the base's SquashFS to the new one, file data blocks copied
 * as stored (no decompression or recompression, `SquashfsWriter.rawFile`), and only the
 * `/.singularity.d` files the recipe changes are written anew. The result is the image the
 * full pipeline makes.
 *
 * @module
 */
import type { Definition, Stage } from "./deffile.ts";
import { storedDeffileText } from "./deffile_text.ts";
import {
  baseEntries,
  metadataEntries,
  type MetaEntry,
  schemaLabels,
} from "../image/singularity_d.ts";
import { openImageFiles } from "../image/image_files.ts";
import { inspectMetadataObject } from "../image/inspect.ts";
import { SquashfsReader } from "../squashfs/reader.ts";
import { SquashfsWriter } from "../squashfs/writer.ts";
import type { EntryMeta } from "../squashfs/fstree.ts";
import {
  createSif,
  DataType,
  FsType,
  type ObjectInput,
  openSif,
  PartType,
  RUN_SINGULARITY_LAUNCH_SCRIPT,
} from "../sif/mod.ts";

const WRITER_BLOCK_SIZE = 131072;

/** What the fast path needs to know about the build. */
export interface RebuildOptions {
  /** The SIF to write (atomically, through a temp file beside it). */
  output: string;
  /** Temp directory for the SquashFS. */
  tmp: string;
  /** `--force` (labels may be replaced). */
  force?: boolean;
  /** `--notest`. */
  notest?: boolean;
  /** Directory relative `From:` paths start from. */
  cwd: string;
  /** Version for the build labels. */
  version: string;
  /** Build date (default now). */
  date?: Date;
  /** Warnings. */
  onWarning?: (message: string) => void;
  /** Told the temporary SIF's path before it is created. */
  onTempPath?: (path: string) => void;
}

/**
 * Whether a definition can take the fast path: one stage, `Bootstrap: localimage`, and no
 * section that changes files or runs anything.
 *
 * @param def The definition.
 * @param notest Whether `%test` is skipped.
 * @returns The stage, or undefined when the full pipeline is needed.
 */
export function metadataOnlyStage(def: Definition, notest: boolean): Stage | undefined {
  if (def.stages.length !== 1) return undefined;
  const stage = def.stages[0]!;
  if ((stage.header.get("bootstrap") ?? "").toLowerCase() !== "localimage") return undefined;
  const s = stage.sections;
  if (s.pre || s.setup || s.post || s.files.some((f) => f.files.length > 0)) return undefined;
  if (s.test && !notest) return undefined;
  if (stage.apps.size > 0) return undefined;
  return stage;
}

/** The base image's root partition: path, offset and size. */
async function basePartition(path: string): Promise<{ offset: number; size?: number }> {
  const head = new Uint8Array(64);
  {
    using file = await Deno.open(path, { read: true });
    await file.read(head);
  }
  if (new TextDecoder().decode(head.subarray(32, 41)) !== "SIF_MAGIC") return { offset: 0 };
  const sif = await openSif(path);
  try {
    const root = sif.primaryPartition();
    return { offset: Number(root.offset), size: Number(root.size) };
  } finally {
    sif.close();
  }
}

/**
 * Rebuild a metadata-only `localimage` recipe by passing the base's SquashFS through.
 *
 * @param def The definition (one stage, see {@linkcode metadataOnlyStage}).
 * @param stage Its stage.
 * @param options Output and build settings.
 * @returns The output size, or undefined when the base cannot be passed through (not a
 *   regular file, another compressor or block size): the caller runs the full pipeline.
 */
export async function rebuildMetadataOnly(
  def: Definition,
  stage: Stage,
  options: RebuildOptions,
): Promise<number | undefined> {
  const from = (stage.header.get("from") ?? "").trim();
  const path = from.startsWith("/") ? from : `${options.cwd}/${from}`;
  const info = await Deno.stat(path).catch(() => undefined);
  if (!info?.isFile) return undefined;
  const part = await basePartition(path);
  const reader = await SquashfsReader.open(path, {
    offset: part.offset,
    ...(part.size ? { size: part.size } : {}),
  });
  try {
    if (reader.compressor !== "gzip" || reader.blockSize !== WRITER_BLOCK_SIZE) return undefined;
    const files = await openImageFiles(path);
    let existingLabels: Record<string, string> | undefined;
    let existingEnvironment: string | undefined;
    const history: string[] = [];
    try {
      const labelText = await files.readText(".singularity.d/labels.json");
      try {
        if (labelText) existingLabels = JSON.parse(labelText);
      } catch {
        // replaced
      }
      existingEnvironment = await files.readText(".singularity.d/env/90-environment.sh");
      for (let i = 0;; i++) {
        const text = await files.readText(`.singularity.d/bootstrap_history/Singularity${i}`);
        if (text === undefined) break;
        history.push(text);
      }
      const previous = await files.readText(".singularity.d/Singularity");
      if (previous !== undefined) history.push(previous);
    } finally {
      files.close();
    }
    const input = { deffile: def };
    const base = baseEntries(input);
    const meta = metadataEntries({
      ...input,
      buildLabels: schemaLabels({
        date: options.date ?? new Date(),
        version: options.version,
        arch: goArch(),
        stage,
      }),
      ...(options.force ? { force: true } : {}),
      ...(existingLabels ? { existingLabels } : {}),
      ...(existingEnvironment ? { existingEnvironment } : {}),
      ...(history.length ? { bootstrapHistory: history } : {}),
    });
    [...base.warnings, ...meta.warnings].forEach((w) => options.onWarning?.(w));
    const decoder = new TextDecoder();
    const present = new Set<string>();
    for (const e of reader.list()) present.add(decoder.decode(reader.pathOf(e)));
    // base entries fill gaps; metadata entries replace
    const overrides = new Map<string, MetaEntry>();
    for (const e of base.entries) if (!present.has(e.path)) overrides.set(e.path, e);
    for (const e of meta.entries) {
      if (e.kind === "directory" && present.has(e.path)) continue;
      overrides.set(e.path, e);
    }

    const squashfs = `${options.tmp}/rootfs.squashfs`;
    const writer = await SquashfsWriter.create(squashfs, { compressor: "gzip" });
    const encoder = new TextEncoder();
    // base fragment index -> this image's: each stored fragment block is copied once
    const fragments = new Map<number, number>();
    const entries = reader.list();
    try {
      for (const e of entries) {
        const p = reader.pathOf(e);
        const key = decoder.decode(p);
        if (e.type !== "directory" && overrides.has(key)) continue;
        const m: EntryMeta = {
          mode: e.mode,
          uid: e.uid,
          gid: e.gid,
          mtime: e.mtime,
          ...(e.xattrId >= 0 ? { xattrs: reader.xattrs(e) } : {}),
        };
        if (e.hardlinkOf !== undefined) {
          const target = entries[e.hardlinkOf]!;
          await writer.hardlink(p, reader.pathOf(target));
          continue;
        }
        switch (e.type) {
          case "directory":
            await writer.directory(p, m);
            break;
          case "file": {
            const raw = reader.rawFileData(e);
            let tail: { fragment: number; offset: number; length: number } | undefined;
            if (raw.fragment) {
              let index = fragments.get(raw.fragment.index);
              if (index === undefined) {
                const block = reader.rawFragment(raw.fragment.index);
                index = await writer.rawFragment(block.word, block.data);
                fragments.set(raw.fragment.index, index);
              }
              tail = { ...raw.fragment, fragment: index };
            }
            await writer.rawFile(p, m, e.size, raw.words, raw.data, tail);
            break;
          }
          case "symlink":
            await writer.symlink(p, m, e.linkTarget!);
            break;
          case "blockdev":
          case "chardev":
            await writer.device(p, m, e.type, e.major!, e.minor!);
            break;
          default:
            await writer.special(p, m, e.type);
        }
      }
      const now = Math.floor(Date.now() / 1000);
      for (const e of overrides.values()) {
        const p = encoder.encode(e.path);
        if (e.kind === "directory") {
          await writer.directory(p, { mode: e.mode, uid: 0, gid: 0, mtime: now });
        } else if (e.kind === "symlink") {
          await writer.symlink(
            p,
            { mode: 0o777, uid: 0, gid: 0, mtime: now },
            encoder.encode(e.target),
          );
        } else {
          const bytes = encoder.encode(e.content);
          await writer.file(
            p,
            { mode: e.mode, uid: 0, gid: 0, mtime: now },
            bytes.length,
            (async function* () {
              yield bytes;
            })(),
          );
        }
      }
      await writer.finish();
    } catch (error) {
      await writer.abort().catch(() => {});
      throw error;
    }
    const built = await openImageFiles(squashfs);
    let inspect: string;
    try {
      inspect = await inspectMetadataObject(built);
    } finally {
      built.close();
    }
    using data = await Deno.open(squashfs, { read: true });
    const objects: ObjectInput[] = [
      { dataType: DataType.Deffile, data: storedDeffileText(def) },
      { dataType: DataType.GenericJSON, data: inspect, name: "inspect-metadata.json" },
      {
        dataType: DataType.Partition,
        data: data.readable,
        partition: { fsType: FsType.Squash, partType: PartType.PrimSys, arch: goArch() },
      },
    ];
    const out = options.output;
    const slash = out.lastIndexOf("/");
    const temp = `${slash >= 0 ? out.slice(0, slash + 1) : ""}.${out.slice(slash + 1)}` +
      `.singlet-tmp-${crypto.randomUUID().slice(0, 8)}`;
    options.onTempPath?.(temp);
    try {
      await createSif(temp, objects, { launchScript: RUN_SINGULARITY_LAUNCH_SCRIPT });
      await Deno.rename(temp, out);
    } catch (error) {
      await Deno.remove(temp).catch(() => {});
      throw error;
    }
    return (await Deno.stat(out)).size;
  } finally {
    reader.close();
  }
}

function goArch(): string {
  return ({ x86_64: "amd64", aarch64: "arm64" } as Record<string, string>)[Deno.build.arch] ??
    Deno.build.arch;
}
