/**
 * Extended attributes of directories survive packing: `squashfs pack DIR` and
 * `build out.sif SANDBOX` read them with one getfattr run (Deno has no getxattr), for
 * files, directories and symlinks, in the user, trusted and security namespaces. Checked
 * through unsquashfs extraction, squashfuse, the kernel and getfattr dumps.
 */
import assert from "node:assert/strict";
import { testWithTools } from "../_helpers/tools.ts";
import { runSinglet } from "../_helpers/singlet.ts";
import { busyboxDockerArchive } from "../_helpers/fixtures.ts";

async function sh(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

/** A file capability (CAP_NET_RAW permitted), the VFS v2 format the kernel validates. */
const CAPABILITY = "0x0100000200200000000000000000000000000000";

/** Give the tree under `root` attributes on every kind of entry that can carry them. */
async function decorate(root: string, paths: { file: string; dir: string; link: string }) {
  await sh("setfattr", ["-n", "user.comment", "-v", "a file", `${root}/${paths.file}`]);
  await sh("setfattr", ["-n", "user.empty", `${root}/${paths.file}`]);
  await sh("setfattr", ["-n", "security.capability", "-v", CAPABILITY, `${root}/${paths.file}`]);
  await sh("setfattr", ["-n", "trusted.overlay.opaque", "-v", "y", `${root}/${paths.dir}`]);
  await sh("setfattr", ["-n", "user.dir", "-v", "0x00ff0a", `${root}/${paths.dir}`]);
  // Linux allows user.* only on files and directories: a symlink's own is trusted.*.
  await sh("setfattr", ["-h", "-n", "trusted.link", "-v", "mine", `${root}/${paths.link}`]);
}

/** getfattr of a tree (symlinks not followed), paths relative, blocks sorted. */
async function dump(root: string): Promise<string> {
  const text = await sh("getfattr", [
    "-R",
    "-h",
    "-P",
    "-d",
    "-m",
    "-",
    "-e",
    "hex",
    "--absolute-names",
    root,
  ]);
  return text.replaceAll(`# file: ${root}`, "# file: .").split("\n\n").filter((b) => b.trim())
    // security.selinux and the like would come from the host, not from the image.
    .sort().join("\n\n");
}

testWithTools(
  "squashfs pack keeps a directory's user, trusted and security xattrs on files, directories and symlinks",
  ["setfattr", "getfattr", "unsquashfs", "mksquashfs", "squashfuse", "fusermount", "mount"],
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "singlet-xattrs-" });
    try {
      const src = `${dir}/src`;
      await Deno.mkdir(`${src}/sub/deeper`, { recursive: true });
      await Deno.writeTextFile(`${src}/sub/file`, "data\n");
      await Deno.writeTextFile(`${src}/plain`, "no attributes\n");
      await Deno.symlink("file", `${src}/sub/link`);
      await decorate(src, { file: "sub/file", dir: "sub/deeper", link: "sub/link" });
      await sh("setfattr", ["-n", "user.root", "-v", "top", src]);
      const expected = await dump(src);
      assert.equal(expected.split("# file:").length - 1, 4, expected);
      // squashfuse 0.1.105 swaps the trusted and security prefixes and fails on empty
      // values, for mksquashfs's images too: through it, ours must look like mksquashfs's.
      const mnt = `${dir}/mnt`;
      await Deno.mkdir(mnt);
      await sh("mksquashfs", [src, `${dir}/mk.sqfs`, "-noappend", "-quiet"]);
      await sh("squashfuse", [`${dir}/mk.sqfs`, mnt]);
      let throughFuse: string;
      try {
        throughFuse = await dump(mnt);
      } finally {
        await sh("fusermount", ["-u", mnt]);
      }

      for (const comp of ["gzip", "lz4"]) {
        const image = `${dir}/${comp}.sqfs`;
        const r = await runSinglet(["squashfs", "pack", "--comp", comp, src, image]);
        assert.equal(r.code, 0, r.stderr);
        assert.doesNotMatch(r.stderr, /WARNING/);
        await sh("unsquashfs", ["-q", "-n", "-d", `${dir}/x-${comp}`, image]);
        assert.equal(await dump(`${dir}/x-${comp}`), expected, `unsquashfs, ${comp}`);
        await sh("squashfuse", [image, mnt]);
        try {
          assert.equal(await dump(mnt), throughFuse, `squashfuse, ${comp}`);
        } finally {
          await sh("fusermount", ["-u", mnt]);
        }
        await sh("mount", ["-t", "squashfs", "-o", "loop,ro", image, mnt]);
        try {
          assert.equal(await dump(mnt), expected, `kernel, ${comp}`);
        } finally {
          await sh("umount", [mnt]);
        }
      }

      const none = await runSinglet(["squashfs", "pack", "--no-xattrs", src, `${dir}/none.sqfs`]);
      assert.equal(none.code, 0, none.stderr);
      assert.match(await sh("unsquashfs", ["-s", `${dir}/none.sqfs`]), /Xattrs are not stored/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
  { root: true },
);

testWithTools(
  "build keeps a sandbox's xattrs in the SIF and back in a sandbox built from it",
  ["setfattr", "getfattr", "siftool", "unsquashfs", "runc"],
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "singlet-xattrs-build-" });
    try {
      let r = await runSinglet([
        "build",
        "--sandbox",
        "sb",
        `docker-archive:${await busyboxDockerArchive()}`,
      ], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      await decorate(`${dir}/sb`, { file: "bin/busybox", dir: "etc", link: "bin/sh" });
      const expected = await dump(`${dir}/sb`);
      r = await runSinglet(["build", "sb.sif", "sb"], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      // The SIF's root partition, extracted by unsquashfs.
      const list = await sh("siftool", ["list", `${dir}/sb.sif`]);
      const id = /^(\d+) .*FS \(Squashfs/m.exec(list)![1]!;
      const offset = /Offset: +(\d+)/.exec(await sh("siftool", ["info", id, `${dir}/sb.sif`]))![1]!;
      await sh("unsquashfs", ["-q", "-n", "-o", offset, "-d", `${dir}/x`, `${dir}/sb.sif`]);
      const inSif = await dump(`${dir}/x`);
      for (const line of ["user.comment=0x612066696c65", `security.capability=${CAPABILITY}`]) {
        assert.ok(inSif.includes(line), `${line} missing from the SIF:\n${inSif}`);
      }
      assert.equal(inSif, expected);
      // And back: SIF -> sandbox sets them again.
      r = await runSinglet(["build", "--sandbox", "back", "sb.sif"], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await dump(`${dir}/back`), expected);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
  { root: true },
);
