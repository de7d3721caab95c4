/**
 * Image references as Singularity users type them: `docker://[registry/][ns/]name[:tag|@digest]`,
 * `oci:dir[:ref]`, `oci-archive:file[:ref]`, `docker-archive:file[:ref]`, `docker-daemon:name:tag`,
 * and `http(s)://` URLs; plus the default output name of `pull` (`name_tag.sif`).
 *
 * Docker references follow the distribution reference grammar: the first path component is a
 * registry when it has a `.` or `:` or is `localhost`; otherwise the image is on Docker Hub
 * (`index.docker.io`) and one-component names get `library/`.
 *
 * @module
 */
import { parseDigest } from "./digest.ts";

/** Docker Hub as Singularity names it. */
export const DOCKER_HUB = "index.docker.io";
/** The host that serves Docker Hub's registry API. */
export const DOCKER_HUB_API = "registry-1.docker.io";

/** A registry image: `docker://...`. */
export interface DockerReference {
  /** Transport. */
  readonly transport: "docker";
  /** Registry host[:port], normalised (`docker.io` becomes `index.docker.io`). */
  readonly registry: string;
  /** Repository path, e.g. `library/ubuntu`. */
  readonly repository: string;
  /** Tag; "latest" when neither tag nor digest was given. */
  readonly tag?: string;
  /** Pinned manifest digest, validated. */
  readonly digest?: string;
}

/** An image in a local OCI layout directory or a tar of one. */
export interface LayoutReference {
  /** Transport. */
  readonly transport: "oci" | "oci-archive" | "docker-archive";
  /** Path of the directory or archive. */
  readonly path: string;
  /** Reference inside the layout (`org.opencontainers.image.ref.name`) or archive (RepoTags). */
  readonly ref?: string;
}

/** An image held by a local Docker daemon. */
export interface DaemonReference {
  /** Transport. */
  readonly transport: "docker-daemon";
  /** `name[:tag]` or an image ID. */
  readonly image: string;
}

/** A file downloaded over HTTP(S). */
export interface UrlReference {
  /** Transport. */
  readonly transport: "http" | "https";
  /** The full URL. */
  readonly url: string;
}

/** Any image source `pull` accepts. */
export type ImageReference = DockerReference | LayoutReference | DaemonReference | UrlReference;

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const HOST =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?$|^\[[0-9a-fA-F:.]+\](?::[0-9]+)?$/;

function bad(text: string, why: string, hint?: string): SyntaxError {
  const error = new SyntaxError(`invalid image reference "${text}": ${why}`);
  if (hint) (error as SyntaxError & { hint?: string }).hint = hint;
  return error;
}

/**
 * Parse a Docker-style name (`[registry/][ns/]name[:tag][@digest]`, no transport prefix).
 *
 * @param text The name, e.g. `ubuntu:24.04` or `localhost:5000/a/b@sha256:...`.
 * @returns The normalised reference.
 * @throws {SyntaxError} On a malformed name, tag or digest.
 */
export function parseDockerName(text: string): DockerReference {
  let rest = text.replace(/^\/\//, "");
  if (rest === "") throw bad(text, "empty name");
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    try {
      digest = parseDigest(rest.slice(at + 1)).value;
    } catch {
      throw bad(text, "the digest after '@' is not sha256:<64 hex> or sha512:<128 hex>");
    }
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf("/");
  const colon = rest.indexOf(":", lastSlash + 1);
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(text, `tag "${tag}" is not valid`);
  }
  const parts = rest.split("/");
  let registry = DOCKER_HUB;
  const first = parts[0]!;
  if (
    parts.length > 1 && (first.includes(".") || first.includes(":") || first === "localhost" ||
      first.startsWith("["))
  ) {
    if (!HOST.test(first)) throw bad(text, `registry "${first}" is not a valid host[:port]`);
    registry = first.toLowerCase();
    parts.shift();
  }
  if (registry === "docker.io" || registry === DOCKER_HUB_API) registry = DOCKER_HUB;
  for (const part of parts) {
    if (!COMPONENT.test(part)) {
      const hint = /[A-Z]/.test(part) ? "repository names must be lowercase" : undefined;
      throw bad(text, `path component "${part}" is not valid`, hint);
    }
  }
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift("library");
  const repository = parts.join("/");
  if (repository.length > 255) throw bad(text, "repository name longer than 255 characters");
  if (tag === undefined && digest === undefined) tag = "latest";
  return {
    transport: "docker",
    registry,
    repository,
    ...(tag !== undefined ? { tag } : {}),
    ...(digest !== undefined ? { digest } : {}),
  };
}

function splitPathRef(body: string): { path: string; ref?: string } {
  // The path may itself contain ':' only before the last '/', as containers/image reads it.
  const slash = body.lastIndexOf("/");
  const colon = body.indexOf(":", slash + 1);
  if (colon < 0) return { path: body };
  const ref = body.slice(colon + 1);
  return ref ? { path: body.slice(0, colon), ref } : { path: body.slice(0, colon) };
}

/**
 * Parse any source URI `pull` and `build` accept.
 *
 * @param text The URI as typed.
 * @returns The parsed reference.
 * @throws {SyntaxError} On an unknown transport or a malformed reference.
 */
export function parseImageReference(text: string): ImageReference {
  const match = /^([a-z][a-z0-9+.-]*):(.*)$/s.exec(text);
  if (!match) throw bad(text, "no transport; expected e.g. docker://NAME or oci:DIR");
  const transport = match[1]!;
  const body = match[2]!;
  switch (transport) {
    case "docker":
      if (!body.startsWith("//")) throw bad(text, "expected docker://NAME");
      return parseDockerName(body.slice(2));
    case "oci":
    case "oci-archive":
    case "docker-archive": {
      const { path, ref } = splitPathRef(body);
      if (!path) throw bad(text, "missing path");
      return { transport, path, ...(ref !== undefined ? { ref } : {}) };
    }
    case "docker-daemon": {
      const image = body.replace(/^\/\//, "");
      if (!image) throw bad(text, "missing image name");
      return { transport, image };
    }
    case "http":
    case "https": {
      let url: URL;
      try {
        url = new URL(text);
      } catch {
        throw bad(text, "not a valid URL");
      }
      if (!url.hostname) throw bad(text, "URL has no host");
      return { transport, url: url.href };
    }
    default:
      throw bad(
        text,
        `unsupported transport "${transport}"`,
        "use docker://, oci:, oci-archive:, docker-archive:, docker-daemon:, http:// or https://",
      );
  }
}

/**
 * The canonical `registry/repository[:tag][@digest]` form of a registry reference.
 *
 * @param ref The reference.
 * @returns A string suitable for messages and cache keys.
 */
export function formatDockerReference(ref: DockerReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ""}${
    ref.digest ? `@${ref.digest}` : ""
  }`;
}

function sanitize(name: string): string {
  return name.replace(/[^A-Za-z0-9._+-]/g, "_");
}

/**
 * The file name `singlet pull` writes when no output path is given, as Singularity names it:
 * `<last path element>_<tag>.sif` (tag `latest` by default); digest-pinned references use the
 * digest hex's first 12 characters; URLs keep their last path element.
 *
 * @param ref The source.
 * @returns A bare file name.
 */
export function defaultOutputName(ref: ImageReference): string {
  switch (ref.transport) {
    case "docker": {
      const name = ref.repository.split("/").pop()!;
      const tag = ref.tag ?? ref.digest!.split(":")[1]!.slice(0, 12);
      return `${sanitize(name)}_${sanitize(tag)}.sif`;
    }
    case "oci":
    case "oci-archive":
    case "docker-archive": {
      const base = ref.path.replace(/\/+$/, "").split("/").pop() || "image";
      const stem = base.replace(/\.(tar\.gz|tgz|tar)$/, "");
      return `${sanitize(stem)}_${sanitize(ref.ref ?? "latest")}.sif`;
    }
    case "docker-daemon": {
      const [name, tag] = splitNameTag(ref.image);
      return `${sanitize(name.split("/").pop()!)}_${sanitize(tag)}.sif`;
    }
    case "http":
    case "https": {
      const last = new URL(ref.url).pathname.split("/").pop();
      return last ? sanitize(decodeURIComponent(last)) : "download.sif";
    }
  }
}

function splitNameTag(image: string): [string, string] {
  const slash = image.lastIndexOf("/");
  const colon = image.indexOf(":", slash + 1);
  return colon < 0 ? [image, "latest"] : [image.slice(0, colon), image.slice(colon + 1)];
}
