/**
 * runc as singlet's OCI runtime. `runc run` in the foreground forwards the signals it
 * receives to the container and exits with the container's status (128+n for a signal).
 *
 * @module
 */
import type { OciRuntime } from "./oci_runtime.ts";

/** runc command lines. */
export class Runc implements OciRuntime {
  /** The runtime's name. */
  readonly name = "runc" as const;

  /**
   * The command line that runs a container from a bundle.
   *
   * @param stateRoot State directory (`--root`).
   * @param bundle Bundle directory.
   * @param id Container id.
   * @returns `runc run` command line.
   */
  runArgs(stateRoot: string, bundle: string, id: string): string[] {
    return ["runc", "--root", stateRoot, "run", "--bundle", bundle, id];
  }

  /**
   * The command line that prints the container's state (JSON with the init's "pid").
   *
   * @param stateRoot State directory (`--root`).
   * @param id Container id.
   * @returns `runc state` command line.
   */
  stateArgs(stateRoot: string, id: string): string[] {
    return ["runc", "--root", stateRoot, "state", id];
  }
}
