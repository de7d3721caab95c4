/**
 * Tiny OCI images built in memory for registry tests: a ustar writer, gzip via node:zlib,
 * OCI layouts on disk (single images and multi-platform indexes), and a push over the
 * distribution API (monolithic uploads), so tests need no other tool.
 *
 * @module
 */
import { gzipSync } from "node:zlib";
import { createHash } from "node:crypto";

/** One entry of a test layer. */
export interface TarEntry {
  /** Path without leading slash; directories end without a slash. */
  path: string;
  /** File content (omit for directories). */
  content?: string | Uint8Array;
  /** "dir" for a directory, "symlink" for a link (content = target). */
  type?: "file" | "dir" | "symlink";
  /** Permission bits (default 0644 / 0755). */
  mode?: number;
}

const enc = new TextEncoder();

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, "0") + "\0";
}

/**
 * Build an uncompressed ustar archive.
 *
 * @param entries The entries, in order.
 * @returns The tar bytes.
 */
export function tarOf(entries: readonly TarEntry[]): Uint8Array {
  const blocks: Uint8Array[] = [];
  for (const e of entries) {
    const type = e.type ?? (e.content === undefined ? "dir" : "file");
    const data = type === "file"
      ? (typeof e.content === "string" ? enc.encode(e.content) : e.content ?? new Uint8Array())
      : new Uint8Array();
    const header = new Uint8Array(512);
    const put = (text: string, at: number) => header.set(enc.encode(text), at);
    put(type === "dir" ? `${e.path}/` : e.path, 0);
    put(octal(e.mode ?? (type === "dir" ? 0o755 : 0o644), 8), 100);
    put(octal(0, 8), 108);
    put(octal(0, 8), 116);
    put(octal(data.length, 12), 124);
    put(octal(1_700_000_000, 12), 136);
    put("        ", 148);
    put(type === "dir" ? "5" : type === "symlink" ? "2" : "0", 156);
    if (type === "symlink") put(String(e.content ?? ""), 157);
    put("ustar\0", 257);
    put("00", 263);
    let sum = 0;
    for (const b of header) sum += b;
    put(octal(sum, 7) + " ", 148);
    blocks.push(header, data);
    const pad = (512 - (data.length % 512)) % 512;
    if (pad) blocks.push(new Uint8Array(pad));
  }
  blocks.push(new Uint8Array(1024));
  const total = blocks.reduce((n, b) => n + b.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const b of blocks) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

/** sha256 of bytes as a digest string. */
export function digestOf(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** A blob with its descriptor. */
export interface Blob {
  /** Media type. */
  mediaType: string;
  /** Digest. */
  digest: string;
  /** Size. */
  size: number;
  /** Bytes. */
  bytes: Uint8Array;
}

function blob(mediaType: string, bytes: Uint8Array): Blob {
  return { mediaType, digest: digestOf(bytes), size: bytes.length, bytes };
}

/** A built image: its blobs and top document. */
export interface TinyImage {
  /** Every blob (layers, config, manifests, index), top document last. */
  blobs: Blob[];
  /** The top document (manifest or index). */
  top: Blob;
}

/**
 * Build a single-platform image from layers (each a list of tar entries).
 *
 * @param layers Layers, base first.
 * @param options Architecture, config fields, and gzip (default true).
 * @returns The image.
 */
export function tinyImage(
  layers: readonly (readonly TarEntry[])[],
  options: {
    architecture?: string;
    variant?: string;
    config?: Record<string, unknown>;
    gzip?: boolean;
    docker?: boolean;
  } = {},
): TinyImage {
  const gzip = options.gzip ?? true;
  const tars = layers.map((l) => tarOf(l));
  const layerBlobs = tars.map((t) =>
    gzip
      ? blob(
        options.docker
          ? "application/vnd.docker.image.rootfs.diff.tar.gzip"
          : "application/vnd.oci.image.layer.v1.tar+gzip",
        gzipSync(t),
      )
      : blob("application/vnd.oci.image.layer.v1.tar", t)
  );
  const config = blob(
    options.docker
      ? "application/vnd.docker.container.image.v1+json"
      : "application/vnd.oci.image.config.v1+json",
    enc.encode(JSON.stringify({
      architecture: options.architecture ?? "amd64",
      os: "linux",
      ...(options.variant ? { variant: options.variant } : {}),
      config: options.config ?? { Env: ["PATH=/bin"], Cmd: ["/bin/sh"] },
      rootfs: { type: "layers", diff_ids: tars.map(digestOf) },
    })),
  );
  const mediaType = options.docker
    ? "application/vnd.docker.distribution.manifest.v2+json"
    : "application/vnd.oci.image.manifest.v1+json";
  const manifest = blob(
    mediaType,
    enc.encode(JSON.stringify({
      schemaVersion: 2,
      mediaType,
      config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
      layers: layerBlobs.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    })),
  );
  return { blobs: [...layerBlobs, config, manifest], top: manifest };
}

/**
 * Build a multi-platform index over several images.
 *
 * @param images Images with their platform.
 * @returns The combined image whose top is the index.
 */
export function tinyIndex(
  images: readonly { image: TinyImage; architecture: string; variant?: string }[],
): TinyImage {
  const index = blob(
    "application/vnd.oci.image.index.v1+json",
    enc.encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: images.map(({ image, architecture, variant }) => ({
        mediaType: image.top.mediaType,
        digest: image.top.digest,
        size: image.top.size,
        platform: { os: "linux", architecture, ...(variant ? { variant } : {}) },
      })),
    })),
  );
  return { blobs: [...images.flatMap((i) => i.image.blobs), index], top: index };
}

/**
 * Write an image as an OCI layout directory.
 *
 * @param dir Target directory (created).
 * @param image The image.
 * @param refName `org.opencontainers.image.ref.name` of the top entry.
 */
export async function writeLayout(
  dir: string,
  image: TinyImage,
  refName = "latest",
): Promise<void> {
  await Deno.mkdir(`${dir}/blobs/sha256`, { recursive: true });
  await Deno.writeTextFile(`${dir}/oci-layout`, '{"imageLayoutVersion":"1.0.0"}');
  for (const b of image.blobs) {
    await Deno.writeFile(`${dir}/blobs/sha256/${b.digest.slice(7)}`, b.bytes);
  }
  await Deno.writeTextFile(
    `${dir}/index.json`,
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{
        mediaType: image.top.mediaType,
        digest: image.top.digest,
        size: image.top.size,
        annotations: { "org.opencontainers.image.ref.name": refName },
      }],
    }),
  );
}

/**
 * Push an image to a registry with monolithic uploads.
 *
 * @param baseUrl e.g. `http://127.0.0.1:5000`.
 * @param repository e.g. `test/busybox`.
 * @param tag The tag.
 * @param image The image.
 * @param options Authorization header and TLS client.
 */
export async function pushImage(
  baseUrl: string,
  repository: string,
  tag: string,
  image: TinyImage,
  options: { authorization?: string; client?: Deno.HttpClient } = {},
): Promise<void> {
  const headers = (extra: Record<string, string> = {}) => ({
    ...(options.authorization ? { authorization: options.authorization } : {}),
    ...extra,
  });
  const client = options.client ? { client: options.client } : {};
  for (const b of image.blobs) {
    if (b.mediaType.includes("manifest") || b.mediaType.includes("index")) continue;
    const start = await fetch(`${baseUrl}/v2/${repository}/blobs/uploads/`, {
      method: "POST",
      headers: headers(),
      ...client,
    });
    await start.body?.cancel();
    if (start.status !== 202) throw new Error(`upload start: HTTP ${start.status}`);
    const location = new URL(start.headers.get("location")!, baseUrl);
    location.searchParams.set("digest", b.digest);
    const put = await fetch(location, {
      method: "PUT",
      headers: headers({ "content-type": "application/octet-stream" }),
      body: b.bytes as Uint8Array<ArrayBuffer>,
      ...client,
    });
    await put.body?.cancel();
    if (put.status !== 201) throw new Error(`upload ${b.digest}: HTTP ${put.status}`);
  }
  // Manifests before the index that lists them; the top one under the tag.
  for (const b of image.blobs) {
    if (!(b.mediaType.includes("manifest") || b.mediaType.includes("index"))) continue;
    const ref = b === image.top ? tag : b.digest;
    const put = await fetch(`${baseUrl}/v2/${repository}/manifests/${ref}`, {
      method: "PUT",
      headers: headers({ "content-type": b.mediaType }),
      body: b.bytes as Uint8Array<ArrayBuffer>,
      ...client,
    });
    const text = await put.text();
    if (put.status !== 201) throw new Error(`manifest ${ref}: HTTP ${put.status} ${text}`);
  }
}
