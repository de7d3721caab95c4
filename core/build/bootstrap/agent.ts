/**
 * The contract between the build pipeline and its bootstrap agents: each fills an empty
 * root filesystem directory and says what it knows about the image it came from.
 *
 * @module
 */
import type { Stage } from "../deffile.ts";
import type { ImageConfigLike } from "../../image/singularity_d.ts";
import type { PullOptions } from "../../oci/pull.ts";

/** What an agent gets. */
export interface BootstrapContext {
  /** The stage being built (its header holds `From:`, `Registry:`, `Namespace:`). */
  stage: Stage;
  /** The directory to fill (does not exist yet; its parent does). */
  rootfs: string;
  /** Pull settings for OCI agents (cache, platform, network). */
  pull: Omit<PullOptions, "output" | "force" | "fetchOnly" | "onFetched">;
  /** Warnings for the user. */
  onWarning: (message: string) => void;
}

/** What an agent reports about the base image. */
export interface BootstrapResult {
  /** The OCI image config, for OCI agents. */
  ociConfig?: ImageConfigLike;
  /** `labels.json` of a local image built upon. */
  existingLabels?: Record<string, string>;
  /** `env/90-environment.sh` of a local image built upon. */
  existingEnvironment?: string;
  /** Definitions of a local image built upon, oldest first. */
  bootstrapHistory?: string[];
}

/** A bootstrap agent. */
export type BootstrapAgent = (context: BootstrapContext) => Promise<BootstrapResult>;

/**
 * A header value of the stage, or an error naming the keyword when it is required.
 *
 * @param stage The stage.
 * @param key Lower-case keyword.
 * @returns The value (trimmed), or undefined when absent and not required.
 */
export function headerValue(stage: Stage, key: string): string | undefined {
  const value = stage.header.get(key)?.trim();
  return value ? value : undefined;
}
