/**
 * singlet's version, kept in its own module so the CLI can print it without loading the
 * library.
 *
 * @module
 */
import denoConfig from "../deno.json" with { type: "json" };

/** singlet's version, from deno.json. */
export const VERSION: string = denoConfig.version;
