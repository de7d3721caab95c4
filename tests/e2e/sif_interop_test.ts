/**
 * Interop with the real `siftool` (Debian's sylabs/sif 2.8), both ways: images singlet
 * creates and edits are byte-identical to siftool's apart from the UUID and timestamps, and
 * siftool lists them identically; images siftool makes are shown by `singlet sif` exactly as
 * siftool shows them.
 */
import assert from "node:assert/strict";
import { testWithTools } from "../_helpers/tools.ts";
import { runSinglet } from "../_helpers/singlet.ts";
import { DESCRIPTOR_SIZE, encodeDescriptor, encodeHeader, openSif } from "../../core/sif/mod.ts";

async function run(
  cmd: string,
  args: string[],
): Promise<{ code: number; stdout: Uint8Array; stderr: string }> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  return { code: out.code, stdout: out.stdout, stderr: new TextDecoder().decode(out.stderr) };
}

async function siftool(...args: string[]): Promise<string> {
  const out = await run("siftool", args);
  if (out.code !== 0) throw new Error(`siftool ${args.join(" ")} failed: ${out.stderr}`);
  return new TextDecoder().decode(out.stdout);
}

async function singlet(...args: string[]): Promise<string> {
  const out = await runSinglet(args);
  if (out.code !== 0) throw new Error(`singlet ${args.join(" ")} failed: ${out.stderr}`);
  return out.stdout;
}

/** Zero the fields that differ between two runs: image UUID, image and object times. */
function maskVolatile(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  out.fill(0, 48, 80);
  const view = new DataView(out.buffer);
  const total = Number(view.getBigInt64(88, true));
  const offset = Number(view.getBigInt64(96, true));
  for (let i = 0; i < total; i++) {
    const at = offset + i * DESCRIPTOR_SIZE;
    out.fill(0, at + 41, at + 57);
  }
  return out;
}

const maskTimes = (text: string) =>
  text.replace(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC/g, "<time>").replace(
    /^ID:.*$/m,
    "ID: <uuid>",
  );

interface Fixture {
  dir: string;
  files: Record<string, string>;
}

async function fixture(): Promise<Fixture> {
  const dir = await Deno.makeTempDir({ prefix: "sif-interop-" });
  const files: Record<string, string> = {};
  const write = async (name: string, data: string | Uint8Array) => {
    files[name] = `${dir}/${name}`;
    if (typeof data === "string") await Deno.writeTextFile(files[name]!, data);
    else await Deno.writeFile(files[name]!, data);
  };
  await write("def", "Bootstrap: docker\nFrom: alpine:3.19\n\n%post\n  echo hi\n");
  await write("env", "export A=1\n");
  await write("labels", '{"org.label":"x"}\n');
  const part = new Uint8Array(9000);
  for (let i = 0; i < part.length; i++) part[i] = (i * 31) & 0xff;
  await write("part", part);
  await write("part2", part.subarray(0, 5001));
  await write("json", '{"generic":true}');
  await write("raw", new Uint8Array([0, 1, 2, 3, 255]));
  await write("sig", "-----BEGIN PGP SIGNED MESSAGE-----\n");
  await write("sbom", '{"spdxVersion":"SPDX-2.3"}');
  await write("empty", "");
  return { dir, files };
}

/** The objects left after {@linkcode script}. */
const IDS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"];

/** The same edit script, as siftool arguments; singlet takes the same arguments after `sif`. */
function script(f: Fixture, sif: string): string[][] {
  const F = f.files;
  return [
    ["new", sif],
    ["add", sif, F.def!, "--datatype", "1"],
    ["add", sif, F.env!, "--datatype", "2", "--groupid", "1"],
    ["add", sif, F.labels!, "--datatype", "3", "--groupid", "1", "--filename", "labels.json"],
    ["add", sif, F.part!, "--datatype", "4", "--parttype", "2", "--partfs", "1", "--partarch", "2"],
    [
      "add",
      sif,
      F.part2!,
      "--datatype",
      "4",
      "--parttype",
      "1",
      "--partfs",
      "2",
      "--partarch",
      "4",
    ],
    [
      "add",
      sif,
      F.part2!,
      "--datatype",
      "4",
      "--parttype",
      "3",
      "--partfs",
      "4",
      "--partarch",
      "12",
    ],
    ["add", sif, F.json!, "--datatype", "6", "--link", "4", "--groupid", "2"],
    ["add", sif, F.raw!, "--datatype", "7", "--alignment", "512", "--filename", "raw.bin"],
    [
      "add",
      sif,
      F.sig!,
      ...["--datatype", "5", "--signhash", "1", "--link", "4"],
      ...["--signentity", "433FE984155206BD962725E20E8713472A879943"],
    ],
    ["add", sif, F.sig!, "--datatype", "8", "--groupid", "3"],
    ["add", sif, F.sbom!, "--datatype", "9", "--sbomformat", "spdx-json"],
    ["add", sif, F.empty!, "--datatype", "7", "--alignment", "64"],
    ["del", "3", sif],
    ["add", sif, F.json!, "--datatype", "6", "--filename", "reuses-slot-3"],
    ["del", "8", sif],
    // Names that test the column alignment: tabs, newlines, multi-byte characters.
    ["add", sif, F.def!, "--datatype", "1", "--filename", "tab\there\nnew line größe ✓"],
  ];
}

testWithTools(
  "images singlet creates and edits equal siftool's byte for byte, UUID and times aside",
  ["siftool"],
  async () => {
    const f = await fixture();
    try {
      const theirs = `${f.dir}/theirs.sif`;
      const ours = `${f.dir}/ours.sif`;
      for (const step of script(f, theirs)) await siftool(...step);
      for (const step of script(f, ours)) await singlet("sif", ...step);
      assert.deepEqual(
        maskVolatile(await Deno.readFile(ours)),
        maskVolatile(await Deno.readFile(theirs)),
      );
      // siftool reads our file exactly as its own.
      const list = await siftool("list", ours);
      assert.equal(list, await siftool("list", theirs));
      assert.match(list, /FS \(Ext3\/System\/arm64\)/);
      assert.equal(
        maskTimes(await siftool("header", ours)),
        maskTimes(await siftool("header", theirs)),
      );
      for (const id of IDS) {
        assert.equal(
          maskTimes(await siftool("info", id, ours)),
          maskTimes(await siftool("info", id, theirs)),
          `siftool info ${id}`,
        );
        const dumpOurs = await run("siftool", ["dump", id, ours]);
        const dumpTheirs = await run("siftool", ["dump", id, theirs]);
        assert.deepEqual(dumpOurs.stdout, dumpTheirs.stdout, `siftool dump ${id}`);
      }
      const ourMode = (await Deno.stat(ours)).mode! & 0o777;
      assert.equal(ourMode, (await Deno.stat(theirs)).mode! & 0o777);
    } finally {
      await Deno.remove(f.dir, { recursive: true });
    }
  },
);

testWithTools(
  "singlet sif header, list, info and dump print exactly what siftool prints for siftool's images",
  ["siftool"],
  async () => {
    const f = await fixture();
    try {
      const sif = `${f.dir}/x.sif`;
      for (const step of script(f, sif)) await siftool(...step);
      assert.equal(await singlet("sif", "header", sif), await siftool("header", sif));
      assert.equal(await singlet("sif", "list", sif), await siftool("list", sif));
      for (const id of IDS) {
        assert.equal(await singlet("sif", "info", id, sif), await siftool("info", id, sif));
        const ours = await runSinglet(["sif", "dump", id, sif]);
        const theirs = await run("siftool", ["dump", id, sif]);
        assert.equal(ours.code, 0);
        assert.equal(ours.stdout, new TextDecoder().decode(theirs.stdout));
      }
      // Every raw field decodes losslessly: re-encoding gives siftool's bytes back.
      const bytes = await Deno.readFile(sif);
      using image = await openSif(sif);
      assert.deepEqual(encodeHeader(image.header), bytes.subarray(0, 128));
      for (const d of image.descriptors) {
        const at = image.header.descriptorsOffset + (d.id - 1) * DESCRIPTOR_SIZE;
        assert.deepEqual(encodeDescriptor(d.raw), bytes.subarray(at, at + DESCRIPTOR_SIZE));
        assert.deepEqual(await image.readObject(d), bytes.subarray(d.offset, d.offset + d.size));
      }
      // JSON carries the same facts.
      const json = JSON.parse(await singlet("sif", "list", "--json", sif));
      assert.equal(json.length, IDS.length);
      const part = json.find((o: { id: number }) => o.id === 5);
      assert.deepEqual(part.partition, {
        fsType: 2,
        fs: "Ext3",
        partType: 1,
        part: "System",
        primary: false,
        arch: "arm64",
      });
      const header = JSON.parse(await singlet("sif", "header", "--json", sif));
      assert.equal(header.primaryArch, "amd64");
      assert.equal(header.descriptorsFree, 48 - IDS.length);
    } finally {
      await Deno.remove(f.dir, { recursive: true });
    }
  },
);

testWithTools(
  "singlet sif setprim moves the primary partition as siftool does, keeping the architecture",
  ["siftool"],
  async () => {
    const f = await fixture();
    try {
      const theirs = `${f.dir}/theirs.sif`;
      const ours = `${f.dir}/ours.sif`;
      for (const sif of [theirs, ours]) {
        for (const step of script(f, sif).slice(0, 7)) await siftool(...step);
      }
      await siftool("setprim", "5", theirs);
      await singlet("sif", "setprim", "5", ours);
      const ourList = await siftool("list", ours);
      const theirList = await siftool("list", theirs);
      // siftool 2.8 writes the Go arch name into the 3-byte field ("arm"): sylabs/sif 2.9+
      // fixed that and keeps the code, as singlet does.
      assert.match(theirList, /5 .*FS \(Ext3\/\*System\/unknown\)/);
      assert.match(ourList, /5 .*FS \(Ext3\/\*System\/arm64\)/);
      assert.equal(
        ourList.replace("*System/arm64", "*System/unknown"),
        theirList,
      );
      assert.match(await siftool("header", ours), /Primary Architecture: arm64/);
      assert.match(await siftool("header", theirs), /Primary Architecture: arm64/);
      // Already primary: nothing changes.
      const before = await Deno.readFile(ours);
      await singlet("sif", "setprim", "5", ours);
      assert.deepEqual(await Deno.readFile(ours), before);
      // Not a system partition.
      const bad = await runSinglet(["sif", "setprim", "6", ours]);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /object 6 .*not a system partition/);
    } finally {
      await Deno.remove(f.dir, { recursive: true });
    }
  },
);
