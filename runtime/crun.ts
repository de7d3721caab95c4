/**
 * crun as singlet's OCI runtime (preferred where it works: it starts faster than runc).
 * It takes runc's command lines; cgroups are left to the caller's (`--cgroup-manager
 * disabled`), as singlet sets no resource limits through the runtime.
 *
 * @module
 */
import type { OciRuntime } from "./oci_runtime.ts";

/** crun command lines. */
export class Crun implements OciRuntime {
  /** The runtime's name. */
  readonly name = "crun" as const;

  /**
   * The command line that runs a container from a bundle.
   *
   * @param stateRoot State directory (`--root`).
   * @param bundle Bundle directory.
   * @param id Container id.
   * @returns `crun run` command line.
   */
  runArgs(stateRoot: string, bundle: string, id: string): string[] {
    return [
      "crun",
      "--root",
      stateRoot,
      "--cgroup-manager=disabled",
      "run",
      "--bundle",
      bundle,
      id,
    ];
  }

  /**
   * The command line that prints the container's state (JSON with the init's "pid").
   *
   * @param stateRoot State directory (`--root`).
   * @param id Container id.
   * @returns `crun state` command line.
   */
  stateArgs(stateRoot: string, id: string): string[] {
    return ["crun", "--root", stateRoot, "state", id];
  }
}
