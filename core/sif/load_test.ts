import assert from "node:assert/strict";
import { testWithTools } from "../../tests/_helpers/tools.ts";
import { SingletError } from "../errors.ts";
import {
  createSif,
  DataType,
  FsType,
  GROUP_MASK,
  HashType,
  idOf,
  openSif,
  openSifSync,
  PartType,
  primaryArchOf,
} from "./mod.ts";

async function siftool(...args: string[]): Promise<string> {
  const out = await new Deno.Command("siftool", { args, stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`siftool ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return text;
}

testWithTools(
  "openSif() reads every field of an image siftool built: groups, links, partitions, signatures",
  ["siftool"],
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "sif-load-" });
    try {
      const sif = `${dir}/x.sif`;
      await Deno.writeTextFile(`${dir}/def`, "Bootstrap: docker\nFrom: alpine\n");
      await Deno.writeFile(`${dir}/part`, new Uint8Array(5000).fill(7));
      await Deno.writeTextFile(`${dir}/l.json`, '{"a":"b"}\n');
      await siftool("new", sif);
      await siftool("add", sif, `${dir}/def`, "--datatype", "1");
      await siftool(
        "add",
        sif,
        `${dir}/part`,
        ...["--datatype", "4", "--parttype", "2", "--partfs", "1", "--partarch", "2"],
      );
      await siftool("add", sif, `${dir}/l.json`, "--datatype", "3", "--groupid", "1");
      await siftool(
        "add",
        sif,
        `${dir}/l.json`,
        "--datatype",
        "6",
        "--link",
        "2",
        "--filename",
        "m",
      );
      await siftool(
        "add",
        sif,
        `${dir}/l.json`,
        ...["--datatype", "5", "--signhash", "2", "--link", "3"],
        ...["--signentity", "433FE984155206BD962725E20E8713472A879943"],
      );
      using image = await openSif(sif);
      const h = image.header;
      assert.equal(image.version, "01");
      assert.equal(primaryArchOf(h), "amd64");
      assert.notEqual(idOf(h), "00000000-0000-0000-0000-000000000000");
      assert.equal(h.descriptorsTotal, 48);
      assert.equal(h.descriptorsFree, 43);
      assert.equal(h.descriptorsOffset, 4096);
      assert.equal(h.descriptorsSize, 48 * 585);
      assert.equal(h.dataOffset, 32176);
      assert.equal(h.dataSize, 37798 - 32176);
      assert.equal(image.fileSize, 37798);
      const [def, part, labels, json, sig] = image.descriptors;
      assert.deepEqual(
        image.descriptors.map((d) => [d.id, d.dataType, d.offset, d.size, d.sizeWithPadding]),
        [
          [1, DataType.Deffile, 32176, 31, 31],
          [2, DataType.Partition, 32768, 5000, 5561],
          [3, DataType.Labels, 37768, 10, 10],
          [4, DataType.GenericJSON, 37778, 10, 10],
          [5, DataType.Signature, 37788, 10, 10],
        ],
      );
      assert.equal(def!.groupId, 0);
      assert.equal(def!.raw.groupId, GROUP_MASK);
      assert.equal(labels!.groupId, 1);
      assert.equal(json!.linkedId, 2);
      assert.equal(json!.linkedToGroup, false);
      assert.equal(json!.name, "m");
      assert.deepEqual([part!.partition?.fsType, part!.partition?.partType], [
        FsType.Squash,
        PartType.PrimSys,
      ]);
      assert.equal(part!.partition?.arch, "amd64");
      assert.equal(image.primaryPartition().id, 2);
      const extra = sig!.extra;
      assert.equal(extra.kind, "signature");
      if (extra.kind === "signature") {
        assert.equal(extra.hashType, HashType.SHA384);
        assert.equal(extra.fingerprint, "433FE984155206BD962725E20E8713472A879943");
      }
      assert.equal(
        new TextDecoder().decode(await image.readObject(def!)),
        "Bootstrap: docker\nFrom: alpine\n",
      );
      assert.deepEqual(await image.readRange(part!, 4990, 10), new Uint8Array(10).fill(7));
      let streamed = 0;
      for await (const chunk of image.objectStream(part!, { chunkSize: 1024 })) {
        assert.ok(chunk.length <= 1024);
        streamed += chunk.length;
      }
      assert.equal(streamed, 5000);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test("openSif() names the file and the problem for a file that is not a SIF", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${dir}/bad.sif`, new Uint8Array(4096));
    await assert.rejects(openSif(`${dir}/bad.sif`), (error: unknown) => {
      assert.ok(error instanceof SingletError);
      assert.match(error.message, /bad\.sif.*not a SIF image/);
      return true;
    });
    await assert.rejects(openSif(`${dir}/missing.sif`), /missing\.sif": no such file/);
    assert.throws(
      () => openSifSync(new Uint8Array(0), { name: "empty" }),
      /"empty": the file is empty/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openSif() reads an empty object whose alignment padding lies past the end of the file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/x.sif`;
    await createSif(path, [
      { dataType: DataType.Generic, data: "abc" },
      { dataType: DataType.Generic, data: "", alignment: 4096 },
    ]);
    using image = await openSif(path);
    const empty = image.descriptor(2);
    assert.ok(empty.offset > image.fileSize, "the padding was never written");
    assert.deepEqual(await image.readObject(empty), new Uint8Array());
    const chunks = [];
    for await (const chunk of image.objectStream(empty)) chunks.push(chunk);
    assert.deepEqual(chunks, []);
    // The same from bytes in memory.
    using inMemory = openSifSync(await Deno.readFile(path));
    assert.deepEqual(await inMemory.readObject(inMemory.descriptor(2)), new Uint8Array());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
