/**
 * Open a SIF image and read its objects without loading the file: the header and descriptor
 * table are read and every offset and size is checked against the file size before anything
 * is allocated from it; object data is read as a byte range or a stream of bounded chunks.
 *
 * @module
 */
import { SingletError } from "../errors.ts";
import { decodeUtf8, trimNul } from "./_binary.ts";
import { decodeDescriptorAt, Descriptor, type RawDescriptor } from "./descriptor.ts";
import { decodeHeader, type SifHeader, versionOf } from "./header.ts";
import {
  D,
  DESCRIPTOR_SIZE,
  GROUP_MASK,
  HEADER_SIZE,
  MAGIC,
  PartType,
  SPEC_VERSION,
} from "./_layout.ts";

/** Where image bytes come from: a file, or bytes already in memory. */
export interface ByteSource {
  /** Total size in bytes. */
  readonly size: number;
  /**
   * Fill `buffer` from `position`; the range is inside the source.
   *
   * @param buffer Destination; filled completely.
   * @param position Absolute offset.
   */
  readAt(buffer: Uint8Array, position: number): void;
  /** Release the underlying handle (no-op for memory). */
  close(): void;
}

class FileSource implements ByteSource {
  readonly size: number;
  #file: Deno.FsFile;
  #owned: boolean;

  constructor(file: Deno.FsFile, owned: boolean) {
    this.#file = file;
    this.#owned = owned;
    this.size = file.statSync().size;
  }

  // Synchronous seek + read: no await between them, so concurrent readers of one image
  // cannot interleave and read from each other's position.
  readAt(buffer: Uint8Array, position: number): void {
    // Empty objects may lie past the end of the file: reading nothing always succeeds.
    if (buffer.length === 0) return;
    this.#file.seekSync(position, Deno.SeekMode.Start);
    let done = 0;
    while (done < buffer.length) {
      const n = this.#file.readSync(buffer.subarray(done));
      if (n === null || n === 0) {
        throw new RangeError(`unexpected end of file at offset ${position + done}`);
      }
      done += n;
    }
  }

  close(): void {
    if (this.#owned) this.#file.close();
  }
}

class MemorySource implements ByteSource {
  readonly size: number;
  #bytes: Uint8Array;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.size = bytes.length;
  }

  readAt(buffer: Uint8Array, position: number): void {
    if (buffer.length === 0) return;
    if (position < 0 || position + buffer.length > this.size) {
      throw new RangeError(`unexpected end of data at offset ${this.size}`);
    }
    buffer.set(this.#bytes.subarray(position, position + buffer.length));
  }

  close(): void {}
}

/** Options of {@linkcode openSif}. */
export interface OpenSifOptions {
  /** Name used in error messages when opening a handle or bytes (default: the path). */
  name?: string;
}

/** The most descriptor slots {@linkcode openSif} accepts (a 58.5 MB table). */
export const MAX_DESCRIPTORS = 100_000;

/** Default chunk size of {@linkcode SifImage.objectStream}: large reads are fast reads. */
export const DEFAULT_CHUNK_SIZE = 1 << 20;

/**
 * Open a SIF image: read and validate the header and descriptor table.
 *
 * Every check happens before any allocation whose size comes from the file: the descriptor
 * table must lie inside the file, every object must lie inside the file and after the
 * descriptor table, no two objects may overlap, IDs must be unique and non-zero, names
 * must be UTF-8.
 *
 * @param source A path, an open file (left open on close), or the image bytes.
 * @param options Name for messages.
 * @returns The opened image; call {@linkcode SifImage.close} when done.
 * @throws {SingletError} `Cannot load SIF image "<name>": <problem>` for unreadable or
 *   malformed images.
 * @example Usage
 * ```ts ignore
 * using image = await openSif("busybox.sif");
 * const root = image.primaryPartition();
 * console.log(root.offset, root.size);
 * ```
 */
export function openSif(
  source: string | URL | Deno.FsFile | Uint8Array,
  options: OpenSifOptions = {},
): Promise<SifImage> {
  try {
    return Promise.resolve(openSifSync(source, options));
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * Synchronous {@linkcode openSif}, for callers that need no event-loop turn (`sif list`).
 *
 * @param source A path, an open file (left open on close), or the image bytes.
 * @param options Name for messages.
 * @returns The opened image.
 */
export function openSifSync(
  source: string | URL | Deno.FsFile | Uint8Array,
  options: OpenSifOptions = {},
): SifImage {
  let name = options.name ?? "<memory>";
  let bytes: ByteSource;
  if (typeof source === "string" || source instanceof URL) {
    name = options.name ?? (typeof source === "string" ? source : source.pathname);
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(source, { read: true });
    } catch (error) {
      throw new SingletError(`Cannot load SIF image "${name}": ${describeOsError(error)}`, {
        cause: error,
        ...(error instanceof Deno.errors.NotFound ? { hint: "check the path to the image" } : {}),
      });
    }
    try {
      const info = file.statSync();
      if (info.isDirectory) {
        throw new SingletError(`Cannot load SIF image "${name}": it is a directory`, {
          hint: "sandbox directories are not SIF images",
        });
      }
      bytes = new FileSource(file, true);
    } catch (error) {
      file.close();
      throw error;
    }
  } else if (source instanceof Uint8Array) {
    bytes = new MemorySource(source);
  } else {
    bytes = new FileSource(source, false);
  }
  try {
    return new SifImage(name, bytes);
  } catch (error) {
    bytes.close();
    throw error;
  }
}

function describeOsError(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "no such file";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.IsADirectory) return "it is a directory";
  return error instanceof Error ? error.message : String(error);
}

/** A selection of objects for {@linkcode SifImage.select}; all given fields must match. */
export interface DescriptorSelector {
  /** Data type code. */
  dataType?: number;
  /** Group ID (0 selects objects in no group). */
  groupId?: number;
  /** Linked object ID. */
  linkedId?: number;
  /** Linked group ID. */
  linkedGroupId?: number;
  /** Partition type (`PartType`). */
  partType?: number;
  /** Object name. */
  name?: string;
}

/**
 * An open SIF image: the validated header, the used descriptors, and reads of object data.
 */
export class SifImage {
  /** The name used in messages (usually the path). */
  readonly name: string;
  /** The global header. */
  readonly header: Readonly<SifHeader>;
  /** Size of the file in bytes. */
  readonly fileSize: number;
  /** The used descriptors, in table order. */
  readonly descriptors: readonly Descriptor[];
  /** The raw descriptor table (every slot, used or not), as on disk. */
  readonly descriptorTable: Uint8Array;
  #source: ByteSource;

  /**
   * Prefer {@linkcode openSif}.
   *
   * @param name Name for messages.
   * @param source The bytes.
   */
  constructor(name: string, source: ByteSource) {
    this.name = name;
    this.#source = source;
    this.fileSize = source.size;
    const parsed = parseImage(name, source);
    this.header = parsed.header;
    this.descriptorTable = parsed.table;
    this.descriptors = parsed.descriptors;
  }

  /** The specification version text ("01"). */
  get version(): string {
    return versionOf(this.header);
  }

  /**
   * The object with an ID.
   *
   * @param id Object ID (from `list`).
   * @returns Its descriptor.
   * @throws {SingletError} When the image has no such object.
   */
  descriptor(id: number): Descriptor {
    if (!Number.isInteger(id) || id <= 0 || id >= GROUP_MASK) {
      throw new SingletError(`Cannot find object ${id} in SIF image "${this.name}": invalid ID`, {
        hint: "object IDs are positive integers; run 'singlet sif list' to see them",
      });
    }
    const found = this.descriptors.find((d) => d.id === id);
    if (!found) {
      throw new SingletError(
        `Cannot find object ${id} in SIF image "${this.name}": ` +
          (this.descriptors.length ? "no object with that ID" : "the image has no objects"),
        { hint: `run 'singlet sif list ${this.name}' to see the object IDs` },
      );
    }
    return found;
  }

  /**
   * The used descriptors matching every field of a selector.
   *
   * @param selector What to match.
   * @returns Matching descriptors in table order.
   */
  select(selector: DescriptorSelector): Descriptor[] {
    return this.descriptors.filter((d) =>
      (selector.dataType === undefined || d.dataType === selector.dataType) &&
      (selector.groupId === undefined || d.groupId === selector.groupId) &&
      (selector.linkedId === undefined ||
        (!d.linkedToGroup && d.linkedId === selector.linkedId)) &&
      (selector.linkedGroupId === undefined ||
        (d.linkedToGroup && d.linkedId === selector.linkedGroupId)) &&
      (selector.partType === undefined || d.partition?.partType === selector.partType) &&
      (selector.name === undefined || d.name === selector.name)
    );
  }

  /**
   * The primary system partition: the root filesystem the runtime mounts.
   *
   * @returns Its descriptor (offset and size locate the SquashFS image in the file).
   * @throws {SingletError} When there is none, or more than one.
   */
  primaryPartition(): Descriptor {
    const found = this.select({ partType: PartType.PrimSys });
    if (found.length === 1) return found[0]!;
    throw new SingletError(
      `Cannot find the root filesystem of SIF image "${this.name}": ` +
        (found.length
          ? `${found.length} primary system partitions`
          : "no primary system partition"),
      {
        hint: found.length
          ? "the image is inconsistent; rebuild it"
          : `the image may hold data only; run 'singlet sif list ${this.name}'`,
      },
    );
  }

  /**
   * Read part of an object's data.
   *
   * @param descriptor The object.
   * @param start Offset inside the object (default 0).
   * @param length Number of bytes (default: to the end of the object).
   * @returns The bytes.
   * @throws {RangeError} When the range is not inside the object.
   */
  readRange(descriptor: Descriptor, start = 0, length?: number): Promise<Uint8Array> {
    try {
      const n = length ?? descriptor.size - start;
      checkRange(descriptor, start, n);
      const out = new Uint8Array(n);
      this.#source.readAt(out, descriptor.offset + start);
      return Promise.resolve(out);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Read a whole object into memory (for small objects: definition files, JSON, signatures).
   *
   * @param descriptor The object.
   * @returns Its data.
   */
  readObject(descriptor: Descriptor): Promise<Uint8Array> {
    return this.readRange(descriptor, 0, descriptor.size);
  }

  /**
   * Read an object (or a range of it) as a stream of chunks of at most `chunkSize` bytes;
   * memory use is bounded by one chunk whatever the object size.
   *
   * @param descriptor The object.
   * @param options Range and chunk size (default 1 MiB).
   * @returns A byte stream.
   */
  objectStream(
    descriptor: Descriptor,
    options: { start?: number; length?: number; chunkSize?: number } = {},
  ): ReadableStream<Uint8Array> {
    const start = options.start ?? 0;
    const length = options.length ?? descriptor.size - start;
    checkRange(descriptor, start, length);
    const chunkSize = Math.max(1, options.chunkSize ?? DEFAULT_CHUNK_SIZE);
    let done = 0;
    return new ReadableStream<Uint8Array>({
      pull: (controller) => {
        if (done >= length) {
          controller.close();
          return;
        }
        const chunk = new Uint8Array(Math.min(chunkSize, length - done));
        this.#source.readAt(chunk, descriptor.offset + start + done);
        done += chunk.length;
        controller.enqueue(chunk);
      },
    }, { highWaterMark: 0 });
  }

  /**
   * Fill a caller's buffer from an object, for copy loops that reuse one buffer.
   *
   * @param descriptor The object.
   * @param buffer Destination; filled up to its length or the end of the object.
   * @param position Offset inside the object.
   * @returns The number of bytes read (0 at the end of the object).
   */
  readInto(descriptor: Descriptor, buffer: Uint8Array, position: number): number {
    const n = Math.min(buffer.length, Math.max(descriptor.size - position, 0));
    if (n === 0) return 0;
    checkRange(descriptor, position, n);
    this.#source.readAt(buffer.subarray(0, n), descriptor.offset + position);
    return n;
  }

  /** Close the file (when the image opened it). */
  close(): void {
    this.#source.close();
  }

  /** Close on `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

function checkRange(descriptor: Descriptor, start: number, length: number): void {
  if (
    !Number.isSafeInteger(start) || !Number.isSafeInteger(length) || start < 0 || length < 0 ||
    start + length > descriptor.size
  ) {
    throw new RangeError(
      `Cannot read bytes ${start}+${length} of object ${descriptor.id}: it has ${descriptor.size}`,
    );
  }
}

interface ParsedImage {
  header: SifHeader;
  table: Uint8Array;
  descriptors: Descriptor[];
}

function parseImage(name: string, source: ByteSource): ParsedImage {
  const fail = (problem: string, hint?: string): never => {
    throw new SingletError(`Cannot load SIF image "${name}": ${problem}`, hint ? { hint } : {});
  };
  const size = source.size;
  if (size === 0) fail("the file is empty");
  if (size < HEADER_SIZE) {
    fail(`the file is truncated: ${size} bytes, the SIF header alone needs ${HEADER_SIZE}`);
  }
  const headerBytes = new Uint8Array(HEADER_SIZE);
  source.readAt(headerBytes, 0);
  if (!headerBytes.subarray(32, 42).every((b, i) => b === MAGIC[i])) {
    fail("not a SIF image (no SIF_MAGIC signature)", "check the path: the file is not a SIF");
  }
  let header: SifHeader;
  try {
    header = decodeHeader(headerBytes);
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    return fail(`corrupt header: ${error.message}`);
  }
  const version = header.version;
  if (!(version[0] === 0x30 && version[1] === 0x31 && version[2] === 0)) {
    const text = decodeUtf8(trimNul(version)) ?? "?";
    fail(
      `unsupported SIF version "${text.replace(/[^\x20-\x7e]/g, "?")}"` +
        ` (singlet reads version ${SPEC_VERSION})`,
    );
  }

  const total = header.descriptorsTotal;
  if (total < 0) fail(`corrupt header: negative descriptor count ${total}`);
  if (total > MAX_DESCRIPTORS) {
    // Bounded by the file size alone, a corrupt count in a large image could still ask for
    // gigabytes; real images hold tens of objects.
    fail(`corrupt header: ${total} descriptors (singlet reads at most ${MAX_DESCRIPTORS})`);
  }
  if (header.descriptorsFree < 0 || header.descriptorsFree > total) {
    fail(`corrupt header: ${header.descriptorsFree} free descriptors out of ${total}`);
  }
  const tableStart = header.descriptorsOffset;
  const tableSize = total * DESCRIPTOR_SIZE;
  if (tableStart < HEADER_SIZE) {
    fail(`corrupt header: descriptor table offset ${tableStart} lies inside the header`);
  }
  if (header.descriptorsSize < tableSize) {
    fail(
      `corrupt header: descriptor table size ${header.descriptorsSize} is too small for ` +
        `${total} descriptors`,
    );
  }
  if (tableStart > size || tableSize > size - tableStart) {
    fail(
      `the descriptor table (${total} descriptors at offset ${tableStart}) extends beyond ` +
        `the end of the file (${size} bytes): the file is truncated or corrupt`,
    );
  }
  if (header.dataOffset < 0 || header.dataSize < 0) {
    fail(
      `corrupt header: negative data section (offset ${header.dataOffset}, size ${header.dataSize})`,
    );
  }
  // The data section may end past the file: alignment padding of a trailing empty object
  // is never written (sylabs/sif seeks without writing). Objects are checked one by one.
  if (header.dataOffset + header.dataSize > Number.MAX_SAFE_INTEGER) {
    fail(`corrupt header: data section size ${header.dataSize} is out of range`);
  }

  // The table size is now bounded by the file size.
  const table = new Uint8Array(tableSize);
  source.readAt(table, tableStart);
  const tableEnd = tableStart + tableSize;

  const tableView = new DataView(table.buffer, table.byteOffset, table.byteLength);
  const raws: RawDescriptor[] = [];
  const ids = new Set<number>();
  for (let slot = 0; slot < total; slot++) {
    const at = slot * DESCRIPTOR_SIZE;
    if (table[at + D.used] === 0) continue;
    let raw: RawDescriptor;
    try {
      raw = decodeDescriptorAt(tableView, table, at);
    } catch (error) {
      if (!(error instanceof RangeError)) throw error;
      return fail(`descriptor ${slot + 1} is corrupt: ${error.message}`);
    }
    const id = raw.id;
    if (id === 0 || id >= GROUP_MASK) {
      fail(`descriptor ${slot + 1} has an invalid object ID ${id}`);
    }
    if (ids.has(id)) fail(`object ID ${id} is used twice`);
    ids.add(id);
    if (raw.offset < 0 || raw.size < 0 || raw.sizeWithPadding < 0) {
      fail(`object ${id} has a negative offset or size (offset ${raw.offset}, size ${raw.size})`);
    }
    // An empty object may sit past the end: its alignment padding was never written.
    if (raw.size > 0 && (raw.offset > size || raw.size > size - raw.offset)) {
      fail(
        `object ${id} (offset ${raw.offset}, size ${raw.size}) extends beyond the end of the ` +
          `file (${size} bytes): the file is truncated or corrupt`,
      );
    }
    if (
      raw.size > 0 &&
      (raw.offset < HEADER_SIZE || (raw.offset < tableEnd && raw.offset + raw.size > tableStart))
    ) {
      fail(`object ${id} (offset ${raw.offset}) overlaps the header or descriptor table`);
    }
    raws.push(raw);
  }
  if (raws.length !== total - header.descriptorsFree) {
    fail(
      `corrupt header: ${raws.length} objects in use, but the header counts ` +
        `${total - header.descriptorsFree}`,
    );
  }
  const byOffset = raws.filter((r) => r.size > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < byOffset.length; i++) {
    const prev = byOffset[i - 1]!;
    const cur = byOffset[i]!;
    if (prev.offset + prev.size > cur.offset) {
      fail(`objects ${prev.id} and ${cur.id} overlap`);
    }
  }
  // Relative IDs, as signatures use them: ID minus the lowest ID in the same group.
  const minIds = new Map<number, number>();
  for (const raw of raws) {
    const min = minIds.get(raw.groupId);
    if (min === undefined || raw.id < min) minIds.set(raw.groupId, raw.id);
  }
  const descriptors = raws.map((raw) => {
    try {
      return new Descriptor(raw, raw.id - minIds.get(raw.groupId)!);
    } catch (error) {
      if (!(error instanceof SyntaxError)) throw error;
      return fail(error.message);
    }
  });
  return { header, table, descriptors };
}
