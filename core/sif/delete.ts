/**
 * Delete a data object from a SIF image (sylabs/sif `DeleteObject`), atomically: the
 * descriptor slot is cleared, optionally the data is zeroed, optionally the file is
 * compacted (truncated after the last remaining object).
 *
 * @module
 */
import { SingletError } from "../errors.ts";
import { writeAll } from "./_atomic.ts";
import { editSif, type TimeOptions } from "./_edit.ts";
import { DataType, PartType } from "./_layout.ts";

/** Options of {@linkcode deleteObject}. */
export interface DeleteObjectOptions extends TimeOptions {
  /** Overwrite the object's data with zeros. */
  zero?: boolean;
  /**
   * Shrink the file: the data section ends after the last remaining object, so deleting
   * the last object(s) gives the space back.
   */
  compact?: boolean;
}

/**
 * Delete the object with an ID. Deleting the primary partition resets the header
 * architecture to unknown. The image's modification time becomes the operation's time.
 *
 * @param path The image.
 * @param id The object ID.
 * @param options Zeroing, compaction, time.
 * @example Usage
 * ```ts ignore
 * await deleteObject("image.sif", 3, { compact: true });
 * ```
 */
export function deleteObject(
  path: string,
  id: number,
  options: DeleteObjectOptions = {},
): Promise<void> {
  return editSif(path, options, async (state) => {
    const slot = state.slots.findIndex((s) => s?.used && s.id === id);
    const raw = state.slots[slot];
    if (slot < 0 || !raw) {
      throw new SingletError(
        `Cannot delete object ${id} from SIF image "${path}": no such object`,
        {
          hint: `run 'singlet sif list ${path}' to see the object IDs`,
        },
      );
    }
    if (options.zero && raw.size > 0) {
      await state.file.seek(raw.offset, Deno.SeekMode.Start);
      const zeros = new Uint8Array(Math.min(raw.size, 1 << 20));
      for (let left = raw.size; left > 0; left -= zeros.length) {
        await writeAll(state.file, zeros.subarray(0, Math.min(left, zeros.length)));
      }
    }
    state.header.descriptorsFree++;
    if (
      raw.dataType === DataType.Partition &&
      new DataView(raw.extra.buffer, raw.extra.byteOffset).getInt32(4, true) === PartType.PrimSys
    ) {
      state.header.arch = new TextEncoder().encode("00\0");
    }
    state.slots[slot] = undefined;
    state.dirty.add(slot);
    state.header.modifiedAt = state.time;
    if (options.compact) {
      let end = state.header.dataOffset;
      for (const s of state.slots) {
        if (s?.used && s.offset + s.size > end) end = s.offset + s.size;
      }
      state.header.dataSize = end - state.header.dataOffset;
      await state.file.truncate(end);
    }
  });
}
