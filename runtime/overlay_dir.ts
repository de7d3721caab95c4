/**
 * A writable `--overlay DIR`: its `upper/` and `work/` subdirectories (SingularityCE's
 * layout), created when missing and checked before anything is mounted.
 *
 * Why the check: in a user namespace the overlay is mounted by namespace root, a
 * subordinate ID, which may write only where the caller may. When `upper/` or `work/`
 * belong to someone else (typically root, after a root run on a shared directory), the
 * kernel still mounts the overlay, read-only, and the runtime fails later on its first
 * mount point (`mkdir .../rootfs/home/<user>: read-only file system`).
 *
 * @module
 */
import { SingletError } from "../core/errors.ts";

const HINT = "use a directory of your own for a writable --overlay (e.g. mkdir ~/overlay), " +
  "or ask the directory's owner to hand it over (chown -R)";

/**
 * Create (if needed) and check the writable layer of an overlay directory.
 *
 * @param dir The overlay directory (exists).
 * @param asUser The container runs in a user namespace: `upper/` and `work/` must be the
 *   caller's own.
 * @returns The `upper` and `work` paths.
 */
export function prepareOverlayDir(dir: string, asUser: boolean): { upper: string; work: string } {
  const upper = `${dir}/upper`;
  const work = `${dir}/work`;
  for (const name of ["upper", "work"]) {
    const path = `${dir}/${name}`;
    try {
      Deno.mkdirSync(path, { recursive: true });
    } catch (error) {
      if (!(error instanceof Deno.errors.PermissionDenied)) throw error;
      throw new SingletError(
        `Cannot use overlay "${dir}": you may not create its ${name}/ directory`,
        { hint: HINT, cause: error },
      );
    }
    if (!asUser) continue;
    const owner = Deno.statSync(path).uid;
    if (owner !== null && owner !== Deno.uid()) {
      throw new SingletError(
        `Cannot use overlay "${dir}": its ${name}/ directory belongs to ${
          owner === 0 ? "root" : `uid ${owner}`
        }, not to you, so it cannot be written`,
        { hint: HINT },
      );
    }
  }
  return { upper, work };
}
