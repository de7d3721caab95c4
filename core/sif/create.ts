/**
 * Create a SIF image from a list of objects (sylabs/sif `CreateContainer`), atomically.
 *
 * @module
 */
import { SingletError } from "../errors.ts";
import { writeAllAt, writeAtomically } from "./_atomic.ts";
import { parseUuid } from "./_binary.ts";
import { resolveTime, type TimeOptions } from "./_edit.ts";
import {
  DEFAULT_DESCRIPTOR_CAPACITY,
  DEFAULT_DESCRIPTORS_OFFSET,
  DESCRIPTOR_SIZE,
  HEADER_SIZE,
  LAUNCH_SCRIPT_SIZE,
  MAGIC,
  SPEC_VERSION,
} from "./_layout.ts";
import { appendObject, type ObjectInput, ObjectWriterError, prepareInput } from "./add.ts";
import { encodeDescriptor, type RawDescriptor } from "./descriptor.ts";
import { encodeHeader, type SifHeader } from "./header.ts";

/** Options of {@linkcode createSif}. */
export interface CreateSifOptions extends TimeOptions {
  /** Number of descriptor slots (default 48); objects added later need free slots. */
  descriptorCapacity?: number;
  /**
   * Launch script, shorter than 32 bytes. Default none (as `siftool new`); native images use
   * {@linkcode RUN_SINGULARITY_LAUNCH_SCRIPT} so `./image.sif` runs them.
   */
  launchScript?: string;
  /** Image UUID; default random, or all-zero when deterministic. */
  id?: string | Uint8Array;
  /** File mode before the umask (default 0o755: SIF images are executable). */
  mode?: number;
  /**
   * Called as object data is written.
   *
   * @param written Bytes of the current object written so far.
   * @param index Index of the object.
   */
  onProgress?: (written: number, index: number) => void;
}

/** What {@linkcode createSif} wrote. */
export interface CreatedSif {
  /** The header as written. */
  header: SifHeader;
  /** The descriptors of the objects, in order. */
  descriptors: RawDescriptor[];
}

/**
 * Create a SIF image at `path` holding `objects`, in order.
 *
 * The file is written next to `path` under a temporary name, fsynced and renamed into place;
 * on any failure nothing is left behind and an existing file at `path` is untouched. Object
 * data streams through in bounded memory.
 *
 * By default the UUID is random and times are now; `deterministic` gives a zero UUID and
 * Go's zero time, and `SOURCE_DATE_EPOCH` (or `time`) fixes the times, so two builds of the
 * same input are byte-identical.
 *
 * @param path Where to write the image.
 * @param objects Objects to store (default group 1; partitions 4096-aligned).
 * @param options Capacity, launch script, determinism, mode, progress.
 * @returns The header and descriptors written.
 * @example A native image: definition file, metadata and a streamed root filesystem
 * ```ts ignore
 * import { createSif, DataType, FsType, PartType, RUN_SINGULARITY_LAUNCH_SCRIPT } from "./mod.ts";
 * using squashfs = await Deno.open("rootfs.squashfs");
 * await createSif("image.sif", [
 *   { dataType: DataType.Deffile, data: "Bootstrap: docker\nFrom: alpine\n" },
 *   { dataType: DataType.GenericJSON, data: "{}", name: "oci-config.json" },
 *   {
 *     dataType: DataType.Partition,
 *     data: squashfs.readable,
 *     partition: { fsType: FsType.Squash, partType: PartType.PrimSys, arch: "amd64" },
 *   },
 * ], { launchScript: RUN_SINGULARITY_LAUNCH_SCRIPT });
 * ```
 */
export async function createSif(
  path: string,
  objects: readonly ObjectInput[],
  options: CreateSifOptions = {},
): Promise<CreatedSif> {
  const capacity = options.descriptorCapacity ?? DEFAULT_DESCRIPTOR_CAPACITY;
  if (!Number.isSafeInteger(capacity) || capacity < 0 || capacity > 0xffffffff) {
    throw new RangeError(`Cannot create SIF image "${path}": descriptor capacity ${capacity}`);
  }
  if (objects.length > capacity) {
    throw new RangeError(
      `Cannot create SIF image "${path}": descriptor capacity is ${capacity}, ` +
        `${objects.length} objects given`,
    );
  }
  for (const object of objects) prepareInput(object);
  const launch = new TextEncoder().encode(options.launchScript ?? "");
  if (launch.length >= LAUNCH_SCRIPT_SIZE) {
    throw new RangeError(
      `Cannot create SIF image "${path}": launch script is ${launch.length} bytes, ` +
        `at most ${LAUNCH_SCRIPT_SIZE - 1} fit`,
    );
  }
  const launchScript = new Uint8Array(LAUNCH_SCRIPT_SIZE);
  launchScript.set(launch);
  let id: Uint8Array;
  if (options.id !== undefined) {
    id = typeof options.id === "string" ? parseUuid(options.id) : options.id.slice(0, 16);
    if (id.length !== 16) {
      throw new RangeError(`Cannot create SIF image "${path}": ID is not 16 bytes`);
    }
  } else if (options.deterministic) {
    id = new Uint8Array(16);
  } else {
    id = crypto.getRandomValues(new Uint8Array(16));
    id[6] = (id[6]! & 0x0f) | 0x40; // UUID version 4
    id[8] = (id[8]! & 0x3f) | 0x80; // RFC 4122 variant
  }
  const time = resolveTime(options);
  const tableSize = capacity * DESCRIPTOR_SIZE;
  const header: SifHeader = {
    launchScript,
    magic: MAGIC.slice(),
    version: new TextEncoder().encode(`${SPEC_VERSION}\0`),
    arch: new TextEncoder().encode("00\0"),
    id,
    createdAt: time,
    modifiedAt: time,
    descriptorsFree: capacity,
    descriptorsTotal: capacity,
    descriptorsOffset: DEFAULT_DESCRIPTORS_OFFSET,
    descriptorsSize: tableSize,
    dataOffset: DEFAULT_DESCRIPTORS_OFFSET + tableSize,
    dataSize: 0,
  };
  try {
    return await writeAtomically(path, async (file) => {
      const target = {
        path,
        header,
        slots: new Array<RawDescriptor | undefined>(capacity).fill(undefined),
        dirty: new Set<number>(),
        file,
      };
      const descriptors: RawDescriptor[] = [];
      for (const [index, object] of objects.entries()) {
        descriptors.push(
          await appendObject(
            target,
            object,
            time,
            options.onProgress && ((n) => options.onProgress!(n, index)),
          ),
        );
      }
      // The whole table, unused slots as zeros, so the file is complete up to the data.
      const table = new Uint8Array(tableSize);
      target.slots.forEach((raw, i) => {
        if (raw) table.set(encodeDescriptor(raw), i * DESCRIPTOR_SIZE);
      });
      await writeAllAt(file, table, header.descriptorsOffset);
      await writeAllAt(file, new Uint8Array(header.descriptorsOffset - HEADER_SIZE), HEADER_SIZE);
      await writeAllAt(file, encodeHeader(header), 0);
      return { header, descriptors };
    }, { mode: options.mode ?? 0o755 });
  } catch (error) {
    // What an object's own writer threw (e.g. a damaged layer) is its own error.
    if (error instanceof ObjectWriterError) throw error.cause;
    if (error instanceof SingletError || error instanceof RangeError) throw error;
    throw new SingletError(`Cannot write SIF image "${path}": ${(error as Error).message}`, {
      cause: error,
      ...(error instanceof Deno.errors.PermissionDenied
        ? {
          hint: "singlet writes a temporary file next to the image: the directory must be writable",
        }
        : {}),
    });
  }
}
