/**
 * Image manifests and indexes: the OCI image spec's and Docker's v2 schema 2 media types,
 * parsed strictly (schema 1 refused with a hint; documents that are both index and manifest
 * rejected, CVE-2021-41190), and platform selection from an index.
 *
 * @module
 */
import { SingletError } from "../errors.ts";
import { parseDigest } from "./digest.ts";
import { duplicateKey } from "./json_keys.ts";

/** Media types singlet reads. */
export const MediaType = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  dockerSchema1: "application/vnd.docker.distribution.manifest.v1+json",
  dockerSchema1Signed: "application/vnd.docker.distribution.manifest.v1+prettyjws",
} as const;

/** The `Accept` header for manifest requests, most preferred first. */
export const MANIFEST_ACCEPT: string = [
  MediaType.ociIndex,
  MediaType.ociManifest,
  MediaType.dockerList,
  MediaType.dockerManifest,
].join(", ");

/** A content descriptor. */
export interface Descriptor {
  /** Media type of the referenced content. */
  mediaType: string;
  /** Validated digest. */
  digest: string;
  /** Size in bytes (a safe non-negative integer). */
  size: number;
  /** Platform (index entries). */
  platform?: Platform;
  /** Annotations. */
  annotations?: Record<string, string>;
  /** Foreign URLs (never followed by default). */
  urls?: string[];
}

/** A platform as an index describes it. */
export interface Platform {
  /** GOARCH-style architecture ("amd64", "arm64"). */
  architecture: string;
  /** GOOS-style OS ("linux"). */
  os: string;
  /** Variant ("v7", "v8"). */
  variant?: string;
}

/** An image manifest (OCI or Docker v2s2). */
export interface ImageManifest {
  /** Which kind. */
  kind: "manifest";
  /** Media type of the document. */
  mediaType: string;
  /** The config descriptor. */
  config: Descriptor;
  /** Layer descriptors, base first. */
  layers: Descriptor[];
}

/** An image index (OCI index or Docker manifest list). */
export interface ImageIndex {
  /** Which kind. */
  kind: "index";
  /** Media type of the document. */
  mediaType: string;
  /** Entries. */
  manifests: Descriptor[];
}

function malformed(what: string, why: string): SingletError {
  return new SingletError(`Cannot read ${what}: ${why}`, {
    hint: "the registry or archive served an invalid document; report it to the image owner",
    exitCode: 5,
  });
}

/**
 * Validate a descriptor object.
 *
 * @param value The parsed JSON.
 * @param what Where it was found, for messages.
 * @returns The descriptor.
 */
export function parseDescriptor(value: unknown, what: string): Descriptor {
  if (typeof value !== "object" || value === null) throw malformed(what, "not an object");
  const v = value as Record<string, unknown>;
  if (typeof v.mediaType !== "string") throw malformed(what, "descriptor without mediaType");
  if (typeof v.digest !== "string") throw malformed(what, "descriptor without digest");
  try {
    parseDigest(v.digest);
  } catch (error) {
    throw malformed(what, (error as Error).message);
  }
  if (typeof v.size !== "number" || !Number.isSafeInteger(v.size) || v.size < 0) {
    throw malformed(what, `descriptor ${v.digest} has an invalid size`);
  }
  const d: Descriptor = { mediaType: v.mediaType, digest: v.digest, size: v.size };
  if (v.platform && typeof v.platform === "object") {
    const p = v.platform as Record<string, unknown>;
    if (typeof p.architecture === "string" && typeof p.os === "string") {
      d.platform = { architecture: p.architecture, os: p.os };
      if (typeof p.variant === "string" && p.variant) d.platform.variant = p.variant;
    }
  }
  if (v.annotations && typeof v.annotations === "object") {
    d.annotations = v.annotations as Record<string, string>;
  }
  if (Array.isArray(v.urls)) d.urls = v.urls.filter((u): u is string => typeof u === "string");
  return d;
}

/**
 * Parse a manifest or index document.
 *
 * @param bytes The raw bytes (already size- and digest-checked by the caller).
 * @param contentType The `Content-Type` the registry sent, if any.
 * @param what Where it came from, for messages.
 * @returns The manifest or index.
 * @throws {SingletError} On schema 1, ambiguous or malformed documents (exit code 5).
 */
export function parseManifest(
  bytes: Uint8Array,
  contentType: string | undefined,
  what: string,
): ImageManifest | ImageIndex {
  const type = contentType === undefined
    ? undefined
    : (contentType.split(";")[0] ?? "").trim().toLowerCase();
  if (type === MediaType.dockerSchema1 || type === MediaType.dockerSchema1Signed) {
    throw schema1(what);
  }
  let doc: Record<string, unknown>;
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    doc = JSON.parse(text);
  } catch (error) {
    throw malformed(what, `not valid JSON (${(error as Error).message})`);
  }
  const duplicate = duplicateKey(text);
  if (duplicate !== undefined) {
    throw malformed(what, `key "${duplicate.slice(0, 40)}" appears twice (ambiguous document)`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw malformed(what, "not a JSON object");
  }
  if (doc.schemaVersion === 1) throw schema1(what);
  if (doc.schemaVersion !== 2) throw malformed(what, "schemaVersion is not 2");
  const mediaType = typeof doc.mediaType === "string" ? doc.mediaType : undefined;
  if (
    mediaType && type && type !== "application/json" && type !== "application/octet-stream" &&
    mediaType !== type
  ) {
    throw malformed(what, `mediaType "${mediaType}" differs from Content-Type "${type}"`);
  }
  const isIndex = "manifests" in doc;
  const isManifest = "config" in doc || "layers" in doc;
  if (isIndex && isManifest) throw malformed(what, "document is both an index and a manifest");
  const effective = mediaType ?? (type && type !== "application/json" ? type : undefined) ??
    (isIndex ? MediaType.ociIndex : MediaType.ociManifest);
  if (isIndex) {
    if (effective !== MediaType.ociIndex && effective !== MediaType.dockerList) {
      throw malformed(what, `unsupported index media type "${effective}"`);
    }
    if (!Array.isArray(doc.manifests)) throw malformed(what, "manifests is not an array");
    return {
      kind: "index",
      mediaType: effective,
      manifests: doc.manifests.map((m, i) => parseDescriptor(m, `${what} manifests[${i}]`)),
    };
  }
  if (effective !== MediaType.ociManifest && effective !== MediaType.dockerManifest) {
    throw malformed(what, `unsupported manifest media type "${effective}"`);
  }
  if (!Array.isArray(doc.layers)) throw malformed(what, "layers is not an array");
  return {
    kind: "manifest",
    mediaType: effective,
    config: parseDescriptor(doc.config, `${what} config`),
    layers: doc.layers.map((l, i) => parseDescriptor(l, `${what} layers[${i}]`)),
  };
}

function schema1(what: string): SingletError {
  return new SingletError(
    `Cannot read ${what}: Docker image manifest schema 1 is not supported`,
    {
      hint: "schema 1 was removed from Docker and distribution; rebuild or re-push the image " +
        "with a current tool (docker push, skopeo copy) to get a schema 2 / OCI manifest",
      exitCode: 5,
    },
  );
}

/** Map a host architecture name (Deno/uname style) to the OCI/GOARCH name. */
const ARCH_ALIASES: Record<string, string> = {
  x86_64: "amd64",
  x86: "386",
  i386: "386",
  i686: "386",
  aarch64: "arm64",
  armhf: "arm",
  armel: "arm",
  ppc64el: "ppc64le",
  riscv64gc: "riscv64",
};

/**
 * Parse `--platform os/arch[/variant]` or `--arch A` into a platform.
 *
 * @param options What the user gave; both empty means the host platform.
 * @returns The wanted platform.
 */
export function wantedPlatform(options: { platform?: string; arch?: string }): Platform {
  if (options.platform) {
    const parts = options.platform.split("/");
    if (parts.length < 2 || parts.length > 3 || parts.some((p) => !p)) {
      throw new SingletError(
        `Cannot use platform "${options.platform}": expected os/arch[/variant]`,
        {
          hint: "for example --platform linux/arm64 or --platform linux/arm/v7",
          exitCode: 2,
        },
      );
    }
    const platform: Platform = { os: parts[0]!, architecture: normaliseArch(parts[1]!) };
    if (parts[2]) platform.variant = parts[2];
    return platform;
  }
  const arch = options.arch ?? Deno.build.arch;
  const parts = arch.split("/");
  const platform: Platform = { os: "linux", architecture: normaliseArch(parts[0]!) };
  if (parts[1]) platform.variant = parts[1];
  return platform;
}

function normaliseArch(arch: string): string {
  return ARCH_ALIASES[arch] ?? arch;
}

/**
 * Format a platform as `os/arch[/variant]`.
 *
 * @param p The platform.
 * @returns Its text form.
 */
export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ""}`;
}

/**
 * Pick the index entry for a platform. A wanted variant must match; without one, arm64
 * prefers v8 (or none) and arm prefers the highest variant, as containerd does.
 *
 * @param index The index.
 * @param want The wanted platform.
 * @param what The image, for the error message.
 * @returns The chosen descriptor.
 * @throws {SingletError} Listing the platforms available when none matches.
 */
export function selectPlatform(index: ImageIndex, want: Platform, what: string): Descriptor {
  const candidates = index.manifests.filter((m) =>
    m.platform && m.platform.os === want.os && m.platform.architecture === want.architecture &&
    (!want.variant || m.platform.variant === want.variant ||
      (want.architecture === "arm64" && want.variant === "v8" && !m.platform.variant))
  );
  if (candidates.length > 0) {
    if (want.variant) return candidates[0]!;
    const sorted = [...candidates].sort((a, b) =>
      (b.platform!.variant ?? "").localeCompare(a.platform!.variant ?? "", "en", {
        numeric: true,
      })
    );
    if (want.architecture === "arm64") {
      return candidates.find((c) => !c.platform!.variant || c.platform!.variant === "v8") ??
        sorted[0]!;
    }
    return sorted[0]!;
  }
  const available = index.manifests.filter((m) => m.platform && m.platform.os !== "unknown")
    .map((m) => formatPlatform(m.platform!));
  throw new SingletError(
    `Cannot pull "${what}": no image for platform ${formatPlatform(want)}; available: ${
      available.length ? [...new Set(available)].join(", ") : "none"
    }`,
    { hint: "choose one with --platform os/arch[/variant] or --arch", exitCode: 2 },
  );
}
