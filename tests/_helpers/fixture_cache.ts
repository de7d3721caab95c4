/**
 * The shared on-disk cache of test fixtures: each fixture is built once per machine into
 * `/tmp/singlet-fixtures/<key>/` (key = hash of the generator sources and the host inputs),
 * by building into a temporary name and renaming it into place, so parallel test
 * processes never see half a fixture. Everything is world-readable so the unprivileged
 * test user can read it.
 *
 * @module
 */
import { createHash } from "node:crypto";

/**
 * Root of all fixture caches: `/tmp/singlet-fixtures` for root (tests run as root),
 * `/tmp/singlet-fixtures-uid<N>` for anyone else, whose files would have other owners;
 * `SINGLET_FIXTURE_CACHE` overrides it (e.g. to rebuild from scratch).
 */
export const FIXTURE_CACHE_ROOT: string = Deno.env.get("SINGLET_FIXTURE_CACHE") ||
  (Deno.uid() === 0 ? "/tmp/singlet-fixtures" : `/tmp/singlet-fixtures-uid${Deno.uid()}`);

/** Generator sources whose change invalidates the cache. */
const SOURCES = [
  "./fixture_cache.ts",
  "./fixtures.ts",
  "./tar_writer.ts",
  "./oci_writer.ts",
  "./whiteout_layers.ts",
];
/** Host inputs whose change invalidates the cache. */
const HOST_INPUTS = ["/bin/busybox"];

let cacheDirPromise: Promise<string> | undefined;
const pending = new Map<string, Promise<string>>();

async function computeCacheDir(): Promise<string> {
  const hash = createHash("sha256");
  for (const source of SOURCES) hash.update(await Deno.readFile(new URL(source, import.meta.url)));
  for (const input of HOST_INPUTS) {
    try {
      hash.update(await Deno.readFile(input));
    } catch {
      hash.update(`missing ${input}`);
    }
  }
  const dir = `${FIXTURE_CACHE_ROOT}/v1-${hash.digest("hex").slice(0, 16)}`;
  await Deno.mkdir(dir, { recursive: true });
  for (const path of [FIXTURE_CACHE_ROOT, dir]) {
    try {
      await Deno.chmod(path, 0o755);
    } catch {
      // made by another user: theirs to keep readable
    }
  }
  return dir;
}

/**
 * The cache directory for the current generator version.
 *
 * @returns An existing, world-readable directory.
 */
export function fixtureCacheDir(): Promise<string> {
  cacheDirPromise ??= computeCacheDir();
  return cacheDirPromise;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

async function buildOnce(name: string, build: (path: string) => Promise<void>): Promise<string> {
  const dir = await fixtureCacheDir();
  const final = `${dir}/${name}`;
  if (await exists(final)) return final;
  const temporary = `${dir}/.tmp-${name}-${crypto.randomUUID()}`;
  try {
    await build(temporary);
    try {
      await Deno.rename(temporary, final);
    } catch (error) {
      // Another process won the race for a directory fixture: its copy is identical.
      if (!(await exists(final))) throw error;
    }
  } finally {
    await Deno.remove(temporary, { recursive: true }).catch(() => {});
  }
  return final;
}

/**
 * Get a cached fixture, building it on first use (once per process, once per machine).
 *
 * @param name File or directory name inside the cache directory.
 * @param build Writes the fixture at the path given (a file or a directory, not yet existing).
 * @returns The fixture's path; treat it as read-only.
 */
export function cachedFixture(
  name: string,
  build: (path: string) => Promise<void>,
): Promise<string> {
  let promise = pending.get(name);
  if (!promise) {
    promise = buildOnce(name, build);
    pending.set(name, promise);
    promise.catch(() => pending.delete(name));
  }
  return promise;
}
