import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { inTempDir, withEpoch } from "./_test_helpers.ts";
import { createSif, DataType, FsType, headerIntegrityBytes, openSif, PartType } from "./mod.ts";

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

// sylabs/sif 2.8.3 test/gen_sifs.go builds one-group-signed.sif deterministically from a
// 4-byte raw system partition and a 4096-byte SquashFS primary partition (both arch 386),
// and signs it; its signed metadata lists these digests (siftool dump 3 of that image).
const SIGNED = {
  header: "635fa0a14a8ef0c0351ed3e985799ed1d4f75ce973dea3cc76c99710795cc3f1",
  descriptor1: "3634ad01db0dd5482ecf685267b53d6201690438ca27c3d7ea91c971a1f41f92",
  object1: "004dfc8da678c309de28b5386a1e9efd57f536b150c40d29b31506aa0fb17ec2",
  descriptor2: "04b5f87c9692a54f80d10fb6af00c779763aeca29d610348854bd97cd8bf66fd",
};

Deno.test("integrity bytes of a deterministic image give the digests sylabs/sif signed", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/one-group.sif`;
    await withEpoch(undefined, () =>
      createSif(path, [
        {
          dataType: DataType.Partition,
          data: new Uint8Array([0xfa, 0xce, 0xfe, 0xed]),
          partition: { fsType: FsType.Raw, partType: PartType.System, arch: "386" },
        },
        {
          dataType: DataType.Partition,
          // Only the size of the SquashFS enters its descriptor digest.
          data: new Uint8Array(4096),
          partition: { fsType: FsType.Squash, partType: PartType.PrimSys, arch: "386" },
        },
      ], { deterministic: true }));
    using image = await openSif(path);
    const [one, two] = image.descriptors;
    assert.equal(sha256(headerIntegrityBytes(image.header)), SIGNED.header);
    assert.equal(one!.relativeId, 0);
    assert.equal(two!.relativeId, 1);
    assert.equal(sha256(one!.integrityBytes()), SIGNED.descriptor1);
    assert.equal(sha256(await image.readObject(one!)), SIGNED.object1);
    assert.equal(sha256(two!.integrityBytes()), SIGNED.descriptor2);
  });
});
