/**
 * A pull reader over a stream of byte chunks that hands out views of the incoming chunks
 * without copying (file data) and copies only when a header straddles two chunks.
 *
 * Chunks handed out are never reused or written to by this reader, so a consumer may keep
 * them; consumers must not modify them either.
 *
 * @module
 */

const EMPTY = new Uint8Array(0);

/**
 * A chunk source that can jump forward (a file on disk): the reader skips data it is told
 * to discard with it instead of reading the bytes.
 */
export interface SkippingSource extends AsyncIterable<Uint8Array> {
  /**
   * Make the next chunk start `n` bytes further on than it would have.
   *
   * @param n Byte count.
   * @throws {SyntaxError} When that is past the end of the source.
   */
  skip(n: number): void;
}

/** A forward-only reader over an async sequence of chunks. */
export class ChunkReader {
  #source: AsyncIterator<Uint8Array>;
  #chunk: Uint8Array = EMPTY;
  #pos = 0;
  #eof = false;
  #skipper: SkippingSource | undefined;
  /** Bytes consumed so far (the offset of the next byte). */
  offset = 0;

  /**
   * Wrap a chunk source.
   *
   * @param source The byte chunks (a ReadableStream or any async iterable).
   */
  constructor(
    source: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array> | SkippingSource,
  ) {
    this.#source = (source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
    if (typeof (source as Partial<SkippingSource>).skip === "function") {
      this.#skipper = source as SkippingSource;
    }
  }

  /** Make at least one unread byte available; false at end of stream. */
  async #fill(): Promise<boolean> {
    while (this.#pos >= this.#chunk.length) {
      if (this.#eof) return false;
      const next = await this.#source.next();
      if (next.done) {
        this.#eof = true;
        this.#chunk = EMPTY;
        this.#pos = 0;
        return false;
      }
      this.#chunk = next.value;
      this.#pos = 0;
    }
    return true;
  }

  /**
   * Read exactly `n` contiguous bytes (a view when they lie in one chunk, else a copy).
   *
   * @param n Byte count.
   * @returns The bytes, or null when the stream ended before the first byte.
   * @throws {SyntaxError} When the stream ends part way.
   */
  async readExact(n: number): Promise<Uint8Array | null> {
    if (!(await this.#fill())) return null;
    const avail = this.#chunk.length - this.#pos;
    if (avail >= n) {
      const view = this.#chunk.subarray(this.#pos, this.#pos + n);
      this.#pos += n;
      this.offset += n;
      return view;
    }
    const out = new Uint8Array(n);
    let have = 0;
    while (have < n) {
      if (!(await this.#fill())) throw new SyntaxError("unexpected end of archive");
      const take = Math.min(n - have, this.#chunk.length - this.#pos);
      out.set(this.#chunk.subarray(this.#pos, this.#pos + take), have);
      this.#pos += take;
      have += take;
    }
    this.offset += n;
    return out;
  }

  /**
   * The next run of up to `max` bytes, as a view of the current chunk.
   *
   * @param max Upper bound on the length.
   * @returns A non-empty view.
   * @throws {SyntaxError} At end of stream.
   */
  async next(max: number): Promise<Uint8Array> {
    if (!(await this.#fill())) throw new SyntaxError("unexpected end of archive");
    const take = Math.min(max, this.#chunk.length - this.#pos);
    const view = this.#chunk.subarray(this.#pos, this.#pos + take);
    this.#pos += take;
    this.offset += take;
    return view;
  }

  /**
   * Discard `n` bytes.
   *
   * @param n Byte count.
   * @throws {SyntaxError} When the stream ends first.
   */
  async skip(n: number): Promise<void> {
    const avail = this.#chunk.length - this.#pos;
    if (this.#skipper && n > avail && !this.#eof) {
      // Past the chunk in hand: the source seeks over the rest.
      this.#pos = this.#chunk.length;
      this.#skipper.skip(n - avail);
      this.offset += n;
      return;
    }
    while (n > 0) {
      if (!(await this.#fill())) throw new SyntaxError("unexpected end of archive");
      const take = Math.min(n, this.#chunk.length - this.#pos);
      this.#pos += take;
      this.offset += take;
      n -= take;
    }
  }

  /** Read and discard everything up to the end of the stream. */
  async drain(): Promise<void> {
    while (await this.#fill()) {
      this.offset += this.#chunk.length - this.#pos;
      this.#pos = this.#chunk.length;
    }
  }

  /** Stop the underlying source early (releases a decompressor or file). */
  async cancel(): Promise<void> {
    if (!this.#eof) {
      this.#eof = true;
      await this.#source.return?.();
    }
  }
}
