/**
 * The verbs singlet offers. Only implemented verbs belong here: no placeholders. Help lists
 * them alphabetically, as Singularity's does, so this list's order does not matter.
 *
 * @module
 */
import type { CommandRegistrar } from "../_command.ts";
import { registerCache } from "./cache.ts";
import { registerCheck } from "./check.ts";
import { registerInspect } from "./inspect.ts";
import { registerPull } from "./pull.ts";
import { registerRegistry } from "./registry.ts";
import { registerRunHelp } from "./run_help.ts";
import { registerSif } from "./sif.ts";
import { registerSquashfsPack } from "./squashfs.ts";
import { registerSquashfsReadVerbs } from "./squashfs_read.ts";
import { registerVersion } from "./version.ts";

/** Every verb's registrar. */
export const COMMANDS: readonly CommandRegistrar[] = [
  registerCache,
  registerCheck,
  registerInspect,
  registerPull,
  registerRegistry,
  registerRunHelp,
  registerSif,
  registerSquashfsPack,
  registerSquashfsReadVerbs,
  registerVersion,
];
