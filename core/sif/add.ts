/**
 * Add data objects to a SIF image: what an object is made of ({@linkcode ObjectInput}), how
 * it is placed (appended after the data section, aligned: 4096 for partitions unless told
 * otherwise), its descriptor (ID = slot + 1, group, link, name, typed extra), and the
 * primary-partition rule (at most one; adding it sets the header architecture).
 *
 * Data is copied chunk by chunk from a stream or iterable, so a multi-GiB SquashFS image
 * passes through in bounded memory.
 *
 * @module
 */
import { SingletError } from "../errors.ts";
import { writeAll } from "./_atomic.ts";
import { editSif, type EditState, type TimeOptions } from "./_edit.ts";
import {
  ARCHES,
  archField,
  DATA_TYPE_NAMES,
  DataType,
  DEFAULT_GROUP,
  ENTITY_SIZE,
  EXTRA_SIZE,
  GROUP_MASK,
  NAME_SIZE,
  PARTITION_ALIGNMENT,
  PartType,
} from "./_layout.ts";
import type { RawDescriptor } from "./descriptor.ts";
import type { SifHeader } from "./header.ts";

/**
 * An object whose bytes are written straight into the image by the caller (a SquashFS
 * writer streaming a partition), with no temporary file and no copy.
 */
export interface ObjectWriter {
  /**
   * Write the object's bytes into `file` from `offset` (already aligned), anywhere in
   * `[offset, offset + length)`, in any order.
   *
   * @param file The image being written (positioned at `offset`; seek as needed).
   * @param offset Where the object's data starts in the file.
   * @returns The object's length in bytes.
   */
  writeAt(file: Deno.FsFile, offset: number): Promise<number>;
}

/**
 * Where an object's bytes come from. Streams and iterables are consumed chunk by chunk; an
 * {@linkcode ObjectWriter} writes them itself.
 */
export type ObjectData =
  | Uint8Array
  | string
  | ReadableStream<Uint8Array>
  | AsyncIterable<Uint8Array>
  | Iterable<Uint8Array>
  | ObjectWriter;

/** An error thrown by an {@linkcode ObjectWriter}: passed on as it is, not as a SIF error. */
export class ObjectWriterError extends Error {
  /**
   * Wrap what the writer threw.
   *
   * @param cause The writer's error.
   */
  constructor(cause: unknown) {
    super("Cannot write a SIF object", { cause });
    this.name = "ObjectWriterError";
  }
}

function isObjectWriter(data: ObjectData): data is ObjectWriter {
  return typeof data === "object" && data !== null &&
    typeof (data as Partial<ObjectWriter>).writeAt === "function";
}

/** Partition metadata of a `Partition` object. */
export interface PartitionInput {
  /** Filesystem (`FsType.Squash` for SquashFS root filesystems). */
  fsType: number;
  /** Partition type (`PartType.PrimSys` for the root filesystem). */
  partType: number;
  /** Architecture as Go names it: "amd64", "arm64", … */
  arch: string;
}

/** Signature metadata of a `Signature` object. */
export interface SignatureInput {
  /** Hash type (`HashType`). */
  hashType: number;
  /** Signing entity: a PGP fingerprint as hex text or bytes (at most 256 bytes). */
  entity?: string | Uint8Array;
}

/** One data object to write. */
export interface ObjectInput {
  /** Data type code (`DataType.Deffile`, `DataType.Partition`, …). */
  dataType: number;
  /** The bytes (text is written as UTF-8). */
  data: ObjectData;
  /** Object name (`--filename`), at most 128 bytes of UTF-8. Default: none. */
  name?: string;
  /** Object group; 0 for none. Default 1, as sylabs/sif (siftool's `add` defaults to 0). */
  groupId?: number;
  /** Link to another object by ID. */
  linkedId?: number;
  /** Link to an object group (e.g. a signature covering group 1). */
  linkedGroupId?: number;
  /** Alignment of the data offset; default 4096 for partitions, none for others. */
  alignment?: number;
  /** Creation/modification time of this object (Unix seconds); default: the operation's. */
  time?: number;
  /** Metadata for `Partition` objects. */
  partition?: PartitionInput;
  /** Metadata for `Signature` objects. */
  signature?: SignatureInput;
  /** Metadata for `CryptoMessage` objects. */
  cryptoMessage?: { formatType: number; messageType: number };
  /** Metadata for `SBOM` objects. */
  sbom?: { format: number };
}

/** Options of {@linkcode addObjects}. */
export interface AddObjectsOptions extends TimeOptions {
  /**
   * Called as data is written.
   *
   * @param written Bytes of the current object written so far.
   * @param index Index of the object in the input list.
   */
  onProgress?: (written: number, index: number) => void;
}

const typeName = (dataType: number) =>
  DATA_TYPE_NAMES[dataType] ?? `type 0x${dataType.toString(16)}`;

/** Chunks smaller than a quarter of this are gathered before writing. */
const COALESCE_SIZE = 1 << 20;

function isUint32(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 0xffffffff;
}

/**
 * Check an input and encode its name and extra field.
 *
 * @param input The object.
 * @returns The encoded name and extra bytes, and the alignment.
 * @throws {RangeError} For values that do not fit the format.
 */
export function prepareInput(
  input: ObjectInput,
): { name: Uint8Array; extra: Uint8Array; alignment: number; groupId: number; linkedId: number } {
  const what = `Cannot add ${typeName(input.dataType)} object`;
  if (
    !Number.isInteger(input.dataType) || input.dataType < -(2 ** 31) || input.dataType >= 2 ** 31
  ) {
    throw new RangeError(`Cannot add object: data type ${input.dataType} is not an int32`);
  }
  const name = new Uint8Array(NAME_SIZE);
  if (input.name !== undefined) {
    const bytes = new TextEncoder().encode(input.name);
    if (bytes.length > NAME_SIZE) {
      throw new RangeError(`${what}: name "${input.name}" is longer than ${NAME_SIZE} bytes`);
    }
    name.set(bytes);
  }
  const groupId = input.groupId ?? DEFAULT_GROUP;
  if (!isUint32(groupId) || groupId >= GROUP_MASK) {
    throw new RangeError(`${what}: group ID ${groupId} is out of range (0 to ${GROUP_MASK - 1})`);
  }
  if (input.linkedId !== undefined && input.linkedGroupId !== undefined) {
    throw new RangeError(`${what}: it may link to an object or to a group, not both`);
  }
  let linkedId = 0;
  if (input.linkedId !== undefined) {
    if (!isUint32(input.linkedId) || input.linkedId === 0) {
      throw new RangeError(`${what}: linked object ID ${input.linkedId} is invalid`);
    }
    linkedId = input.linkedId;
  }
  if (input.linkedGroupId !== undefined) {
    if (
      !isUint32(input.linkedGroupId) || input.linkedGroupId === 0 ||
      input.linkedGroupId >= GROUP_MASK
    ) {
      throw new RangeError(`${what}: linked group ID ${input.linkedGroupId} is invalid`);
    }
    linkedId = (input.linkedGroupId | GROUP_MASK) >>> 0;
  }
  const alignment = input.alignment ??
    (input.dataType === DataType.Partition ? PARTITION_ALIGNMENT : 0);
  if (!Number.isSafeInteger(alignment) || alignment < 0) {
    throw new RangeError(`${what}: alignment ${alignment} is not a non-negative integer`);
  }

  const extra = new Uint8Array(EXTRA_SIZE);
  const view = new DataView(extra.buffer);
  const given = [
    ["partition", input.partition, DataType.Partition],
    ["signature", input.signature, DataType.Signature],
    ["cryptoMessage", input.cryptoMessage, DataType.CryptoMessage],
    ["sbom", input.sbom, DataType.SBOM],
  ] as const;
  for (const [key, value, wanted] of given) {
    if (value !== undefined && input.dataType !== wanted) {
      throw new RangeError(`${what}: ${key} metadata only applies to ${typeName(wanted)} objects`);
    }
  }
  if (input.partition) {
    const p = input.partition;
    if (ARCHES.indexOf(p.arch) < 1) {
      throw new RangeError(`${what}: unknown architecture "${p.arch}"`);
    }
    view.setInt32(0, p.fsType, true);
    view.setInt32(4, p.partType, true);
    extra.set(archField(p.arch), 8);
  }
  if (input.signature) {
    view.setInt32(0, input.signature.hashType, true);
    const entity = input.signature.entity;
    let bytes: Uint8Array = new Uint8Array();
    if (typeof entity === "string") {
      if (!/^([0-9a-fA-F]{2})*$/.test(entity)) {
        throw new RangeError(`${what}: signing entity "${entity}" is not hexadecimal`);
      }
      bytes = new Uint8Array(entity.length / 2);
      for (let i = 0; i < bytes.length; i++) {
        bytes[i] = parseInt(entity.slice(2 * i, 2 * i + 2), 16);
      }
    } else if (entity) {
      bytes = entity;
    }
    if (bytes.length > ENTITY_SIZE) {
      throw new RangeError(`${what}: signing entity is longer than ${ENTITY_SIZE} bytes`);
    }
    extra.set(bytes, 4);
  }
  if (input.cryptoMessage) {
    view.setInt32(0, input.cryptoMessage.formatType, true);
    view.setInt32(4, input.cryptoMessage.messageType, true);
  }
  if (input.sbom) view.setInt32(0, input.sbom.format, true);
  return { name, extra, alignment, groupId, linkedId };
}

/**
 * The first offset at or after `offset` that satisfies `alignment` (0 or 1: no alignment).
 *
 * @param offset Unaligned offset.
 * @param alignment Alignment in bytes.
 * @returns The aligned offset.
 */
export function nextAligned(offset: number, alignment: number): number {
  if (alignment <= 0 || offset % alignment === 0) return offset;
  return offset + alignment - (offset % alignment);
}

async function* chunksOf(data: ObjectData): AsyncGenerator<Uint8Array> {
  if (typeof data === "string") {
    yield new TextEncoder().encode(data);
  } else if (data instanceof Uint8Array) {
    yield data;
  } else if (data instanceof ReadableStream) {
    const reader = data.getReader();
    try {
      while (true) {
        const { done, value } = await reader.read();
        if (done) break;
        yield value;
      }
    } finally {
      reader.releaseLock();
    }
  } else {
    for await (const chunk of data as AsyncIterable<Uint8Array>) yield chunk;
  }
}

/** What {@linkcode appendObject} works on: a header, descriptor slots and the open file. */
export interface AppendTarget {
  /** Name for messages. */
  path: string;
  /** The header, updated in place (data size, free count, arch). */
  header: SifHeader;
  /** Descriptor slots (undefined = unused). */
  slots: (RawDescriptor | undefined)[];
  /** Slots changed. */
  dirty: Set<number>;
  /** The file being written. */
  file: Deno.FsFile;
}

/**
 * Append one object at the end of the data section and fill the first free descriptor
 * slot (sylabs/sif `writeDataObject`).
 *
 * @param target Header, slots and file.
 * @param input The object.
 * @param time The operation's time (the object's own `time` wins).
 * @param onProgress Called with bytes written so far.
 * @returns The new descriptor.
 */
export async function appendObject(
  target: AppendTarget,
  input: ObjectInput,
  time: number,
  onProgress?: (written: number) => void,
): Promise<RawDescriptor> {
  const prepared = prepareInput(input);
  const slot = target.slots.findIndex((s) => s === undefined || !s.used);
  if (slot < 0) {
    throw new SingletError(
      `Cannot add object to SIF image "${target.path}": all ${target.slots.length} descriptors ` +
        `are in use`,
      { hint: "create the image again with a larger descriptor capacity" },
    );
  }
  if (input.partition?.partType === PartType.PrimSys) {
    const existing = target.slots.find((s) =>
      s?.used && s.dataType === DataType.Partition &&
      new DataView(s.extra.buffer, s.extra.byteOffset).getInt32(4, true) === PartType.PrimSys
    );
    if (existing) {
      throw new SingletError(
        `Cannot add primary partition to SIF image "${target.path}": object ${existing.id} ` +
          `is already the primary partition`,
        { hint: "add it as a system partition (--parttype 1), then use setprim" },
      );
    }
  }
  const unaligned = target.header.dataOffset + target.header.dataSize;
  const offset = nextAligned(unaligned, prepared.alignment);
  await target.file.seek(offset, Deno.SeekMode.Start);
  let written = 0;
  const digested = input.dataType === DataType.OCIRootIndex ||
    input.dataType === DataType.OCIBlob;
  if (isObjectWriter(input.data)) {
    if (digested) {
      throw new RangeError(
        `Cannot add ${typeName(input.dataType)} object: its digest needs the bytes streamed, ` +
          `not written in place`,
      );
    }
    const sizeBefore = (await target.file.stat()).size;
    try {
      written = await input.data.writeAt(target.file, offset);
    } catch (error) {
      throw new ObjectWriterError(error);
    }
    if (!Number.isSafeInteger(written) || written < 0) {
      throw new RangeError(`Cannot add object: its writer reported ${written} bytes`);
    }
    // A writer may have written past its end and rewound (the SquashFS writer does when a
    // file turns out to be a duplicate): nothing may follow the object's data.
    const end = Math.max(sizeBefore, offset + written);
    if ((await target.file.stat()).size > end) await target.file.truncate(end);
    onProgress?.(written);
    return recordObject(target, input, prepared, slot, offset, unaligned, written, time);
  }
  const hasher = digested ? (await import("node:crypto")).createHash("sha256") : undefined;
  // Small chunks are gathered into one buffer: a write per 4 KiB chunk would cost more in
  // system calls than the copy. Large chunks go straight through. Memory stays bounded.
  const pending = new Uint8Array(COALESCE_SIZE);
  let pendingLength = 0;
  const flush = async () => {
    if (pendingLength === 0) return;
    await writeAll(target.file, pending.subarray(0, pendingLength));
    pendingLength = 0;
  };
  for await (const chunk of chunksOf(input.data)) {
    if (chunk.length === 0) continue;
    hasher?.update(chunk);
    if (chunk.length >= COALESCE_SIZE / 4) {
      await flush();
      await writeAll(target.file, chunk);
    } else {
      if (pendingLength + chunk.length > COALESCE_SIZE) await flush();
      pending.set(chunk, pendingLength);
      pendingLength += chunk.length;
    }
    written += chunk.length;
    onProgress?.(written);
  }
  await flush();
  if (hasher) {
    prepared.extra.set(new TextEncoder().encode(`sha256:${hasher.digest("hex")}`));
  }
  return recordObject(target, input, prepared, slot, offset, unaligned, written, time);
}

/** Fill the descriptor of an object whose data is in place, and update the header. */
function recordObject(
  target: AppendTarget,
  input: ObjectInput,
  prepared: ReturnType<typeof prepareInput>,
  slot: number,
  offset: number,
  unaligned: number,
  written: number,
  time: number,
): RawDescriptor {
  const objectTime = input.time ?? time;
  const raw: RawDescriptor = {
    dataType: input.dataType,
    used: true,
    id: slot + 1,
    groupId: (prepared.groupId | GROUP_MASK) >>> 0,
    linkedId: prepared.linkedId,
    offset,
    size: written,
    sizeWithPadding: offset - unaligned + written,
    createdAt: objectTime,
    modifiedAt: objectTime,
    uid: 0n,
    gid: 0n,
    name: prepared.name,
    extra: prepared.extra,
  };
  target.slots[slot] = raw;
  target.dirty.add(slot);
  if (input.partition?.partType === PartType.PrimSys) {
    target.header.arch = archField(input.partition.arch);
  }
  target.header.descriptorsFree--;
  target.header.dataSize += raw.sizeWithPadding;
  return raw;
}

/**
 * Add objects to an existing image, atomically: either all are added or the image is left
 * as it was. The image's modification time becomes the operation's time (see
 * {@linkcode TimeOptions}); new objects get the same time unless they carry their own.
 *
 * @param path The image.
 * @param objects The objects, written in order.
 * @param options Time and progress.
 * @returns The new descriptors.
 * @example Usage
 * ```ts ignore
 * await addObjects("image.sif", [{ dataType: DataType.Labels, data: '{"a":"b"}' }]);
 * ```
 */
export async function addObjects(
  path: string,
  objects: readonly ObjectInput[],
  options: AddObjectsOptions = {},
): Promise<RawDescriptor[]> {
  for (const object of objects) prepareInput(object);
  return await editSif(path, options, async (state: EditState) => {
    const added: RawDescriptor[] = [];
    for (const [index, object] of objects.entries()) {
      added.push(
        await appendObject(
          state,
          object,
          state.time,
          options.onProgress && ((n) => options.onProgress!(n, index)),
        ),
      );
    }
    state.header.modifiedAt = state.time;
    return added;
  });
}
