/**
 * `singlet shell`: run a shell within a container, as `singularity shell` does. The flags are shared with the other
 * actions (`cli/_action_flags.ts`).
 *
 * @module
 */
import type { Command } from "../_command.ts";
import { registerAction } from "../_action_flags.ts";

/**
 * Register `singlet shell`.
 *
 * @param program The root program.
 */
export function registerShell(program: Command): void {
  registerAction(program, "shell", "Run a shell within a container", "<image>");
}
