/**
 * What the writing operations share: how times are chosen (explicit, `SOURCE_DATE_EPOCH`,
 * deterministic, now) and the edit cycle of an existing image (validate, copy to a
 * temporary file, change header and descriptor table, rename into place).
 *
 * @module
 */
import { SingletError } from "../errors.ts";
import { writeAllAt, writeAtomically } from "./_atomic.ts";
import { DESCRIPTOR_SIZE, GO_ZERO_TIME } from "./_layout.ts";
import { decodeDescriptor, encodeDescriptor, type RawDescriptor } from "./descriptor.ts";
import { encodeHeader, type SifHeader } from "./header.ts";
import { openSifSync } from "./load.ts";

/** How a writing operation chooses its timestamps. */
export interface TimeOptions {
  /**
   * Timestamp to record, Unix seconds. Default: `SOURCE_DATE_EPOCH` when set, else Go's
   * zero time when deterministic, else now.
   */
  time?: number;
  /**
   * Reproducible output: zero UUID and fixed times (Go's zero time unless
   * `SOURCE_DATE_EPOCH` or `time` says otherwise). Edits of a deterministic image stay
   * deterministic, as in sylabs/sif.
   */
  deterministic?: boolean;
}

/**
 * `SOURCE_DATE_EPOCH` from the environment, when set to an integer.
 *
 * @returns Unix seconds, or undefined.
 */
export function sourceDateEpoch(): number | undefined {
  let value: string | undefined;
  try {
    value = Deno.env.get("SOURCE_DATE_EPOCH");
  } catch {
    return undefined;
  }
  if (value === undefined || !/^-?\d+$/.test(value.trim())) return undefined;
  const n = Number(value.trim());
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * The timestamp an operation records.
 *
 * @param options Explicit time and determinism.
 * @returns Unix seconds.
 */
export function resolveTime(options: TimeOptions): number {
  if (options.time !== undefined) {
    if (!Number.isSafeInteger(options.time)) {
      throw new RangeError(`Cannot use time ${options.time}: not an integer number of seconds`);
    }
    return options.time;
  }
  const sde = sourceDateEpoch();
  if (sde !== undefined) return sde;
  if (options.deterministic) return GO_ZERO_TIME;
  return Math.floor(Date.now() / 1000);
}

/**
 * Whether an image was made deterministically: zero ID and zero times (sylabs/sif
 * `isDeterministic`).
 *
 * @param header The header.
 * @returns True when edits should keep zero times.
 */
export function isDeterministic(header: SifHeader): boolean {
  return header.id.every((b) => b === 0) && header.createdAt === GO_ZERO_TIME &&
    header.modifiedAt === GO_ZERO_TIME;
}

/** The mutable state of an image being edited. */
export interface EditState {
  /** The path being edited. */
  path: string;
  /** The header; change it in place. */
  header: SifHeader;
  /** Every descriptor slot, decoded lazily; `undefined` for unused ones. */
  slots: (RawDescriptor | undefined)[];
  /** Slots changed so far (written back at the end). */
  dirty: Set<number>;
  /** The temporary copy, open read-write. */
  file: Deno.FsFile;
  /** Size of the original file. */
  fileSize: number;
  /** The time the edit records. */
  time: number;
}

/**
 * Run one edit of an existing image atomically: the image is validated first, edited on a
 * temporary copy, and renamed over the original only when everything succeeded.
 *
 * @param path The image.
 * @param options Time choice.
 * @param edit Changes `state.header`, `state.slots` (marking `state.dirty`) and the file.
 * @returns What `edit` returned.
 */
export async function editSif<T>(
  path: string,
  options: TimeOptions,
  edit: (state: EditState) => Promise<T>,
): Promise<T> {
  const image = openSifSync(path);
  const header: SifHeader = { ...image.header };
  const table = image.descriptorTable;
  const slots: (RawDescriptor | undefined)[] = [];
  for (let i = 0; i < header.descriptorsTotal; i++) {
    const at = i * DESCRIPTOR_SIZE;
    const bytes = table.subarray(at, at + DESCRIPTOR_SIZE);
    slots.push(bytes[4] === 0 ? undefined : decodeDescriptor(bytes));
  }
  const fileSize = image.fileSize;
  image.close();
  const time = options.time !== undefined || options.deterministic
    ? resolveTime(options)
    : isDeterministic(header)
    ? (sourceDateEpoch() ?? GO_ZERO_TIME)
    : resolveTime(options);
  try {
    return await writeAtomically(path, async (file) => {
      const state: EditState = { path, header, slots, dirty: new Set(), file, fileSize, time };
      const result = await edit(state);
      for (const i of state.dirty) {
        const raw = state.slots[i];
        const bytes = raw ? encodeDescriptor(raw) : new Uint8Array(DESCRIPTOR_SIZE);
        await writeAllAt(file, bytes, header.descriptorsOffset + i * DESCRIPTOR_SIZE);
      }
      await writeAllAt(file, encodeHeader(state.header), 0);
      return result;
    }, { copyFrom: path });
  } catch (error) {
    // What an object's own writer threw is its own error (see ObjectWriter in add.ts).
    if (error instanceof Error && error.name === "ObjectWriterError") throw error.cause;
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
