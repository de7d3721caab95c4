/**
 * A cached layer blob as the uncompressed tar stream the layer merger reads: gzip and zstd
 * through `node:zlib` (the fastest decompressors here), plain tar as is, with the DiffID
 * (sha256 of the uncompressed bytes) checked against the image config as the stream ends.
 * The compressed blob's own digest is re-checked on the way too, since the file in the cache
 * could have changed since it was verified.
 *
 * @module
 */
import zlib from "node:zlib";
import { Readable } from "node:stream";
import { SingletError } from "../errors.ts";
import { hasherFor, parseDigest } from "./digest.ts";
import type { Descriptor } from "./manifest.ts";

/**
 * A cached blob whose bytes no longer match its digest (disk corruption, or someone edited
 * the cache). The file is removed before this is thrown, so fetching again repairs it.
 */
export class CorruptBlobError extends SingletError {
  /**
   * Create the error.
   *
   * @param digest The blob's digest.
   */
  constructor(digest: string) {
    super(`Cannot unpack layer "${digest}": the cached blob is corrupt (removed)`, {
      hint: "pull again: the layer will be downloaded afresh",
      exitCode: 3,
    });
    this.name = "CorruptBlobError";
  }
}

/**
 * Whether a cached blob still has its size and digest.
 *
 * @param path The blob file.
 * @param desc Its descriptor.
 * @returns True when intact.
 */
export async function blobIntact(path: string, desc: Descriptor): Promise<boolean> {
  const digest = parseDigest(desc.digest);
  const hasher = hasherFor(digest);
  let size = 0;
  try {
    using file = await Deno.open(path, { read: true });
    for await (const chunk of file.readable) {
      hasher.update(chunk);
      size += chunk.length;
    }
  } catch {
    return false;
  }
  return size === desc.size && hasher.digest("hex") === digest.hex;
}

/** Compression of a layer media type. */
export type LayerCompression = "gzip" | "zstd" | "none";

/**
 * The compression a layer media type declares.
 *
 * @param mediaType The descriptor's media type.
 * @returns The compression.
 * @throws {SingletError} For media types that are not layer tars (e.g. foreign or encrypted).
 */
export function layerCompression(mediaType: string): LayerCompression {
  if (/(\+|\.)gzip$/.test(mediaType) || mediaType.endsWith("tar.gzip")) return "gzip";
  if (/(\+|\.)zstd$/.test(mediaType)) return "zstd";
  if (/tar$/.test(mediaType) || mediaType.endsWith(".tar")) return "none";
  throw new SingletError(`Cannot unpack layer with media type "${mediaType}"`, {
    hint: "only tar, tar+gzip and tar+zstd layers are supported",
    exitCode: 5,
  });
}

/**
 * Stream a layer's uncompressed tar bytes from the cache, verifying the blob digest and the
 * DiffID.
 *
 * @param path The blob file.
 * @param desc The layer descriptor.
 * @param diffId The expected DiffID from the config.
 * @returns The tar bytes; iteration throws (exit code 3) on a digest or DiffID mismatch.
 */
export async function* layerTarStream(
  path: string,
  desc: Descriptor,
  diffId: string,
): AsyncIterable<Uint8Array> {
  const compression = layerCompression(desc.mediaType);
  const blobDigest = parseDigest(desc.digest);
  const diff = parseDigest(diffId);
  const blobHasher = hasherFor(blobDigest);
  const diffHasher = hasherFor(diff);
  let blobSize = 0;
  using file = await Deno.open(path, { read: true });
  const compressed = (async function* () {
    for await (const chunk of file.readable) {
      blobHasher.update(chunk);
      blobSize += chunk.length;
      yield chunk;
    }
  })();
  let plain: AsyncIterable<Uint8Array>;
  if (compression === "none") {
    plain = compressed;
  } else {
    const decompressor = compression === "gzip" ? zlib.createGunzip() : zlib.createZstdDecompress();
    plain = Readable.from(compressed).pipe(decompressor) as unknown as AsyncIterable<Uint8Array>;
  }
  try {
    for await (const chunk of plain) {
      diffHasher.update(chunk);
      yield chunk;
    }
  } catch (error) {
    if (error instanceof SingletError) throw error;
    // Bad compressed data: the cache may have been damaged since the blob was verified.
    if (!(await blobIntact(path, desc))) {
      await Deno.remove(path).catch(() => {});
      throw new CorruptBlobError(desc.digest);
    }
    throw new SingletError(`Cannot unpack layer "${desc.digest}": ${(error as Error).message}`, {
      hint:
        "the layer is not valid compressed data; remove it with 'singlet cache clean' and pull again",
      exitCode: 5,
    });
  }
  if (blobSize !== desc.size || blobHasher.digest("hex") !== blobDigest.hex) {
    await Deno.remove(path).catch(() => {});
    throw new CorruptBlobError(desc.digest);
  }
  const actual = diffHasher.digest("hex");
  if (actual !== diff.hex) {
    throw new SingletError(
      `Cannot unpack layer "${desc.digest}": DiffID mismatch, config says ${diffId}, ` +
        `content is ${diff.algorithm}:${actual}`,
      { hint: "the image is inconsistent; report it to the image owner", exitCode: 3 },
    );
  }
}
