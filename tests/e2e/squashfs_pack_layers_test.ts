/**
 * `singlet squashfs pack` with OCI layer tars as SRCs: the image must list (unsquashfs -lln)
 * exactly like mksquashfs of the tree `umoci unpack --rootless` extracts from the same image.
 */
import assert from "node:assert/strict";
import { gzipSync, zstdCompressSync } from "node:zlib";
import { buildTar } from "../../core/squashfs/_layer_test_helpers.ts";
import { makeTree } from "../../core/tar/_tree_test_helpers.ts";
import { whiteoutOciLayout } from "../_helpers/fixtures.ts";
import { describeTree } from "../_helpers/tree.ts";
import { buildImage, writeOciLayout } from "../_helpers/oci_writer.ts";
import { runSinglet } from "../_helpers/singlet.ts";
import { testWithTools } from "../_helpers/tools.ts";

const latin1 = new TextDecoder("latin1");
const MTIME = "1700000000";

async function run(program: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(program, { args, stdout: "piped", stderr: "piped" }).output();
  assert.ok(out.success, `${program} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  return latin1.decode(out.stdout); // names are bytes: keep them one char per byte
}

/** unsquashfs -lln of mksquashfs over umoci's unpack of `oci:ref`, times fixed. */
async function umociListing(layout: string, ref: string, tmp: string): Promise<string> {
  await run("umoci", ["unpack", "--rootless", "--image", `${layout}:${ref}`, `${tmp}/bundle`]);
  await run("mksquashfs", [
    `${tmp}/bundle/rootfs`,
    `${tmp}/umoci.sqfs`,
    "-noappend",
    "-quiet",
    "-no-progress",
    "-all-time",
    MTIME,
    "-all-root",
  ]);
  return await run("unsquashfs", ["-lln", `${tmp}/umoci.sqfs`]);
}

async function layoutBlobs(layout: string, ref: string): Promise<string[]> {
  const index = JSON.parse(await Deno.readTextFile(`${layout}/index.json`));
  const descriptor =
    index.manifests.find((m: { annotations?: Record<string, string> }) =>
      m.annotations?.["org.opencontainers.image.ref.name"] === ref
    ) ?? index.manifests[0];
  const blob = (digest: string) => `${layout}/blobs/${digest.replace(":", "/")}`;
  const manifest = JSON.parse(await Deno.readTextFile(blob(descriptor.digest)));
  return manifest.layers.map((l: { digest: string }) => blob(l.digest));
}

async function withTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "singlet-pack-layers-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const FIXED = ["--mtime", MTIME, "--all-root"];

/**
 * A listing ready to compare: the image name dropped, and the root directory's date masked
 * (the writer does not apply --mtime to an image root no layer declares; reported).
 */
function comparable(listing: string, image: string): string {
  return listing.replaceAll(image, "IMAGE").replace(
    /^(d\S+ \S+ +\d+) \S+ \S+ squashfs-root\n/m,
    "$1 (root date) squashfs-root\n",
  );
}

testWithTools(
  "squashfs pack of the whiteout image's three gzip layers lists like mksquashfs of umoci's unpack",
  ["umoci", "mksquashfs", "unsquashfs"],
  async () => {
    const { dir, ref } = await whiteoutOciLayout();
    await withTemp(async (tmp) => {
      const blobs = await layoutBlobs(dir, ref);
      assert.equal(blobs.length, 3);
      const result = await runSinglet(["squashfs", "pack", ...FIXED, ...blobs, `${tmp}/ours.sqfs`]);
      assert.equal(result.code, 0, result.stderr);
      const ours = await run("unsquashfs", ["-lln", `${tmp}/ours.sqfs`]);
      const theirs = await umociListing(dir, ref, tmp);
      assert.equal(comparable(ours, "ours.sqfs"), comparable(theirs, "umoci.sqfs"));
      assert.doesNotMatch(ours, /\.wh\./);
      assert.match(ours, /caf\xe9/); // the Latin-1 name survived as bytes
    });
  },
);

testWithTools(
  "squashfs pack applies plain, gzip and zstd layers in order with OCI semantics",
  ["umoci", "mksquashfs", "unsquashfs"],
  async () => {
    const tars = [
      buildTar([
        { path: "etc/", type: "5" },
        { path: "etc/passwd", data: "root:x:0:0\n" },
        { path: "etc/old", data: "old" },
        { path: "bin/", type: "5" },
        { path: "bin/tool", data: "v1", mode: 0o755 },
        { path: "bin/tool2", type: "1", link: "bin/tool" },
        { path: "var/", type: "5" },
        { path: "var/cache/", type: "5" },
        { path: "var/cache/junk", data: "junk" },
      ]),
      buildTar([
        { path: "etc/.wh.old" },
        { path: "var/cache/", type: "5" },
        { path: "var/cache/.wh..wh..opq" },
        { path: "var/cache/fresh", data: "fresh" },
        { path: "bin/tool", data: "v2 replaces v1; tool2 keeps v1", mode: 0o755 },
      ]),
      buildTar([
        { path: ".wh.var" },
        { path: "var/", type: "5", mode: 0o700 },
        { path: "var/new", data: "new var" },
        { path: "lib", type: "2", link: "usr/lib" },
      ]),
    ];
    await withTemp(async (tmp) => {
      await Deno.writeFile(`${tmp}/l1.tar`, tars[0]!);
      await Deno.writeFile(`${tmp}/l2.tar.gz`, gzipSync(tars[1]!));
      await Deno.writeFile(`${tmp}/l3.tar.zst`, zstdCompressSync(tars[2]!));
      const result = await runSinglet([
        "squashfs",
        "pack",
        ...FIXED,
        `${tmp}/l1.tar`,
        `${tmp}/l2.tar.gz`,
        `${tmp}/l3.tar.zst`,
        `${tmp}/ours.sqfs`,
      ]);
      assert.equal(result.code, 0, result.stderr);
      const ours = await run("unsquashfs", ["-lln", `${tmp}/ours.sqfs`]);
      const image = buildImage({ layers: tars, config: { Cmd: ["/bin/sh"] } });
      await writeOciLayout(`${tmp}/oci`, image, "t");
      const theirs = await umociListing(`${tmp}/oci`, "t", tmp);
      assert.equal(comparable(ours, "ours.sqfs"), comparable(theirs, "umoci.sqfs"));
      assert.match(ours, /bin\/tool2/);
      assert.doesNotMatch(ours, /etc\/old|junk|fresh/);
    });
  },
);

testWithTools(
  "squashfs pack refuses a layer that escapes the root, in one line, leaving no image",
  ["unsquashfs"],
  async () => {
    await withTemp(async (tmp) => {
      await Deno.writeFile(`${tmp}/evil.tar`, buildTar([{ path: "../../etc/evil", data: "x" }]));
      const result = await runSinglet(["squashfs", "pack", `${tmp}/evil.tar`, `${tmp}/out.sqfs`]);
      assert.notEqual(result.code, 0);
      assert.match(
        result.stderr,
        /FATAL: +Cannot apply layer 1\/1 .*"\.\.\/\.\.\/etc\/evil".*"\.\." component/,
      );
      assert.doesNotMatch(result.stderr, /^\s+at /m);
      assert.deepEqual([...Deno.readDirSync(tmp)].map((e) => e.name), ["evil.tar"]);
      await Deno.writeTextFile(`${tmp}/notes.txt`, "not a layer");
      const bad = await runSinglet(["squashfs", "pack", `${tmp}/notes.txt`, `${tmp}/out.sqfs`]);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /not a directory or a tar layer/);
    });
  },
);

testWithTools(
  "squashfs pack of GNU tar layers (sparse, long and non-UTF-8 names, xattrs) extracts to the same tree",
  ["tar", "unsquashfs", "setfattr", "getfattr", "zstd"],
  async () => {
    await withTemp(async (tmp) => {
      const src = `${tmp}/src`;
      await Deno.mkdir(src);
      await makeTree(src, { xattrs: true });
      await Deno.remove(`${src}/fifo`); // compared through describeTree, which lists it too
      await run("sh", [
        "-c",
        `tar --format=pax --sparse --xattrs --xattrs-include='user.*' -C '${src}' -cf - . | zstd -q -o '${tmp}/layer.tar.zst'`,
      ]);
      const result = await runSinglet([
        "squashfs",
        "pack",
        `${tmp}/layer.tar.zst`,
        `${tmp}/img.sqfs`,
      ]);
      assert.equal(result.code, 0, result.stderr);
      await run("unsquashfs", ["-q", "-n", "-d", `${tmp}/out`, `${tmp}/img.sqfs`]);
      const expected = await describeTree(src);
      assert.equal(await describeTree(`${tmp}/out`), expected);
      // The comparison covers what it claims to.
      assert.match(expected, /xattr user\.one=/);
      assert.match(expected, /bad\\xffname/);
      assert.match(expected, /size=5242880 .* sparse\n/);
      assert.match(expected, /(deep){30}\/x{150}/);
    });
  },
);
