import assert from "node:assert/strict";
import { testWithTools } from "../../tests/_helpers/tools.ts";
import { pathKey } from "../squashfs/fstree.ts";
import { decompress } from "../codec/decompress.ts";
import { FileChunks } from "../codec/file_chunks.ts";
import { readTar } from "./reader.ts";
import type { TarEntry } from "./reader.ts";
import { listDirectory, listTar, makeTree, sh, shStream } from "./_tree_test_helpers.ts";

const enc = new TextEncoder();

async function withTree(fn: (src: string, work: string) => Promise<void>, xattrs = false) {
  const work = await Deno.makeTempDir({ prefix: "singlet-tar-" });
  try {
    const src = `${work}/src`;
    await Deno.mkdir(src);
    await makeTree(src, { xattrs });
    await fn(src, work);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

function bytesOf(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

async function* once(bytes: Uint8Array, chunk = 1 << 30): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += chunk) yield bytes.subarray(i, i + chunk);
}

async function collect(source: AsyncIterable<Uint8Array>): Promise<TarEntry[]> {
  const out: TarEntry[] = [];
  for await (const entry of readTar(source)) {
    for await (const _ of entry.data) { /* drain */ }
    out.push(entry);
  }
  return out;
}

for (
  const [format, flags] of [
    ["gnu", "--format=gnu --sparse"],
    ["oldgnu", "--format=oldgnu --sparse"],
    ["pax (sparse 0.0)", "--format=pax --sparse --sparse-version=0.0"],
    ["pax (sparse 0.1)", "--format=pax --sparse --sparse-version=0.1"],
    ["pax (sparse 1.0)", "--format=pax --sparse --sparse-version=1.0"],
    ["pax (no sparse)", "--format=pax"],
  ] as const
) {
  testWithTools(
    `readTar lists a GNU tar ${format} archive exactly as find sees the tree, sparse files expanded`,
    ["tar", "find", "sha256sum", "mkfifo"],
    async () => {
      await withTree(async (src) => {
        const expected = await listDirectory(src);
        const { stream, status } = shStream(`tar ${flags} -cf - -C '${src}' .`);
        const actual = await listTar(stream);
        assert.equal((await status).code, 0);
        assert.deepEqual(actual, expected);
      });
    },
  );
}

testWithTools(
  "readTar reads ustar prefix+name paths and rejects nothing GNU tar wrote in ustar format",
  ["tar"],
  async () => {
    await withTree(async (_src, work) => {
      // ustar holds names up to 255 bytes split at a '/', and no long links or odd types.
      const dir = `${work}/u`;
      const deep = `${"p".repeat(70)}/${"q".repeat(70)}`;
      await sh(`mkdir -p u/${deep} && printf x > u/${deep}/${"r".repeat(60)}`, work);
      const expected = await listDirectory(dir);
      const { stream, status } = shStream(`tar --format=ustar -cf - -C '${dir}' .`);
      assert.deepEqual(await listTar(stream), expected);
      assert.equal((await status).code, 0);
      assert.ok([...expected.keys()].some((k) => k.length > 200));
    });
  },
);

testWithTools(
  "readTar reports sparse maps and expands holes to zeros at the right offsets",
  ["tar"],
  async () => {
    await withTree(async (src) => {
      for (const flags of ["--format=gnu", "--format=pax --sparse-version=1.0"]) {
        const { stream } = shStream(`tar ${flags} --sparse -cf - -C '${src}' ./sparse ./hole-only`);
        const seen: string[] = [];
        for await (const entry of readTar(stream)) {
          const data = bytesOf(await Array.fromAsync(entry.data));
          assert.equal(data.length, entry.size);
          assert.ok(entry.sparse, `${flags}: ${pathKey(entry.path)} has a sparse map`);
          if (pathKey(entry.path).endsWith("hole-only")) {
            assert.equal(entry.size, 2 * 1024 * 1024);
            assert.ok(data.every((b) => b === 0));
          } else {
            assert.equal(entry.size, 5 * 1024 * 1024);
            assert.equal(new TextDecoder().decode(data.subarray(1048576, 1048579)), "XYZ");
            assert.equal(new TextDecoder().decode(data.subarray(3000000, 3000003)), "END");
            assert.equal(data.subarray(0, 1048576).some((b) => b !== 0), false);
          }
          seen.push(pathKey(entry.path));
        }
        assert.equal(seen.length, 2);
      }
    });
  },
);

testWithTools(
  "readTar returns xattrs from pax SCHILY.xattr records as raw bytes",
  ["tar", "setfattr"],
  async () => {
    await withTree(async (src) => {
      const { stream } = shStream(
        `tar --format=pax --xattrs --xattrs-include='*' -cf - -C '${src}' ./a.txt ./d/e/f`,
      );
      const xattrs = new Map<string, Map<string, Uint8Array>>();
      for await (const entry of readTar(stream)) xattrs.set(pathKey(entry.path), entry.xattrs);
      assert.deepEqual(xattrs.get("./a.txt"), new Map([["user.one", enc.encode("first")]]));
      assert.deepEqual(
        xattrs.get("./d/e/f"),
        new Map([["user.bin", new Uint8Array([0, 255, 16])]]),
      );
    }, true);
  },
);

testWithTools(
  "readTar reads gzip and zstd layers through decompress, in one-byte and large chunks",
  ["tar", "gzip", "zstd"],
  async () => {
    await withTree(async (src, work) => {
      const expected = await listDirectory(src);
      await sh(
        `tar --format=pax -cf plain.tar -C src . && gzip -k plain.tar && zstd -q plain.tar`,
        work,
      );
      for (const name of ["plain.tar", "plain.tar.gz", "plain.tar.zst"]) {
        const file = await Deno.open(`${work}/${name}`);
        assert.deepEqual(await listTar(decompress(file.readable, { name })), expected, name);
      }
      // One-byte chunks exercise headers and data straddling chunk boundaries.
      await sh(
        `tar --format=gnu -cf small.tar -C src ./a.txt ./d ./link ./${"n".repeat(120)}`,
        work,
      );
      const bytes = await Deno.readFile(`${work}/small.tar`);
      const whole = await listTar(once(bytes));
      assert.equal(whole.size, 7);
      assert.deepEqual(await listTar(decompress(once(bytes, 1))), whole);
    });
  },
);

Deno.test("readTar skips data the consumer does not read and refuses late reads", async () => {
  const work = await Deno.makeTempDir();
  try {
    await sh(`printf aaaa > a && printf bbbbbbbb > b && tar -cf t.tar a b`, work);
    const bytes = await Deno.readFile(`${work}/t.tar`);
    const entries: TarEntry[] = [];
    for await (const entry of readTar(once(bytes, 100))) entries.push(entry);
    assert.deepEqual(entries.map((e) => [pathKey(e.path), e.size]), [["a", 4], ["b", 8]]);
    await assert.rejects(async () => {
      for await (const _ of entries[0]!.data) { /* too late */ }
    }, TypeError);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

// ---- malformed archives -------------------------------------------------------------

/** A minimal ustar header, with a correct checksum unless told otherwise. */
function header(
  name: string,
  fields: { size?: number; type?: string; sizeField?: Uint8Array } = {},
) {
  const block = new Uint8Array(512);
  block.set(enc.encode(name).subarray(0, 100));
  block.set(enc.encode("0000644\0"), 100);
  block.set(enc.encode("0000000\0"), 108);
  block.set(enc.encode("0000000\0"), 116);
  block.set(
    fields.sizeField ?? enc.encode((fields.size ?? 0).toString(8).padStart(11, "0") + "\0"),
    124,
  );
  block.set(enc.encode("00000000000\0"), 136);
  block[156] = (fields.type ?? "0").charCodeAt(0);
  block.set(enc.encode("ustar\x0000"), 257);
  fixChecksum(block);
  return block;
}

function fixChecksum(block: Uint8Array) {
  block.fill(0x20, 148, 156);
  const sum = block.reduce((a, b) => a + b, 0);
  block.set(enc.encode(sum.toString(8).padStart(6, "0") + "\0 "), 148);
}

Deno.test("readTar rejects a header with a bad checksum, naming the previous entry", async () => {
  const good = header("first.txt", { size: 3 });
  const bad = header("second.txt");
  bad[0] = 0x5a; // name changed after the checksum was computed
  const tar = bytesOf([good, new Uint8Array(512), bad, new Uint8Array(1024)]);
  tar.set(enc.encode("abc"), 512);
  await assert.rejects(collect(once(tar)), (error: Error) => {
    assert.ok(error instanceof SyntaxError);
    assert.match(error.message, /"first\.txt".*bad checksum/);
    return true;
  });
});

Deno.test("readTar says a non-tar input is probably not a tar archive", async () => {
  await assert.rejects(collect(once(enc.encode("x".repeat(2048)))), /not a tar archive/);
});

Deno.test("readTar rejects data truncated part way with the entry name", async () => {
  const tar = bytesOf([header("big.bin", { size: 10_000 }), new Uint8Array(3000)]);
  await assert.rejects(collect(once(tar)), /"big\.bin".*truncated/);
});

Deno.test("readTar rejects a header cut short", async () => {
  const tar = bytesOf([header("f", { size: 0 }), new Uint8Array(100).fill(1)]);
  await assert.rejects(collect(once(tar)), /truncated inside a header/);
});

Deno.test("readTar rejects base-256 sizes beyond 2^53 and non-octal size fields", async () => {
  const huge = new Uint8Array(12).fill(0xff);
  huge[0] = 0x80;
  await assert.rejects(collect(once(header("huge", { sizeField: huge }))), /out of range/);
  await assert.rejects(
    collect(once(header("junk", { sizeField: enc.encode("12x45678901\0") }))),
    /not an octal number/,
  );
});

Deno.test("readTar caps GNU long names and pax headers instead of buffering them", async () => {
  const tar = bytesOf([
    header("././@LongLink", { type: "L", size: 2 ** 40 }),
    new Uint8Array(1024),
  ]);
  await assert.rejects(collect(once(tar)), /exceeds the 1048576-byte limit/);
  const pax = header("pax", { type: "x", size: 20 });
  const body = new Uint8Array(512);
  body.set(enc.encode("99 path=x\n"));
  await assert.rejects(collect(once(bytesOf([pax, body, header("f")]))), /malformed pax record/);
});

Deno.test("readTar applies global pax headers to later entries and per-file ones to one", async () => {
  const rec = (k: string, v: string) => {
    let len = k.length + v.length + 3;
    len += String(len + String(len).length).length;
    const line = `${len} ${k}=${v}\n`;
    assert.equal(enc.encode(line).length, len);
    return line;
  };
  const block = (text: string) => {
    const b = new Uint8Array(512);
    b.set(enc.encode(text));
    return b;
  };
  const g = rec("uid", "4242");
  const x = rec("path", "renamed/by/pax");
  const tar = bytesOf([
    header("global", { type: "g", size: g.length }),
    block(g),
    header("local", { type: "x", size: x.length }),
    block(x),
    header("one"),
    header("two"),
    new Uint8Array(1024),
  ]);
  const entries = await collect(once(tar));
  assert.deepEqual(entries.map((e) => [pathKey(e.path), e.uid]), [["renamed/by/pax", 4242], [
    "two",
    4242,
  ]]);
});

Deno.test("readTar rejects unknown entry types and multi-volume members", async () => {
  await assert.rejects(collect(once(header("weird", { type: "Q" }))), /unsupported entry type "Q"/);
  await assert.rejects(collect(once(header("mv", { type: "M" }))), /multi-volume/);
});

Deno.test("readTar decodes LIBARCHIVE.xattr names and base64 values, and pax linkpath", async () => {
  const rec = (k: string, v: string) => {
    let len = enc.encode(k).length + enc.encode(v).length + 3;
    len += String(len + String(len).length).length;
    return `${len} ${k}=${v}\n`;
  };
  const records = rec("LIBARCHIVE.xattr.user.with%20space", btoa("\x00\x01bin")) +
    rec("SCHILY.xattr.security.capability", "raw") + rec("linkpath", "l".repeat(300));
  const body = new Uint8Array(Math.ceil(enc.encode(records).length / 512) * 512);
  body.set(enc.encode(records));
  const tar = bytesOf([
    header("pax", { type: "x", size: enc.encode(records).length }),
    body,
    header("sym", { type: "2" }),
    new Uint8Array(1024),
  ]);
  const [entry] = await collect(once(tar));
  assert.equal(entry!.kind, "symlink");
  assert.equal(entry!.linkTarget.length, 300);
  assert.deepEqual(
    entry!.xattrs,
    new Map([
      ["user.with space", new Uint8Array([0, 1, 98, 105, 110])],
      ["security.capability", enc.encode("raw")],
    ]),
  );
});

testWithTools(
  "readTar fails only with SyntaxError on randomly corrupted headers (checksums fixed up)",
  ["tar"],
  async () => {
    const work = await Deno.makeTempDir();
    try {
      await sh(
        `mkdir s && cd s && printf abc > f && ln -s f l && ln f h && mkdir d && truncate -s 1M sp && printf z >> sp && cd .. && tar --format=gnu --sparse -cf gnu.tar -C s . && tar --format=pax --sparse -cf pax.tar -C s .`,
        work,
      );
      let seed = 12345;
      const random = (n: number) => {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        return seed % n;
      };
      for (const name of ["gnu.tar", "pax.tar"]) {
        const original = await Deno.readFile(`${work}/${name}`);
        const headers: number[] = [];
        for await (const _ of readTar(once(original))) { /* count */ }
        for (let off = 0; off + 512 <= original.length; off += 512) {
          if (
            original.subarray(off + 257, off + 262).every((b, i) => b === "ustar".charCodeAt(i))
          ) {
            headers.push(off);
          }
        }
        let rejected = 0;
        for (let round = 0; round < 300; round++) {
          const bytes = original.slice();
          const at = headers[random(headers.length)]!;
          for (let k = 0; k < 1 + random(4); k++) bytes[at + random(512)] = random(256);
          fixChecksum(bytes.subarray(at, at + 512));
          try {
            await collect(once(bytes, 4096));
          } catch (error) {
            assert.ok(error instanceof SyntaxError, `round ${round}: ${error}`);
            rejected++;
          }
        }
        assert.ok(rejected > 5, `${name}: only ${rejected} corruptions were noticed`);
      }
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  },
);

Deno.test("readTar consumes the record padding after the end marker", async () => {
  // One empty-file ustar entry, the two zero blocks, then padding to a 10240-byte record.
  const header = new Uint8Array(512);
  header.set(new TextEncoder().encode("empty"), 0);
  for (
    const [offset, text] of [[100, "0000644\0"], [124, "00000000000\0"], [
      136,
      "00000000000\0",
    ]] as const
  ) {
    header.set(new TextEncoder().encode(text), offset);
  }
  header[156] = 0x30; // '0': regular file
  header.set(new TextEncoder().encode("ustar\x0000"), 257);
  header.fill(0x20, 148, 156);
  const sum = header.reduce((a, b) => a + b, 0);
  header.set(new TextEncoder().encode(sum.toString(8).padStart(6, "0") + "\0 "), 148);
  const archive = new Uint8Array(10240);
  archive.set(header, 0);
  let delivered = 0;
  async function* chunks() {
    for (let i = 0; i < archive.length; i += 1024) {
      delivered = i + 1024;
      yield archive.slice(i, i + 1024);
    }
  }
  const names: string[] = [];
  for await (const entry of readTar(chunks())) {
    names.push(new TextDecoder().decode(entry.path));
    for await (const _ of entry.data) { /* drain */ }
  }
  assert.deepEqual(names, ["empty"]);
  assert.equal(delivered, archive.length, "every chunk up to the end of the record was read");
});

testWithTools(
  "readTar over a tar file that seeks lists the same tree (sparse files included) and gives each plain file's data offset",
  ["tar", "find", "sha256sum", "mkfifo"],
  async () => {
    await withTree(async (src, work) => {
      const expected = await listDirectory(src);
      await sh(`tar --format=pax --sparse -cf seek.tar -C src .`, work);
      const path = `${work}/seek.tar`;
      // small chunks: headers and data straddle chunk ends, data is skipped by seeking
      for (const chunkSize of [512, 1000, 8192]) {
        assert.deepEqual(await listTar(new FileChunks(path, chunkSize)), expected, `${chunkSize}`);
      }
      // offsets, with the data left unread (the reader seeks over it)
      const bytes = await Deno.readFile(path);
      const offsets = new Map<string, number>();
      for await (const entry of readTar(new FileChunks(path))) {
        if (entry.dataOffset !== undefined) offsets.set(pathKey(entry.path), entry.dataOffset);
        else assert.ok(entry.kind !== "file" || entry.sparse, pathKey(entry.path));
      }
      let files = 0;
      for await (const entry of readTar(once(bytes))) {
        const chunks: Uint8Array[] = [];
        for await (const chunk of entry.data) chunks.push(chunk);
        if (entry.kind !== "file" || entry.sparse) continue;
        files++;
        const at = offsets.get(pathKey(entry.path))!;
        assert.deepEqual(bytes.subarray(at, at + entry.size), bytesOf(chunks));
      }
      assert.ok(files >= 3, `${files} plain files`);
      // a tar cut inside a member's data is truncated, not a silent end of the archive
      const cut = `${work}/cut.tar`;
      const last = Math.max(...offsets.values());
      await Deno.writeFile(cut, bytes.subarray(0, last + 1));
      await assert.rejects(collect(new FileChunks(cut)), /truncated/);
    });
  },
);
