/**
 * The processes of a definition-file build (`core/build/build.ts`'s `BuildRunner`): `%setup`
 * on the host with `sh`, `%post` as root in the writable sandbox through {@linkcode launch}
 * with `--fakeroot` and the host network, `%test` through the `test` action.
 *
 * @module
 */
import type { BuildRunner } from "../core/build/build.ts";
import { type BindSpec, launch, type LaunchLogger } from "./launch.ts";

/** Options of {@linkcode buildRunner}. */
export interface BuildRunnerOptions {
  /** `-B/--bind` items for `%post` and `%test`. */
  binds?: BindSpec[];
  /** Where runtime messages go. */
  logger: LaunchLogger;
}

/**
 * A runner for the build pipeline.
 *
 * @param options Binds and logger.
 * @returns The runner.
 */
export function buildRunner(options: BuildRunnerOptions): BuildRunner {
  return {
    async host(argv, env) {
      // `sh` by name: it is the name --allow-run grants.
      const [program, ...args] = argv;
      const child = new Deno.Command(program === "/bin/sh" ? "sh" : program!, {
        args,
        env,
        stdin: "null",
        stdout: "inherit",
        stderr: "inherit",
      });
      return (await child.output()).code;
    },
    container(rootfs, argv, env) {
      return launch({
        image: rootfs,
        action: "exec",
        args: argv,
        writable: true,
        fakeroot: true,
        env: Object.entries(env),
        binds: options.binds ?? [],
        logger: options.logger,
      });
    },
    test(rootfs) {
      return launch({
        image: rootfs,
        action: "test",
        args: [],
        fakeroot: true,
        binds: options.binds ?? [],
        logger: options.logger,
      });
    },
  };
}
