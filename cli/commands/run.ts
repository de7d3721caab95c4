/**
 * `singlet run`: run the user-defined default command within a container, as `singularity run` does. The flags are shared with the other
 * actions (`cli/_action_flags.ts`).
 *
 * @module
 */
import type { Command } from "../_command.ts";
import { registerAction } from "../_action_flags.ts";

/**
 * Register `singlet run`.
 *
 * @param program The root program.
 */
export function registerRun(program: Command): void {
  registerAction(
    program,
    "run",
    "Run the user-defined default command within a container",
    "<image> [args...]",
  );
}
