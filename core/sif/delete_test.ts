import assert from "node:assert/strict";
import { assertGolden } from "../../tests/_helpers/golden.ts";
import { entries, inTempDir, pattern, withEpoch } from "./_test_helpers.ts";
import {
  createSif,
  DataType,
  deleteObject,
  FsType,
  openSif,
  PartType,
  primaryArchOf,
} from "./mod.ts";

const objects = () => [
  { dataType: DataType.Deffile, data: "def" },
  {
    dataType: DataType.Partition,
    data: pattern(5000),
    partition: { fsType: FsType.Squash, partType: PartType.PrimSys, arch: "amd64" },
  },
  { dataType: DataType.Labels, data: "{}" },
];

Deno.test("deleteObject() frees the slot and resets the header arch with the primary partition", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/x.sif`;
    await createSif(path, objects(), { time: 1 });
    const size = (await Deno.stat(path)).size;
    await deleteObject(path, 2, { time: 5, zero: true });
    using image = await openSif(path);
    assert.deepEqual(image.descriptors.map((d) => d.id), [1, 3]);
    assert.equal(primaryArchOf(image.header), "unknown");
    assert.equal(image.header.descriptorsFree, 46);
    assert.equal(image.header.modifiedAt, 5);
    // Zeroed, not compacted: the data section keeps its size.
    assert.equal((await Deno.stat(path)).size, size);
    const bytes = await Deno.readFile(path);
    assert.ok(bytes.subarray(32768, 37768).every((b) => b === 0));
    assert.deepEqual(
      bytes.subarray(4096 + 585, 4096 + 2 * 585),
      new Uint8Array(585),
      "the freed descriptor slot is zeroed",
    );
    await assert.rejects(deleteObject(path, 2), /Cannot delete object 2 .*no such object/);
    assert.deepEqual(entries(dir), ["x.sif"]);
  });
});

Deno.test("deleteObject() with compact truncates after the last remaining object (golden)", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/x.sif`;
    await withEpoch(undefined, async () => {
      await createSif(path, objects(), { deterministic: true });
      await deleteObject(path, 3, { compact: true });
      await deleteObject(path, 2, { compact: true });
    });
    using image = await openSif(path);
    assert.equal(image.fileSize, 32176 + 3);
    assert.equal(image.header.dataSize, 3);
    await assertGolden(
      new URL("./testdata/delete_object/compact.golden", import.meta.url),
      await Deno.readFile(path),
    );
  });
});
