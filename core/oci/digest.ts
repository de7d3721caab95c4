/**
 * Content digests as the OCI image spec defines them, parsed once at the boundary so a raw
 * string from a registry or an archive is never joined into a path or a URL (CVE-2024-3727).
 *
 * @module
 */
import { createHash, type Hash } from "node:crypto";

/** A validated digest: algorithm and lowercase hex. */
export interface Digest {
  /** "sha256" or "sha512". */
  readonly algorithm: "sha256" | "sha512";
  /** Lowercase hex of the right length. */
  readonly hex: string;
  /** `algorithm:hex`. */
  readonly value: string;
}

const HEX_LENGTH = { sha256: 64, sha512: 128 } as const;

/**
 * Parse and validate a digest string (`sha256:<64 lowercase hex>` or `sha512:<128 hex>`).
 *
 * @param text The digest as found in a manifest, header or reference.
 * @returns The parsed digest.
 * @throws {SyntaxError} When the algorithm is unsupported or the hex is malformed.
 */
export function parseDigest(text: string): Digest {
  const match = /^(sha256|sha512):([a-f0-9]+)$/.exec(text);
  if (!match) {
    throw new SyntaxError(`invalid digest "${text.slice(0, 80)}": expected sha256:<64 hex>`);
  }
  const algorithm = match[1] as "sha256" | "sha512";
  const hex = match[2]!;
  if (hex.length !== HEX_LENGTH[algorithm]) {
    throw new SyntaxError(`invalid digest "${text.slice(0, 80)}": wrong length for ${algorithm}`);
  }
  return { algorithm, hex, value: `${algorithm}:${hex}` };
}

/**
 * Whether a string is a valid digest.
 *
 * @param text Candidate digest.
 * @returns True when {@linkcode parseDigest} would accept it.
 */
export function isDigest(text: string): boolean {
  try {
    parseDigest(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * The sha256 digest of bytes held in memory.
 *
 * @param data The bytes.
 * @returns `sha256:<hex>`.
 */
export function sha256Digest(data: Uint8Array): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

/**
 * A streaming hasher for the algorithm a digest names.
 *
 * @param digest The expected digest (only its algorithm is used).
 * @returns A node:crypto hash object.
 */
export function hasherFor(digest: Digest): Hash {
  return createHash(digest.algorithm);
}
