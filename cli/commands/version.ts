/**
 * `singlet version`: print the version, as `singularity version` does.
 *
 * @module
 */
import { action, type Command } from "../_command.ts";
import { printOut } from "../_output.ts";
import { VERSION } from "../../core/version.ts";

/**
 * Register `singlet version`.
 *
 * @param program The root program.
 */
export function registerVersion(program: Command): void {
  program
    .command("version")
    .description("Show the version of singlet")
    .action(action(() => {
      printOut(`singlet version ${VERSION}\n`);
    }));
}
