/**
 * `build --fix-perms`: give the owner read and write on every file and read, write and
 * search on every directory of a root filesystem (SingularityCE's `ociimage.FixPerms`),
 * so a user can modify and delete a sandbox, and every file can be read when packing.
 * Without the flag, a sandbox build on an OCI base warns about entries that would stop the user doing
 * that (SingularityCE's `CheckPerms`).
 *
 * Differences from SingularityCE: applied to the finished stage, whatever the bootstrap
 * agent (SingularityCE applies it right after unpacking an OCI base, before `%files` and
 * `%post`); setuid, setgid and sticky bits are kept (SingularityCE's `chmod` of
 * `Mode().Perm() | bits` clears them). Symlinks, device nodes, FIFOs and sockets are left
 * alone.
 *
 * @module
 */

/** What {@linkcode fixPermissions} could not change. */
export interface FixPermsResult {
  /** Entries whose mode the caller may not change (owned by another, subordinate, ID). */
  denied: string[];
}

function isDenied(error: unknown): boolean {
  return error instanceof Deno.errors.PermissionDenied ||
    (error instanceof Deno.errors.NotCapable);
}

/**
 * Add owner `rw` to files and `rwx` to directories under `root` (not `root` itself), as
 * the caller. A directory is changed before it is read, so `0000` directories are entered.
 *
 * @param root The root filesystem.
 * @returns The entries the caller was not allowed to change (to be handled by a runner
 *   with the build's user namespace).
 */
export async function fixPermissions(root: string): Promise<FixPermsResult> {
  const denied: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    let names: Deno.DirEntry[];
    try {
      names = await Array.fromAsync(Deno.readDir(dir));
    } catch (error) {
      if (isDenied(error)) {
        denied.push(dir);
        return;
      }
      throw error;
    }
    for (const e of names) {
      const path = `${dir}/${e.name}`;
      if (!e.isDirectory && !e.isFile) continue;
      const info = await Deno.lstat(path);
      const mode = info.mode! & 0o7777;
      const want = mode | (e.isDirectory ? 0o700 : 0o600);
      if (want !== mode) {
        try {
          await Deno.chmod(path, want);
        } catch (error) {
          if (!isDenied(error)) throw error;
          denied.push(path);
          continue;
        }
      }
      if (e.isDirectory) await walk(path);
    }
  };
  await walk(root);
  return { denied };
}

/**
 * Entries under `root` whose owner lacks `rw` (files) or `rwx` (directories): the ones
 * that stop a user modifying or deleting a sandbox without `chmod` first.
 *
 * @param root The root filesystem.
 * @param limit Stop after this many.
 * @returns Paths relative to `root` (with a leading `/`).
 */
export async function restrictivePaths(root: string, limit = 20): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    let names: Deno.DirEntry[];
    try {
      names = await Array.fromAsync(Deno.readDir(dir));
    } catch {
      return; // reported through its own mode
    }
    const entries = names.filter((e) => e.isDirectory || e.isFile);
    // one directory's lstat calls at once: most of the time of a large tree is their latency
    const modes = await Promise.all(
      entries.map((e) => Deno.lstat(`${dir}/${e.name}`).then((i) => i.mode! & 0o777, () => 0o777)),
    );
    for (const [i, e] of entries.entries()) {
      if (found.length >= limit) return;
      const path = `${dir}/${e.name}`;
      const need = e.isDirectory ? 0o700 : 0o600;
      if ((modes[i]! & need) !== need) found.push(path.slice(root.length));
      if (e.isDirectory) await walk(path);
    }
  };
  await walk(root);
  return found;
}
