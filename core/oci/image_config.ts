/**
 * The parts of an OCI image config that Singularity's conversion uses: environment,
 * entrypoint and command, working directory, user and labels; plus the DiffIDs that layers
 * are checked against.
 *
 * @module
 */
import { SingletError } from "../errors.ts";
import { isDigest } from "./digest.ts";

/** The runtime-relevant parts of an image config. */
export interface ImageConfig {
  /** `os` of the image. */
  os: string;
  /** `architecture` of the image. */
  architecture: string;
  /** `KEY=value` strings, in order. */
  env: string[];
  /** ENTRYPOINT. */
  entrypoint: string[];
  /** CMD. */
  cmd: string[];
  /** WORKDIR ("" when unset). */
  workingDir: string;
  /** USER ("" when unset). */
  user: string;
  /** Labels. */
  labels: Record<string, string>;
  /** `rootfs.diff_ids`, validated digests. */
  diffIds: string[];
  /** The whole config document as parsed. */
  raw: Record<string, unknown>;
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
}

/**
 * Parse an image config (OCI or Docker; both use the same `config` object).
 *
 * @param bytes The config blob (already digest-checked).
 * @returns The parsed config.
 * @throws {SingletError} When it is not a JSON object or the DiffIDs are malformed.
 */
export function parseImageConfig(bytes: Uint8Array): ImageConfig {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (error) {
    throw new SingletError(`Cannot read image config: ${(error as Error).message}`, {
      exitCode: 5,
    });
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new SingletError("Cannot read image config: not a JSON object", { exitCode: 5 });
  }
  const c = (typeof raw.config === "object" && raw.config ? raw.config : {}) as Record<
    string,
    unknown
  >;
  const rootfs = (typeof raw.rootfs === "object" && raw.rootfs ? raw.rootfs : {}) as Record<
    string,
    unknown
  >;
  const diffIds = strings(rootfs.diff_ids);
  const bad = diffIds.find((d) => !isDigest(d));
  if (bad !== undefined) {
    throw new SingletError(`Cannot read image config: invalid DiffID "${bad.slice(0, 80)}"`, {
      exitCode: 5,
    });
  }
  const labels: Record<string, string> = {};
  if (typeof c.Labels === "object" && c.Labels) {
    for (const [k, v] of Object.entries(c.Labels)) if (typeof v === "string") labels[k] = v;
  }
  return {
    os: typeof raw.os === "string" ? raw.os : "",
    architecture: typeof raw.architecture === "string" ? raw.architecture : "",
    env: strings(c.Env),
    entrypoint: strings(c.Entrypoint),
    cmd: strings(c.Cmd),
    workingDir: typeof c.WorkingDir === "string" ? c.WorkingDir : "",
    user: typeof c.User === "string" ? c.User : "",
    labels,
    diffIds,
    raw,
  };
}
