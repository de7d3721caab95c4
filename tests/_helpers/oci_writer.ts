/**
 * Deterministic OCI image layout, oci-archive and docker-archive writers for test fixtures:
 * the JSON is serialised here with a fixed key order, blobs are named by their sha256
 * (node:crypto), so the same layers always give the same manifest digest.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import { FIXTURE_MTIME, type TarEntry, writeTar } from "./tar_writer.ts";

/** OCI media types used by the fixtures. */
export const MEDIA_TYPES = {
  index: "application/vnd.oci.image.index.v1+json",
  manifest: "application/vnd.oci.image.manifest.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  layerTar: "application/vnd.oci.image.layer.v1.tar",
} as const;

/** The `created` time of fixture images, matching {@linkcode FIXTURE_MTIME}. */
export const FIXTURE_CREATED = new Date(FIXTURE_MTIME * 1000).toISOString().replace(".000", "");

/**
 * The sha256 digest of bytes in OCI form.
 *
 * @param bytes Content.
 * @returns "sha256:<hex>".
 */
export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/**
 * Gzip deterministically: node:zlib writes mtime 0 and OS 3 (Unix) in the header.
 *
 * @param bytes Uncompressed bytes.
 * @returns Gzip stream, level 9.
 */
export function gzip(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(gzipSync(bytes, { level: 9 }));
}

/** The runtime part of an image config. */
export interface ImageRunConfig {
  /** Environment, "KEY=value". */
  Env?: string[];
  /** Default command. */
  Cmd?: string[];
  /** Entrypoint. */
  Entrypoint?: string[];
  /** Working directory. */
  WorkingDir?: string;
  /** Labels. */
  Labels?: Record<string, string>;
}

/** What an image consists of. */
export interface ImageSpec {
  /** Uncompressed layer tars, bottom first. */
  layers: Uint8Array[];
  /** Runtime config. */
  config: ImageRunConfig;
  /** Layer compression; default gzip. */
  compression?: "gzip" | "none";
  /** One history `created_by` per layer (defaults to a generic text). */
  history?: string[];
}

/** A serialised image: the blobs and the digests that name them. */
export interface BuiltImage {
  /** Blob bytes by digest ("sha256:..."). */
  blobs: Map<string, Uint8Array>;
  /** The config blob. */
  config: { digest: string; bytes: Uint8Array };
  /** The manifest blob. */
  manifest: { digest: string; bytes: Uint8Array };
  /** Uncompressed layer digests (rootfs.diff_ids). */
  diffIds: string[];
  /** Layer blobs as stored (compressed or not), with their diff id. */
  layers: { digest: string; diffId: string; tar: Uint8Array; blob: Uint8Array }[];
}

function json(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}

/**
 * Serialise an image: config, layers and OCI manifest.
 *
 * @param spec Layers and runtime config.
 * @returns Blobs and digests.
 */
export function buildImage(spec: ImageSpec): BuiltImage {
  const blobs = new Map<string, Uint8Array>();
  const layers = spec.layers.map((tar) => {
    const blob = spec.compression === "none" ? tar : gzip(tar);
    const layer = { digest: sha256Digest(blob), diffId: sha256Digest(tar), tar, blob };
    blobs.set(layer.digest, blob);
    return layer;
  });
  const configBytes = json({
    created: FIXTURE_CREATED,
    architecture: "amd64",
    os: "linux",
    config: spec.config,
    rootfs: { type: "layers", diff_ids: layers.map((layer) => layer.diffId) },
    history: layers.map((_, i) => ({
      created: FIXTURE_CREATED,
      created_by: spec.history?.[i] ?? "singlet test fixture (tests/_helpers/fixtures.ts)",
    })),
  });
  const config = { digest: sha256Digest(configBytes), bytes: configBytes };
  blobs.set(config.digest, configBytes);
  const manifestBytes = json({
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.manifest,
    config: { mediaType: MEDIA_TYPES.config, digest: config.digest, size: configBytes.length },
    layers: layers.map((layer) => ({
      mediaType: spec.compression === "none" ? MEDIA_TYPES.layerTar : MEDIA_TYPES.layerGzip,
      digest: layer.digest,
      size: layer.blob.length,
    })),
  });
  const manifest = { digest: sha256Digest(manifestBytes), bytes: manifestBytes };
  blobs.set(manifest.digest, manifestBytes);
  return { blobs, config, manifest, diffIds: layers.map((layer) => layer.diffId), layers };
}

/**
 * The files of an OCI image layout holding one image tagged `refName`.
 *
 * @param image A built image.
 * @param refName The `org.opencontainers.image.ref.name` annotation.
 * @returns Relative path -> bytes, in the order an archive should list them.
 */
export function ociLayoutFiles(image: BuiltImage, refName: string): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  files.set("oci-layout", json({ imageLayoutVersion: "1.0.0" }));
  files.set(
    "index.json",
    json({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.index,
      manifests: [{
        mediaType: MEDIA_TYPES.manifest,
        digest: image.manifest.digest,
        size: image.manifest.bytes.length,
        annotations: { "org.opencontainers.image.ref.name": refName },
        platform: { architecture: "amd64", os: "linux" },
      }],
    }),
  );
  for (const digest of [...image.blobs.keys()].sort()) {
    files.set(`blobs/sha256/${digest.slice("sha256:".length)}`, image.blobs.get(digest)!);
  }
  return files;
}

/**
 * Write an OCI image layout directory.
 *
 * @param dir An empty or absent directory.
 * @param image A built image.
 * @param refName The tag recorded in index.json.
 */
export async function writeOciLayout(
  dir: string,
  image: BuiltImage,
  refName: string,
): Promise<void> {
  await Deno.mkdir(`${dir}/blobs/sha256`, { recursive: true, mode: 0o755 });
  for (const [path, bytes] of ociLayoutFiles(image, refName)) {
    await Deno.writeFile(`${dir}/${path}`, bytes, { mode: 0o644 });
  }
}

/**
 * An oci-archive: the layout's files in a tar, as `oci-archive:` transports read it.
 *
 * @param image A built image.
 * @param refName The tag recorded in index.json.
 * @returns Tar bytes.
 */
export function ociArchive(image: BuiltImage, refName: string): Uint8Array {
  const entries: TarEntry[] = [
    { name: "blobs", type: "directory" },
    { name: "blobs/sha256", type: "directory" },
  ];
  for (const [name, content] of ociLayoutFiles(image, refName)) {
    entries.push({ name, type: "file", content });
  }
  return writeTar(entries);
}

/**
 * A docker-archive (`docker save` format): manifest.json, repositories, the config and
 * uncompressed layer tars.
 *
 * @param image A built image (its layer tars are stored uncompressed here).
 * @param repoTag E.g. "singlet/busybox:latest".
 * @returns Tar bytes.
 */
export function dockerArchive(image: BuiltImage, repoTag: string): Uint8Array {
  const hex = (digest: string) => digest.slice("sha256:".length);
  const configName = `${hex(image.config.digest)}.json`;
  const layerNames = image.layers.map((layer) => `${hex(layer.diffId)}/layer.tar`);
  const colon = repoTag.lastIndexOf(":");
  const entries: TarEntry[] = [];
  image.layers.forEach((layer, i) => {
    entries.push(
      { name: hex(layer.diffId), type: "directory" },
      { name: layerNames[i]!, type: "file", content: layer.tar },
    );
  });
  const lastLayer = image.layers[image.layers.length - 1];
  entries.push(
    { name: configName, type: "file", content: image.config.bytes },
    {
      name: "manifest.json",
      type: "file",
      content: json([{ Config: configName, RepoTags: [repoTag], Layers: layerNames }]),
    },
    {
      name: "repositories",
      type: "file",
      content: json({
        [repoTag.slice(0, colon)]: { [repoTag.slice(colon + 1)]: hex(lastLayer?.diffId ?? "") },
      }),
    },
  );
  return writeTar(entries);
}
