import assert from "node:assert/strict";
import { assertGolden } from "../../tests/_helpers/golden.ts";
import { SingletError } from "../errors.ts";
import { entries, inTempDir, pattern, withEpoch } from "./_test_helpers.ts";
import {
  addObjects,
  createSif,
  DataType,
  deleteObject,
  FsType,
  GO_ZERO_TIME,
  openSif,
  PartType,
  primaryArchOf,
} from "./mod.ts";

const primary = (arch = "amd64") => ({
  dataType: DataType.Partition,
  data: pattern(5000),
  partition: { fsType: FsType.Squash, partType: PartType.PrimSys, arch },
});

Deno.test("addObjects() appends after the data section, reuses the first free slot and updates times", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/x.sif`;
    await createSif(path, [{ dataType: DataType.Deffile, data: "a" }], { time: 1000 });
    await addObjects(path, [primary("arm64"), { dataType: DataType.Labels, data: "{}" }], {
      time: 2000,
    });
    await deleteObject(path, 1, { time: 3000 });
    await addObjects(path, [{ dataType: DataType.EnvVar, data: "e", time: 42 }], { time: 4000 });
    using image = await openSif(path);
    assert.equal(image.header.createdAt, 1000);
    assert.equal(image.header.modifiedAt, 4000);
    assert.equal(primaryArchOf(image.header), "arm64");
    assert.deepEqual(
      image.descriptors.map((d) => [d.id, d.dataType, d.offset, d.size, d.createdAt]),
      [
        [1, DataType.EnvVar, 37770, 1, 42],
        [2, DataType.Partition, 32768, 5000, 2000],
        [3, DataType.Labels, 37768, 2, 2000],
      ],
    );
    assert.equal(image.header.descriptorsFree, 45);
    assert.equal(image.header.dataSize, 37771 - 32176);
  });
});

Deno.test("addObjects() keeps a deterministic image deterministic (golden)", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/x.sif`;
    await withEpoch(undefined, async () => {
      await createSif(path, [{ dataType: DataType.Deffile, data: "Bootstrap: scratch\n" }], {
        deterministic: true,
      });
      await addObjects(path, [primary(), {
        dataType: DataType.Signature,
        data: "sig",
        groupId: 0,
        linkedGroupId: 1,
        signature: { hashType: 1 },
      }]);
    });
    using image = await openSif(path);
    assert.equal(image.header.modifiedAt, GO_ZERO_TIME);
    assert.ok(image.descriptors.every((d) => d.createdAt === GO_ZERO_TIME));
    await assertGolden(
      new URL("./testdata/add_objects/deterministic.golden", import.meta.url),
      await Deno.readFile(path),
    );
  });
});

Deno.test("addObjects() leaves the image byte-identical when it cannot add", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/x.sif`;
    await createSif(path, [primary()], { descriptorCapacity: 2 });
    const before = await Deno.readFile(path);
    const failing = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(pattern(100));
        controller.error(new Error("disk on fire"));
      },
    });
    await assert.rejects(
      addObjects(path, [{ dataType: DataType.Generic, data: failing }]),
      /disk on fire/,
    );
    await assert.rejects(addObjects(path, [primary()]), (error: unknown) => {
      assert.ok(error instanceof SingletError);
      assert.match(error.message, /object 1 is already the primary partition/);
      return true;
    });
    await assert.rejects(
      addObjects(path, [{ dataType: DataType.Generic, data: "a" }, {
        dataType: DataType.Generic,
        data: "b",
      }]),
      /all 2 descriptors are in use/,
    );
    await assert.rejects(
      addObjects(path, [{ dataType: DataType.Generic, data: "a", linkedId: 1, linkedGroupId: 1 }]),
      RangeError,
    );
    await assert.rejects(
      addObjects(path, [{ dataType: DataType.Generic, data: "a", name: "n".repeat(129) }]),
      /longer than 128 bytes/,
    );
    await assert.rejects(
      addObjects(path, [{ dataType: DataType.Generic, data: "a", sbom: { format: 1 } }]),
      /sbom metadata only applies to SBOM objects/,
    );
    assert.deepEqual(await Deno.readFile(path), before);
    assert.deepEqual(entries(dir), ["x.sif"]);
  });
});

Deno.test("addObjects() edits the file a symbolic link points to and keeps the link", async () => {
  await inTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/real`);
    await createSif(`${dir}/real/x.sif`, []);
    await Deno.symlink("real/x.sif", `${dir}/link.sif`);
    await addObjects(`${dir}/link.sif`, [{ dataType: DataType.Generic, data: "g" }]);
    assert.ok((await Deno.lstat(`${dir}/link.sif`)).isSymlink);
    using image = await openSif(`${dir}/real/x.sif`);
    assert.equal(image.descriptors.length, 1);
    assert.deepEqual(entries(`${dir}/real`), ["x.sif"]);
  });
});
