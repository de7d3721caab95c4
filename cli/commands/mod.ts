/**
 * The list of verbs singlet offers, in the order `help` shows them. Only implemented verbs
 * belong here: no placeholders.
 *
 * @module
 */
import type { CommandRegistrar } from "../_command.ts";
import { registerVersion } from "./version.ts";
import { registerSquashfsPack } from "./squashfs.ts";
import { registerSquashfsReadVerbs } from "./squashfs_read.ts";

/** Every verb's registrar, in help order. */
export const COMMANDS: readonly CommandRegistrar[] = [
  registerVersion,
  registerSquashfsPack,
  registerSquashfsReadVerbs,
];
