/**
 * `pull` as a library call: from any source URI to a SIF file, through the blob cache and the
 * SIF cache (`oci-tmp/<manifest digest>`), writing the output atomically (temp file in the
 * destination directory, fsync, rename) so that a failed or killed pull leaves nothing behind
 * but resumable downloads in the cache.
 *
 * @module
 */
import { SingletError } from "../errors.ts";
import { type CredentialOptions } from "./auth.ts";
import { BlobCache } from "./blob_cache.ts";
import { defaultCacheDir, ensurePrivateDir } from "./cache_dir.ts";
import { convertToSif, type LayerMerger } from "./convert.ts";
import { lockOrWait } from "./cache_lock.ts";
import { CorruptBlobError } from "./layer_stream.ts";
import { mergeLayers } from "../squashfs/layers.ts";
import { openDaemonSource } from "./daemon_source.ts";
import { parseDigest } from "./digest.ts";
import { type CachedImage, fetchImage, type FetchImageOptions } from "./fetch_image.ts";
import { HttpClient, type HttpOptions } from "./http.ts";
import type { ImageSource } from "./image_source.ts";
import { openLayoutSource } from "./layout_source.ts";
import type { Platform } from "./manifest.ts";
import type { ImageReference } from "./reference.ts";
import { openRegistrySource } from "./registry_source.ts";
import { downloadUrl } from "./url_download.ts";
import { cachedImageFor, recordRef } from "./image_refs.ts";
import { formatDockerReference } from "./reference.ts";

/** Options of {@linkcode pullImage}. */
export interface PullOptions {
  /** The SIF to write. */
  output: string;
  /** Overwrite an existing output. */
  force?: boolean;
  /** The cache root (default from the environment). */
  cacheDir?: string;
  /** Use a throw-away cache. */
  disableCache?: boolean;
  /** Platform wanted from multi-platform images. */
  platform: Platform;
  /** HTTP settings. */
  http?: HttpOptions;
  /** Credential sources. */
  credentials?: CredentialOptions;
  /** Layers fetched at once. */
  concurrency?: number;
  /** Aborts the pull. */
  signal?: AbortSignal;
  /** Progress callbacks of the fetch. */
  events?: Omit<FetchImageOptions, "platform" | "concurrency" | "signal">;
  /** Progress of an http(s) download. */
  onDownload?: (bytes: number, total: number | undefined) => void;
  /** Called with the cached image before conversion starts. */
  onFetched?: (image: CachedImage) => void;
  /** Fetch into the cache only; no SIF (used by `cache` warm-up and benchmarks). */
  fetchOnly?: boolean;
  /** Use what the reference resolved to last time, without contacting the registry. */
  cacheFirst?: boolean;
  /** The layer merger (default: the built-in one, when this build has it). */
  mergeLayers?: LayerMerger;
  /** The URI as the user typed it (stored in the SIF's definition object). */
  uri?: string;
  /** Conversion progress: file bytes packed. */
  onConvert?: (bytes: number) => void;
  /** Warnings from the conversion. */
  onWarning?: (message: string) => void;
}

/** What a pull did. */
export interface PullResult {
  /** The SIF written (or "" with fetchOnly). */
  output: string;
  /** The source name. */
  source: string;
  /** Manifest digest (registry and layout sources). */
  manifestDigest?: string;
  /** Number of layers. */
  layers?: number;
  /** Bytes of the output. */
  size: number;
  /** The SIF came from the SIF cache. */
  sifCached: boolean;
  /** The registry was not contacted (`cacheFirst` found everything). */
  offline?: boolean;
}

/** The layer merger of this build: top-down single pass, whiteouts resolved. */
const DEFAULT_MERGER: LayerMerger = (layers, sink) => mergeLayers(layers, sink);

function tempNameFor(output: string): string {
  const slash = output.lastIndexOf("/");
  const dir = slash >= 0 ? output.slice(0, slash + 1) : "";
  const base = output.slice(slash + 1);
  return `${dir}.${base}.singlet-tmp-${crypto.randomUUID().slice(0, 8)}`;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

async function syncParent(path: string): Promise<void> {
  const slash = path.lastIndexOf("/");
  try {
    using dir = await Deno.open(slash > 0 ? path.slice(0, slash) : slash === 0 ? "/" : ".");
    await dir.sync();
  } catch {
    // best effort
  }
}

/**
 * Write `output` atomically from `produce`, which writes the given temp path.
 *
 * @param output The final path.
 * @param produce Writes the file.
 */
async function atomicOutput(
  output: string,
  produce: (tmp: string) => Promise<void>,
  options: { visible?: boolean } = {},
): Promise<void> {
  const tmp = tempNameFor(output);
  pendingTemps.add(tmp);
  // In the user's directory the temp file is flocked while it is written, so that the next
  // pull to the same name can tell a SIGKILLed predecessor's leftover (no lock) from a
  // concurrent pull's file in progress (locked), and remove only the former.
  let held: Deno.FsFile | undefined;
  try {
    if (options.visible) {
      held = await Deno.open(tmp, { write: true, createNew: true, mode: 0o644 });
      await held.lock(true).catch(() => {});
      await sweepLeftovers(output, tmp);
    }
    await produce(tmp);
    await Deno.rename(tmp, output);
    await syncParent(output);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw error;
  } finally {
    pendingTemps.delete(tmp);
    held?.close();
  }
}

async function sweepLeftovers(output: string, mine: string): Promise<void> {
  const slash = output.lastIndexOf("/");
  const dir = slash > 0 ? output.slice(0, slash) : slash === 0 ? "/" : ".";
  const prefix = `.${output.slice(slash + 1)}.singlet-tmp-`;
  try {
    for await (const entry of Deno.readDir(dir)) {
      const path = `${dir}/${entry.name}`;
      if (!entry.isFile || !entry.name.startsWith(prefix) || path === mine) continue;
      try {
        using file = await Deno.open(path, { read: true, write: true });
        if (await file.tryLock(true)) await Deno.remove(path);
      } catch {
        // gone, or not ours to judge
      }
    }
  } catch {
    // unreadable directory: nothing to sweep
  }
}

/** Temp files of outputs being written, for {@linkcode abandonPendingOutputs}. */
const pendingTemps = new Set<string>();

/**
 * Remove the temp files of outputs still being written: for a signal handler that is about
 * to end the process (Ctrl-C during a pull leaves no partial file behind).
 */
export function abandonPendingOutputs(): void {
  for (const tmp of pendingTemps) {
    try {
      Deno.removeSync(tmp);
    } catch {
      // not created yet, or already gone
    }
  }
  pendingTemps.clear();
}

async function copyFile(from: string, to: string): Promise<void> {
  // copy_file_range: in-kernel, and a reflink on filesystems that share extents.
  await Deno.copyFile(from, to);
  using output = await Deno.open(to, { write: true });
  await output.sync();
}

/**
 * Open the image source for a reference.
 *
 * @param ref Any reference except http(s).
 * @param options HTTP and credential settings.
 * @returns The source.
 */
export function openSource(
  ref: Exclude<ImageReference, { transport: "http" | "https" }>,
  options: { http?: HttpOptions; credentials?: CredentialOptions } = {},
): Promise<ImageSource> {
  switch (ref.transport) {
    case "docker":
      return openRegistrySource(ref, {
        ...(options.http ? { http: options.http } : {}),
        ...(options.credentials ? { credentials: options.credentials } : {}),
      });
    case "docker-daemon":
      return openDaemonSource(ref);
    default:
      return openLayoutSource(ref);
  }
}

/**
 * The name a source gets (as {@linkcode CachedImage.source}) without opening it.
 *
 * @param ref The reference.
 * @returns e.g. `docker://index.docker.io/library/ubuntu:24.04`.
 */
export function sourceName(ref: Exclude<ImageReference, { transport: "http" | "https" }>): string {
  switch (ref.transport) {
    case "docker":
      return `docker://${formatDockerReference(ref)}`;
    case "docker-daemon":
      return `docker-daemon:${ref.image}`;
    case "docker-archive":
      return `docker-archive:${ref.path}`;
    default:
      return `${ref.transport}:${ref.path}${ref.ref ? `:${ref.ref}` : ""}`;
  }
}

/**
 * Pull an image to a SIF.
 *
 * @param ref The source.
 * @param options Output, cache, platform, network and progress settings.
 * @returns What was done.
 */
export async function pullImage(ref: ImageReference, options: PullOptions): Promise<PullResult> {
  try {
    return await pullOnce(ref, options);
  } catch (error) {
    // A cached layer went bad since it was verified: it was removed; fetch it again once.
    if (!(error instanceof CorruptBlobError)) throw error;
    options.onWarning?.(`${error.message}; fetching it again`);
    return await pullOnce(ref, options);
  }
}

async function pullOnce(ref: ImageReference, options: PullOptions): Promise<PullResult> {
  if (!options.fetchOnly && !options.force && (await exists(options.output))) {
    throw new SingletError(`Image file already exists: "${options.output}" - will not overwrite`, {
      hint: "use --force to overwrite it, or choose another name",
      exitCode: 255,
    });
  }
  if (!options.fetchOnly) {
    const slash = options.output.lastIndexOf("/");
    const parent = slash > 0 ? options.output.slice(0, slash) : slash === 0 ? "/" : ".";
    const info = await Deno.stat(parent).catch(() => undefined);
    if (!info?.isDirectory) {
      throw new SingletError(
        `Cannot write "${options.output}": directory "${parent}" does not exist`,
        {
          hint: "create the directory first, or choose another output path",
          exitCode: 2,
        },
      );
    }
  }
  if (ref.transport === "http" || ref.transport === "https") {
    // The user typed the scheme: an http:// URL is an explicit choice of plain HTTP.
    const http = new HttpClient({ ...options.http, allowHttp: ref.transport === "http" });
    try {
      let result = { size: 0, sif: false };
      await atomicOutput(options.output, async (tmp) => {
        result = await downloadUrl(http, ref.url, tmp, options.onDownload);
      }, { visible: true });
      return { output: options.output, source: ref.url, size: result.size, sifCached: false };
    } finally {
      http.close();
    }
  }
  // The http(s) case returned above.
  const imageRef = ref as Exclude<ImageReference, { transport: "http" | "https" }>;
  const temporary = options.disableCache
    ? await Deno.makeTempDir({ prefix: "singlet-nocache-" })
    : undefined;
  const root = temporary ?? options.cacheDir ?? defaultCacheDir();
  try {
    const cache = await BlobCache.open(root);
    let image: CachedImage | undefined;
    if (options.cacheFirst && !temporary) {
      image = await cachedImageFor(cache, sourceName(imageRef), options.platform);
    }
    const offline = image !== undefined;
    if (!image) {
      const source = await openSource(imageRef, options);
      try {
        image = await fetchImage(source, cache, {
          platform: options.platform,
          ...(options.concurrency ? { concurrency: options.concurrency } : {}),
          ...(options.signal ? { signal: options.signal } : {}),
          ...options.events,
        });
      } finally {
        await source.close();
      }
      await recordRef(cache, options.platform, image).catch(() => {});
    }
    options.onFetched?.(image);
    const base = {
      ...(offline ? { offline } : {}),
      source: image.source,
      manifestDigest: image.manifestDigest,
      layers: image.layers.length,
    };
    if (options.fetchOnly) return { ...base, output: "", size: 0, sifCached: false };
    const sifDir = `${root}/oci-tmp`;
    const cachedSif = `${sifDir}/${parseDigest(image.manifestDigest).hex}`;
    const sifCached = await exists(cachedSif);
    if (!sifCached) {
      await ensurePrivateDir(sifDir);
      // One conversion per image across processes: the others wait and copy its result.
      const lock = await lockOrWait(
        `${sifDir}/.${parseDigest(image.manifestDigest).hex}.lock`,
        () => exists(cachedSif),
        {
          staleMs: 30_000,
          hostname: Deno.hostname(),
          ...(options.signal ? { signal: options.signal } : {}),
        },
      );
      if (lock) {
        try {
          // Convert into the SIF cache first (atomically), then copy out.
          await atomicOutput(
            cachedSif,
            (tmp) =>
              convertToSif(image, tmp, options.mergeLayers ?? DEFAULT_MERGER, {
                ...(options.uri ? { uri: options.uri } : {}),
                ...(options.onConvert ? { onProgress: options.onConvert } : {}),
                ...(options.onWarning ? { onWarning: options.onWarning } : {}),
              }),
          );
        } finally {
          await lock.release();
        }
      }
    }
    await atomicOutput(options.output, (tmp) => copyFile(cachedSif, tmp), { visible: true });
    const size = (await Deno.stat(options.output)).size;
    return { ...base, output: options.output, size, sifCached };
  } finally {
    if (temporary) await Deno.remove(temporary, { recursive: true }).catch(() => {});
  }
}
