/**
 * The {@linkcode SectionRunner} of `singlet build`: `%pre`/`%setup` (and `debootstrap`) run
 * on the host; `%post`, `%appinstall` and `%test` run through {@linkcode launch} in a
 * container whose root is the writable sandbox being built, as (fake) root — root itself,
 * or the caller mapped to 0 with the subordinate range — with the host network, contained
 * (no home or /tmp from the host, as SingularityCE's build does), `-B` binds honoured.
 *
 * @module
 */
import type { RunnerBind, SectionRunner } from "../core/build/section_runner.ts";
import { runCommand } from "./_command.ts";
import { launch, type LaunchLogger } from "./launch.ts";

/**
 * Make the runner the build pipeline uses.
 *
 * @param logger Where the runtime's messages go.
 * @returns The runner.
 */
export function buildRunner(logger: LaunchLogger): SectionRunner {
  return {
    async runHost(argv: string[], env: Record<string, string>): Promise<number> {
      const { code } = await runCommand(argv, {
        env,
        stdin: "null",
        stdout: "inherit",
        stderr: "inherit",
      });
      return code;
    },
    async runInContainer(
      rootfs: string,
      argv: string[],
      env: Record<string, string>,
      binds: readonly RunnerBind[],
    ): Promise<number> {
      return await launch({
        image: rootfs,
        action: "exec",
        args: argv,
        writable: true,
        fakeroot: Deno.uid() !== 0,
        contain: true,
        env: Object.entries(env),
        binds: [...binds],
        logger,
      });
    },
  };
}
