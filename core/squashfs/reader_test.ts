/**
 * Round trips of the SquashFS reader against squashfs-tools: images made by `mksquashfs`
 * (gzip, zstd) and `tar2sqfs` from a tree with every entry type list exactly as
 * `unsquashfs -lln` lists them and extract to the same bytes and metadata as
 * `unsquashfs -d`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { testWithTools } from "../../tests/_helpers/tools.ts";
import { runSinglet, SINGLET_BIN } from "../../tests/_helpers/singlet.ts";
import { runAs, testUser } from "../../tests/_helpers/unpriv.ts";
import { SquashfsReader } from "./reader.ts";
import { extractSquashfs } from "./extract.ts";
import { hostNodeMaker, hostXattrWriter } from "../../runtime/fsnodes.ts";
import { busyboxLayerTar } from "../../tests/_helpers/fixtures.ts";

const MAKE_TREE = new URL("./testdata/make_tree.sh", import.meta.url).pathname;

async function sh(cmd: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  const out = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

let fixture: Promise<{ dir: string; tree: string }> | undefined;
let fixtureDir: string | undefined;
/** The source tree, built once per test process. */
function sourceTree(): Promise<{ dir: string; tree: string }> {
  fixture ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "singlet-sqfs-read-" });
    fixtureDir = dir;
    await sh("bash", [MAKE_TREE, `${dir}/tree`]);
    return { dir, tree: `${dir}/tree` };
  })();
  return fixture;
}

/** unsquashfs -lln in the layout singlet prints (root shown as "/"). */
async function unsquashfsListing(image: string): Promise<string> {
  const text = await sh("unsquashfs", ["-lln", image], { TZ: "UTC" });
  return text.split("\n").filter((l) => l.includes("squashfs-root")).map((l) =>
    l.replace(/ squashfs-root\/?/, " /")
  )
    // unsquashfs 4.5.1 decodes device numbers above 255:255 with the old 16-bit split (it
    // prints 1118508,112 for 300,70000); its extraction and the kernel use the new one.
    .filter((l) => !l.endsWith("/special/bigdev")).join("\n") + "\n";
}

interface Manifest {
  [path: string]: string;
}

/** Everything about a tree that extraction must preserve, one line per path. */
function manifest(root: string): Manifest {
  const out: Manifest = {};
  const inodes = new Map<number, string>();
  const walk = (rel: string) => {
    const path = rel ? `${root}/${rel}` : root;
    const st = Deno.lstatSync(path);
    const perm = (st.mode ?? 0) & 0o7777;
    const fields = [
      st.isFile ? "file" : st.isDirectory ? "dir" : st.isSymlink ? "symlink" : "special",
      perm.toString(8),
      `${st.uid}:${st.gid}`,
    ];
    fields.push(`mtime=${Math.floor(st.mtime!.getTime() / 1000)}`);
    if (st.isFile) {
      const data = Deno.readFileSync(path);
      fields.push(`size=${st.size}`, createHash("sha256").update(data).digest("hex"));
    }
    if (st.isSymlink) fields.push(`-> ${Deno.readLinkSync(path)}`);
    if (st.isCharDevice || st.isBlockDevice || st.isFifo || st.isSocket) {
      fields.push(
        st.isCharDevice ? "chr" : st.isBlockDevice ? "blk" : st.isFifo ? "fifo" : "sock",
        `rdev=${st.rdev}`,
      );
    }
    if (!st.isDirectory && st.nlink! > 1) {
      const first = inodes.get(st.ino!);
      if (first === undefined) inodes.set(st.ino!, rel);
      fields.push(`nlink=${st.nlink}`, `link-group=${first ?? rel}`);
    }
    out[rel || "."] = fields.join(" ");
    if (st.isDirectory) {
      const names = [...Deno.readDirSync(path)].map((e) => e.name).sort();
      for (const name of names) {
        // Names that are not UTF-8 come back with U+FFFD; singlet reports them skipped.
        if (name.includes("\ufffd")) continue;
        walk(rel ? `${rel}/${name}` : name);
      }
    }
  };
  walk("");
  return out;
}

async function xattrDump(root: string): Promise<string> {
  const text = await sh("getfattr", ["-R", "-P", "-d", "-m", "-", "-e", "hex", `${root}/xattrs`]);
  return text.replaceAll(root.replace(/^\//, ""), "ROOT");
}

async function compareExtraction(image: string, ours: string, theirs: string): Promise<void> {
  await sh("unsquashfs", ["-q", "-n", "-d", theirs, image]);
  assert.deepEqual(manifest(ours), manifest(theirs));
  assert.equal(await xattrDump(ours), await xattrDump(theirs));
}

for (const comp of ["gzip", "zstd", "xz", "lz4"]) {
  testWithTools(
    `lists a ${comp} mksquashfs image with every entry type exactly as unsquashfs -lln`,
    ["mksquashfs", "unsquashfs", "setfattr", "openssl"],
    async () => {
      const { dir, tree } = await sourceTree();
      const image = `${dir}/list-${comp}.sqfs`;
      await sh("mksquashfs", [tree, image, "-comp", comp, "-noappend", "-quiet"]);
      const result = await runSinglet(["squashfs", "list", image], { env: { TZ: "UTC" } });
      assert.equal(result.code, 0, result.stderr);
      const ours = result.stdout.split("\n").filter((l) => !l.endsWith("/special/bigdev"))
        .join("\n");
      assert.equal(ours, await unsquashfsListing(image));
      assert.ok(ours.split("\n").length > 380, "the listing covers the whole tree");
    },
    { root: true },
  );

  testWithTools(
    `extracts a ${comp} mksquashfs image to the same bytes and metadata as unsquashfs -d`,
    ["mksquashfs", "unsquashfs", "setfattr", "getfattr", "mknod", "openssl"],
    async () => {
      const { dir, tree } = await sourceTree();
      const image = `${dir}/extract-${comp}.sqfs`;
      await sh("mksquashfs", [tree, image, "-comp", comp, "-noappend", "-quiet"]);
      const ours = `${dir}/ours-${comp}`;
      const result = await runSinglet(["squashfs", "extract", image, ours]);
      // The two names that are not UTF-8 are reported, not silently dropped, and the exit
      // status says the tree is incomplete (2, as unsquashfs exits on non-fatal errors).
      assert.equal(result.code, 2, result.stderr);
      assert.equal(result.stderr.match(/not valid UTF-8/g)?.length, 2, result.stderr);
      assert.match(
        result.stderr,
        /WARNING: +2 entries were not extracted \(see above\): .* is incomplete/,
      );
      await compareExtraction(image, ours, `${dir}/theirs-${comp}`);
      // The 5 MiB sparse file keeps its holes (70 kB of data).
      assert.ok(Deno.statSync(`${ours}/files/sparse`).blocks! * 512 < 1 << 20);
    },
    { root: true },
  );
}

const VARIANTS: string[][] = [
  ["-no-fragments"],
  ["-always-use-fragments"],
  ["-noI", "-noD", "-noF", "-noX"],
  ["-comp", "gzip", "-Xcompression-level", "1", "-Xwindow-size", "10"],
  ["-comp", "zstd", "-Xcompression-level", "19"],
  ["-b", "4096"],
  ["-b", "1M"],
  ["-no-xattrs", "-no-exports", "-no-duplicates"],
  ["-all-root"],
  ["-comp", "lz4"],
  ["-comp", "lz4", "-Xhc"],
  // A compressor-options block and a smaller deflate window (issue 4's case).
  ["-comp", "gzip", "-Xcompression-level", "1", "-Xwindow-size", "12"],
  // xz and lzma through the codecs crate (lzma-rs); xz with a dictionary below the block.
  ["-comp", "xz"],
  ["-comp", "xz", "-Xdict-size", "25%", "-b", "64K"],
  ["-comp", "lzma"],
];

testWithTools(
  "reads mksquashfs images made with every layout option as unsquashfs does",
  ["mksquashfs", "unsquashfs", "setfattr", "openssl"],
  async () => {
    const { dir, tree } = await sourceTree();
    for (const variant of VARIANTS) {
      const image = `${dir}/variant.sqfs`;
      await sh("mksquashfs", [tree, image, "-noappend", "-quiet", ...variant]);
      const list = await runSinglet(["squashfs", "list", image], { env: { TZ: "UTC" } });
      assert.equal(list.code, 0, `${variant}: ${list.stderr}`);
      const ours = list.stdout.split("\n").filter((l) => !l.endsWith("/special/bigdev"))
        .join("\n");
      assert.equal(ours, await unsquashfsListing(image), variant.join(" "));
      const reader = await SquashfsReader.open(image);
      try {
        let files = 0;
        for (const { path, entry } of reader.walk()) {
          if (entry.type !== "file") continue;
          let name: string;
          try {
            name = new TextDecoder("utf-8", { fatal: true }).decode(path);
          } catch {
            continue;
          }
          const hash = createHash("sha256");
          for (const chunk of reader.fileChunks(entry)) hash.update(chunk);
          const expected = createHash("sha256").update(Deno.readFileSync(`${tree}/${name}`));
          assert.equal(hash.digest("hex"), expected.digest("hex"), `${variant}: ${name}`);
          files++;
        }
        assert.ok(files > 300);
      } finally {
        reader.close();
      }
    }
  },
  { root: true },
);

testWithTools(
  "an xz image made with a BCJ filter is refused as unsupported, not as corrupt",
  ["mksquashfs", "busybox"],
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "singlet-sqfs-bcj-" });
    // mksquashfs picks the BCJ filter per block where it wins: machine code makes it win.
    await Deno.mkdir(`${dir}/bcj-src`, { recursive: true });
    await Deno.copyFile(
      await sh("sh", ["-c", "command -v busybox"]).then((s) => s.trim()),
      `${dir}/bcj-src/busybox`,
    );
    const image = `${dir}/bcj.sqfs`;
    await sh("mksquashfs", [
      `${dir}/bcj-src`,
      image,
      "-noappend",
      "-quiet",
      "-comp",
      "xz",
      "-Xbcj",
      "x86",
    ]);
    const result = await runSinglet(["squashfs", "extract", image, `${dir}/bcj-out`]);
    assert.equal(result.code, 255, result.stderr);
    assert.match(result.stderr, /FATAL: +.*xz filter is not supported/);
    assert.doesNotMatch(result.stderr, /corrupt/);
    await Deno.remove(dir, { recursive: true });
  },
);

testWithTools(
  "reads tar2sqfs images: listing and extraction equal unsquashfs",
  ["tar2sqfs", "unsquashfs", "setfattr", "getfattr", "mknod", "openssl"],
  async () => {
    const { dir, tree } = await sourceTree();
    const image = `${dir}/tar2sqfs.sqfs`;
    await sh("bash", [
      "-c",
      `cd "${tree}" && tar --xattrs --xattrs-include='*' -cf - . | tar2sqfs -q -f -c zstd "${image}"`,
    ]);
    const result = await runSinglet(["squashfs", "list", image], { env: { TZ: "UTC" } });
    assert.equal(result.code, 0, result.stderr);
    const ours = result.stdout.split("\n").filter((l) => !l.endsWith("/special/bigdev"))
      .join("\n");
    assert.equal(ours, await unsquashfsListing(image));
    const reader = await SquashfsReader.open(image);
    try {
      const report = await reader.extract(`${dir}/ours-tar2sqfs`, {
        nodeMaker: hostNodeMaker(),
        xattrWriter: hostXattrWriter(),
      });
      assert.equal(report.skipped.length, 2);
    } finally {
      reader.close();
    }
    await compareExtraction(image, `${dir}/ours-tar2sqfs`, `${dir}/theirs-tar2sqfs`);
  },
  { root: true },
);

for (const comp of ["gzip", "zstd", "xz", "lz4"]) {
  testWithTools(
    `reads singlet's own ${comp} images: listing and extraction equal unsquashfs`,
    ["unsquashfs", "setfattr", "getfattr", "mknod", "openssl"],
    async () => {
      const { dir, tree: full } = await sourceTree();
      // The packer reads names through Deno, which cannot hold names that are not UTF-8.
      const tree = `${dir}/tree-utf8-${comp}`;
      await sh("bash", [
        "-c",
        `cp -a "${full}" "${tree}" && rm -rf "${tree}"/names/bad* "${tree}"/names/dir*`,
      ]);
      const image = `${dir}/singlet-${comp}.sqfs`;
      const pack = await runSinglet(["squashfs", "pack", "--comp", comp, tree, image]);
      assert.equal(pack.code, 0, pack.stderr);
      const list = await runSinglet(["squashfs", "list", image], { env: { TZ: "UTC" } });
      assert.equal(list.code, 0, list.stderr);
      const ours = list.stdout.split("\n").filter((l) => !l.endsWith("/special/bigdev"))
        .join("\n");
      assert.equal(ours, await unsquashfsListing(image));
      const x = await runSinglet(["squashfs", "extract", image, `${dir}/ours-singlet-${comp}`]);
      assert.equal(x.code, 0, x.stderr);
      await compareExtraction(
        image,
        `${dir}/ours-singlet-${comp}`,
        `${dir}/theirs-singlet-${comp}`,
      );
    },
    { root: true },
  );
}

testWithTools(
  "reads the busybox fixture (tar2sqfs of the layer) as unsquashfs does",
  ["tar2sqfs", "unsquashfs", "getfattr"],
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "singlet-sqfs-busybox-" });
    try {
      const image = `${dir}/busybox.sqfs`;
      await sh("bash", ["-c", `tar2sqfs -q -f -c gzip "${image}" < "${await busyboxLayerTar()}"`]);
      const list = await runSinglet(["squashfs", "list", image], { env: { TZ: "UTC" } });
      assert.equal(list.code, 0, list.stderr);
      assert.equal(list.stdout, await unsquashfsListing(image));
      assert.match(list.stdout, / \/bin\/sh -> busybox\n/);
      const x = await runSinglet(["squashfs", "extract", image, `${dir}/ours`]);
      assert.equal(x.code, 0, x.stderr);
      await sh("unsquashfs", ["-q", "-n", "-d", `${dir}/theirs`, image]);
      assert.deepEqual(manifest(`${dir}/ours`), manifest(`${dir}/theirs`));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
  { root: true },
);

testWithTools(
  "stat and readFile return the entries and bytes of the source tree",
  ["mksquashfs", "setfattr", "openssl"],
  async () => {
    const { dir, tree } = await sourceTree();
    const image = `${dir}/api.sqfs`;
    await sh("mksquashfs", [tree, image, "-noappend", "-quiet"]);
    const reader = await SquashfsReader.open(image);
    try {
      for (const name of ["many-blocks", "one-block", "sparse", "empty", "tail3", "zero-block"]) {
        const bytes = new Uint8Array(
          await new Response(reader.readFile(`files/${name}`)).arrayBuffer(),
        );
        assert.deepEqual(bytes, Deno.readFileSync(`${tree}/files/${name}`), name);
      }
      const link = reader.stat("/links/relative");
      assert.equal(link.type, "symlink");
      assert.equal(new TextDecoder().decode(link.linkTarget), "../files/small");
      assert.equal(link.uid, 4321);
      assert.equal(reader.stat("modes/setuid").mode, 0o4755);
      const dev = reader.stat("special/bigdev");
      assert.deepEqual([dev.type, dev.major, dev.minor], ["chardev", 300, 70000]);
      const hard = reader.stat("links/hard2");
      assert.equal(hard.nlink, 3);
      const xattrs = reader.xattrs(reader.stat("xattrs/file"));
      assert.deepEqual(
        [...xattrs.keys()].sort(),
        ["security.label", "trusted.secret", "user.plain", "user.shared"],
      );
      assert.deepEqual(xattrs.get("trusted.secret"), new Uint8Array([0, 0xff, 0x10]));
      assert.equal(xattrs.get("user.shared")!.length, 3000);
      const bad = reader.lookup(
        new Uint8Array([...new TextEncoder().encode("names/bad"), 0xff, 0xfe]),
      );
      assert.equal(bad?.type, "file");
      assert.throws(() => reader.stat("files/nope"), /no such entry/);
      const walked = [...reader.walk()];
      assert.equal(walked.length, reader.list().length);
      assert.equal(new TextDecoder().decode(walked.at(-1)!.path), "xattrs/link");
      assert.throws(() => reader.readFile("links"), /not a regular file/);
    } finally {
      reader.close();
    }
  },
  { root: true },
);

for (const comp of ["gzip", "zstd", "xz", "lz4"]) {
  testWithTools(
    `a light ${comp} reader lists and reads the same entries and bytes as the default one`,
    ["mksquashfs", "setfattr", "openssl"],
    async () => {
      const { dir, tree } = await sourceTree();
      const image = `${dir}/light-${comp}.sqfs`;
      await sh("mksquashfs", [tree, image, "-comp", comp, "-noappend", "-quiet"]);
      const full = await SquashfsReader.open(image);
      const light = await SquashfsReader.open(image, { light: true });
      try {
        assert.equal(light.list().length, full.list().length);
        let files = 0;
        for (const { path, entry } of full.walk()) {
          const mine = light.list()[entry.index]!;
          assert.deepEqual(light.pathOf(mine), path);
          assert.deepEqual(light.xattrs(mine), full.xattrs(entry));
          if (entry.type !== "file" || entry.hardlinkOf !== undefined) continue;
          const read = new Uint8Array(await new Response(light.readFile(path)).arrayBuffer());
          const expected = new Uint8Array(entry.size);
          let at = 0;
          for (const chunk of full.fileChunks(entry)) {
            expected.set(chunk, at);
            at += chunk.length;
          }
          assert.deepEqual(read, expected, new TextDecoder().decode(path));
          files++;
        }
        assert.ok(files > 300);
      } finally {
        full.close();
        light.close();
      }
    },
  );
}

testWithTools(
  "a light reader extracts like unsquashfs -d",
  ["mksquashfs", "unsquashfs", "setfattr", "openssl"],
  async () => {
    const { dir: base, tree } = await sourceTree();
    const dir = await Deno.makeTempDir({ dir: base, prefix: "light-extract-" });
    try {
      const image = `${dir}/img.sqfs`;
      await sh("mksquashfs", [tree, image, "-noappend", "-quiet"]);
      const reader = await SquashfsReader.open(image, { light: true });
      try {
        const report = await reader.extract(`${dir}/ours`, {
          nodeMaker: hostNodeMaker(),
          xattrWriter: hostXattrWriter(),
        });
        assert.equal(report.skipped.length, 2);
      } finally {
        reader.close();
      }
      await compareExtraction(image, `${dir}/ours`, `${dir}/theirs`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
  { root: true },
);

testWithTools(
  "extracts only the requested paths, with their parent directories",
  ["mksquashfs", "setfattr", "openssl"],
  async () => {
    const { dir, tree } = await sourceTree();
    const image = `${dir}/subset.sqfs`;
    await sh("mksquashfs", [tree, image, "-noappend", "-quiet"]);
    const target = `${dir}/subset`;
    const result = await runSinglet([
      "squashfs",
      "extract",
      image,
      target,
      "files/small",
      "/modes",
    ]);
    assert.equal(result.code, 0, result.stderr);
    const got = Object.keys(manifest(target)).sort();
    assert.deepEqual(got, [
      ".",
      "files",
      "files/small",
      "modes",
      "modes/owned",
      "modes/private",
      "modes/private/inner",
      "modes/readonly",
      "modes/setgid",
      "modes/setuid",
      "modes/sticky",
    ]);
    const missing = await runSinglet(["squashfs", "extract", image, `${dir}/x`, "nope"]);
    assert.equal(missing.code, 255);
    assert.match(
      missing.stderr,
      /FATAL: +Cannot extract "nope" from .*: no such path in the image/,
    );
  },
  { root: true },
);

testWithTools(
  "without root, extraction drops setuid bits and owners and reports devices as skipped",
  ["mksquashfs", "setfattr", "openssl"],
  async () => {
    const { dir, tree } = await sourceTree();
    const image = `${dir}/nonroot.sqfs`;
    await sh("mksquashfs", [tree, image, "-noappend", "-quiet"]);
    const reader = await SquashfsReader.open(image);
    const target = `${dir}/nonroot`;
    try {
      const report = await extractSquashfs(reader, target, {
        asRoot: false,
        paths: ["modes", "special"],
      });
      const reasons = report.skipped.map((s) => `${s.path}: ${s.reason}`).sort();
      assert.deepEqual(reasons, [
        "special/bigdev: device nodes are only created as root",
        "special/block: device nodes are only created as root",
        "special/char: device nodes are only created as root",
        "special/fifo: no mknod helper available",
      ]);
      assert.equal(Deno.statSync(`${target}/modes/setuid`).mode! & 0o7777, 0o755);
      assert.equal(Deno.statSync(`${target}/modes/setgid`).mode! & 0o7777, 0o711);
      assert.equal(Deno.statSync(`${target}/modes/sticky`).mode! & 0o7777, 0o1777);
      assert.equal(Deno.statSync(`${target}/modes/owned`).uid, Deno.uid());
    } finally {
      reader.close();
    }
  },
  { root: true },
);

testWithTools(
  "an unprivileged user extracts without setuid bits, devices or privileged xattrs, as reported",
  ["mksquashfs", "setfattr", "getfattr", "setpriv", "mknod", "openssl"],
  async () => {
    const { tree } = await sourceTree();
    const user = await testUser();
    const shared = await Deno.makeTempDir({ prefix: "singlet-sqfs-user-" });
    try {
      await Deno.chmod(shared, 0o755);
      const image = `${shared}/image.sqfs`;
      await sh("mksquashfs", [tree, image, "-noappend", "-quiet"]);
      await Deno.chmod(image, 0o644);
      const target = `${user.home}/extracted-${crypto.randomUUID()}`;
      const result = await runAs(user, [
        SINGLET_BIN,
        "squashfs",
        "extract",
        image,
        target,
        "modes",
        "special",
        "xattrs",
      ]);
      try {
        // Skipped devices make the extraction incomplete: exit 2, as unsquashfs does.
        assert.equal(result.code, 2, result.stderr);
        assert.match(result.stderr, /WARNING: +3 entries were not extracted \(see above\)/);
        assert.equal(result.stderr.match(/device nodes are only created as root/g)?.length, 3);
        assert.ok(Deno.lstatSync(`${target}/special/fifo`).isFifo);
        const setuid = Deno.statSync(`${target}/modes/setuid`);
        assert.equal(setuid.mode! & 0o7777, 0o755);
        assert.equal(setuid.uid, user.uid);
        assert.equal(Deno.statSync(`${target}/modes/owned`).uid, user.uid);
        assert.equal(Deno.statSync(`${target}/modes/readonly`).mode! & 0o777, 0o400);
        assert.equal(Deno.statSync(`${target}/modes/sticky`).mode! & 0o7777, 0o1777);
        const xattrs = await sh("getfattr", ["-d", "-m", "-", `${target}/xattrs/file`]);
        assert.match(xattrs, /user\.plain="value"/);
        assert.doesNotMatch(xattrs, /trusted\.|security\./);
      } finally {
        await Deno.remove(target, { recursive: true }).catch(() => {});
      }
    } finally {
      await Deno.remove(shared, { recursive: true });
    }
  },
  { root: true },
);

testWithTools(
  "lists and extracts the root filesystem of a SIF",
  ["mksquashfs", "siftool"],
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "singlet-sqfs-sif-" });
    try {
      await Deno.mkdir(`${dir}/src/bin`, { recursive: true });
      await Deno.writeTextFile(`${dir}/src/bin/hello`, "#!/bin/sh\necho hello\n");
      await sh("mksquashfs", [`${dir}/src`, `${dir}/root.sqfs`, "-noappend", "-quiet"]);
      await sh("siftool", ["new", `${dir}/image.sif`]);
      await sh("siftool", [
        "add",
        "--datatype",
        "4",
        "--parttype",
        "2",
        "--partfs",
        "1",
        "--partarch",
        "2",
        `${dir}/image.sif`,
        `${dir}/root.sqfs`,
      ]);
      const sif = await runSinglet(["squashfs", "list", `${dir}/image.sif`], {
        env: { TZ: "UTC" },
      });
      const raw = await runSinglet(["squashfs", "list", `${dir}/root.sqfs`], {
        env: { TZ: "UTC" },
      });
      assert.equal(sif.code, 0, sif.stderr);
      assert.equal(sif.stdout, raw.stdout);
      assert.match(sif.stdout, / \/bin\/hello\n/);
      const x = await runSinglet(["squashfs", "extract", `${dir}/image.sif`, `${dir}/out`]);
      assert.equal(x.code, 0, x.stderr);
      assert.equal(await Deno.readTextFile(`${dir}/out/bin/hello`), "#!/bin/sh\necho hello\n");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

testWithTools(
  "list --json gives one object per entry with bytes-exact names",
  ["mksquashfs", "setfattr", "openssl"],
  async () => {
    const { dir, tree } = await sourceTree();
    const image = `${dir}/json.sqfs`;
    await sh("mksquashfs", [tree, image, "-noappend", "-quiet"]);
    const result = await runSinglet(["squashfs", "list", "--json", image]);
    assert.equal(result.code, 0, result.stderr);
    const entries = JSON.parse(result.stdout) as Record<string, unknown>[];
    const byPath = new Map(entries.map((e) => [e.path as string, e]));
    assert.equal(byPath.get("/")?.type, "directory");
    assert.equal(byPath.get("/links/hard2")?.hardlinkTo, "/files/small");
    assert.equal(byPath.get("/special/block")?.major, 7);
    const bad = entries.find((e) => (e.path as string).startsWith("/names/bad"))!;
    assert.equal(bad.path, "/names/bad\\xff\\xfe");
    assert.deepEqual(
      [...atob(bad.pathBase64 as string)].map((c) => c.charCodeAt(0)).slice(-2),
      [0xff, 0xfe],
    );
    const xattrs = byPath.get("/xattrs/file")?.xattrs as Record<string, string>;
    assert.equal(atob(xattrs["user.plain"]!), "value");
  },
  { root: true },
);

globalThis.addEventListener("unload", () => {
  if (fixtureDir) Deno.removeSync(fixtureDir, { recursive: true });
});
