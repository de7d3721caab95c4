/**
 * The list of verbs singlet offers, in the order `help` shows them. Only implemented verbs
 * belong here: no placeholders.
 *
 * @module
 */
import type { CommandRegistrar } from "../_command.ts";
import { registerVersion } from "./version.ts";
import { registerPull } from "./pull.ts";
import { registerRegistry } from "./registry.ts";
import { registerCache } from "./cache.ts";

/** Every verb's registrar, in help order. */
export const COMMANDS: readonly CommandRegistrar[] = [
  registerVersion,
  registerPull,
  registerRegistry,
  registerCache,
];
