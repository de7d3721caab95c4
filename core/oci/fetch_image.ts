/**
 * Fetch an image into the blob cache: resolve the reference to a manifest (through indexes,
 * picking the platform), then the config and the layers, a bounded number at a time. Every
 * document and blob is checked for size and digest before it enters the cache; cached blobs
 * are used as they are (their size checked; their digest re-checked when read or converted).
 *
 * @module
 */
import { SingletError } from "../errors.ts";
import type { BlobCache } from "./blob_cache.ts";
import type { ImageSource } from "./image_source.ts";
import { type ImageConfig, parseImageConfig } from "./image_config.ts";
import {
  type Descriptor,
  type ImageManifest,
  parseManifest,
  type Platform,
  selectPlatform,
} from "./manifest.ts";
import type { FetchedManifest } from "./registry.ts";
import { describeError, EXIT_REMOTE } from "./http.ts";

/** An image whose manifest, config and layers are all in the cache. */
export interface CachedImage {
  /** The source's name. */
  source: string;
  /** Digest of the image manifest (not of an index above it). */
  manifestDigest: string;
  /** The manifest. */
  manifest: ImageManifest;
  /** Its raw bytes. */
  manifestBytes: Uint8Array;
  /** The config blob's raw bytes. */
  configBytes: Uint8Array;
  /** The parsed config. */
  config: ImageConfig;
  /** The layers, base first, with their paths in the cache. */
  layers: { descriptor: Descriptor; path: string }[];
  /** The platform chosen from an index, if there was one. */
  platform?: Platform;
}

/** Options of {@linkcode fetchImage}. */
export interface FetchImageOptions {
  /** The platform wanted when the reference names an index. */
  platform: Platform;
  /** Layers downloaded at once (default 4). */
  concurrency?: number;
  /** Aborts everything. */
  signal?: AbortSignal;
  /** The layers about to be fetched (after manifest and config). */
  onLayers?: (layers: readonly Descriptor[]) => void;
  /** A layer download starts (`cached` when it is already there). */
  onLayer?: (desc: Descriptor, index: number, cached: boolean) => void;
  /** Bytes of a layer present so far. */
  onProgress?: (desc: Descriptor, bytes: number) => void;
  /** A layer is complete. */
  onLayerDone?: (desc: Descriptor, index: number) => void;
  /** Another process is downloading this layer; we wait for it. */
  onWait?: (desc: Descriptor) => void;
}

const MAX_INDEX_DEPTH = 8;

/**
 * Bring an image into the cache.
 *
 * @param source Where the image comes from.
 * @param cache The blob cache.
 * @param options Platform, concurrency and progress callbacks.
 * @returns The cached image.
 */
export async function fetchImage(
  source: ImageSource,
  cache: BlobCache,
  options: FetchImageOptions,
): Promise<CachedImage> {
  let fetched: FetchedManifest = await source.topManifest(options.signal);
  let document = parseManifest(fetched.bytes, fetched.contentType, source.name);
  let platform: Platform | undefined;
  const seen = new Set<string>([fetched.digest]);
  for (let depth = 0; document.kind === "index"; depth++) {
    if (depth >= MAX_INDEX_DEPTH) {
      throw new SingletError(`Cannot pull "${source.name}": indexes nested deeper than 8`, {
        exitCode: 5,
      });
    }
    await cache.putBytes({ digest: fetched.digest, size: fetched.bytes.length }, fetched.bytes);
    const chosen = selectPlatform(document, options.platform, source.name);
    if (seen.has(chosen.digest)) {
      throw new SingletError(`Cannot pull "${source.name}": the index refers to itself`, {
        exitCode: 5,
      });
    }
    seen.add(chosen.digest);
    platform = chosen.platform;
    fetched = await source.manifest(chosen, options.signal);
    if (fetched.digest !== chosen.digest || fetched.bytes.length !== chosen.size) {
      throw new SingletError(
        `Cannot pull "${source.name}": manifest ${chosen.digest} does not match its descriptor`,
        { exitCode: 3 },
      );
    }
    document = parseManifest(fetched.bytes, chosen.mediaType, source.name);
  }
  const manifest = document;
  await cache.putBytes({ digest: fetched.digest, size: fetched.bytes.length }, fetched.bytes);

  let configBytes = await cache.readVerified(manifest.config);
  if (!configBytes) {
    configBytes = await source.smallBlob(manifest.config);
    await cache.putBytes(manifest.config, configBytes);
  }
  const config = parseImageConfig(configBytes);
  if (config.diffIds.length !== manifest.layers.length) {
    throw new SingletError(
      `Cannot pull "${source.name}": the config lists ${config.diffIds.length} DiffIDs for ` +
        `${manifest.layers.length} layers`,
      { exitCode: 5 },
    );
  }

  options.onLayers?.(manifest.layers);
  const layers = await fetchLayers(source, cache, manifest.layers, options);
  return {
    source: source.name,
    manifestDigest: fetched.digest,
    manifest,
    manifestBytes: fetched.bytes,
    configBytes,
    config,
    layers,
    ...(platform ? { platform } : {}),
  };
}

async function fetchLayers(
  source: ImageSource,
  cache: BlobCache,
  descriptors: Descriptor[],
  options: FetchImageOptions,
): Promise<{ descriptor: Descriptor; path: string }[]> {
  const controller = new AbortController();
  const onAbort = () => controller.abort(options.signal?.reason);
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const results: { descriptor: Descriptor; path: string }[] = new Array(descriptors.length);
  let next = 0;
  let failure: unknown;
  const worker = async () => {
    while (failure === undefined) {
      const index = next++;
      if (index >= descriptors.length) return;
      const desc = descriptors[index]!;
      try {
        const cached = await cache.has(desc);
        options.onLayer?.(desc, index, cached);
        const path = await cache.fetch(desc, source.blobSource(desc), {
          resumable: (e) => source.resumable(e),
          signal: controller.signal,
          ...(options.onProgress
            ? { onProgress: (n: number) => options.onProgress!(desc, n) }
            : {}),
          ...(options.onWait ? { onWait: () => options.onWait!(desc) } : {}),
        });
        results[index] = { descriptor: desc, path };
        options.onLayerDone?.(desc, index);
      } catch (error) {
        if (failure === undefined) {
          failure = error instanceof SingletError || controller.signal.aborted
            ? error
            : new SingletError(
              `Cannot pull layer "${desc.digest}" (${index + 1}/${descriptors.length}) of ` +
                `"${source.name}": ${describeError(error)}`,
              {
                hint: "check the network and try again; finished layers stay cached",
                exitCode: EXIT_REMOTE,
                cause: error,
              },
            );
        }
        // One failure stops the other downloads at once.
        controller.abort(error);
      }
    }
  };
  try {
    const count = Math.max(1, Math.min(options.concurrency ?? 4, descriptors.length));
    await Promise.all(Array.from({ length: count }, worker));
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
  }
  if (failure !== undefined) throw failure;
  return results;
}
