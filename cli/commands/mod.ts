/**
 * The verbs singlet offers, each loaded only when used: `singlet exec` must not pay for
 * importing the registry client or the SquashFS packer. Only implemented verbs belong here:
 * no placeholders. Help lists them alphabetically, as Singularity's does.
 *
 * Imports are string literals so `deno compile` bundles every verb.
 *
 * @module
 */
import type { CommandRegistrar } from "../_command.ts";

/** Verb name to a loader of its registrar. */
export const VERBS: Readonly<Record<string, () => Promise<CommandRegistrar>>> = {
  build: async () => (await import("./build.ts")).registerBuild,
  cache: async () => (await import("./cache.ts")).registerCache,
  check: async () => (await import("./check.ts")).registerCheck,
  exec: async () => (await import("./exec.ts")).registerExec,
  inspect: async () => (await import("./inspect.ts")).registerInspect,
  pull: async () => (await import("./pull.ts")).registerPull,
  registry: async () => (await import("./registry.ts")).registerRegistry,
  run: async () => (await import("./run.ts")).registerRun,
  "run-help": async () => (await import("./run_help.ts")).registerRunHelp,
  shell: async () => (await import("./shell.ts")).registerShell,
  sif: async () => (await import("./sif.ts")).registerSif,
  squashfs: async () => {
    const [{ registerSquashfsPack }, { registerSquashfsReadVerbs }] = await Promise.all([
      import("./squashfs.ts"),
      import("./squashfs_read.ts"),
    ]);
    return (program) => {
      registerSquashfsPack(program);
      registerSquashfsReadVerbs(program);
    };
  },
  test: async () => (await import("./test.ts")).registerTest,
  version: async () => (await import("./version.ts")).registerVersion,
};

/**
 * The registrars needed to run a command line: only its verb's when the verb is known,
 * every verb's for help, a bare `singlet` or an unknown verb (for did-you-mean).
 *
 * @param verb The first argument after the global flags, if any.
 * @returns Registrars to apply to the root program.
 */
export async function registrarsFor(verb: string | undefined): Promise<CommandRegistrar[]> {
  const load = verb !== undefined ? VERBS[verb] : undefined;
  if (load) return [await load()];
  return await Promise.all(Object.values(VERBS).map((loader) => loader()));
}
