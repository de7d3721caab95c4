/**
 * Transparent decompression of layer streams: gzip, zstd or plain, told apart by their
 * magic bytes. Uses `node:zlib` streaming decoders, the fastest measured here (gunzip
 * 441 MB/s vs 254 for `DecompressionStream`; zstd 787 MB/s, see DEVELOPERS.md). They are
 * imported when a compressed stream comes: loading `node:zlib` and `node:stream` costs
 * ~20 ms of CPU that plain tars do not need.
 *
 * @module
 */
import type { Transform } from "node:stream";

/** Compression formats recognised by {@linkcode detectCompression}. */
export type Compression = "gzip" | "zstd" | "xz" | "bzip2" | "none";

/** Output chunk size of the decoders: large chunks keep per-chunk overhead low. */
const CHUNK = 256 * 1024;

/**
 * Name the compression of a stream from its first bytes.
 *
 * @param head At least the first 6 bytes (fewer is read as "none" unless a magic matches).
 * @returns The format.
 */
export function detectCompression(head: Uint8Array): Compression {
  if (head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return "zstd";
  if (
    head[0] === 0xfd && head[1] === 0x37 && head[2] === 0x7a && head[3] === 0x58 &&
    head[4] === 0x5a && head[5] === 0x00
  ) return "xz";
  if (head[0] === 0x42 && head[1] === 0x5a && head[2] === 0x68) return "bzip2";
  return "none";
}

/** Options for {@linkcode decompress}. */
export interface DecompressOptions {
  /** Name of the stream for error messages (a file name or a digest). */
  name?: string;
  /** Called once with the detected format. */
  onDetect?: (format: Compression) => void;
}

/**
 * Decompress a stream whatever its format (gzip, zstd or none).
 *
 * @param source The possibly compressed bytes.
 * @param options Name for messages, detection callback.
 * @returns The decompressed bytes, in chunks.
 * @throws {SyntaxError} On corrupt or truncated compressed data, or xz/bzip2 input.
 */
export async function* decompress(
  source: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
  options: DecompressOptions = {},
): AsyncGenerator<Uint8Array, void, undefined> {
  const name = options.name ?? "stream";
  const it = (source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
  // Gather enough of the start to read a magic number.
  const head: Uint8Array[] = [];
  let headLength = 0;
  let ended = false;
  while (headLength < 6) {
    const next = await it.next();
    if (next.done) {
      ended = true;
      break;
    }
    if (next.value.length) {
      head.push(next.value);
      headLength += next.value.length;
    }
  }
  const first = head.length === 1 ? head[0]! : concat(head, headLength);
  const format = detectCompression(first);
  options.onDetect?.(format);
  if (format === "xz" || format === "bzip2") {
    await it.return?.();
    throw new SyntaxError(
      `Cannot decompress "${name}": ${format} compression is not supported (gzip, zstd or none)`,
    );
  }
  async function* rest(): AsyncGenerator<Uint8Array> {
    if (first.length) yield first;
    if (ended) return;
    for (;;) {
      const next = await it.next();
      if (next.done) return;
      yield next.value;
    }
  }
  if (format === "none") {
    yield* rest();
    return;
  }
  const [{ createGunzip, createZstdDecompress }, { Readable }] = await Promise.all([
    import("node:zlib"),
    import("node:stream"),
  ]);
  const decoder: Transform = format === "gzip"
    ? createGunzip({ chunkSize: CHUNK })
    : createZstdDecompress({ chunkSize: CHUNK });
  const input = Readable.from(rest(), { objectMode: false });
  input.on("error", (error) => decoder.destroy(error));
  input.pipe(decoder);
  try {
    for await (const chunk of decoder) yield chunk as Uint8Array;
  } catch (error) {
    const reason = (error as Error).message ?? String(error);
    throw new SyntaxError(`Cannot decompress "${name}" (${format}): ${reason}`, { cause: error });
  } finally {
    input.unpipe(decoder);
    input.destroy();
    decoder.destroy();
  }
}

function concat(parts: Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let off = 0;
  for (const part of parts) {
    out.set(part, off);
    off += part.length;
  }
  return out;
}

/**
 * Estimate the decompressed size of a whole file, for progress bars: gzip's ISIZE trailer
 * (size modulo 2^32 of the last member), zstd's frame content size when the header has one,
 * otherwise three times the compressed size.
 *
 * @param head The file's first bytes (at least 18 for zstd).
 * @param tail The file's last 4 bytes.
 * @param size The file's size.
 * @returns An estimate in bytes (never below `size` for compressed input).
 */
export function decompressedSizeHint(head: Uint8Array, tail: Uint8Array, size: number): number {
  const format = detectCompression(head);
  if (format === "none") return size;
  let estimate = 0;
  if (format === "gzip" && tail.length === 4) {
    estimate = new DataView(tail.buffer, tail.byteOffset, 4).getUint32(0, true);
    while (estimate < size) estimate += 2 ** 32;
  } else if (format === "zstd" && head.length >= 6) {
    const descriptor = head[4]!;
    const fcsFlag = descriptor >> 6;
    const single = (descriptor >> 5) & 1;
    const dictBytes = [0, 1, 2, 4][descriptor & 3]!;
    const fcsBytes = [single ? 1 : 0, 2, 4, 8][fcsFlag]!;
    let at = 5 + (single ? 0 : 1) + dictBytes;
    if (fcsBytes && head.length >= at + fcsBytes) {
      let value = 0;
      for (let i = fcsBytes - 1; i >= 0; i--) value = value * 256 + head[at + i]!;
      at += fcsBytes;
      estimate = fcsBytes === 2 ? value + 256 : value;
    }
  }
  return estimate >= size ? estimate : size * 3;
}
