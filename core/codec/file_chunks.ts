/**
 * Read a file as a sequence of large, freshly allocated chunks. Large reads (1 MiB) nearly
 * double throughput over `FsFile.readable` (64 KiB chunks) for the tar reader here, and
 * fresh buffers let consumers keep the views they are given.
 *
 * @module
 */

/** Default chunk size of {@linkcode readFileChunks}. */
export const FILE_CHUNK = 1 << 20;

/**
 * Stream a file's bytes from `offset` to its end (or for `length` bytes).
 *
 * @param path The file.
 * @param options Start offset, byte count and chunk size.
 * @returns The bytes in chunks of at most `chunkSize`.
 */
export async function* readFileChunks(
  path: string | URL,
  options: { offset?: number; length?: number; chunkSize?: number } = {},
): AsyncGenerator<Uint8Array, void, undefined> {
  const file = await Deno.open(path);
  try {
    if (options.offset) await file.seek(options.offset, Deno.SeekMode.Start);
    let left = options.length ?? Infinity;
    const size = options.chunkSize ?? FILE_CHUNK;
    while (left > 0) {
      const buffer = new Uint8Array(Math.min(size, left));
      const n = await file.read(buffer);
      if (n === null) return;
      left -= n;
      yield n === buffer.length ? buffer : buffer.subarray(0, n);
    }
  } finally {
    file.close();
  }
}
