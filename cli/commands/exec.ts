/**
 * `singlet exec`: run a command within a container, as `singularity exec` does. The flags are shared with the other
 * actions (`cli/_action_flags.ts`).
 *
 * @module
 */
import type { Command } from "../_command.ts";
import { registerAction } from "../_action_flags.ts";

/**
 * Register `singlet exec`.
 *
 * @param program The root program.
 */
export function registerExec(program: Command): void {
  registerAction(
    program,
    "exec",
    "Run a command within a container",
    "<image> <command> [args...]",
  );
}
