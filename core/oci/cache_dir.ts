/**
 * Where singlet's cache lives and what is in it: `SINGLET_CACHEDIR` (or Singularity's and
 * Apptainer's spelling of it, or `~/.singlet/cache`), with one sub-directory per type as
 * Singularity lays it out: `blob` (an OCI layout of downloaded blobs), `oci-tmp` (SIFs
 * converted from OCI images, keyed by manifest digest) and `net` (files downloaded over
 * HTTP(S)). Listing and cleaning back `singlet cache list` and `singlet cache clean`.
 *
 * @module
 */
import { SingletError } from "../errors.ts";

/** Cache types, as `--type` names them. */
export const CACHE_TYPES = ["blob", "oci-tmp", "net"] as const;
/** One cache type. */
export type CacheType = typeof CACHE_TYPES[number];

/**
 * The cache root from the environment.
 *
 * @param env Environment lookup (default `Deno.env.get`).
 * @returns An absolute path.
 */
export function defaultCacheDir(
  env: (name: string) => string | undefined = (n) => Deno.env.get(n),
): string {
  for (const name of ["SINGLET_CACHEDIR", "SINGULARITY_CACHEDIR", "APPTAINER_CACHEDIR"]) {
    const value = env(name);
    if (value) return value.replace(/\/+$/, "") || "/";
  }
  const home = env("HOME");
  if (!home) {
    throw new SingletError("Cannot find the cache directory: HOME is not set", {
      hint: "set SINGLET_CACHEDIR to a directory you own",
    });
  }
  return `${home}/.singlet/cache`;
}

/**
 * Create a directory (and parents) with mode 0700, and tighten it if it exists looser.
 *
 * @param path The directory.
 */
export async function ensurePrivateDir(path: string): Promise<void> {
  await Deno.mkdir(path, { recursive: true, mode: 0o700 });
  const info = await Deno.stat(path);
  if (info.mode !== null && (info.mode & 0o077) !== 0) await Deno.chmod(path, 0o700);
}

/** One item of the cache. */
export interface CacheEntry {
  /** Cache type. */
  type: CacheType;
  /** Name (a digest hex, or a file name). */
  name: string;
  /** Absolute path. */
  path: string;
  /** Bytes. */
  size: number;
  /** Last modification. */
  mtime: Date;
}

/**
 * List the items of the cache, optionally of one type.
 *
 * @param root The cache root.
 * @param types Types to include (default all).
 * @returns The entries, sorted by type then name.
 */
export async function listCache(
  root: string,
  types: readonly CacheType[] = CACHE_TYPES,
): Promise<CacheEntry[]> {
  const entries: CacheEntry[] = [];
  for (const type of types) {
    const dir = type === "blob" ? `${root}/blob/blobs/sha256` : `${root}/${type}`;
    let names: Deno.DirEntry[];
    try {
      names = await Array.fromAsync(Deno.readDir(dir));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue;
      throw error;
    }
    for (const entry of names) {
      if (entry.name.startsWith(".")) continue;
      const path = `${dir}/${entry.name}`;
      const info = await Deno.lstat(path);
      if (!info.isFile) continue;
      entries.push({
        type,
        name: entry.name,
        path,
        size: info.size,
        mtime: info.mtime ?? new Date(0),
      });
    }
  }
  return entries.sort((a, b) => a.type.localeCompare(b.type) || a.name.localeCompare(b.name));
}

/** Options of {@linkcode cleanCache}. */
export interface CleanOptions {
  /** Types to clean (default all). */
  types?: readonly CacheType[];
  /** Only items not modified for this many days. */
  days?: number;
  /** Report only. */
  dryRun?: boolean;
}

/**
 * Remove cache items; with no `days`, also leftover downloads in `blob/ingest`.
 *
 * @param root The cache root.
 * @param options Which items.
 * @returns The items removed (or that would be, with `dryRun`).
 */
export async function cleanCache(root: string, options: CleanOptions = {}): Promise<CacheEntry[]> {
  const types = options.types ?? CACHE_TYPES;
  const cutoff = options.days === undefined ? Infinity : Date.now() - options.days * 86400_000;
  const chosen = (await listCache(root, types)).filter((e) => e.mtime.getTime() <= cutoff);
  if (options.dryRun) return chosen;
  for (const entry of chosen) {
    await Deno.remove(entry.path).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  }
  if (types.includes("oci-tmp") && options.days === undefined) {
    // Conversions killed half-way leave hidden temp files; nothing holds them once unlocked.
    const dir = `${root}/oci-tmp`;
    try {
      for await (const entry of Deno.readDir(dir)) {
        if (!entry.name.startsWith(".") || entry.name.endsWith(".lock")) continue;
        const hex = entry.name.slice(1).split(".")[0];
        const locked = await Deno.stat(`${dir}/.${hex}.lock`).then(() => true, () => false);
        if (!locked) await Deno.remove(`${dir}/${entry.name}`).catch(() => {});
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  if (types.includes("blob")) {
    // Partial downloads older than the cutoff (or all, when no --days) whose lock is gone.
    const ingest = `${root}/blob/ingest`;
    try {
      for await (const entry of Deno.readDir(ingest)) {
        if (!entry.name.endsWith(".partial")) continue;
        const path = `${ingest}/${entry.name}`;
        const info = await Deno.stat(path).catch(() => undefined);
        const hex = entry.name.split(".")[0];
        const locked = await Deno.stat(`${ingest}/${hex}.lock`).then(() => true, () => false);
        if (info && !locked && (info.mtime?.getTime() ?? 0) <= Math.min(cutoff, Date.now())) {
          await Deno.remove(path).catch(() => {});
        }
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  return chosen;
}

/** One problem found by {@linkcode checkCache}. */
export interface CacheProblem {
  /** The entry. */
  entry: CacheEntry;
  /** What is wrong. */
  problem: string;
}

/**
 * Re-verify the cache: every blob's content must hash to its name, every cached SIF must
 * load as a SIF. With `fix`, broken entries are removed (they would be re-fetched).
 *
 * @param root The cache root.
 * @param options `fix` to remove what is broken; `validSif` decides whether a file is a SIF.
 * @returns The problems found.
 */
export async function checkCache(
  root: string,
  options: { fix?: boolean; validSif?: (path: string) => Promise<string | undefined> } = {},
): Promise<CacheProblem[]> {
  const { createHash } = await import("node:crypto");
  const problems: CacheProblem[] = [];
  for (const entry of await listCache(root)) {
    let problem: string | undefined;
    if (entry.type === "blob") {
      const hasher = createHash("sha256");
      using file = await Deno.open(entry.path, { read: true });
      for await (const chunk of file.readable) hasher.update(chunk);
      const actual = hasher.digest("hex");
      if (actual !== entry.name) problem = `content hashes to sha256:${actual}`;
    } else if (entry.type === "oci-tmp" && options.validSif) {
      problem = await options.validSif(entry.path);
    }
    if (problem) {
      problems.push({ entry, problem });
      if (options.fix) await Deno.remove(entry.path).catch(() => {});
    }
  }
  return problems;
}
