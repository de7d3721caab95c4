/**
 * Read a file as a sequence of large, freshly allocated chunks. Large reads (1 MiB) nearly
 * double throughput over `FsFile.readable` (64 KiB chunks) for the tar reader here, and
 * fresh buffers let consumers keep the views they are given.
 *
 * @module
 */
import type { SkippingSource } from "../tar/chunk_reader.ts";

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

/**
 * A file read as chunks that can skip forward without reading (a
 * {@linkcode SkippingSource}): for a plain tar on disk, the tar reader seeks over member
 * data that a consumer reads from the file itself. Chunks start small (header-sized reads
 * are the point) and grow while the bytes are read in order; they are freshly allocated
 * and read synchronously (a file on disk).
 */
export class FileChunks implements SkippingSource {
  #file: Deno.FsFile | undefined;
  #size: number;
  #pos = 0;
  /** Where the file's own position is (a seek is needed only when it differs). */
  #filePos = 0;
  #chunkSize: number;
  /** The next read's size: doubles while the bytes are read in order, back after a skip. */
  #next: number;

  /**
   * Open a file.
   *
   * @param path The file.
   * @param chunkSize Bytes per read (default 8 KiB: fastest over the headers of a tar here).
   */
  constructor(path: string, chunkSize = 8192) {
    this.#file = Deno.openSync(path, { read: true });
    this.#size = this.#file.statSync().size;
    this.#chunkSize = chunkSize;
    this.#next = chunkSize;
  }

  /**
   * The file's first bytes, for format detection (does not move the position).
   *
   * @param n How many.
   * @returns Up to `n` bytes.
   */
  head(n: number): Uint8Array {
    const buffer = new Uint8Array(Math.min(n, this.#size));
    this.#readAt(buffer, 0);
    return buffer;
  }

  /**
   * Make the next chunk start `n` bytes further on.
   *
   * @param n Byte count.
   * @throws {SyntaxError} When that is past the end of the file.
   */
  skip(n: number): void {
    if (this.#pos + n > this.#size) {
      this.close();
      throw new SyntaxError("unexpected end of archive");
    }
    this.#pos += n;
    this.#next = this.#chunkSize;
  }

  /** Close the file (also done at the end of the iteration and by `return`). */
  close(): void {
    this.#file?.close();
    this.#file = undefined;
  }

  /**
   * The chunks from the current position to the end of the file.
   *
   * @returns An iterator; `return()` closes the file.
   */
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return {
      next: () => {
        if (this.#file === undefined || this.#pos >= this.#size) {
          this.close();
          return Promise.resolve({ done: true, value: undefined });
        }
        // A consumer reading the data (not seeking over it) gets up to 1 MiB a read.
        const buffer = new Uint8Array(Math.min(this.#next, this.#size - this.#pos));
        this.#next = Math.min(this.#next * 2, FILE_CHUNK);
        const n = this.#readAt(buffer, this.#pos);
        if (n === 0) {
          this.close();
          return Promise.resolve({ done: true, value: undefined });
        }
        this.#pos += n;
        return Promise.resolve({ done: false, value: buffer.subarray(0, n) });
      },
      return: () => {
        this.close();
        return Promise.resolve({ done: true, value: undefined });
      },
    };
  }

  /** Fill `buffer` from `offset` (short only at the end of the file); returns the count. */
  #readAt(buffer: Uint8Array, offset: number): number {
    const file = this.#file!;
    if (offset !== this.#filePos) file.seekSync(offset, Deno.SeekMode.Start);
    let got = 0;
    while (got < buffer.length) {
      const n = file.readSync(got ? buffer.subarray(got) : buffer);
      if (n === null || n === 0) break;
      got += n;
    }
    this.#filePos = offset + got;
    return got;
  }
}
