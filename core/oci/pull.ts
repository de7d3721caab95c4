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
import { convertToSif } from "./convert.ts";
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
}

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
): Promise<void> {
  const tmp = tempNameFor(output);
  const cleanup = () => Deno.remove(tmp).catch(() => {});
  const onSignal = () => {
    try {
      Deno.removeSync(tmp);
    } catch {
      // not created yet
    }
    Deno.exit(130);
  };
  try {
    Deno.addSignalListener("SIGINT", onSignal);
    Deno.addSignalListener("SIGTERM", onSignal);
  } catch {
    // signals unavailable (e.g. in some test contexts)
  }
  try {
    await produce(tmp);
    await Deno.rename(tmp, output);
    await syncParent(output);
  } catch (error) {
    await cleanup();
    throw error;
  } finally {
    try {
      Deno.removeSignalListener("SIGINT", onSignal);
      Deno.removeSignalListener("SIGTERM", onSignal);
    } catch {
      // ignore
    }
  }
}

async function copyFile(from: string, to: string): Promise<void> {
  using input = await Deno.open(from, { read: true });
  using output = await Deno.open(to, { write: true, createNew: true, mode: 0o755 });
  await input.readable.pipeTo(output.writable, { preventClose: true });
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
 * Pull an image to a SIF.
 *
 * @param ref The source.
 * @param options Output, cache, platform, network and progress settings.
 * @returns What was done.
 */
export async function pullImage(ref: ImageReference, options: PullOptions): Promise<PullResult> {
  if (!options.fetchOnly && !options.force && (await exists(options.output))) {
    throw new SingletError(`Image file already exists: "${options.output}" - will not overwrite`, {
      hint: "use --force to overwrite it, or choose another name",
      exitCode: 255,
    });
  }
  if (ref.transport === "http" || ref.transport === "https") {
    // The user typed the scheme: an http:// URL is an explicit choice of plain HTTP.
    const http = new HttpClient({ ...options.http, allowHttp: ref.transport === "http" });
    try {
      let result = { size: 0, sif: false };
      await atomicOutput(options.output, async (tmp) => {
        result = await downloadUrl(http, ref.url, tmp, options.onDownload);
      });
      return { output: options.output, source: ref.url, size: result.size, sifCached: false };
    } finally {
      http.close();
    }
  }
  const temporary = options.disableCache
    ? await Deno.makeTempDir({ prefix: "singlet-nocache-" })
    : undefined;
  const root = temporary ?? options.cacheDir ?? defaultCacheDir();
  try {
    const cache = await BlobCache.open(root);
    const source = await openSource(
      ref as Exclude<ImageReference, { transport: "http" | "https" }>,
      options,
    );
    let image: CachedImage;
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
    options.onFetched?.(image);
    const base = {
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
      // Convert into the SIF cache first (atomically), then copy out.
      await atomicOutput(cachedSif, (tmp) => convertToSif(image, cache, tmp));
    }
    await atomicOutput(options.output, async (tmp) => {
      await copyFile(cachedSif, tmp);
    });
    const size = (await Deno.stat(options.output)).size;
    return { ...base, output: options.output, size, sifCached };
  } finally {
    if (temporary) await Deno.remove(temporary, { recursive: true }).catch(() => {});
  }
}
