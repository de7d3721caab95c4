/**
 * Which manifest a reference resolved to, remembered in the cache
 * (`blob/refs/<sha256 of reference and platform>.json`) so that `--cache-first` can use a
 * previously pulled image without contacting the registry (a long-standing request that
 * SingularityCE and Apptainer do not serve: they always resolve tags on the registry).
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { BlobCache } from "./blob_cache.ts";
import { ensurePrivateDir } from "./cache_dir.ts";
import type { CachedImage } from "./fetch_image.ts";
import { parseImageConfig } from "./image_config.ts";
import { formatPlatform, parseManifest, type Platform } from "./manifest.ts";

interface RefRecord {
  source: string;
  platform: string;
  manifestDigest: string;
  manifestSize: number;
  manifestMediaType: string;
  resolvedAt: string;
}

function refPath(cache: BlobCache, source: string, platform: Platform): string {
  const key = createHash("sha256").update(`${source}\n${formatPlatform(platform)}`).digest("hex");
  return `${cache.layoutDir}/refs/${key}.json`;
}

/**
 * Remember what a reference resolved to.
 *
 * @param cache The blob cache.
 * @param platform The platform asked for.
 * @param image The fetched image.
 */
export async function recordRef(
  cache: BlobCache,
  platform: Platform,
  image: CachedImage,
): Promise<void> {
  const path = refPath(cache, image.source, platform);
  await ensurePrivateDir(`${cache.layoutDir}/refs`);
  const record: RefRecord = {
    source: image.source,
    platform: formatPlatform(platform),
    manifestDigest: image.manifestDigest,
    manifestSize: image.manifestBytes.length,
    manifestMediaType: image.manifest.mediaType,
    resolvedAt: new Date().toISOString(),
  };
  const tmp = `${path}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(record), { mode: 0o600 });
  await Deno.rename(tmp, path);
}

/**
 * The image a reference resolved to last time, if it is still entirely in the cache.
 *
 * @param cache The blob cache.
 * @param source The source name (as {@linkcode CachedImage.source}).
 * @param platform The platform asked for.
 * @returns The cached image, or undefined when anything is missing or corrupt.
 */
export async function cachedImageFor(
  cache: BlobCache,
  source: string,
  platform: Platform,
): Promise<CachedImage | undefined> {
  let record: RefRecord;
  try {
    record = JSON.parse(await Deno.readTextFile(refPath(cache, source, platform)));
  } catch {
    return undefined;
  }
  if (record.source !== source) return undefined;
  try {
    const manifestBytes = await cache.readVerified({
      digest: record.manifestDigest,
      size: record.manifestSize,
    });
    if (!manifestBytes) return undefined;
    const manifest = parseManifest(manifestBytes, record.manifestMediaType, source);
    if (manifest.kind !== "manifest") return undefined;
    const configBytes = await cache.readVerified(manifest.config);
    if (!configBytes) return undefined;
    const layers = [];
    for (const descriptor of manifest.layers) {
      if (!(await cache.has(descriptor))) return undefined;
      layers.push({ descriptor, path: cache.path(descriptor.digest) });
    }
    return {
      source,
      manifestDigest: record.manifestDigest,
      manifest,
      manifestBytes,
      configBytes,
      config: parseImageConfig(configBytes),
      layers,
    };
  } catch {
    return undefined;
  }
}
