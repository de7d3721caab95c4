import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { testWithTools } from "../../tests/_helpers/tools.ts";
import { describeTree } from "../../tests/_helpers/tree.ts";
import { buildTestTree, listing, sh } from "./_test_tree.ts";
import { DirectorySource } from "./directory_source.ts";
import { ForwardingSink, type FsSink } from "./fstree.ts";
import { SquashfsWriter, type SquashfsWriterOptions } from "./writer.ts";

let tree: Promise<string> | undefined;
/** The generated tree, built once per test process. */
function testTree(): Promise<string> {
  tree ??= (async () => {
    const root = await Deno.makeTempDir({ prefix: "singlet-sqfs-tree-" });
    globalThis.addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));
    await buildTestTree(root);
    return root;
  })();
  return tree;
}

async function pack(src: string, out: string, options: SquashfsWriterOptions = {}) {
  const writer = await SquashfsWriter.create(out, options);
  await DirectorySource.scan(src).emit(writer);
  return await writer.finish();
}

async function withTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "singlet-sqfs-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

testWithTools(
  "unsquashfs lists our image of the generated tree exactly as it lists mksquashfs's",
  ["unsquashfs", "mksquashfs", "mknod", "mkfifo"],
  async () => {
    const src = await testTree();
    await withTemp(async (tmp) => {
      await pack(src, `${tmp}/ours.sqfs`);
      await sh("mksquashfs", [src, `${tmp}/theirs.sqfs`, "-noappend", "-quiet", "-no-progress"]);
      const ours = await listing(`${tmp}/ours.sqfs`);
      assert.equal(ours, await listing(`${tmp}/theirs.sqfs`));
      // The listing really holds the awkward entries (a broken listing cannot pass).
      for (const needle of ["dev/bignum", "prw-r--r--", "srwx", "-rwsr-xr-x", "drwxrwxrwt"]) {
        assert.ok(ours.includes(needle), `listing lacks ${needle}`);
      }
      assert.ok(ours.includes(`names/${"n".repeat(255)}`));
      assert.ok(ours.includes("1000/1000") && ours.includes("12345/54321"));
    });
  },
  { root: true },
);

testWithTools(
  "unsquashfs -d extracts our image to a tree identical to the source",
  ["unsquashfs", "mknod", "mkfifo", "getfattr"],
  async () => {
    const src = await testTree();
    await withTemp(async (tmp) => {
      await pack(src, `${tmp}/ours.sqfs`);
      await sh("unsquashfs", ["-q", "-n", "-d", `${tmp}/x`, `${tmp}/ours.sqfs`]);
      assert.equal(
        await describeTree(`${tmp}/x`, { owners: true }),
        await describeTree(src, { owners: true }),
      );
    });
  },
  { root: true },
);

/** Whether the running kernel's SquashFS decodes `comp` (per its config; true if unknown). */
function kernelReads(comp: string): boolean {
  const option = `CONFIG_SQUASHFS_${comp.toUpperCase()}`;
  let config: string;
  try {
    config = new TextDecoder().decode(gunzipSync(Deno.readFileSync("/proc/config.gz")));
  } catch {
    try {
      config = Deno.readTextFileSync(`/boot/config-${Deno.osRelease()}`);
    } catch {
      return true;
    }
  }
  return !config.includes(`# ${option} is not set`);
}

// zstd at every block size: Linux accepts a zstd frame only if its window fits one block.
// lz4: Linux refuses an lz4 image without its compressor-options block.
// xz: Linux allocates a dictionary of one block; our streams must declare no larger.
for (
  const [compressor, blockSize] of [
    ["gzip", 131072],
    ["zstd", 131072],
    ["zstd", 4096],
    [
      "zstd",
      1048576,
    ],
    ["lz4", 131072],
    ["lz4", 4096],
    ["xz", 131072],
    ["xz", 4096],
    ["xz", 1048576],
  ] as const
) {
  const name =
    `the kernel mounts our ${compressor} image (${blockSize}-byte blocks) and shows the source tree`;
  if (!kernelReads(compressor)) {
    const reason = `kernel built without CONFIG_SQUASHFS_${compressor.toUpperCase()}`;
    Deno.test({ name: `${name} (skipped: ${reason})`, ignore: true, fn: () => {} });
    continue;
  }
  testWithTools(
    name,
    ["mount", "umount", "mknod", "mkfifo", "getfattr"],
    async () => {
      const src = await testTree();
      await withTemp(async (tmp) => {
        await pack(src, `${tmp}/ours.sqfs`, { compressor, blockSize });
        await Deno.mkdir(`${tmp}/mnt`);
        await sh("mount", ["-t", "squashfs", "-o", "loop,ro", `${tmp}/ours.sqfs`, `${tmp}/mnt`]);
        try {
          // The kernel reports no xattr support on images without an xattr table.
          assert.equal(
            await describeTree(`${tmp}/mnt`, { owners: true, xattrs: false }),
            await describeTree(src, { owners: true, xattrs: false }),
          );
          for (const dev of ["null", "loop9", "bignum"]) {
            assert.equal(
              Deno.lstatSync(`${tmp}/mnt/dev/${dev}`).rdev,
              Deno.lstatSync(`${src}/dev/${dev}`).rdev,
            );
          }
          // Looking a name up in the big directory goes through the directory index.
          assert.equal(
            Deno.readFileSync(`${tmp}/mnt/big-dir/entry-0699-${"p".repeat(19)}`)[0],
            699 & 0xff,
          );
          assert.equal(Deno.statSync(`${tmp}/mnt/links/original`).nlink, 3);
        } finally {
          await sh("umount", [`${tmp}/mnt`]);
        }
      });
    },
    { root: true },
  );
}

for (const compressor of ["zstd", "lz4", "xz"] as const) {
  testWithTools(
    `squashfuse mounts our ${compressor} image and shows the source tree`,
    ["squashfuse", "fusermount", "mknod", "mkfifo", "getfattr", "unsquashfs"],
    async () => {
      const src = await testTree();
      await withTemp(async (tmp) => {
        await pack(src, `${tmp}/ours.sqfs`, { compressor });
        assert.match(
          new TextDecoder().decode(await sh("unsquashfs", ["-s", `${tmp}/ours.sqfs`])),
          new RegExp(`Compression ${compressor}`),
        );
        await Deno.mkdir(`${tmp}/mnt`);
        await sh("squashfuse", [`${tmp}/ours.sqfs`, `${tmp}/mnt`]);
        try {
          assert.equal(
            await describeTree(`${tmp}/mnt`, { owners: true }),
            await describeTree(src, { owners: true }),
          );
        } finally {
          await sh("fusermount", ["-u", `${tmp}/mnt`]);
        }
      });
    },
    { root: true },
  );
}

testWithTools(
  "packing the same tree twice, and with 1 or 4 blocks in flight, gives identical bytes",
  ["mknod", "mkfifo"],
  async () => {
    const src = await testTree();
    await withTemp(async (tmp) => {
      await pack(src, `${tmp}/a.sqfs`, { parallelism: 4 });
      await pack(src, `${tmp}/b.sqfs`, { parallelism: 4 });
      await pack(src, `${tmp}/c.sqfs`, { parallelism: 1 });
      const a = Deno.readFileSync(`${tmp}/a.sqfs`);
      assert.deepEqual(Deno.readFileSync(`${tmp}/b.sqfs`), a);
      assert.deepEqual(Deno.readFileSync(`${tmp}/c.sqfs`), a);
    });
  },
  { root: true },
);

testWithTools(
  "xz images are the same bytes with 1 and 2 compression workers",
  ["mknod", "mkfifo"],
  async () => {
    const src = await testTree();
    await withTemp(async (tmp) => {
      await pack(src, `${tmp}/a.sqfs`, { compressor: "xz", parallelism: 2 });
      await pack(src, `${tmp}/b.sqfs`, { compressor: "xz", parallelism: 1 });
      assert.deepEqual(Deno.readFileSync(`${tmp}/b.sqfs`), Deno.readFileSync(`${tmp}/a.sqfs`));
    });
  },
  { root: true },
);

/** Passes every entry on, but hides the host path so that file data streams as bytes. */
function streamingOnly(inner: FsSink): FsSink {
  return {
    directory: (path, meta) => inner.directory(path, meta),
    file: (path, meta, size, data) =>
      inner.file(
        path,
        meta,
        size,
        (async function* () {
          yield* data;
        })(),
      ),
    symlink: (path, meta, target) => inner.symlink(path, meta, target),
    hardlink: (path, target) => inner.hardlink(path, target),
    device: (path, meta, kind, major, minor) => inner.device(path, meta, kind, major, minor),
    special: (path, meta, kind) => inner.special(path, meta, kind),
  };
}

testWithTools(
  "files the workers read from the host give the same bytes as files streamed through the sink",
  ["mknod", "mkfifo"],
  async () => {
    const src = await testTree();
    await withTemp(async (tmp) => {
      for (
        const options of [
          {},
          { blockSize: 4096, compressor: "zstd" as const },
          {
            noFragments: true,
            parallelism: 1,
          },
          { compressor: "lz4" as const, parallelism: 3 },
          {
            compressor: "xz" as const,
            parallelism: 2,
          },
        ]
      ) {
        const read = await pack(src, `${tmp}/read.sqfs`, options);
        const writer = await SquashfsWriter.create(`${tmp}/streamed.sqfs`, options);
        await DirectorySource.scan(src).emit(streamingOnly(writer));
        const streamed = await writer.finish();
        assert.deepEqual(streamed, read);
        assert.ok(read.duplicates > 0);
        assert.deepEqual(
          Deno.readFileSync(`${tmp}/streamed.sqfs`),
          Deno.readFileSync(`${tmp}/read.sqfs`),
          JSON.stringify(options),
        );
      }
    });
  },
  { root: true },
);

testWithTools(
  "identical files are stored once and sparse blocks take no space",
  ["mknod", "mkfifo"],
  async () => {
    const src = await testTree();
    await withTemp(async (tmp) => {
      const dedup = await pack(src, `${tmp}/a.sqfs`);
      const plain = await pack(src, `${tmp}/b.sqfs`, { noDuplicates: true });
      // big-dir holds 700 one-byte files with 256 distinct contents (444 duplicates, packed
      // first); then files/one-byte, names/with space and names/ünïcödé-名前 repeat three of
      // them, and files/copy-of-many-blocks and files/small-b repeat their neighbours.
      assert.equal(dedup.duplicates, 444 + 3 + 2);
      assert.equal(plain.duplicates, 0);
      assert.ok(plain.bytes - dedup.bytes > 9 * 131072 / 4, `${plain.bytes} vs ${dedup.bytes}`);
    });
  },
  { root: true },
);

Deno.test("a source that is not a directory is refused with its path in the message", async () => {
  const file = await Deno.makeTempFile();
  try {
    assert.throws(() => DirectorySource.scan(file), /Cannot pack ".*": not a directory/);
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("a name that is not valid UTF-8 fails the scan, or is skipped with a warning", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // Deno cannot create such a name either: let the shell do it.
    await sh("sh", ["-c", `printf x > "${dir}/$(printf 'caf\\351')"; touch "${dir}/ok"`]);
    assert.throws(() => DirectorySource.scan(dir), /not valid UTF-8/);
    const warnings: string[] = [];
    const scan = DirectorySource.scan(dir, {
      skipUnreadable: true,
      onWarning: (m) => warnings.push(m),
    });
    assert.deepEqual(scan.entries.map((e) => new TextDecoder().decode(e.path)), ["", "ok"]);
    assert.equal(warnings.length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a file that vanishes or shrinks after the scan fails the image with its path", async () => {
  await withTemp(async (tmp) => {
    for (const change of ["remove", "shrink"] as const) {
      const src = `${tmp}/src-${change}`;
      await Deno.mkdir(src);
      for (let i = 0; i < 20; i++) await Deno.writeFile(`${src}/f${i}`, new Uint8Array(5000 + i));
      const scanned = DirectorySource.scan(src);
      if (change === "remove") await Deno.remove(`${src}/f13`);
      else await Deno.writeFile(`${src}/f13`, new Uint8Array(10));
      const writer = await SquashfsWriter.create(`${tmp}/out.sqfs`);
      await assert.rejects(
        async () => {
          await scanned.emit(writer);
          await writer.finish();
        },
        change === "remove"
          ? /Cannot pack ".*\/f13": .*(No such file|not found)/i
          : /Cannot pack ".*\/f13": it shrank/,
      );
      await writer.abort();
      assert.deepEqual([...Deno.readDirSync(tmp)].map((e) => e.name).sort(), [
        "src-remove",
        ...(change === "shrink" ? ["src-shrink"] : []),
      ]);
    }
  });
});

testWithTools(
  "walking into the writer as the tree is found gives the bytes of scanning first",
  ["mknod", "mkfifo"],
  async () => {
    const src = await testTree();
    await withTemp(async (tmp) => {
      const scanned = await pack(src, `${tmp}/scanned.sqfs`, { parallelism: 2 });
      const writer = await SquashfsWriter.create(`${tmp}/walked.sqfs`, { parallelism: 2 });
      await DirectorySource.walkInto(src, writer);
      assert.deepEqual(await writer.finish(), scanned);
      assert.deepEqual(
        Deno.readFileSync(`${tmp}/walked.sqfs`),
        Deno.readFileSync(`${tmp}/scanned.sqfs`),
      );
    });
  },
  { root: true },
);

Deno.test("walking into the writer with an xattr provider gives the bytes of scanning first, and the provider's error first", async () => {
  await withTemp(async (tmp) => {
    const src = `${tmp}/src`;
    await Deno.mkdir(`${src}/d`, { recursive: true });
    await Deno.writeTextFile(`${src}/d/f`, "data ".repeat(1000));
    await Deno.writeTextFile(`${src}/g`, "g");
    const table = new Map([
      ["d/f", new Map([["user.note", new TextEncoder().encode("hello")]])],
      ["", new Map([["user.root", new Uint8Array([1, 2])]])],
    ]);
    const calls: string[] = [];
    const xattrs = (dir: string) => {
      calls.push(dir);
      return Promise.resolve(table);
    };
    const scannedWriter = await SquashfsWriter.create(`${tmp}/scanned.sqfs`);
    await DirectorySource.scan(src, { xattrs }).emit(scannedWriter);
    const scanned = await scannedWriter.finish();
    const writer = await SquashfsWriter.create(`${tmp}/walked.sqfs`);
    await DirectorySource.walkInto(src, writer, { xattrs });
    assert.deepEqual(await writer.finish(), scanned);
    assert.deepEqual(calls, [src, src]);
    const walked = Deno.readFileSync(`${tmp}/walked.sqfs`);
    assert.deepEqual(walked, Deno.readFileSync(`${tmp}/scanned.sqfs`));
    // a sink that takes no late attributes gets each entry once the table is there
    const forwarded = await SquashfsWriter.create(`${tmp}/forwarded.sqfs`);
    await DirectorySource.walkInto(src, new ForwardingSink(forwarded), { xattrs });
    await forwarded.finish();
    assert.deepEqual(Deno.readFileSync(`${tmp}/forwarded.sqfs`), walked);
    // the table made it in (the bytes differ from an image without it)
    const plain = await SquashfsWriter.create(`${tmp}/plain.sqfs`);
    await DirectorySource.walkInto(src, plain);
    await plain.finish();
    assert.notDeepEqual(walked, Deno.readFileSync(`${tmp}/plain.sqfs`));
    // a failing provider's error is reported even when the walk fails too
    const failing = await SquashfsWriter.create(`${tmp}/failing.sqfs`);
    await assert.rejects(
      DirectorySource.walkInto(`${tmp}/missing`, failing, {
        xattrs: () => Promise.reject(new Error("no getfattr")),
      }),
      /no getfattr/,
    );
    await failing.abort();
  });
});
