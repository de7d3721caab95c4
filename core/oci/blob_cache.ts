/**
 * A content-addressed blob store in OCI layout form (`<cache>/blob/blobs/sha256/<hex>`), safe
 * when several processes, on one host or several sharing an NFS-like filesystem, fetch the
 * same image at once.
 *
 * Correctness never depends on locking: every blob is written to a temp file of its own,
 * verified for size and digest, fsynced and renamed into place, and a blob's name is its
 * content, so two writers can only ever rename identical bytes onto the same name. The lock
 * file (`ingest/<hex>.lock`, created with O_EXCL, refreshed by a heartbeat) only makes the
 * others wait instead of downloading the same blob again. A lock whose owner died (same host
 * and no such pid, or no heartbeat for `staleMs`) is broken by renaming it away. A killed
 * download leaves `ingest/<hex>.<token>.partial`; the next downloader adopts it, re-hashes the
 * prefix (the old hash state is not trusted) and resumes from its end.
 *
 * @module
 */
import { SingletError } from "../errors.ts";
import { ensurePrivateDir } from "./cache_dir.ts";
import { type Digest, hasherFor, parseDigest } from "./digest.ts";
import { lockOrWait } from "./cache_lock.ts";

/** What the cache needs to know about a blob. */
export interface BlobDescriptor {
  /** Digest string (validated here). */
  digest: string;
  /** Exact size in bytes. */
  size: number;
}

/**
 * Streams a blob's bytes from `offset` on. Throwing an error for which the cache's
 * `resumable` option returns true makes the cache call it again from where it stopped.
 */
export type BlobSource = (offset: number, signal: AbortSignal) => AsyncIterable<Uint8Array>;

/** Options of {@linkcode BlobCache.fetch}. */
export interface FetchOptions {
  /** Progress callback: bytes present so far (including a resumed prefix). */
  onProgress?: (bytes: number) => void;
  /** Whether an error thrown by the source may be resumed (default: never). */
  resumable?: (error: unknown) => boolean;
  /** How many times to resume within this call (default 5). */
  maxResumes?: number;
  /** Aborts waiting and downloading. */
  signal?: AbortSignal;
  /** Called once when this process has to wait for another one's download. */
  onWait?: () => void;
}

/** Options of {@linkcode BlobCache.open}. */
export interface BlobCacheOptions {
  /** A lock with no heartbeat for this long is stale (default 30 s). */
  staleMs?: number;
  /** Host name recorded in locks (default `Deno.hostname()`). */
  hostname?: string;
}

function integrityError(desc: BlobDescriptor, why: string): SingletError {
  return new SingletError(`Cannot store blob "${desc.digest}": ${why}`, {
    hint: "the registry or archive sent corrupted data; nothing was cached, try again later",
    exitCode: 3,
  });
}

function randomToken(): string {
  return crypto.randomUUID().replaceAll("-", "").slice(0, 16);
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

async function syncDir(path: string): Promise<void> {
  try {
    using dir = await Deno.open(path, { read: true });
    await dir.sync();
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic.
  }
}

/** The blob store. */
export class BlobCache {
  /** Root of the OCI layout (`<cache>/blob`). */
  readonly layoutDir: string;
  readonly #ingest: string;
  readonly #staleMs: number;
  readonly #hostname: string;

  private constructor(layoutDir: string, options: BlobCacheOptions) {
    this.layoutDir = layoutDir;
    this.#ingest = `${layoutDir}/ingest`;
    this.#staleMs = options.staleMs ?? 30_000;
    this.#hostname = options.hostname ?? Deno.hostname();
  }

  /**
   * Open (creating with mode 0700) the blob store under a cache root.
   *
   * @param cacheRoot The cache root (`SINGLET_CACHEDIR`).
   * @param options Lock settings.
   * @returns The store.
   */
  static async open(cacheRoot: string, options: BlobCacheOptions = {}): Promise<BlobCache> {
    await ensurePrivateDir(cacheRoot);
    const layout = `${cacheRoot}/blob`;
    await ensurePrivateDir(`${layout}/blobs/sha256`);
    await ensurePrivateDir(`${layout}/ingest`);
    const marker = `${layout}/oci-layout`;
    if (!(await exists(marker))) {
      const tmp = `${layout}/ingest/oci-layout.${randomToken()}`;
      await Deno.writeTextFile(tmp, '{"imageLayoutVersion":"1.0.0"}', { mode: 0o600 });
      await Deno.rename(tmp, marker);
    }
    return new BlobCache(layout, options);
  }

  /**
   * Where a blob lives (whether or not it is there).
   *
   * @param digest The blob's digest.
   * @returns Its path.
   */
  path(digest: string | Digest): string {
    const d = typeof digest === "string" ? parseDigest(digest) : digest;
    return `${this.layoutDir}/blobs/${d.algorithm}/${d.hex}`;
  }

  /**
   * Whether the blob is present with the expected size (digest not re-checked).
   *
   * @param desc The blob.
   * @returns True when present.
   */
  async has(desc: BlobDescriptor): Promise<boolean> {
    try {
      const info = await Deno.stat(this.path(desc.digest));
      return info.isFile && info.size === desc.size;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return false;
      throw error;
    }
  }

  /**
   * Re-hash a cached blob; a blob whose bytes no longer match is removed.
   *
   * @param desc The blob.
   * @returns True when present and intact.
   */
  async verify(desc: BlobDescriptor): Promise<boolean> {
    if (!(await this.has(desc))) return false;
    const digest = parseDigest(desc.digest);
    const path = this.path(digest);
    const hasher = hasherFor(digest);
    let size = 0;
    using file = await Deno.open(path, { read: true });
    for await (const chunk of file.readable) {
      hasher.update(chunk);
      size += chunk.length;
    }
    if (size === desc.size && hasher.digest("hex") === digest.hex) return true;
    await Deno.remove(path).catch(() => {});
    return false;
  }

  /**
   * Read a small cached blob (manifest, config) after re-checking its size and digest.
   *
   * @param desc The blob.
   * @returns The bytes, or undefined when absent or corrupt (a corrupt one is removed).
   */
  async readVerified(desc: BlobDescriptor): Promise<Uint8Array | undefined> {
    const digest = parseDigest(desc.digest);
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(this.path(digest));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
    const actual = hasherFor(digest).update(bytes).digest("hex");
    if (bytes.length === desc.size && actual === digest.hex) return bytes;
    await Deno.remove(this.path(digest)).catch(() => {});
    return undefined;
  }

  /**
   * Store bytes already in memory after checking their size and digest.
   *
   * @param desc What the bytes must be.
   * @param bytes The bytes.
   * @returns The blob's path.
   */
  async putBytes(desc: BlobDescriptor, bytes: Uint8Array): Promise<string> {
    const digest = parseDigest(desc.digest);
    if (bytes.length !== desc.size) {
      throw integrityError(desc, `size mismatch, expected ${desc.size} bytes, got ${bytes.length}`);
    }
    const actual = hasherFor(digest).update(bytes).digest("hex");
    if (actual !== digest.hex) {
      throw integrityError(desc, `digest mismatch, got ${digest.algorithm}:${actual}`);
    }
    const final = this.path(digest);
    if (await this.has(desc)) return final;
    const tmp = `${this.#ingest}/${digest.hex}.${randomToken()}.tmp`;
    try {
      using file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
      let written = 0;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
      await file.sync();
    } catch (error) {
      await Deno.remove(tmp).catch(() => {});
      throw error;
    }
    await Deno.rename(tmp, final);
    await syncDir(`${this.layoutDir}/blobs/${digest.algorithm}`);
    return final;
  }

  /**
   * Make sure a blob is in the cache: return at once when it is, wait when another process
   * is downloading it, otherwise download it (resuming an earlier partial download) and
   * store it once its size and digest are verified.
   *
   * @param desc The blob.
   * @param source Where its bytes come from.
   * @param options Progress, resume policy, abort signal.
   * @returns The blob's path.
   */
  async fetch(
    desc: BlobDescriptor,
    source: BlobSource,
    options: FetchOptions = {},
  ): Promise<string> {
    const digest = parseDigest(desc.digest);
    if (!Number.isSafeInteger(desc.size) || desc.size < 0) {
      throw integrityError(desc, "invalid size in descriptor");
    }
    const final = this.path(digest);
    const lock = await lockOrWait(`${this.#ingest}/${digest.hex}.lock`, () => this.has(desc), {
      staleMs: this.#staleMs,
      hostname: this.#hostname,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onWait ? { onWait: options.onWait } : {}),
      onPoll: async () => {
        const partial = await this.#largestPartial(digest.hex);
        if (partial) options.onProgress?.(partial.size);
      },
    });
    if (!lock) {
      options.onProgress?.(desc.size);
      return final;
    }
    try {
      // Another process may have finished between our check and our lock.
      if (await this.has(desc)) return final;
      return await this.#download(digest, desc, lock.token, source, options);
    } finally {
      await lock.release();
    }
  }

  async #largestPartial(hex: string): Promise<{ name: string; size: number } | undefined> {
    let best: { name: string; size: number } | undefined;
    for await (const entry of Deno.readDir(this.#ingest)) {
      if (!entry.name.startsWith(`${hex}.`) || !entry.name.endsWith(".partial")) continue;
      const info = await Deno.stat(`${this.#ingest}/${entry.name}`).catch(() => undefined);
      if (info && (!best || info.size > best.size)) best = { name: entry.name, size: info.size };
    }
    return best;
  }

  async #download(
    digest: Digest,
    desc: BlobDescriptor,
    token: string,
    source: BlobSource,
    options: FetchOptions,
  ): Promise<string> {
    const partial = `${this.#ingest}/${digest.hex}.${token}.partial`;
    // Adopt what a killed predecessor left, if anything.
    const previous = await this.#largestPartial(digest.hex);
    if (previous) {
      await Deno.rename(`${this.#ingest}/${previous.name}`, partial).catch(() => {});
    }
    const hasher = hasherFor(digest);
    let offset = 0;
    using file = await Deno.open(partial, { read: true, write: true, create: true, mode: 0o600 });
    const existing = (await file.stat()).size;
    if (existing > desc.size) {
      await file.truncate(0);
    } else if (existing > 0) {
      // Re-hash the prefix: the hash state of the killed process is gone and not trusted.
      const buffer = new Uint8Array(1 << 20);
      while (offset < existing) {
        const n = await file.read(buffer);
        if (n === null) break;
        hasher.update(buffer.subarray(0, n));
        offset += n;
      }
    }
    await file.seek(offset, Deno.SeekMode.Start);
    options.onProgress?.(offset);
    const controller = new AbortController();
    const onAbort = () => controller.abort(options.signal?.reason);
    options.signal?.addEventListener("abort", onAbort);
    let resumes = 0;
    try {
      while (true) {
        try {
          // Each chunk goes to the file at once, so a killed process leaves every received
          // byte in the partial file for the next one to resume from.
          for await (const chunk of source(offset, controller.signal)) {
            if (offset + chunk.length > desc.size) {
              throw integrityError(desc, `more data than the ${desc.size} bytes announced`);
            }
            let written = 0;
            while (written < chunk.length) written += await file.write(chunk.subarray(written));
            hasher.update(chunk);
            offset += chunk.length;
            options.onProgress?.(offset);
          }
          if (offset >= desc.size) break;
          // The body ended early without an error: resume like after a reset.
          if (resumes >= (options.maxResumes ?? 5)) break;
          resumes++;
        } catch (error) {
          if (
            error instanceof SingletError || !options.resumable?.(error) ||
            resumes >= (options.maxResumes ?? 5)
          ) {
            throw error;
          }
          resumes++;
        }
      }
      if (offset !== desc.size) {
        throw integrityError(desc, `size mismatch, expected ${desc.size} bytes, got ${offset}`);
      }
      const actual = hasher.digest("hex");
      if (actual !== digest.hex) {
        await file.truncate(0);
        throw integrityError(desc, `digest mismatch, got ${digest.algorithm}:${actual}`);
      }
      await file.sync();
    } catch (error) {
      // Keep a clean prefix for resuming; drop anything that failed verification.
      if (error instanceof SingletError) await Deno.remove(partial).catch(() => {});
      throw error;
    } finally {
      options.signal?.removeEventListener("abort", onAbort);
    }
    const final = this.path(digest);
    await Deno.rename(partial, final);
    await syncDir(`${this.layoutDir}/blobs/${digest.algorithm}`);
    return final;
  }
}
