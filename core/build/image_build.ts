/**
 * `build` from an existing image rather than a definition file: an OCI source (through the
 * pull code) to a SIF or a sandbox directory, a SIF or SquashFS image to a sandbox, a sandbox
 * to a SIF, a SIF to a SIF. Every output is written under a temporary name next to the
 * destination and renamed into place, so a failed build leaves nothing behind.
 *
 * @module
 */
import { SingletError } from "../errors.ts";
import type { EntryMeta, FsSink } from "../squashfs/fstree.ts";
import { DirectorySink } from "../squashfs/directory_sink.ts";
import { DirectorySource } from "../squashfs/directory_source.ts";
import { mergeLayers } from "../squashfs/layers.ts";
import { SquashfsReader } from "../squashfs/reader.ts";
import { extractSquashfs } from "../squashfs/extract.ts";
import { SquashfsWriter } from "../squashfs/writer.ts";
import {
  createSif,
  DataType,
  FsType,
  type ObjectInput,
  PartType,
  RUN_SINGULARITY_LAUNCH_SCRIPT,
} from "../sif/mod.ts";
import { openSif } from "../sif/load.ts";
import { openImageFiles } from "../image/image_files.ts";
import { inspectMetadataObject } from "../image/inspect.ts";
import { writeSingularityD } from "../image/singularity_d.ts";
import type { ImageReference } from "../oci/reference.ts";
import { pullImage, type PullOptions } from "../oci/pull.ts";
import type { CachedImage } from "../oci/fetch_image.ts";
import { layerTarStream } from "../oci/layer_stream.ts";

/** What a build's source is. */
export type SourceKind = "uri" | "sif" | "squashfs" | "sandbox";

/** What {@linkcode buildFromImage} did. */
export interface ImageBuildResult {
  /** The path written. */
  output: string;
  /** The source as given. */
  source: string;
  /** The kind of source. */
  sourceKind: SourceKind;
  /** "sif" or "sandbox". */
  format: "sif" | "sandbox";
}

/** Options of {@linkcode buildFromImage}. */
export interface ImageBuildOptions {
  /** Write a sandbox directory instead of a SIF. */
  sandbox?: boolean;
  /** Replace an existing output. */
  force?: boolean;
  /** For URI sources: the pull settings (cache, platform, network, progress). */
  pull?: Omit<PullOptions, "output" | "force" | "fetchOnly" | "onFetched">;
  /** Warnings for the user (skipped device nodes, label conflicts). */
  onWarning?: (message: string) => void;
}

const SQUASHFS_MAGIC = [0x68, 0x73, 0x71, 0x73];
const SIF_MAGIC = new TextEncoder().encode("SIF_MAGIC");

/**
 * Tell a local image path's kind from its content (a directory is a sandbox).
 *
 * @param path The path.
 * @returns The kind, or undefined when the path is missing or is none of them.
 */
export async function localImageKind(
  path: string,
): Promise<Exclude<SourceKind, "uri"> | undefined> {
  const info = await Deno.stat(path).catch(() => undefined);
  if (!info) return undefined;
  if (info.isDirectory) return "sandbox";
  if (!info.isFile) return undefined;
  const head = new Uint8Array(64);
  using file = await Deno.open(path, { read: true });
  let got = 0;
  while (got < head.length) {
    const n = await file.read(head.subarray(got));
    if (n === null) break;
    got += n;
  }
  if (SQUASHFS_MAGIC.every((b, i) => head[i] === b)) return "squashfs";
  if (SIF_MAGIC.every((b, i) => head[32 + i] === b)) return "sif";
  return undefined;
}

function parentOf(path: string): string {
  const slash = path.replace(/\/+$/, "").lastIndexOf("/");
  return slash > 0 ? path.slice(0, slash) : slash === 0 ? "/" : ".";
}

function tempBeside(output: string): string {
  const clean = output.replace(/\/+$/, "");
  const slash = clean.lastIndexOf("/");
  return `${clean.slice(0, slash + 1)}.${clean.slice(slash + 1)}.singlet-build-${
    crypto.randomUUID().slice(0, 8)
  }`;
}

async function exists(path: string): Promise<boolean> {
  return (await Deno.lstat(path).catch(() => undefined)) !== undefined;
}

/**
 * Refuse an existing output without `force`, and a missing parent directory.
 *
 * @param output The output path.
 * @param force Whether an existing output may be replaced.
 * @throws {SingletError} When the output cannot be written.
 */
export async function checkOutput(output: string, force: boolean): Promise<void> {
  if (!force && (await exists(output))) {
    throw new SingletError(`Cannot build "${output}": it already exists`, {
      hint: "use --force to overwrite it, or choose another name",
      exitCode: 255,
    });
  }
  const parent = parentOf(output);
  const info = await Deno.stat(parent).catch(() => undefined);
  if (!info?.isDirectory) {
    throw new SingletError(`Cannot build "${output}": directory "${parent}" does not exist`, {
      hint: "create the directory first, or choose another output path",
      exitCode: 2,
    });
  }
}

/**
 * Write `output` (a file or a directory) through a temporary path beside it, renamed into
 * place once `produce` succeeded; on failure the temporary path is removed. An existing
 * output is replaced only after the new one is complete.
 *
 * @param output The final path.
 * @param produce Writes the temporary path (it does not exist yet when called).
 */
export async function atomicBuild(
  output: string,
  produce: (tmp: string) => Promise<void>,
): Promise<void> {
  const tmp = tempBeside(output);
  const removeTmp = () => Deno.remove(tmp, { recursive: true }).catch(() => {});
  const onSignal = () => {
    try {
      Deno.removeSync(tmp, { recursive: true });
    } catch { /* not created yet */ }
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    await produce(tmp);
    const old = await Deno.lstat(output).catch(() => undefined);
    if (old?.isDirectory) {
      // rename(2) cannot replace a non-empty directory: move the old one aside first.
      const aside = `${tmp}.old`;
      await Deno.rename(output, aside);
      await Deno.rename(tmp, output);
      await Deno.remove(aside, { recursive: true }).catch(() => {});
    } else {
      if (old) await Deno.remove(output);
      await Deno.rename(tmp, output);
    }
  } catch (error) {
    await removeTmp();
    throw error;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
}

function goArch(): string {
  return ({ x86_64: "amd64", aarch64: "arm64" } as Record<string, string>)[Deno.build.arch] ??
    Deno.build.arch;
}

/**
 * Write a SIF whose primary partition is the SquashFS image in `squashfs` (offset and size
 * within that file), with the definition and `inspect-metadata.json` objects read from
 * `metadataFrom` (an image whose files give them), all in group 1 as SingularityCE writes.
 *
 * @param out The SIF to write.
 * @param squashfs The SquashFS image (a file, or a region of one).
 * @param metadataFrom An image (SIF, SquashFS or sandbox) to read the metadata from.
 * @param deffileObject The definition text to store (default: the image's own).
 */
export async function sifFromSquashfs(
  out: string,
  squashfs: { path: string; offset?: number; size?: number },
  metadataFrom: string,
  deffileObject?: string,
): Promise<void> {
  const files = await openImageFiles(metadataFrom);
  let deffile: string | undefined;
  let inspect: string;
  try {
    deffile = deffileObject ?? files.deffileObject ??
      await files.readText(".singularity.d/Singularity");
    inspect = await inspectMetadataObject(files);
  } finally {
    files.close();
  }
  using data = await Deno.open(squashfs.path, { read: true });
  let readable: ReadableStream<Uint8Array> = data.readable;
  if (squashfs.offset !== undefined && squashfs.size !== undefined) {
    await data.seek(squashfs.offset, Deno.SeekMode.Start);
    readable = data.readable.pipeThrough(limitStream(squashfs.size));
  }
  const objects: ObjectInput[] = [
    ...(deffile !== undefined ? [{ dataType: DataType.Deffile, data: deffile }] : []),
    { dataType: DataType.GenericJSON, data: inspect, name: "inspect-metadata.json" },
    {
      dataType: DataType.Partition,
      data: readable,
      partition: { fsType: FsType.Squash, partType: PartType.PrimSys, arch: goArch() },
    },
  ];
  await createSif(out, objects, { launchScript: RUN_SINGULARITY_LAUNCH_SCRIPT });
}

function limitStream(size: number): TransformStream<Uint8Array, Uint8Array> {
  let left = size;
  return new TransformStream({
    transform(chunk, controller) {
      if (left <= 0) return;
      const part = chunk.length > left ? chunk.subarray(0, left) : chunk;
      left -= part.length;
      controller.enqueue(part);
    },
  });
}

/**
 * Pack a sandbox directory into a SIF (its `/.singularity.d` kept as it is).
 *
 * @param dir The sandbox.
 * @param out The SIF to write (not atomically: callers wrap it in {@linkcode atomicBuild}).
 * @param options Warnings.
 */
export async function sandboxToSif(
  dir: string,
  out: string,
  options: { onWarning?: (message: string) => void; deffileObject?: string } = {},
): Promise<void> {
  const source = DirectorySource.scan(dir, {
    skipUnreadable: true,
    ...(options.onWarning ? { onWarning: options.onWarning } : {}),
  });
  const squashfs = `${out}.squashfs`;
  const writer = await SquashfsWriter.create(squashfs, { compressor: "gzip" });
  try {
    await source.emit(writer);
    await writer.finish();
  } catch (error) {
    await writer.abort().catch(() => {});
    await Deno.remove(squashfs).catch(() => {});
    throw error;
  }
  try {
    await sifFromSquashfs(out, { path: squashfs }, dir, options.deffileObject);
  } finally {
    await Deno.remove(squashfs).catch(() => {});
  }
}

/**
 * Extract a SIF's primary SquashFS partition, or a SquashFS image, into a new directory.
 *
 * @param image The SIF or SquashFS file.
 * @param target The directory to create (its parent must exist).
 * @param options Warnings for entries that could not be made.
 */
export async function imageToSandbox(
  image: string,
  target: string,
  options: { onWarning?: (message: string) => void } = {},
): Promise<void> {
  const kind = await localImageKind(image);
  let reader: SquashfsReader;
  if (kind === "squashfs") {
    reader = await SquashfsReader.open(image);
  } else {
    const sif = await openSif(image);
    try {
      const root = sif.primaryPartition();
      if (root.partition?.fsType !== FsType.Squash) {
        throw new SingletError(
          `Cannot build from "${image}": its root filesystem is not SquashFS`,
          {
            hint: "singlet reads SquashFS partitions; encrypted and ext3 images need singularity",
          },
        );
      }
      reader = await SquashfsReader.open(image, { offset: root.offset, size: root.size });
    } finally {
      sif.close();
    }
  }
  try {
    await extractSquashfs(reader, target, {
      onSkip: (path, reason) => options.onWarning?.(`${path}: ${reason}`),
    });
  } finally {
    reader.close();
  }
}

/**
 * A sink over a {@linkcode DirectorySink} that first removes a non-directory already at the
 * path (metadata written after the image's own files replaces them, as in a SquashFS where a
 * later entry wins). Removal goes through the sink's root, never through a symlink.
 */
export class ReplacingSink implements FsSink {
  readonly #root: string;
  readonly #inner: DirectorySink;
  readonly #decoder = new TextDecoder();

  /**
   * Wrap a sink writing into `root`.
   *
   * @param root The sink's root directory.
   * @param inner The directory sink.
   */
  constructor(root: string, inner: DirectorySink) {
    this.#root = root;
    this.#inner = inner;
  }

  async #clear(path: Uint8Array): Promise<void> {
    const rel = this.#decoder.decode(path);
    const parts = rel.split("/");
    let at = this.#root;
    for (const part of parts.slice(0, -1)) {
      at = `${at}/${part}`;
      const info = await Deno.lstat(at).catch(() => undefined);
      if (!info) return;
      if (!info.isDirectory) {
        throw new SingletError(
          `Cannot write "/${rel}" into the sandbox: "${
            at.slice(this.#root.length)
          }" is not a directory`,
          { hint: "the image's /.singularity.d layout is damaged" },
        );
      }
    }
    const full = `${this.#root}/${rel}`;
    const info = await Deno.lstat(full).catch(() => undefined);
    if (info && !info.isDirectory) await Deno.remove(full);
  }

  /**
   * Create (or update) a directory.
   *
   * @param path Relative path.
   * @param meta Mode, owner, time.
   * @returns When done.
   */
  directory(path: Uint8Array, meta: EntryMeta): Promise<void> {
    return this.#inner.directory(path, meta);
  }

  /**
   * Write a file, replacing a non-directory at the path.
   *
   * @param path Relative path.
   * @param meta Mode, owner, time.
   * @param size Bytes.
   * @param data Content.
   */
  async file(
    path: Uint8Array,
    meta: EntryMeta,
    size: number,
    data: AsyncIterable<Uint8Array>,
  ): Promise<void> {
    await this.#clear(path);
    await this.#inner.file(path, meta, size, data);
  }

  /**
   * Make a symlink, replacing a non-directory at the path.
   *
   * @param path Relative path.
   * @param meta Owner, time.
   * @param target Link target.
   */
  async symlink(path: Uint8Array, meta: EntryMeta, target: Uint8Array): Promise<void> {
    await this.#clear(path);
    await this.#inner.symlink(path, meta, target);
  }

  /**
   * Make a hard link to an entry written through this sink.
   *
   * @param path Relative path.
   * @param target Existing entry.
   * @returns When done.
   */
  hardlink(path: Uint8Array, target: Uint8Array): Promise<void> {
    return this.#inner.hardlink(path, target);
  }

  /**
   * Device nodes: passed on (skipped by the directory sink).
   *
   * @param path Relative path.
   * @param meta Mode, owner, time.
   * @param kind Device kind.
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
    this.#inner.device(path, meta, kind, major, minor);
  }

  /**
   * FIFOs and sockets: passed on (skipped by the directory sink).
   *
   * @param path Relative path.
   * @param meta Mode, owner, time.
   * @param kind Which.
   */
  special(path: Uint8Array, meta: EntryMeta, kind: "fifo" | "socket"): void {
    this.#inner.special(path, meta, kind);
  }
}

/**
 * Unpack a cached OCI image into a new sandbox directory: layers merged (whiteouts resolved)
 * into the directory, then the `/.singularity.d` layout generated from the image config.
 *
 * @param image The image, all blobs in the cache.
 * @param target The directory to create (its parent must exist).
 * @param options Warnings.
 */
export async function ociToSandbox(
  image: CachedImage,
  target: string,
  options: { onWarning?: (message: string) => void } = {},
): Promise<void> {
  await Deno.mkdir(target, { mode: 0o700 });
  const sink = new DirectorySink(target, {
    onSkip: (path, reason) => options.onWarning?.(`${path}: ${reason}`),
  });
  const layers = image.layers.map(({ descriptor, path }, i) => ({
    name: descriptor.digest,
    open: () => layerTarStream(path, descriptor, image.config.diffIds[i]!),
  }));
  // Root 0755 unless the image's layers say otherwise (as SingularityCE's sandboxes).
  await sink.directory(new Uint8Array(0), {
    mode: 0o755,
    uid: 0,
    gid: 0,
    mtime: Math.floor(Date.now() / 1000),
  });
  await mergeLayers(layers, sink);
  const config = image.config;
  const warnings = await writeSingularityD(new ReplacingSink(target, sink), {
    ociConfig: {
      Env: config.env,
      Entrypoint: config.entrypoint,
      Cmd: config.cmd,
      WorkingDir: config.workingDir,
      User: config.user,
      Labels: config.labels,
    },
  }, {
    exists: (path) => {
      try {
        Deno.lstatSync(`${target}/${path}`);
        return true;
      } catch {
        return false;
      }
    },
    mtime: Math.floor(Date.now() / 1000),
  });
  for (const w of warnings) options.onWarning?.(w);
  await sink.finish();
}

/**
 * Build `output` from an image source: an OCI reference, a SIF, a SquashFS image or a
 * sandbox directory, as `singularity build OUT SOURCE` does.
 *
 * @param output The SIF file or sandbox directory to write.
 * @param source The source as typed.
 * @param ref The parsed reference for URI sources; undefined for local paths.
 * @param options Output format, overwrite, pull settings.
 * @returns What was written.
 * @throws {SingletError} When the output exists (without `force`), the source cannot be
 *   read, or the build fails; nothing is left at or beside `output` then.
 */
export async function buildFromImage(
  output: string,
  source: string,
  ref: ImageReference | undefined,
  options: ImageBuildOptions = {},
): Promise<ImageBuildResult> {
  const format = options.sandbox ? "sandbox" : "sif";
  await checkOutput(output, !!options.force);
  const warn = options.onWarning ?? (() => {});
  let sourceKind: SourceKind;
  if (ref) {
    sourceKind = "uri";
    if (ref.transport === "http" || ref.transport === "https") {
      throw new SingletError(`Cannot build from "${source}": http(s) sources are not supported`, {
        hint: "download it with 'singlet pull', then build from the file",
        exitCode: 255,
      });
    }
    if (format === "sif") {
      await atomicBuild(output, async (tmp) => {
        await pullImage(ref, { ...options.pull!, output: tmp, force: true, uri: source });
      });
    } else {
      let image: CachedImage | undefined;
      await pullImage(ref, {
        ...options.pull!,
        output,
        force: true,
        fetchOnly: true,
        onFetched: (fetched) => {
          image = fetched;
        },
      });
      await atomicBuild(output, (tmp) => ociToSandbox(image!, tmp, { onWarning: warn }));
    }
  } else {
    const kind = await localImageKind(source);
    if (!kind) {
      throw new SingletError(
        `Cannot build from "${source}": not an image URI, a SIF, a SquashFS image or a sandbox`,
        {
          hint: "give docker://, oci:, oci-archive:, docker-archive: or docker-daemon: " +
            "URIs, or the path of an image or sandbox directory",
          exitCode: 255,
        },
      );
    }
    sourceKind = kind;
    if (format === "sandbox") {
      if (kind === "sandbox") {
        throw new SingletError(`Cannot build sandbox "${output}" from sandbox "${source}"`, {
          hint: "copy the directory instead (cp -a), or build a SIF from it",
          exitCode: 255,
        });
      }
      await atomicBuild(output, (tmp) => imageToSandbox(source, tmp, { onWarning: warn }));
    } else if (kind === "sandbox") {
      await atomicBuild(output, (tmp) => sandboxToSif(source, tmp, { onWarning: warn }));
    } else if (kind === "squashfs") {
      await atomicBuild(output, (tmp) => sifFromSquashfs(tmp, { path: source }, source));
    } else {
      await atomicBuild(output, async (tmp) => {
        await Deno.copyFile(source, tmp);
        using file = await Deno.open(tmp, { write: true });
        await file.sync();
      });
    }
  }
  return { output, source, sourceKind, format };
}
