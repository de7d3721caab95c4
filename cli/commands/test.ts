/**
 * `singlet test`: run the user-defined tests within a container, as `singularity test` does. The flags are shared with the other
 * actions (`cli/_action_flags.ts`).
 *
 * @module
 */
import type { Command } from "../_command.ts";
import { registerAction } from "../_action_flags.ts";

/**
 * Register `singlet test`.
 *
 * @param program The root program.
 */
export function registerTest(program: Command): void {
  registerAction(
    program,
    "test",
    "Run the user-defined tests within a container",
    "<image> [args...]",
  );
}
