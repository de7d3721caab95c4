import assert from "node:assert/strict";
import { assertGolden } from "../../tests/_helpers/golden.ts";
import { testWithTools } from "../../tests/_helpers/tools.ts";
import { SingletError } from "../errors.ts";
import { pattern, withEpoch } from "./_test_helpers.ts";
import {
  createSif,
  DataType,
  formatList,
  FsType,
  GO_ZERO_TIME,
  HashType,
  idOf,
  type ObjectInput,
  openSif,
  PartType,
  RUN_SINGULARITY_LAUNCH_SCRIPT,
  SbomFormat,
} from "./mod.ts";

function streamOf(bytes: Uint8Array, chunk = 1000): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(at, at + chunk));
      at += chunk;
    },
  });
}

interface Case {
  name: string;
  objects: () => ObjectInput[];
  options?: Parameters<typeof createSif>[2];
  list: string[];
}

const CASES: Case[] = [
  { name: "empty", objects: () => [], list: [] },
  {
    name: "native_image",
    options: { launchScript: RUN_SINGULARITY_LAUNCH_SCRIPT },
    objects: () => [
      { dataType: DataType.Deffile, data: "Bootstrap: docker\nFrom: alpine\n" },
      { dataType: DataType.GenericJSON, data: '{"a":1}', name: "inspect-metadata.json" },
      { dataType: DataType.GenericJSON, data: '{"b":2}', name: "oci-config.json" },
      {
        dataType: DataType.Partition,
        data: streamOf(pattern(10000)),
        partition: { fsType: FsType.Squash, partType: PartType.PrimSys, arch: "amd64" },
      },
    ],
    list: [
      "1    |1       |NONE    |32176-32207               |Def.FILE",
      "2    |1       |NONE    |32207-32214               |JSON.Generic",
      "3    |1       |NONE    |32214-32221               |JSON.Generic",
      "4    |1       |NONE    |32768-42768               |FS (Squashfs/*System/amd64)",
    ],
  },
  {
    name: "capacity_and_alignment",
    options: { descriptorCapacity: 3 },
    objects: () => [
      { dataType: DataType.Generic, data: pattern(3), alignment: 512, groupId: 0 },
      {
        dataType: DataType.Partition,
        data: [pattern(100, 2), pattern(23, 3)],
        alignment: 0,
        partition: { fsType: FsType.Raw, partType: PartType.Data, arch: "arm64" },
      },
      {
        dataType: DataType.Partition,
        data: pattern(7, 4),
        partition: { fsType: FsType.Ext3, partType: PartType.Overlay, arch: "riscv64" },
      },
    ],
    list: [
      "1    |NONE    |NONE    |6144-6147                 |Generic/Raw",
      "2    |1       |NONE    |6147-6270                 |FS (Raw/Data/arm64)",
      "3    |1       |NONE    |8192-8199                 |FS (Ext3/Overlay/riscv64)",
    ],
  },
  {
    name: "every_type",
    objects: () => [
      { dataType: DataType.Deffile, data: "Bootstrap: scratch\n" },
      { dataType: DataType.EnvVar, data: "export A=1\n", groupId: 2 },
      { dataType: DataType.Labels, data: "{}", name: "labels.json" },
      {
        dataType: DataType.Partition,
        data: pattern(10),
        partition: { fsType: FsType.Squash, partType: PartType.System, arch: "386" },
      },
      {
        dataType: DataType.Signature,
        data: "sig",
        groupId: 0,
        linkedGroupId: 1,
        signature: {
          hashType: HashType.SHA512,
          entity: "0123456789ABCDEF0123456789ABCDEF01234567",
        },
      },
      { dataType: DataType.GenericJSON, data: "[]", linkedId: 4 },
      { dataType: DataType.Generic, data: new Uint8Array([0, 255]) },
      {
        dataType: DataType.CryptoMessage,
        data: "msg",
        cryptoMessage: { formatType: 2, messageType: 0x200 },
      },
      { dataType: DataType.SBOM, data: "{}", sbom: { format: SbomFormat.SyftJSON } },
      { dataType: DataType.OCIBlob, data: "blob" },
      { dataType: DataType.OCIRootIndex, data: '{"schemaVersion":2}' },
    ],
    list: [
      "1    |1       |NONE    |32176-32195               |Def.FILE",
      "2    |2       |NONE    |32195-32206               |Env.Vars",
      "3    |1       |NONE    |32206-32208               |JSON.Labels",
      "4    |1       |NONE    |32768-32778               |FS (Squashfs/System/386)",
      "5    |NONE    |1   (G) |32778-32781               |Signature (SHA-512)",
      "6    |1       |4       |32781-32783               |JSON.Generic",
      "7    |1       |NONE    |32783-32785               |Generic/Raw",
      "8    |1       |NONE    |32785-32788               |Cryptographic Message (PEM/RSA-OAEP)",
      "9    |1       |NONE    |32788-32790               |SBOM (syft-json)",
      "10   |1       |NONE    |32790-32794               |OCI.Blob",
      "11   |1       |NONE    |32794-32813               |OCI.RootIndex",
    ],
  },
];

for (const c of CASES) {
  Deno.test(`createSif() in deterministic mode writes the golden bytes: ${c.name}`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      const path = `${dir}/out.sif`;
      await withEpoch(
        undefined,
        () => createSif(path, c.objects(), { ...c.options, deterministic: true }),
      );
      const bytes = await Deno.readFile(path);
      await assertGolden(new URL(`./testdata/create_sif/${c.name}.golden`, import.meta.url), bytes);
      using image = await openSif(path);
      assert.equal(idOf(image.header), "00000000-0000-0000-0000-000000000000");
      assert.equal(image.header.createdAt, GO_ZERO_TIME);
      const rule = "-".repeat(78);
      assert.equal(
        formatList(image.descriptors),
        [rule, "ID   |GROUP   |LINK    |SIF POSITION (start-end)  |TYPE", rule, ...c.list, ""]
          .join("\n"),
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

testWithTools("siftool lists every golden image as singlet does", ["siftool"], async () => {
  for (const c of CASES) {
    const path = new URL(`./testdata/create_sif/${c.name}.golden`, import.meta.url).pathname;
    const out = await new Deno.Command("siftool", { args: ["list", path], stdout: "piped" })
      .output();
    assert.ok(out.success, `siftool list ${c.name}`);
    using image = await openSif(path);
    // siftool 2.8 predates the OCI data types and calls them "Unknown".
    const ours = formatList(image.descriptors).replace(/\|OCI\.(Blob|RootIndex)$/gm, "|Unknown");
    assert.equal(new TextDecoder().decode(out.stdout), ours, c.name);
  }
});

Deno.test("createSif() records OCI blob digests and typed extras that read back", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/x.sif`;
    await createSif(path, CASES[3]!.objects(), { deterministic: true });
    using image = await openSif(path);
    const sha = new Uint8Array(
      await crypto.subtle.digest("SHA-256", new TextEncoder().encode("blob")),
    );
    const hex = Array.from(sha, (b) => b.toString(16).padStart(2, "0")).join("");
    assert.deepEqual(image.descriptor(10).extra, { kind: "ociDigest", digest: `sha256:${hex}` });
    const sig = image.descriptor(5);
    assert.equal(sig.linkedToGroup, true);
    assert.equal(sig.linkedId, 1);
    assert.equal(sig.groupId, 0);
    assert.equal(
      sig.extra.kind === "signature" && sig.extra.fingerprint,
      "0123456789ABCDEF0123456789ABCDEF01234567",
    );
    assert.equal(image.descriptor(3).name, "labels.json");
    assert.deepEqual(image.descriptor(8).extra, {
      kind: "cryptoMessage",
      formatType: 2,
      messageType: 0x200,
    });
    assert.equal(image.descriptor(6).relativeId, 5); // group 1 starts at ID 1
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("createSif() is reproducible: SOURCE_DATE_EPOCH fixes times, deterministic zeroes the ID", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const objects = () => CASES[1]!.objects();
    await withEpoch("1700000000", async () => {
      await createSif(`${dir}/a.sif`, objects(), { deterministic: true });
      await createSif(`${dir}/b.sif`, objects(), { deterministic: true });
    });
    assert.deepEqual(await Deno.readFile(`${dir}/a.sif`), await Deno.readFile(`${dir}/b.sif`));
    using a = await openSif(`${dir}/a.sif`);
    assert.equal(a.header.createdAt, 1700000000);
    assert.equal(a.header.modifiedAt, 1700000000);
    assert.ok(a.descriptors.every((d) => d.createdAt === 1700000000));
    // Without determinism: a random version-4 UUID and the current time.
    const before = Math.floor(Date.now() / 1000);
    await withEpoch(undefined, () => createSif(`${dir}/c.sif`, objects()));
    using c = await openSif(`${dir}/c.sif`);
    assert.match(idOf(c.header), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-/);
    assert.ok(c.header.createdAt >= before && c.header.createdAt <= before + 60);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("createSif() makes native images executable with the run-singularity launch script", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await createSif(`${dir}/x.sif`, CASES[1]!.objects(), {
      launchScript: RUN_SINGULARITY_LAUNCH_SCRIPT,
    });
    const head = (await Deno.readFile(`${dir}/x.sif`)).subarray(0, 32);
    assert.equal(
      new TextDecoder().decode(head).replace(/\0+$/, ""),
      "#!/usr/bin/env run-singularity\n",
    );
    const mode = (await Deno.stat(`${dir}/x.sif`)).mode! & 0o777;
    assert.equal(mode & 0o100, 0o100, `mode ${mode.toString(8)} is not executable`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("createSif() leaves nothing behind and keeps an existing file when the data fails", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/x.sif`;
    await Deno.writeTextFile(path, "previous contents");
    let pulls = 0;
    const failing = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (++pulls > 3) throw new Error("network went away");
        controller.enqueue(pattern(4096));
      },
    });
    await assert.rejects(
      createSif(path, [{
        dataType: DataType.Partition,
        data: failing,
        partition: { fsType: FsType.Squash, partType: PartType.PrimSys, arch: "amd64" },
      }]),
      /network went away/,
    );
    assert.equal(await Deno.readTextFile(path), "previous contents");
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["x.sif"]);
    // Errors found before writing: capacity, second primary partition, long launch script.
    await assert.rejects(
      createSif(`${dir}/y.sif`, CASES[3]!.objects(), { descriptorCapacity: 2 }),
      RangeError,
    );
    const prim = () => ({
      dataType: DataType.Partition,
      data: "x",
      partition: { fsType: FsType.Squash, partType: PartType.PrimSys, arch: "amd64" },
    });
    await assert.rejects(createSif(`${dir}/y.sif`, [prim(), prim()]), (error: unknown) => {
      assert.ok(error instanceof SingletError);
      assert.match(error.message, /already the primary partition/);
      return true;
    });
    await assert.rejects(
      createSif(`${dir}/y.sif`, [], { launchScript: "#".repeat(32) }),
      RangeError,
    );
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["x.sif"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("createSif() streams a large partition in bounded memory", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const chunk = pattern(1 << 20);
    const total = 192;
    // A fresh copy per chunk: memory grows unless each chunk is written and dropped.
    const source = async function* () {
      for (let i = 0; i < total; i++) yield chunk.slice();
    };
    const rssBefore = Deno.memoryUsage().rss;
    let peak = rssBefore;
    await createSif(`${dir}/big.sif`, [{
      dataType: DataType.Partition,
      data: source(),
      partition: { fsType: FsType.Squash, partType: PartType.PrimSys, arch: "amd64" },
    }], {
      onProgress: () => {
        peak = Math.max(peak, Deno.memoryUsage().rss);
      },
    });
    const growth = (peak - rssBefore) / (1 << 20);
    assert.ok(growth < 96, `RSS grew by ${growth.toFixed(0)} MiB while writing ${total} MiB`);
    using image = await openSif(`${dir}/big.sif`);
    const part = image.primaryPartition();
    assert.equal(part.size, total << 20);
    assert.deepEqual(await image.readRange(part, (total - 1) << 20, 16), chunk.subarray(0, 16));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("createSif() keeps the byte order when small and large chunks alternate", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const chunks = [10, 300 << 10, 5, 1 << 20, 7, 200 << 10, 3].map((n, i) => pattern(n, i));
    const whole = new Uint8Array(chunks.reduce((sum, c) => sum + c.length, 0));
    let at = 0;
    for (const c of chunks) {
      whole.set(c, at);
      at += c.length;
    }
    await createSif(`${dir}/x.sif`, [{ dataType: DataType.Generic, data: chunks }]);
    using image = await openSif(`${dir}/x.sif`);
    assert.deepEqual(await image.readObject(image.descriptor(1)), whole);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a partition written in place by its writer gives the bytes of the streamed one", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/out.sif`;
    const data = pattern(10000);
    const objects = CASES[1]!.objects();
    let offsetSeen = -1;
    objects[3] = {
      ...objects[3]!,
      data: {
        async writeAt(file, offset) {
          offsetSeen = offset;
          // Out of order, and past the end first (as a writer that rewinds does).
          await file.seek(offset + 4000, Deno.SeekMode.Start);
          await file.write(new Uint8Array(9000).fill(0xee));
          await file.seek(offset + 4000, Deno.SeekMode.Start);
          await file.write(data.subarray(4000));
          await file.seek(offset, Deno.SeekMode.Start);
          await file.write(data.subarray(0, 4000));
          return data.length;
        },
      },
    };
    await withEpoch(
      undefined,
      () => createSif(path, objects, { ...CASES[1]!.options, deterministic: true }),
    );
    assert.equal(offsetSeen, 32768);
    const golden = await Deno.readFile(
      new URL("./testdata/create_sif/native_image.golden", import.meta.url),
    );
    assert.deepEqual(await Deno.readFile(path), golden);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an object writer's error reaches the caller unchanged and leaves no file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const failure = new SyntaxError("the layer is damaged");
    const objects = CASES[1]!.objects();
    objects[3] = {
      ...objects[3]!,
      data: {
        async writeAt(file, offset) {
          await file.seek(offset, Deno.SeekMode.Start);
          await file.write(pattern(100));
          throw failure;
        },
      },
    };
    await assert.rejects(() => createSif(`${dir}/out.sif`, objects), (e) => e === failure);
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
