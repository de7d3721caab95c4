/**
 * {@linkcode ImageSource}s for local files: an OCI layout directory (`oci:dir[:ref]`), a tar of
 * one (`oci-archive:file[:ref]`, read in place), and `docker save` archives
 * (`docker-archive:file[:ref]`, tar or tar.gz), for which a Docker v2 schema 2 manifest is
 * synthesised from `manifest.json`. Blobs are verified by the cache like registry blobs.
 *
 * @module
 */
import { createGunzip } from "node:zlib";
import { Readable } from "node:stream";
import { SingletError } from "../errors.ts";
import type { BlobSource } from "./blob_cache.ts";
import { hasherFor, parseDigest, sha256Digest } from "./digest.ts";
import type { ImageSource } from "./image_source.ts";
import { type Descriptor, MediaType, parseDescriptor } from "./manifest.ts";
import type { LayoutReference } from "./reference.ts";
import { CONFIG_CAP, type FetchedManifest, MANIFEST_CAP } from "./registry.ts";
import { indexTar, type TarMember } from "./tar_index.ts";

/** Read access to the files of a layout or archive. */
interface Files {
  size(name: string): Promise<number | undefined>;
  read(name: string, cap: number): Promise<Uint8Array>;
  stream(name: string, offset: number): AsyncIterable<Uint8Array>;
  close(): Promise<void>;
}

function notFound(where: string, name: string): SingletError {
  return new SingletError(`Cannot read "${where}": "${name}" is missing`, {
    hint: "the layout or archive is incomplete",
    exitCode: 5,
  });
}

async function* fileRange(path: string, start: number, length: number): AsyncIterable<Uint8Array> {
  using file = await Deno.open(path, { read: true });
  await file.seek(start, Deno.SeekMode.Start);
  let left = length;
  const buffer = new Uint8Array(1 << 20);
  while (left > 0) {
    const n = await file.read(buffer.subarray(0, Math.min(buffer.length, left)));
    if (n === null) break;
    left -= n;
    yield buffer.slice(0, n);
  }
}

function dirFiles(dir: string): Files {
  const resolve = (name: string) => {
    if (name.split("/").some((c) => c === ".." || c === "")) throw notFound(dir, name);
    return `${dir}/${name}`;
  };
  return {
    async size(name) {
      try {
        const info = await Deno.stat(resolve(name));
        return info.isFile ? info.size : undefined;
      } catch {
        return undefined;
      }
    },
    async read(name, cap) {
      const size = await this.size(name);
      if (size === undefined) throw notFound(dir, name);
      if (size > cap) {
        throw new SingletError(`Cannot read "${dir}/${name}": too large`, { exitCode: 6 });
      }
      return await Deno.readFile(resolve(name));
    },
    async *stream(name, offset) {
      const size = await this.size(name);
      if (size === undefined) throw notFound(dir, name);
      yield* fileRange(resolve(name), offset, size - offset);
    },
    close: () => Promise.resolve(),
  };
}

function tarFiles(path: string, members: Map<string, TarMember>, cleanup?: string): Files {
  return {
    size: (name) => Promise.resolve(members.get(name)?.size),
    async read(name, cap) {
      const m = members.get(name);
      if (!m) throw notFound(path, name);
      if (m.size > cap) {
        throw new SingletError(`Cannot read "${path}:${name}": too large`, { exitCode: 6 });
      }
      const parts: Uint8Array[] = [];
      for await (const chunk of fileRange(path, m.offset, m.size)) parts.push(chunk);
      const out = new Uint8Array(m.size);
      let at = 0;
      for (const p of parts) {
        out.set(p, at);
        at += p.length;
      }
      return out;
    },
    async *stream(name, offset) {
      const m = members.get(name);
      if (!m) throw notFound(path, name);
      yield* fileRange(path, m.offset + offset, m.size - offset);
    },
    close: async () => {
      if (cleanup) await Deno.remove(cleanup, { recursive: true }).catch(() => {});
    },
  };
}

async function isGzip(path: string): Promise<boolean> {
  using file = await Deno.open(path, { read: true });
  const head = new Uint8Array(2);
  const n = await file.read(head);
  return n === 2 && head[0] === 0x1f && head[1] === 0x8b;
}

async function openArchive(path: string): Promise<Files> {
  try {
    await Deno.stat(path);
  } catch {
    throw new SingletError(`Cannot open archive "${path}": no such file`, { exitCode: 5 });
  }
  if (await isGzip(path)) {
    // Members of a compressed archive cannot be read in place: decompress once to a temp file.
    const tmp = await Deno.makeTempDir({ prefix: "singlet-archive-" });
    const out = `${tmp}/archive.tar`;
    using input = await Deno.open(path, { read: true });
    using output = await Deno.open(out, { write: true, create: true, mode: 0o600 });
    const gunzip = createGunzip();
    const readable = Readable.fromWeb(input.readable as never).pipe(gunzip);
    const writer = output.writable.getWriter();
    try {
      for await (const chunk of readable) await writer.write(chunk as Uint8Array);
      await writer.close();
    } catch (error) {
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
      throw new SingletError(`Cannot read archive "${path}": ${(error as Error).message}`, {
        exitCode: 5,
      });
    }
    return tarFiles(out, await indexTar(out), tmp);
  }
  return tarFiles(path, await indexTar(path));
}

function blobName(desc: Descriptor): string {
  const d = parseDigest(desc.digest);
  return `blobs/${d.algorithm}/${d.hex}`;
}

async function verified(
  files: Files,
  desc: Descriptor,
  cap: number,
  where: string,
): Promise<Uint8Array> {
  const bytes = await files.read(blobName(desc), cap);
  const digest = parseDigest(desc.digest);
  if (bytes.length !== desc.size || hasherFor(digest).update(bytes).digest("hex") !== digest.hex) {
    throw new SingletError(
      `Cannot read "${where}": blob ${desc.digest} does not match its digest`,
      {
        exitCode: 3,
      },
    );
  }
  return bytes;
}

class LayoutSource implements ImageSource {
  readonly name: string;
  readonly #files: Files;
  readonly #ref: string | undefined;

  constructor(name: string, files: Files, ref: string | undefined) {
    this.name = name;
    this.#files = files;
    this.#ref = ref;
  }

  async topManifest(): Promise<FetchedManifest> {
    const raw = await this.#files.read("index.json", MANIFEST_CAP);
    let index: { manifests?: unknown[] };
    try {
      index = JSON.parse(new TextDecoder().decode(raw));
    } catch {
      throw new SingletError(`Cannot read "${this.name}": index.json is not valid JSON`, {
        exitCode: 5,
      });
    }
    const entries = (index.manifests ?? []).map((m, i) =>
      parseDescriptor(m, `index.json manifests[${i}]`)
    );
    const refOf = (d: Descriptor) => d.annotations?.["org.opencontainers.image.ref.name"];
    let chosen: Descriptor | undefined;
    if (this.#ref) {
      chosen = entries.find((d) => refOf(d) === this.#ref) ??
        entries.find((d) => refOf(d)?.endsWith(`:${this.#ref}`)) ??
        entries.find((d) => d.digest === this.#ref);
    } else if (entries.length === 1) {
      chosen = entries[0];
    }
    if (!chosen) {
      const refs = entries.map(refOf).filter((r) => r).join(", ");
      throw new SingletError(
        `Cannot pull "${this.name}": ${
          this.#ref ? `no image named "${this.#ref}"` : "the layout holds several images"
        }`,
        {
          hint: `name one of: ${refs || "(none named)"} after the path (oci:DIR:REF)`,
          exitCode: 5,
        },
      );
    }
    return this.manifest(chosen);
  }

  async manifest(desc: Descriptor): Promise<FetchedManifest> {
    const bytes = await verified(this.#files, desc, MANIFEST_CAP, this.name);
    return { bytes, digest: desc.digest, contentType: desc.mediaType };
  }

  smallBlob(desc: Descriptor): Promise<Uint8Array> {
    return verified(this.#files, desc, CONFIG_CAP, this.name);
  }

  blobSource(desc: Descriptor): BlobSource {
    return (offset) => this.#files.stream(blobName(desc), offset);
  }

  resumable(): boolean {
    return false;
  }

  close(): Promise<void> {
    return this.#files.close();
  }
}

/** A docker-archive: documents synthesised from manifest.json, blobs named by path. */
class DockerArchiveSource implements ImageSource {
  readonly name: string;
  readonly #files: Files;
  readonly #manifest: Uint8Array;
  readonly #paths: Map<string, string>;

  constructor(name: string, files: Files, manifest: Uint8Array, paths: Map<string, string>) {
    this.name = name;
    this.#files = files;
    this.#manifest = manifest;
    this.#paths = paths;
  }

  topManifest(): Promise<FetchedManifest> {
    return Promise.resolve({
      bytes: this.#manifest,
      digest: sha256Digest(this.#manifest),
      contentType: MediaType.dockerManifest,
    });
  }

  manifest(): Promise<FetchedManifest> {
    return this.topManifest();
  }

  async smallBlob(desc: Descriptor): Promise<Uint8Array> {
    return await this.#files.read(this.#paths.get(desc.digest)!, CONFIG_CAP);
  }

  blobSource(desc: Descriptor): BlobSource {
    return (offset) => this.#files.stream(this.#paths.get(desc.digest)!, offset);
  }

  resumable(): boolean {
    return false;
  }

  close(): Promise<void> {
    return this.#files.close();
  }
}

async function hashMember(files: Files, name: string): Promise<{ digest: string; size: number }> {
  const hasher = hasherFor(parseDigest(`sha256:${"0".repeat(64)}`));
  let size = 0;
  for await (const chunk of files.stream(name, 0)) {
    hasher.update(chunk);
    size += chunk.length;
  }
  return { digest: `sha256:${hasher.digest("hex")}`, size };
}

async function openDockerArchive(ref: LayoutReference): Promise<ImageSource> {
  const files = await openArchive(ref.path);
  try {
    let entries: { Config?: unknown; RepoTags?: unknown; Layers?: unknown }[];
    try {
      entries = JSON.parse(new TextDecoder().decode(await files.read("manifest.json", 1 << 20)));
      if (!Array.isArray(entries)) throw new Error("not an array");
    } catch (error) {
      if (error instanceof SingletError) throw error;
      throw new SingletError(`Cannot read "${ref.path}": manifest.json is not valid`, {
        exitCode: 5,
      });
    }
    const tags = (e: (typeof entries)[number]) =>
      Array.isArray(e.RepoTags) ? e.RepoTags as string[] : [];
    let entry = entries.length === 1 && !ref.ref ? entries[0] : undefined;
    if (ref.ref) {
      entry = entries.find((e) => tags(e).some((t) => t === ref.ref || t.endsWith(`/${ref.ref}`)));
    }
    if (!entry || typeof entry.Config !== "string" || !Array.isArray(entry.Layers)) {
      throw new SingletError(`Cannot pull "docker-archive:${ref.path}": no matching image`, {
        hint: `name one of: ${entries.flatMap(tags).join(", ") || "(untagged)"}`,
        exitCode: 5,
      });
    }
    const paths = new Map<string, string>();
    const config = await files.read(entry.Config, CONFIG_CAP);
    const configDigest = sha256Digest(config);
    paths.set(configDigest, entry.Config);
    const layers = [];
    for (const name of entry.Layers as string[]) {
      const { digest, size } = await hashMember(files, name);
      paths.set(digest, name);
      const head = await files.stream(name, 0)[Symbol.asyncIterator]().next();
      const gz = !head.done && head.value[0] === 0x1f && head.value[1] === 0x8b;
      layers.push({
        mediaType: gz
          ? "application/vnd.docker.image.rootfs.diff.tar.gzip"
          : "application/vnd.docker.image.rootfs.diff.tar",
        digest,
        size,
      });
    }
    const manifest = new TextEncoder().encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.dockerManifest,
      config: { mediaType: MediaType.dockerConfig, digest: configDigest, size: config.length },
      layers,
    }));
    return new DockerArchiveSource(`docker-archive:${ref.path}`, files, manifest, paths);
  } catch (error) {
    await files.close();
    throw error;
  }
}

/**
 * Open a local image: OCI layout directory, OCI archive or Docker archive.
 *
 * @param ref The reference.
 * @returns The source.
 */
export async function openLayoutSource(ref: LayoutReference): Promise<ImageSource> {
  const name = `${ref.transport}:${ref.path}${ref.ref ? `:${ref.ref}` : ""}`;
  if (ref.transport === "docker-archive") return openDockerArchive(ref);
  if (ref.transport === "oci") {
    const files = dirFiles(ref.path);
    if ((await files.size("oci-layout")) === undefined) {
      throw new SingletError(`Cannot open OCI layout "${ref.path}": no oci-layout file`, {
        hint: "point oci: at a directory made by skopeo, umoci or buildah",
        exitCode: 5,
      });
    }
    return new LayoutSource(name, files, ref.ref);
  }
  const files = await openArchive(ref.path);
  if ((await files.size("index.json")) === undefined) {
    await files.close();
    throw new SingletError(`Cannot open OCI archive "${ref.path}": no index.json inside`, {
      hint: "for 'docker save' output use docker-archive:",
      exitCode: 5,
    });
  }
  return new LayoutSource(name, files, ref.ref);
}
