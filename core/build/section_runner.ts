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
   * Run a host program as root (a distribution bootstrapper such as `debootstrap`), in
   * private mount and PID namespaces (its mounts vanish with it; when singlet ends, every
   * process it started ends too): as root itself, or, for an unprivileged caller, as root
   * of the fakeroot user namespace (the caller mapped to 0, subordinate IDs to 1..N, as for
   * `%post`), so that it may chown to any ID, chroot, and mount `/proc` and bind mounts.
   * Absent: only root can run such programs (through `runHost`).
   *
   * @param argv Program and arguments.
   * @param env Variables added to the caller's environment.
   * @param options `devices`: a root directory whose `dev/null`, `zero`, `full`, `random`,
   *   `urandom` and `tty` are the host's (bind mounts on placeholder files, removed again
   *   afterwards) while the program runs, where it cannot mknod them (unprivileged only).
   * @returns The exit status.
   * @throws {Error} When no fakeroot namespace with subordinate IDs can be made.
   */
  runHostAsRoot?(
    argv: string[],
    env: Record<string, string>,
    options?: { devices?: string },
  ): Promise<number>;
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
   * Make every directory and regular file of a tree built by a fakeroot build readable by
   * the caller, who packs it: `%post` or a bootstrap tool running as root of the user
   * namespace leaves entries owned by subordinate IDs with modes such as 0700 (apt's
   * `partial` directories) or 0000. Runs as namespace root, which may chmod them. Only for
   * a tree about to be packed and removed.
   *
   * @param path The sandbox directory.
   * @returns The original permission bits of each entry it changed (path relative to
   *   `path`, without a leading `/`), for the packer to store; undefined when nothing needed
   *   to change (root builds).
   */
  openTreeForPacking?(path: string): Promise<Map<string, number> | undefined>;
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
