/**
 * The boundary between the build pipeline (`core/build`, which never starts processes) and
 * whatever runs definition scripts: the host for `%pre`/`%setup` (and `debootstrap`), a
 * fakeroot container on the sandbox being built for `%post`/`%test`/`%appinstall`. The
 * implementation lives in `runtime/build_runner.ts`.
 *
 * @module
 */

import type { SpecialNode } from "./files.ts";

/** A host path bound into the container for `%post` (`-B/--bind`). */
export interface RunnerBind {
  /** Host path. */
  source: string;
  /** Container path. */
  destination: string;
  /** Read-only. */
  readonly: boolean;
}

/** Runs definition-file scripts for a build. */
export interface SectionRunner {
  /**
   * Run a program on the host (`%pre`, `%setup`, `debootstrap`).
   *
   * @param argv Program and arguments.
   * @param env Variables added to the caller's environment (e.g. `SINGULARITY_ROOTFS`).
   * @returns The exit status.
   */
  runHost(argv: string[], env: Record<string, string>): Promise<number>;
  /**
   * Run a program in a container whose root is the writable sandbox `rootfs`, as (fake)
   * root, with the host network.
   *
   * @param rootfs The sandbox directory being built.
   * @param argv Program and arguments, paths as seen inside the container.
   * @param env Variables set inside the container.
   * @param binds Extra binds (`-B`).
   * @returns The exit status.
   */
  runInContainer(
    rootfs: string,
    argv: string[],
    env: Record<string, string>,
    binds: readonly RunnerBind[],
  ): Promise<number>;
  /**
   * How owners on the host map to owners in the image, for an unprivileged (fakeroot)
   * build: the caller becomes 0, the subordinate range 1..N. Absent or undefined: kept.
   *
   * @returns A translation of host (uid, gid) to image (uid, gid), or undefined.
   */
  ownerMap?(): Promise<((uid: number, gid: number) => [number, number]) | undefined>;
  /**
   * Remove a tree that may hold files owned by subordinate IDs (written by `%post` in a
   * fakeroot container), which the caller cannot remove directly.
   *
   * @param path The directory to remove.
   */
  removeTree?(path: string): Promise<void>;
  /**
   * `--fix-perms` for a tree holding files owned by subordinate IDs, which the caller
   * cannot chmod: owner `rw` on files, `rwx` on directories, as namespace root.
   *
   * @param path The root filesystem.
   */
  fixPerms?(path: string): Promise<void>;
  /**
   * Create a FIFO or device node for `%files` (Deno cannot; `cp -r` would).
   *
   * @param path Where, on the host (inside the sandbox being built).
   * @param node What to create.
   * @returns `undefined` when created, else why it was skipped (device nodes need root:
   *   a user namespace cannot make them).
   */
  makeNode?(path: string, node: SpecialNode): Promise<string | undefined>;
}
