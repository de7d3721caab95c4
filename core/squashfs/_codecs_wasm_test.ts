import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { testWithTools } from "../../tests/_helpers/tools.ts";
import { runSinglet } from "../../tests/_helpers/singlet.ts";
import { buildTestTree, listing, noise, sh } from "./_test_tree.ts";
import { Codecs } from "./_codecs_wasm.ts";
import { DirectorySource } from "./directory_source.ts";
import { SquashfsReader } from "./reader.ts";
import { SquashfsWriter } from "./writer.ts";

Deno.test("LZ4 shrinks compressible blocks and refuses incompressible ones", async () => {
  // Decoding is checked on whole images below (our reader, unsquashfs, squashfuse, Linux).
  const codecs = await Codecs.create();
  const text = new TextEncoder().encode(
    Array.from({ length: 8000 }, (_, i) => `line ${i % 97} of the log\n`).join(""),
  );
  const blocks = [text.subarray(0, 131072), new Uint8Array(4096).fill(7), text.subarray(0, 120)];
  for (const block of blocks) {
    const packed = codecs.lz4Compress(block);
    assert.ok(packed && packed.length < block.length, `${block.length} bytes`);
  }
  const random = crypto.getRandomValues(new Uint8Array(65536));
  assert.equal(codecs.lz4Compress(random), undefined);
  assert.equal(codecs.lz4Compress(new Uint8Array(1)), undefined);
});

testWithTools(
  "xz and lzma streams decode, within the bound, and damaged ones fail cleanly",
  ["xz"],
  async () => {
    const codecs = await Codecs.create();
    const data = noise(200_000, 3);
    const dir = await Deno.makeTempDir({ prefix: "singlet-codecs-" });
    try {
      Deno.writeFileSync(`${dir}/d`, data);
      await sh("xz", ["-k", "--check=crc32", `${dir}/d`]);
      await sh("xz", ["-k", "--format=lzma", `${dir}/d`]);
      const xz = Deno.readFileSync(`${dir}/d.xz`);
      const lzma = Deno.readFileSync(`${dir}/d.lzma`);
      assert.deepEqual(codecs.xz(xz, data.length), data);
      assert.deepEqual(codecs.lzma(lzma, data.length), data);
      assert.throws(() => codecs.xz(xz, data.length - 1), /decompresses to more than/);
      const damaged = xz.slice();
      damaged[damaged.length >> 1]! ^= 0xff;
      assert.throws(() => codecs.xz(damaged, data.length), /Cannot decompress an xz block/);
      assert.throws(() => codecs.lzma(lzma.subarray(0, 5), data.length), /an lzma block/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

testWithTools(
  "our lz4 image lists like mksquashfs -comp lz4 and reads back through our reader",
  ["unsquashfs", "mksquashfs", "mknod", "mkfifo"],
  async () => {
    const tmp = await Deno.makeTempDir({ prefix: "singlet-lz4-" });
    try {
      await Deno.mkdir(`${tmp}/src`);
      await buildTestTree(`${tmp}/src`);
      const writer = await SquashfsWriter.create(`${tmp}/ours.sqfs`, { compressor: "lz4" });
      await DirectorySource.scan(`${tmp}/src`).emit(writer);
      await writer.finish();
      await sh("mksquashfs", [`${tmp}/src`, `${tmp}/theirs.sqfs`, "-comp", "lz4", "-noappend"]);
      assert.equal(await listing(`${tmp}/ours.sqfs`), await listing(`${tmp}/theirs.sqfs`));
      const stat = new TextDecoder().decode(await sh("unsquashfs", ["-s", `${tmp}/ours.sqfs`]));
      assert.match(stat, /Compression lz4/);
      // Really compressed: no bigger than mksquashfs's (uncompressed blocks would be 2x).
      const ours = Deno.statSync(`${tmp}/ours.sqfs`).size;
      const theirs = Deno.statSync(`${tmp}/theirs.sqfs`).size;
      assert.ok(ours < theirs * 1.03, `${ours} vs ${theirs} bytes`);
      const reader = await SquashfsReader.open(`${tmp}/ours.sqfs`);
      try {
        assert.equal(reader.compressor, "lz4");
        let files = 0;
        for (const { path, entry } of reader.walk()) {
          if (entry.type !== "file") continue;
          const hash = createHash("sha256");
          for (const chunk of reader.fileChunks(entry)) hash.update(chunk);
          const name = new TextDecoder().decode(path);
          const expected = createHash("sha256").update(Deno.readFileSync(`${tmp}/src/${name}`));
          assert.equal(hash.digest("hex"), expected.digest("hex"), name);
          files++;
        }
        assert.ok(files > 700, `${files} files`);
      } finally {
        reader.close();
      }
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
  { root: true },
);

Deno.test("squashfs pack --comp lz4 refuses --level as a usage error", async () => {
  const result = await runSinglet(["squashfs", "pack", "--comp", "lz4", "--level", "3", ".", "x"]);
  assert.equal(result.code, 254);
  assert.match(result.stderr, /Cannot use --level with --comp lz4: lz4 has no levels/);
});
