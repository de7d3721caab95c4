import assert from "node:assert/strict";
import { assertGolden } from "../../tests/_helpers/golden.ts";
import { inTempDir, pattern, withEpoch } from "./_test_helpers.ts";
import {
  createSif,
  DataType,
  FsType,
  openSif,
  PartType,
  primaryArchOf,
  setPrimaryPartition,
} from "./mod.ts";

const part = (partType: number, arch: string) => ({
  dataType: DataType.Partition,
  data: pattern(100),
  partition: { fsType: FsType.Squash, partType, arch },
});

Deno.test("setPrimaryPartition() promotes a system partition and demotes the old primary", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/x.sif`;
    await createSif(path, [
      part(PartType.PrimSys, "amd64"),
      part(PartType.System, "arm64"),
      part(PartType.Data, "arm64"),
      { dataType: DataType.Generic, data: "g" },
    ], { time: 10 });
    await setPrimaryPartition(path, 2, { time: 20 });
    {
      using image = await openSif(path);
      assert.equal(primaryArchOf(image.header), "arm64");
      assert.equal(image.header.modifiedAt, 20);
      assert.equal(image.primaryPartition().id, 2);
      assert.equal(image.descriptor(2).partition?.arch, "arm64");
      assert.equal(image.descriptor(1).partition?.partType, PartType.System);
      assert.equal(image.descriptor(1).partition?.arch, "amd64");
      assert.deepEqual(image.descriptors.map((d) => d.modifiedAt), [20, 20, 10, 10]);
    }
    const before = await Deno.readFile(path);
    await setPrimaryPartition(path, 2, { time: 30 });
    assert.deepEqual(await Deno.readFile(path), before, "already primary: unchanged");
    await assert.rejects(setPrimaryPartition(path, 3), /not a system partition/);
    await assert.rejects(setPrimaryPartition(path, 4), /not a partition/);
    await assert.rejects(setPrimaryPartition(path, 9), /no such object/);
    assert.deepEqual(await Deno.readFile(path), before);
  });
});

Deno.test("setPrimaryPartition() on a deterministic image gives the golden bytes", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/x.sif`;
    await withEpoch(undefined, async () => {
      await createSif(path, [part(PartType.System, "s390x"), part(PartType.System, "ppc64le")], {
        deterministic: true,
      });
      await setPrimaryPartition(path, 2);
    });
    await assertGolden(
      new URL("./testdata/set_primary_partition/promote.golden", import.meta.url),
      await Deno.readFile(path),
    );
  });
});
