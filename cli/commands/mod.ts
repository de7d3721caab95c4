/**
 * The verbs singlet offers. Only implemented verbs belong here: no placeholders. Help lists
 * them alphabetically, as Singularity's does, so this list's order does not matter.
 *
 * @module
 */
import type { CommandRegistrar } from "../_command.ts";
import { registerCheck } from "./check.ts";
import { registerSif } from "./sif.ts";
import { registerVersion } from "./version.ts";
import { registerSquashfsPack } from "./squashfs.ts";
import { registerSquashfsReadVerbs } from "./squashfs_read.ts";
import { registerInspect } from "./inspect.ts";
import { registerRunHelp } from "./run_help.ts";

/** Every verb's registrar. */
export const COMMANDS: readonly CommandRegistrar[] = [
  registerCheck,
  registerSif,
  registerVersion,
  registerSquashfsPack,
  registerSquashfsReadVerbs,
  registerInspect,
  registerRunHelp,
];
