import assert from "node:assert/strict";
import { testWithTools } from "../../tests/_helpers/tools.ts";
import { listing, sh } from "./_test_tree.ts";
import { SquashfsWriter } from "./writer.ts";
import { type EntryMeta, HOST_PATH } from "./fstree.ts";

const enc = new TextEncoder();
const p = (s: string) => enc.encode(s);
const META: EntryMeta = { mode: 0o644, uid: 0, gid: 0, mtime: 1700000000 };
const DIR: EntryMeta = { ...META, mode: 0o755 };

async function* bytes(...chunks: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const c of chunks) yield c;
}

async function withTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "singlet-sqfs-writer-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function withMount(image: string, fn: (mnt: string) => Promise<void>): Promise<void> {
  const mnt = await Deno.makeTempDir({ prefix: "singlet-sqfs-mnt-" });
  await sh("mount", ["-t", "squashfs", "-o", "loop,ro", image, mnt]);
  try {
    await fn(mnt);
  } finally {
    await sh("umount", [mnt]);
    await Deno.remove(mnt);
  }
}

/** A small tree through the FsSink API, with xattrs in every namespace. */
async function xattrImage(out: string, options: { noXattrs?: boolean } = {}) {
  const w = await SquashfsWriter.create(out, options);
  const shared = new Map([["user.shared", p("same")]]);
  w.directory(p("d"), { ...DIR, xattrs: new Map([["user.dir", p("on a directory")]]) });
  await w.file(
    p("d/a"),
    {
      ...META,
      xattrs: new Map([
        ["user.comment", p("hello")],
        ["trusted.overlay.opaque", p("y")],
        [
          "security.capability",
          new Uint8Array([1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        ],
      ]),
    },
    5,
    bytes(p("hello")),
  );
  await w.file(p("d/b"), { ...META, xattrs: shared }, 1, bytes(p("b")));
  await w.file(p("d/c"), { ...META, xattrs: shared }, 1, bytes(p("c")));
  // Linux allows user.* only on files and directories, so the symlink's is trusted.*.
  w.symlink(p("d/link"), {
    ...META,
    mode: 0o777,
    xattrs: new Map([["trusted.sym", p("same")]]),
  }, p("a"));
  return await w.finish();
}

async function xattrDump(dir: string): Promise<string> {
  const out = await sh("getfattr", [
    "-R",
    "-h",
    "-d",
    "-m",
    "-",
    "-e",
    "hex",
    "--absolute-names",
    dir,
  ]);
  // getfattr -R follows the directory order on disk: sort the per-file blocks.
  const text = new TextDecoder().decode(out).replaceAll(dir, "<root>");
  return text.split("\n\n").filter((b) => b.trim()).sort().join("\n\n") + "\n\n";
}

const EXPECTED_XATTRS = [
  "# file: <root>/d",
  "user.dir=0x6f6e2061206469726563746f7279",
  "",
  "# file: <root>/d/a",
  "security.capability=0x0100000200200000000000000000000000000000",
  "trusted.overlay.opaque=0x79",
  "user.comment=0x68656c6c6f",
  "",
  "# file: <root>/d/b",
  "user.shared=0x73616d65",
  "",
  "# file: <root>/d/c",
  "user.shared=0x73616d65",
  "",
  "# file: <root>/d/link",
  "trusted.sym=0x73616d65",
  "",
  "",
].join("\n");

testWithTools(
  "user, trusted and security xattrs reach the kernel mount and unsquashfs extraction",
  ["mount", "umount", "getfattr", "unsquashfs"],
  async () => {
    await withTemp(async (tmp) => {
      await xattrImage(`${tmp}/x.sqfs`);
      await withMount(`${tmp}/x.sqfs`, async (mnt) => {
        assert.equal(await xattrDump(mnt), EXPECTED_XATTRS);
      });
      await sh("unsquashfs", ["-q", "-n", "-d", `${tmp}/out`, `${tmp}/x.sqfs`]);
      assert.equal(await xattrDump(`${tmp}/out`), EXPECTED_XATTRS);
      // The shared set is stored once: the xattr id table has 3 entries (dir, a, shared).
      assert.match(
        new TextDecoder().decode(await sh("unsquashfs", ["-s", `${tmp}/x.sqfs`])),
        /Number of xattr ids 3|xattr/i,
      );
    });
  },
  { root: true },
);

testWithTools(
  "noXattrs drops every extended attribute",
  ["mount", "umount", "unsquashfs"],
  async () => {
    await withTemp(async (tmp) => {
      await xattrImage(`${tmp}/x.sqfs`, { noXattrs: true });
      const stat = new TextDecoder().decode(await sh("unsquashfs", ["-s", `${tmp}/x.sqfs`]));
      assert.match(stat, /Xattrs are not stored/);
    });
  },
  { root: true },
);

testWithTools(
  "names that are not UTF-8 are stored byte for byte",
  ["unsquashfs", "mount", "umount"],
  async () => {
    await withTemp(async (tmp) => {
      const name = new Uint8Array([0x63, 0x61, 0x66, 0xe9]);
      const w = await SquashfsWriter.create(`${tmp}/n.sqfs`);
      await w.file(name, META, 3, bytes(p("abc")));
      await w.finish();
      const raw = await sh("unsquashfs", ["-lln", `${tmp}/n.sqfs`]);
      const hex = Array.from(raw, (b) => b.toString(16).padStart(2, "0")).join("");
      assert.ok(hex.includes("2f636166e90a"), "listing lacks /caf\\xe9");
      await withMount(`${tmp}/n.sqfs`, async (mnt) => {
        const ls = await sh("sh", ["-c", `ls ${mnt} | od -An -tx1`]);
        assert.match(new TextDecoder().decode(ls), /63 61 66 e9 0a/);
      });
    });
  },
  { root: true },
);

testWithTools(
  "a sparse file over 4 GiB is stored in a few KiB and reads back through the kernel",
  ["mount", "umount", "unsquashfs"],
  async () => {
    await withTemp(async (tmp) => {
      const size = 4 * 1024 ** 3 + 3 * 131072 + 10;
      const zeros = new Uint8Array(1 << 20);
      const tail = p("0123456789");
      async function* data() {
        let left = size - tail.length;
        while (left > 0) {
          const n = Math.min(left, zeros.length);
          yield zeros.subarray(0, n);
          left -= n;
        }
        yield tail;
      }
      const w = await SquashfsWriter.create(`${tmp}/big.sqfs`, { noDuplicates: true });
      await w.file(p("big"), META, size, data());
      await w.file(p("after"), META, 5, bytes(p("after")));
      const stats = await w.finish();
      assert.ok(stats.bytes <= 64 * 1024, `image is ${stats.bytes} bytes`);
      assert.match(await listing(`${tmp}/big.sqfs`), new RegExp(`-rw-r--r-- 0/0 +${size} `));
      await withMount(`${tmp}/big.sqfs`, async (mnt) => {
        assert.equal(Deno.statSync(`${mnt}/big`).size, size);
        const f = await Deno.open(`${mnt}/big`);
        try {
          const buf = new Uint8Array(20);
          f.seekSync(size - 20, Deno.SeekMode.Start);
          assert.equal(f.readSync(buf), 20);
          assert.deepEqual(buf, new Uint8Array([...new Uint8Array(10), ...tail]));
        } finally {
          f.close();
        }
        assert.equal(Deno.readTextFileSync(`${mnt}/after`), "after");
      });
    });
  },
  { root: true },
);

testWithTools(
  "an image written into an open file at an offset equals the standalone image",
  ["unsquashfs"],
  async () => {
    await withTemp(async (tmp) => {
      const build = async (w: SquashfsWriter) => {
        await w.file(p("x/y/z"), META, 3, bytes(p("xyz")));
        w.hardlink(p("x/z2"), p("x/y/z"));
        return await w.finish();
      };
      await build(await SquashfsWriter.create(`${tmp}/alone.sqfs`));
      const file = await Deno.open(`${tmp}/container`, { read: true, write: true, create: true });
      file.writeSync(new Uint8Array(8192).fill(0xaa));
      await build(await SquashfsWriter.create({ file, offset: 8192 }));
      file.close();
      const whole = Deno.readFileSync(`${tmp}/container`);
      assert.deepEqual(whole.subarray(0, 8192), new Uint8Array(8192).fill(0xaa));
      assert.deepEqual(whole.subarray(8192), Deno.readFileSync(`${tmp}/alone.sqfs`));
      const lln = new TextDecoder().decode(
        await sh("unsquashfs", ["-o", "8192", "-lln", `${tmp}/container`]),
      );
      assert.match(lln, /squashfs-root\/x\/z2/);
    });
  },
);

Deno.test("duplicates are found whether the first file of a size is read from the host or streamed", async () => {
  await withTemp(async (tmp) => {
    // Contents of equal sizes: two one-range ones, a three-range one (1.2 MB) and a unique size.
    const rand = (n: number, seed: number) => {
      const b = new Uint8Array(n);
      for (let i = 0; i < n; i++) b[i] = (i * 2654435761 + seed * 40503) >>> 24;
      return b;
    };
    const a = rand(5000, 1);
    const b = rand(5000, 2);
    const big = rand(1_200_000, 3);
    const bigOther = big.slice();
    bigOther[700_000] = bigOther[700_000]! ^ 1;
    const unique = rand(777, 4);
    const files: [string, Uint8Array][] = [
      ["a", a],
      ["b", b],
      ["unique", unique],
      ["big", big],
      ["a-again", a],
      ["big-other", bigOther],
      ["b-again", b],
      ["big-again", big],
      ["a-third", a],
    ];
    for (const [name, data] of files) Deno.writeFileSync(`${tmp}/${name}`, data);
    // Every way of giving them: all host paths, all streamed, and alternating.
    const images: Uint8Array[] = [];
    for (const host of [(_: number) => true, (_: number) => false, (i: number) => i % 2 === 0]) {
      const w = await SquashfsWriter.create(`${tmp}/out.sqfs`, { blockSize: 4096 });
      for (const [i, [name, data]] of files.entries()) {
        const source = bytes(data);
        if (host(i)) Object.assign(source, { [HOST_PATH]: `${tmp}/${name}` });
        await w.file(p(name), META, data.length, source);
      }
      const stats = await w.finish();
      assert.equal(stats.duplicates, 4); // a-again, b-again, big-again, a-third
      images.push(Deno.readFileSync(`${tmp}/out.sqfs`));
    }
    assert.deepEqual(images[1], images[0]);
    assert.deepEqual(images[2], images[0]);
  });
});

Deno.test("a tail that cannot be read into its fragment block fails the image, without hanging", async () => {
  await withTemp(async (tmp) => {
    const w = await SquashfsWriter.create(`${tmp}/out.sqfs`);
    // A small file named by its host path is read by the worker compressing its fragment
    // block: that block's failure reaches the writes queued behind it.
    const gone = Object.assign(bytes(new Uint8Array(100)), { [HOST_PATH]: `${tmp}/gone` });
    await w.file(p("gone"), META, 100, gone);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const hung = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("finish hung")), 10_000);
    });
    try {
      await assert.rejects(() => Promise.race([w.finish(), hung]), /Cannot pack ".*gone"/);
    } finally {
      clearTimeout(timer);
    }
    assert.deepEqual([...Deno.readDirSync(tmp)], []);
  });
});

Deno.test("a failed image leaves no file behind", async () => {
  await withTemp(async (tmp) => {
    const w = await SquashfsWriter.create(`${tmp}/out.sqfs`);
    await w.file(p("ok"), META, 2, bytes(p("ok")));
    await assert.rejects(
      () => w.file(p("short"), META, 10, bytes(p("abc"))),
      /Cannot add "short": it has 3 bytes, 10 were announced/,
    );
    await w.abort();
    assert.deepEqual([...Deno.readDirSync(tmp)], []);
  });
});

Deno.test("entries that contradict the tree are refused with the path", async () => {
  await withTemp(async (tmp) => {
    const w = await SquashfsWriter.create(`${tmp}/out.sqfs`);
    await w.file(p("f"), META, 0, bytes());
    await assert.rejects(
      () => w.file(p("f"), META, 0, bytes()),
      /Cannot add "f": the image already has an entry/,
    );
    assert.throws(() => w.symlink(p("f/under"), META, p("x")), /its parent is not a directory/);
    assert.throws(() => w.hardlink(p("h"), p("missing")), /target "missing" is not in the image/);
    assert.throws(() => w.directory(p("f"), DIR), /a non-directory is there/);
    await w.abort();
  });
});

Deno.test("bad options are refused before anything is written", async () => {
  await withTemp(async (tmp) => {
    await assert.rejects(
      () => SquashfsWriter.create(`${tmp}/o`, { blockSize: 3000 }),
      /block size 3000/,
    );
    await assert.rejects(() => SquashfsWriter.create(`${tmp}/o`, { level: 10 }), /gzip level 10/);
    assert.deepEqual([...Deno.readDirSync(tmp)], []);
  });
});

testWithTools(
  "allRoot, forced owners and a fixed mtime apply to every entry, implicit parents included",
  ["unsquashfs"],
  async () => {
    await withTemp(async (tmp) => {
      const w = await SquashfsWriter.create(`${tmp}/o.sqfs`, { uid: 7, gid: 8, mtime: 86400 });
      await w.file(p("a/b/c"), { ...META, uid: 1000, gid: 1000 }, 1, bytes(p("c")));
      w.directory(p(""), { ...DIR, uid: 5, gid: 5 });
      await w.finish();
      const lines = (await listing(`${tmp}/o.sqfs`)).trim().split("\n");
      assert.equal(lines.length, 4);
      for (const line of lines) assert.match(line, / 7\/8 .* 1970-01-02 00:00 /);
    });
  },
);

testWithTools(
  "a directory listing over 64 KiB gets an extended inode and an index the kernel looks names up with",
  ["mount", "umount", "unsquashfs"],
  async () => {
    await withTemp(async (tmp) => {
      const w = await SquashfsWriter.create(`${tmp}/big.sqfs`);
      const names: string[] = [];
      for (let i = 0; i < 4000; i++) {
        names.push(`${String(i).padStart(5, "0")}-${"long-name-".repeat(6)}`);
      }
      // Given out of order: the image sorts them.
      for (const name of [...names].reverse()) {
        await w.file(p(`dir/${name}`), META, name.length, bytes(p(name)));
      }
      await w.finish();
      const raw = new TextDecoder().decode(await sh("unsquashfs", ["-lln", `${tmp}/big.sqfs`]));
      const lines = raw.trim().split("\n").filter((l) => l.includes("squashfs-root"));
      assert.equal(lines.length, 4002);
      // unsquashfs shows the listing size: over 64 KiB needs the extended directory inode.
      const size = Number(lines[1]!.split(/\s+/)[2]);
      assert.ok(size > 65535, `listing is ${size} bytes`);
      await withMount(`${tmp}/big.sqfs`, async (mnt) => {
        for (const i of [0, 1, 1234, 2047, 2048, 3999]) {
          assert.equal(await Deno.readTextFile(`${mnt}/dir/${names[i]}`), names[i]);
        }
        assert.throws(() => Deno.statSync(`${mnt}/dir/00001-missing`), Deno.errors.NotFound);
        const listed = [...Deno.readDirSync(`${mnt}/dir`)].map((e) => e.name).sort();
        assert.deepEqual(listed, names);
      });
    });
  },
  { root: true },
);
