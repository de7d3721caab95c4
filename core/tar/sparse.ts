/**
 * GNU sparse files: the maps of every GNU form (old GNU 'S' headers with extension blocks,
 * pax 0.0 repeated offset/numbytes records, pax 0.1 `GNU.sparse.map`, pax 1.0 maps stored in
 * the data area) and the expansion of a condensed member back to its full length, holes
 * as zeros.
 *
 * @module
 */
import { BLOCK, parseNumber } from "./header.ts";
import type { PaxRecord } from "./pax.ts";
import { paxNumber } from "./pax.ts";

/** One stored data region of a sparse file; everything between regions is a hole. */
export interface SparseSegment {
  /** Offset of the region in the expanded file. */
  offset: number;
  /** Length of the region (bytes stored in the archive). */
  length: number;
}

/** Size of the zero chunks yielded for holes. */
const ZERO_CHUNK = 1 << 20;

/**
 * Parse the (offset, numbytes) pairs of an old GNU sparse header or extension block.
 *
 * @param block The header or extension block.
 * @param start Offset of the first pair.
 * @param count Number of pair slots.
 * @param into Segments found are appended here.
 * @returns False when an empty slot ended the list early.
 */
export function parseOldGnuPairs(
  block: Uint8Array,
  start: number,
  count: number,
  into: SparseSegment[],
): boolean {
  for (let i = 0; i < count; i++) {
    const off = start + i * 24;
    if (block[off] === 0 && block[off + 12] === 0) return false;
    into.push({
      offset: parseNumber(block, off, 12, "sparse offset"),
      length: parseNumber(block, off + 12, 12, "sparse numbytes"),
    });
  }
  return true;
}

/**
 * Parse the map of pax sparse formats 0.0 (repeated GNU.sparse.offset/numbytes) or 0.1
 * (GNU.sparse.map="o,n,o,n,...").
 *
 * @param records The member's pax records, in order.
 * @param maxSegments Upper bound on the number of segments.
 * @returns The segments, or undefined when the records hold no 0.x map.
 */
export function parsePaxSparseMap(
  records: readonly PaxRecord[],
  maxSegments: number,
): SparseSegment[] | undefined {
  const segments: SparseSegment[] = [];
  let found = false;
  let offset: number | undefined;
  for (const { key, value } of records) {
    if (key === "GNU.sparse.map") {
      found = true;
      segments.length = 0;
      const text = new TextDecoder().decode(value);
      const parts = text === "" ? [] : text.split(",");
      if (parts.length % 2) throw new SyntaxError("GNU.sparse.map has an odd number of values");
      if (parts.length / 2 > maxSegments) throw new SyntaxError("GNU.sparse.map is too long");
      for (let i = 0; i < parts.length; i += 2) {
        segments.push({
          offset: paxNumber(new TextEncoder().encode(parts[i]), "GNU.sparse.map"),
          length: paxNumber(new TextEncoder().encode(parts[i + 1]), "GNU.sparse.map"),
        });
      }
    } else if (key === "GNU.sparse.offset") {
      found = true;
      offset = paxNumber(value, key);
    } else if (key === "GNU.sparse.numbytes") {
      if (offset === undefined) throw new SyntaxError("GNU.sparse.numbytes without an offset");
      if (segments.length >= maxSegments) throw new SyntaxError("sparse map is too long");
      segments.push({ offset, length: paxNumber(value, key) });
      offset = undefined;
    }
  }
  return found ? segments : undefined;
}

/**
 * Incremental parser of a pax 1.0 sparse map: decimal numbers separated by newlines, the
 * first being the number of segments, stored in whole blocks before the file data.
 */
export class SparseMapText {
  #numbers: number[] = [];
  #current = -1;
  #wanted = -1;
  #maxSegments: number;

  /**
   * Start an empty map.
   *
   * @param maxSegments Upper bound on the number of segments.
   */
  constructor(maxSegments: number) {
    this.#maxSegments = maxSegments;
  }

  /**
   * Feed one block of the map.
   *
   * @param block A 512-byte block.
   * @returns True once the whole map has been read.
   */
  push(block: Uint8Array): boolean {
    for (let i = 0; i < block.length; i++) {
      const b = block[i]!;
      if (b >= 0x30 && b <= 0x39) {
        this.#current = (this.#current < 0 ? 0 : this.#current) * 10 + (b - 0x30);
        if (!Number.isSafeInteger(this.#current)) {
          throw new SyntaxError("sparse map value overflows");
        }
      } else if (b === 0x0a) {
        if (this.#current < 0) throw new SyntaxError("sparse map has an empty line");
        this.#numbers.push(this.#current);
        this.#current = -1;
        if (this.#numbers.length === 1) {
          this.#wanted = this.#numbers[0]!;
          if (this.#wanted > this.#maxSegments) throw new SyntaxError("sparse map is too long");
        }
        if (this.#wanted >= 0 && this.#numbers.length === 1 + 2 * this.#wanted) return true;
      } else if (b === 0) {
        // padding after the last number of a block is allowed only once the map is done
        if (this.#current >= 0) throw new SyntaxError("sparse map value is not terminated");
      } else {
        throw new SyntaxError("sparse map holds a non-digit");
      }
    }
    return false;
  }

  /**
   * The map read so far.
   *
   * @returns The parsed segments (complete once push returned true).
   */
  segments(): SparseSegment[] {
    const out: SparseSegment[] = [];
    for (let i = 1; i + 1 < this.#numbers.length; i += 2) {
      out.push({ offset: this.#numbers[i]!, length: this.#numbers[i + 1]! });
    }
    return out;
  }
}

/**
 * Check a sparse map against the member's sizes: regions sorted, not overlapping, inside
 * the real size, and their lengths summing to the stored data size.
 *
 * @param map The segments.
 * @param realSize Expanded file size.
 * @param storedSize Bytes of data stored in the archive for the regions.
 * @throws {SyntaxError} When the map is inconsistent.
 */
export function checkSparseMap(
  map: readonly SparseSegment[],
  realSize: number,
  storedSize: number,
): void {
  let end = 0;
  let total = 0;
  for (const { offset, length } of map) {
    if (offset < end) throw new SyntaxError("sparse map regions overlap or are unsorted");
    end = offset + length;
    if (end > realSize) throw new SyntaxError("sparse map region ends past the file size");
    total += length;
  }
  if (total !== storedSize) {
    throw new SyntaxError(`sparse map covers ${total} bytes but ${storedSize} are stored`);
  }
}

/**
 * Expand a condensed sparse member: zeros for holes, stored bytes for regions.
 *
 * @param map Checked segments (see {@linkcode checkSparseMap}).
 * @param realSize Expanded size.
 * @param read Reads up to `max` stored bytes (a non-empty view).
 * @returns The expanded data, in chunks.
 */
export async function* expandSparse(
  map: readonly SparseSegment[],
  realSize: number,
  read: (max: number) => Promise<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  let pos = 0;
  for (const { offset, length } of map) {
    yield* zeros(offset - pos);
    let left = length;
    while (left > 0) {
      const chunk = await read(left);
      left -= chunk.length;
      yield chunk;
    }
    pos = offset + length;
  }
  yield* zeros(realSize - pos);
}

function* zeros(n: number): Generator<Uint8Array> {
  // Fresh buffers: a consumer may keep or reuse what it is given.
  while (n > 0) {
    const take = Math.min(n, ZERO_CHUNK);
    yield new Uint8Array(take);
    n -= take;
  }
}

/** Round a byte count up to whole tar blocks. */
export function padded(n: number): number {
  return Math.ceil(n / BLOCK) * BLOCK;
}
