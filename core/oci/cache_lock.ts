/**
 * "One process does it, the others wait" for the cache, safe across processes and hosts
 * sharing an NFS-like filesystem. Used for blob downloads and SIF conversions.
 *
 * The lock file is created with O_EXCL; its owner then takes an flock on it (the kernel, or
 * NLM on NFS, drops the flock when the owner dies), writes its token, and refreshes the
 * file's mtime as a heartbeat. A waiter judges the lock stale when its flock is free (owner
 * dead) or, on filesystems without locks, when the heartbeat is older than `staleMs`; it
 * breaks a stale lock by renaming it away (of several breakers exactly one wins). Callers
 * must stay correct without the lock (write to unique temp files, rename into place): the
 * lock saves work, it does not guard consistency.
 *
 * @module
 */

/** Options of {@linkcode lockOrWait}. */
export interface LockOptions {
  /** A lock with no heartbeat for this long is stale. */
  staleMs: number;
  /** Host name recorded in the lock. */
  hostname: string;
  /** Stops waiting. */
  signal?: AbortSignal;
  /** Called once when another process holds the lock. */
  onWait?: () => void;
  /** Called at each poll while waiting. */
  onPoll?: () => Promise<void> | void;
}

/** A held lock. */
export interface HeldLock {
  /** This holder's token (unique per acquisition). */
  token: string;
  /** Stop the heartbeat and remove the lock (if it is still ours). */
  release(): Promise<void>;
}

const encoder = new TextEncoder();

function randomToken(): string {
  return crypto.randomUUID().replaceAll("-", "").slice(0, 16);
}

/**
 * Take the lock, or wait until `done()` says the work was done by someone else.
 *
 * @param lockPath The lock file.
 * @param done Whether the work is already done (checked before and while waiting).
 * @param options Staleness, host name, abort signal, callbacks.
 * @returns The held lock, or undefined when the work is done.
 */
export async function lockOrWait(
  lockPath: string,
  done: () => Promise<boolean>,
  options: LockOptions,
): Promise<HeldLock | undefined> {
  let waited = false;
  let delay = 50;
  while (true) {
    options.signal?.throwIfAborted();
    if (await done()) return undefined;
    let file: Deno.FsFile | undefined;
    try {
      file = await Deno.open(lockPath, { write: true, createNew: true, mode: 0o600 });
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    }
    if (file) {
      const token = randomToken();
      try {
        await file.lock(true);
        await file.write(
          encoder.encode(JSON.stringify({ host: options.hostname, pid: Deno.pid, token })),
        );
      } catch {
        // No locking on this filesystem: rely on the heartbeat alone.
      }
      const held = file;
      const heartbeat = setInterval(() => {
        const now = new Date();
        Deno.utime(lockPath, now, now).catch(() => {});
      }, Math.max(options.staleMs / 4, 50));
      return {
        token,
        async release() {
          clearInterval(heartbeat);
          try {
            const owner = JSON.parse(await Deno.readTextFile(lockPath));
            if (owner.token === token) await Deno.remove(lockPath);
          } catch {
            // Already gone, or broken by someone who judged it stale.
          }
          try {
            held.close();
          } catch {
            // closed
          }
        },
      };
    }
    if (await breakIfStale(lockPath, options.staleMs)) continue;
    if (!waited) {
      waited = true;
      options.onWait?.();
    }
    await options.onPoll?.();
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 500);
  }
}

async function breakIfStale(lockPath: string, staleMs: number): Promise<boolean> {
  let info: Deno.FileInfo;
  let owner: { token?: string } = {};
  try {
    info = await Deno.stat(lockPath);
    owner = JSON.parse(await Deno.readTextFile(lockPath));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return true;
    // Being written right now, or left half-written: judge by its age only.
    const again = await Deno.stat(lockPath).catch(() => undefined);
    if (!again) return true;
    info = again;
  }
  let dead = Date.now() - (info.mtime?.getTime() ?? 0) > staleMs;
  if (!dead && owner.token) dead = await ownerGone(lockPath);
  if (!dead) return false;
  const aside = `${lockPath}.stale-${randomToken()}`;
  try {
    await Deno.rename(lockPath, aside);
    await Deno.remove(aside).catch(() => {});
  } catch {
    // Someone else broke it first.
  }
  return true;
}

/** True when nobody holds the flock on a lock file whose owner wrote its token. */
async function ownerGone(lockPath: string): Promise<boolean> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(lockPath, { read: true, write: true });
  } catch {
    return true;
  }
  try {
    const free = await file.tryLock(true);
    if (free) await file.unlock();
    return free;
  } catch {
    return false; // no locks here: wait for the heartbeat to go stale
  } finally {
    file.close();
  }
}
