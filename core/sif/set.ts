/**
 * Choose the primary system partition (sylabs/sif `SetPrimPart`), atomically: the target
 * must be a system partition; the previous primary one becomes a plain system partition;
 * the header architecture follows the new primary partition.
 *
 * @module
 */
import { SingletError } from "../errors.ts";
import { editSif, type TimeOptions } from "./_edit.ts";
import { DataType, PartType } from "./_layout.ts";
import { openSifSync } from "./load.ts";

/**
 * Make the partition with an ID the primary system partition (the root filesystem). A
 * partition that already is primary is left alone and the file is not rewritten.
 *
 * @param path The image.
 * @param id The partition's object ID.
 * @param options Time choice.
 * @example Usage
 * ```ts ignore
 * await setPrimaryPartition("image.sif", 3);
 * ```
 */
export async function setPrimaryPartition(
  path: string,
  id: number,
  options: TimeOptions = {},
): Promise<void> {
  const partType = (extra: Uint8Array) =>
    new DataView(extra.buffer, extra.byteOffset, extra.byteLength).getInt32(4, true);
  const setPartType = (extra: Uint8Array, value: number) =>
    new DataView(extra.buffer, extra.byteOffset, extra.byteLength).setInt32(4, value, true);
  // Already primary: nothing to do, and the file is not rewritten (as sylabs/sif).
  {
    using image = openSifSync(path);
    const current = image.descriptors.find((d) => d.id === id);
    if (current?.partition?.partType === PartType.PrimSys) return;
  }
  await editSif(path, options, (state) => {
    const what = `Cannot make object ${id} the primary partition of SIF image "${path}"`;
    const slot = state.slots.findIndex((s) => s?.used && s.id === id);
    const raw = state.slots[slot];
    if (slot < 0 || !raw) {
      throw new SingletError(`${what}: no such object`, {
        hint: `run 'singlet sif list ${path}' to see the object IDs`,
      });
    }
    if (raw.dataType !== DataType.Partition) {
      throw new SingletError(`${what}: it is not a partition`);
    }
    const type = partType(raw.extra);
    if (type !== PartType.System) {
      throw new SingletError(`${what}: it is not a system partition`, {
        hint: "only system partitions (--parttype 1) can become primary",
      });
    }
    const old = state.slots.findIndex((s) =>
      s?.used && s.dataType === DataType.Partition && partType(s.extra) === PartType.PrimSys
    );
    const previous = state.slots[old];
    if (old >= 0 && previous) {
      setPartType(previous.extra, PartType.System);
      previous.modifiedAt = state.time;
      state.dirty.add(old);
    }
    setPartType(raw.extra, PartType.PrimSys);
    raw.modifiedAt = state.time;
    state.dirty.add(slot);
    state.header.arch = raw.extra.slice(8, 11);
    state.header.modifiedAt = state.time;
    return Promise.resolve();
  });
}
