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
  "xz compression makes .xz streams that xz and our decoder read back, CRC32-checked, with a block-sized dictionary",
  ["xz"],
  async () => {
    const codecs = await Codecs.create();
    const text = new TextEncoder().encode(
      Array.from({ length: 8000 }, (_, i) => `line ${i % 97} of the log\n`).join(""),
    );
    const mixed = noise(131072, 11);
    const dir = await Deno.makeTempDir({ prefix: "singlet-xz-" });
    try {
      for (const [i, block] of [text.subarray(0, 131072), mixed, text.subarray(0, 120)].entries()) {
        const packed = codecs.xzCompress(block, 6, 131072);
        assert.ok(packed && packed.length < block.length, `${block.length} bytes`);
        assert.deepEqual(codecs.xz(packed, block.length), block);
        Deno.writeFileSync(`${dir}/${i}.xz`, packed);
        assert.deepEqual(await sh("xz", ["-dc", `${dir}/${i}.xz`]), block);
        // One stream, one block, CRC32, both sizes in the block header, LZMA2 with a 128 KiB
        // dictionary: what liblzma's lzma_stream_buffer_encode makes for mksquashfs.
        const info = new TextDecoder().decode(
          await sh("xz", ["--robot", "-lvv", `${dir}/${i}.xz`]),
        );
        const blockLine = info.split("\n").find((l) => l.startsWith("block\t"))!.split("\t");
        assert.equal(blockLine[9], "CRC32");
        assert.equal(blockLine[12], "cu");
        assert.equal(blockLine[15], "--lzma2=dict=128KiB");
      }
      // Presets matter: 0 is quicker and larger than 9 on the same input.
      const fast = codecs.xzCompress(mixed, 0, 131072)!;
      const best = codecs.xzCompress(mixed, 9, 131072)!;
      assert.ok(best.length < fast.length, `${best.length} vs ${fast.length}`);
      assert.deepEqual(codecs.xz(fast, mixed.length), mixed);
      // Not smaller: the writer stores the block uncompressed.
      assert.equal(
        codecs.xzCompress(crypto.getRandomValues(new Uint8Array(65536)), 6, 65536),
        undefined,
      );
      assert.equal(codecs.xzCompress(new Uint8Array(1), 6, 4096), undefined);
      assert.throws(
        () => codecs.xzCompress(text, 10, 131072),
        /Cannot compress an xz block: xz: preset 10/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

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

for (const comp of ["lz4", "xz"] as const) {
  testWithTools(
    `our ${comp} image lists like mksquashfs -comp ${comp} and reads back through our reader`,
    ["unsquashfs", "mksquashfs", "mknod", "mkfifo"],
    async () => {
      const tmp = await Deno.makeTempDir({ prefix: `singlet-${comp}-` });
      try {
        await Deno.mkdir(`${tmp}/src`);
        await buildTestTree(`${tmp}/src`);
        const writer = await SquashfsWriter.create(`${tmp}/ours.sqfs`, { compressor: comp });
        await DirectorySource.scan(`${tmp}/src`).emit(writer);
        await writer.finish();
        await sh("mksquashfs", [`${tmp}/src`, `${tmp}/theirs.sqfs`, "-comp", comp, "-noappend"]);
        assert.equal(await listing(`${tmp}/ours.sqfs`), await listing(`${tmp}/theirs.sqfs`));
        const stat = new TextDecoder().decode(await sh("unsquashfs", ["-s", `${tmp}/ours.sqfs`]));
        assert.match(stat, new RegExp(`Compression ${comp}`));
        // xz: no compressor options, like mksquashfs at its defaults (the dictionary is the
        // block size; unsquashfs -s would print "Dictionary size").
        if (comp === "xz") assert.doesNotMatch(stat, /Dictionary size/);
        // Really compressed: no bigger than mksquashfs's (uncompressed blocks would be 2x).
        const ours = Deno.statSync(`${tmp}/ours.sqfs`).size;
        const theirs = Deno.statSync(`${tmp}/theirs.sqfs`).size;
        assert.ok(ours < theirs * 1.03, `${ours} vs ${theirs} bytes`);
        const reader = await SquashfsReader.open(`${tmp}/ours.sqfs`);
        try {
          assert.equal(reader.compressor, comp);
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
}

Deno.test("squashfs pack --comp lz4 refuses --level as a usage error", async () => {
  const result = await runSinglet(["squashfs", "pack", "--comp", "lz4", "--level", "3", ".", "x"]);
  assert.equal(result.code, 254);
  assert.match(result.stderr, /Cannot use --level with --comp lz4: lz4 has no levels/);
});

Deno.test("squashfs pack --comp xz refuses a --level outside the presets 0 to 9 as a usage error", async () => {
  for (const level of ["10", "-1", "x"]) {
    const result = await runSinglet([
      "squashfs",
      "pack",
      "--comp",
      "xz",
      "--level",
      level,
      ".",
      "x",
    ]);
    assert.equal(result.code, 254, level);
    assert.match(result.stderr, /Invalid --level ".*": expected an integer from 0 to 9/);
    // One FATAL line (and the usage hint), not a stack trace.
    assert.match(result.stderr, /^FATAL: [^\n]*\nhint: [^\n]*\n?$/, result.stderr);
  }
});
