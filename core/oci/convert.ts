/**
 * OCI image (in the blob cache) to native SIF, as SingularityCE builds one from
 * `docker://…`: the root filesystem streamed into the SquashFS writer (gzip, as
 * `mksquashfs -comp gzip` in Singularity's pipeline), then the `/.singularity.d` layout
 * generated from the image config, then a SIF with the objects SingularityCE writes, all in
 * group 1: the definition (`bootstrap: docker` / `from: …`), the JSON.Generic objects
 * `inspect-metadata.json` and `oci-config.json`, and the primary SquashFS partition.
 *
 * The root filesystem comes from a {@linkcode RootfsProducer}: the OCI layer merger (layer
 * tars applied in order, whiteouts resolved) for images; any other {@linkcode FsSink} producer
 * (a directory walker) works the same, which is how the assembly is tested on its own.
 *
 * @module
 */
import { writeNativeSif } from "../image/native_sif.ts";
import { SingletError } from "../errors.ts";
import { type EntryMeta, ForwardingSink, type FsSink } from "../squashfs/fstree.ts";
import { SquashfsWriter } from "../squashfs/writer.ts";
import {
  type ImageConfigLike,
  singularityDEntries,
  writeSingularityD,
} from "../image/singularity_d.ts";
import { entriesImageFiles } from "../image/image_files.ts";
import { inspectMetadataObject } from "../image/inspect.ts";
import { definitionFromURI } from "../build/deffile.ts";
import { storedDeffileText } from "../build/deffile_text.ts";
import type { CachedImage } from "./fetch_image.ts";
import type { ImageConfig } from "./image_config.ts";
import { blobIntact, CorruptBlobError, layerTarStream } from "./layer_stream.ts";

/** Feeds a root filesystem into a sink. */
export type RootfsProducer = (sink: FsSink) => Promise<void>;

/** What the SIF is assembled from, besides the root filesystem. */
export interface AssembleInput {
  /** The source URI as the user typed it (stored in the definition object). */
  uri: string;
  /** The parsed image config. */
  config: ImageConfig;
}

/** Options of {@linkcode assembleSif} and {@linkcode convertToSif}. */
export interface ConvertOptions {
  /** Progress: input bytes of regular files packed so far. */
  onProgress?: (bytes: number) => void;
  /** Warnings for the user (e.g. an ENV name that cannot be exported). */
  onWarning?: (message: string) => void;
  /** The source URI as typed (default: the image's source name). */
  uri?: string;
}

/** Passes everything to the writer and remembers which paths the producer gave. */
class RecordingSink extends ForwardingSink {
  readonly seen = new Set<string>();
  readonly #decoder = new TextDecoder();

  protected override visit(path: Uint8Array, meta: EntryMeta): EntryMeta {
    this.seen.add(this.#decoder.decode(path));
    return meta;
  }

  protected override visitLink(path: Uint8Array): void {
    this.seen.add(this.#decoder.decode(path));
  }
}

/** Go's `json.Marshal` field order of an OCI `ImageConfig`, which SingularityCE stores. */
const CONFIG_FIELDS = [
  "User",
  "ExposedPorts",
  "Env",
  "Entrypoint",
  "Cmd",
  "Volumes",
  "WorkingDir",
  "Labels",
  "StopSignal",
  "ArgsEscaped",
];

/**
 * The `oci-config.json` object: the image config's `config` member (USER, ENV, ENTRYPOINT,
 * CMD, WORKDIR, labels…) with Go's field order and omitted empty fields, so the runtime can
 * honour USER and WORKDIR.
 *
 * @param config The parsed image config.
 * @returns The JSON text.
 */
export function ociConfigJson(config: ImageConfig): string {
  const inner = (config.raw.config ?? {}) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of CONFIG_FIELDS) {
    const value = inner[key];
    if (value === undefined || value === null || value === "" || value === false) continue;
    if (typeof value === "object" && Object.keys(value as object).length === 0) continue;
    out[key] = value;
  }
  return JSON.stringify(out);
}

function configLike(config: ImageConfig): ImageConfigLike {
  return {
    Env: config.env,
    Entrypoint: config.entrypoint,
    Cmd: config.cmd,
    WorkingDir: config.workingDir,
    User: config.user,
    Labels: config.labels,
  };
}

/**
 * Build a SIF from a root filesystem producer and an image config.
 *
 * @param out The SIF to write (atomically: the SIF writer renames into place).
 * @param input The source URI and image config.
 * @param produce Feeds the root filesystem.
 * @param options Progress and warnings.
 */
export async function assembleSif(
  out: string,
  input: AssembleInput,
  produce: RootfsProducer,
  options: ConvertOptions = {},
): Promise<void> {
  const oci = configLike(input.config);
  const definition = storedDeffileText(definitionFromURI(input.uri));
  const { entries } = singularityDEntries({ ociConfig: oci });
  const inspect = await inspectMetadataObject(entriesImageFiles(entries, input.uri));
  // The SquashFS image is written straight into the SIF, at the partition's offset: no
  // temporary image, no copy.
  const writeAt = async (file: Deno.FsFile, offset: number): Promise<number> => {
    const writer = await SquashfsWriter.create({ file, offset }, {
      compressor: "gzip",
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    try {
      const sink = new RecordingSink(writer);
      await produce(sink);
      const warnings = await writeSingularityD(writer, { ociConfig: oci }, {
        exists: (path) => sink.seen.has(path),
      });
      for (const w of warnings) options.onWarning?.(w);
      return (await writer.finish()).bytes;
    } catch (error) {
      await writer.abort().catch(() => {});
      throw error;
    }
  };
  await writeNativeSif(out, {
    deffile: definition,
    inspectMetadata: inspect,
    ociConfigJson: ociConfigJson(input.config),
    squashfs: { writeAt },
    ...(input.config.architecture ? { arch: input.config.architecture } : {}),
  });
}

/** One layer for a {@linkcode LayerMerger}: a name and a way to (re)open its tar stream. */
export interface MergeLayerSource {
  /** Name for messages (the layer digest). */
  name: string;
  /** A fresh stream of the layer's bytes. */
  open(): AsyncIterable<Uint8Array>;
}

/** Applies image layers (base first, whiteouts resolved) into a sink: the OCI layer merger. */
export type LayerMerger = (layers: readonly MergeLayerSource[], sink: FsSink) => Promise<unknown>;

/**
 * Convert a cached OCI image into a SIF at `out`: every layer streamed from the cache
 * (decompressed, blob digest and DiffID verified) through the layer merger into the
 * SquashFS writer, then the metadata and SIF objects as {@linkcode assembleSif} writes them.
 *
 * @param image The image, all blobs in the cache.
 * @param out The SIF path to write.
 * @param merge The layer merger; without one (not in this build) conversion is refused.
 * @param options Progress, warnings, the URI as typed.
 */
export async function convertToSif(
  image: CachedImage,
  out: string,
  merge: LayerMerger | undefined,
  options: ConvertOptions = {},
): Promise<void> {
  if (!merge) {
    throw new SingletError(
      `Cannot convert "${image.source}" to SIF: conversion to SIF is not available yet`,
      {
        hint: "the image is fetched and verified in the cache; converting it needs the OCI " +
          "layer merger, which is not merged in this build",
        exitCode: 255,
      },
    );
  }
  const layers = image.layers.map(({ descriptor, path }, i) => ({
    name: descriptor.digest,
    open: () => layerTarStream(path, descriptor, image.config.diffIds[i]!),
  }));
  try {
    await assembleSif(
      out,
      { uri: options.uri ?? image.source, config: image.config },
      (sink) => merge(layers, sink).then(() => {}),
      options,
    );
  } catch (error) {
    if (error instanceof CorruptBlobError) throw error;
    // The merger may stop at damaged data before the stream's own check runs: was a cached
    // layer damaged since it was verified?
    for (const { descriptor, path } of image.layers) {
      if (!(await blobIntact(path, descriptor))) {
        await Deno.remove(path).catch(() => {});
        throw new CorruptBlobError(descriptor.digest);
      }
    }
    throw error;
  }
}
