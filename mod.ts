/**
 * singlet: pull, build, sign and run Singularity-compatible containers without root.
 *
 * This module is the library API: the formats (SIF, SquashFS, OCI images, definition
 * files) and the runtime, as used by the `singlet` command line in `cli/`.
 *
 * @example Usage
 * ```ts
 * import { VERSION } from "./mod.ts";
 * console.log(VERSION);
 * ```
 *
 * @module
 */
import denoConfig from "./deno.json" with { type: "json" };

/** singlet's version, from deno.json. */
export const VERSION: string = denoConfig.version;

export { EXIT_FAILURE, EXIT_USAGE, SingletError, UsageError } from "./core/errors.ts";
export type { SingletErrorOptions } from "./core/errors.ts";
export * from "./core/sif/mod.ts";
export * from "./core/squashfs/reader.ts";
export * from "./core/squashfs/extract.ts";
