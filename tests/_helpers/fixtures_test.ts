import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import {
  BUSYBOX_CONFIG,
  busyboxDockerArchive,
  busyboxLayerTar,
  busyboxLayerTarGz,
  busyboxOciArchive,
  busyboxOciLayout,
  busyboxRootfs,
  FIXTURE_MTIME,
  WHITEOUT_EXPECTED_TREE,
  whiteoutOciLayout,
} from "./fixtures.ts";
import { describeTree } from "./tree.ts";
import { findTool, testWithTools } from "./tools.ts";
import { sha256Digest } from "./oci_writer.ts";

const decoder = new TextDecoder();

async function capture(program: string, args: string[]): Promise<string> {
  const output = await new Deno.Command(program, { args, stdout: "piped", stderr: "piped" })
    .output();
  assert.equal(
    output.code,
    0,
    `${program} ${args.join(" ")} failed: ${decoder.decode(output.stderr)}`,
  );
  return decoder.decode(output.stdout);
}

const REQUIRED_COMMANDS = [
  "sh",
  "ls",
  "cat",
  "echo",
  "id",
  "env",
  "true",
  "false",
  "sleep",
  "pwd",
  "hostname",
  "mount",
  "touch",
  "mkdir",
  "rm",
  "stat",
  "sha256sum",
  "find",
  "tar",
  "grep",
  "sed",
  "head",
  "wc",
  "uname",
  "kill",
  "printenv",
  "test",
  "ps",
  "whoami",
];

Deno.test("the busybox rootfs holds busybox, its commands and a minimal /etc, owned by root with the fixed mtime", async () => {
  const rootfs = await busyboxRootfs();
  for (const command of REQUIRED_COMMANDS) {
    const info = await Deno.stat(`${rootfs}/bin/${command}`);
    assert.ok(info.isFile && ((info.mode ?? 0) & 0o111) !== 0, `/bin/${command} is executable`);
  }
  assert.match(await Deno.readTextFile(`${rootfs}/etc/passwd`), /^root:x:0:0:/);
  assert.match(await Deno.readTextFile(`${rootfs}/etc/group`), /^root:x:0:/);
  assert.match(await Deno.readTextFile(`${rootfs}/etc/os-release`), /^ID=busybox$/m);
  const expectedModes: Record<string, number> = {
    tmp: 0o1777,
    "var/tmp": 0o1777,
    root: 0o755,
    home: 0o755,
    proc: 0o755,
    sys: 0o755,
    dev: 0o755,
    "usr/bin": 0o755,
  };
  for (const [dir, mode] of Object.entries(expectedModes)) {
    const info = await Deno.stat(`${rootfs}/${dir}`);
    assert.ok(info.isDirectory, `/${dir} is a directory`);
    assert.equal((info.mode ?? 0) & 0o7777, mode, `/${dir} mode`);
    assert.equal(info.mtime?.getTime(), FIXTURE_MTIME * 1000, `/${dir} mtime`);
    if (Deno.uid() === 0) assert.deepEqual([info.uid, info.gid], [0, 0], `/${dir} owner`);
  }
  assert.equal(((await Deno.stat(rootfs)).mode ?? 0) & 0o777, 0o755, "others can read the cache");
});

testWithTools(
  "commands in the busybox rootfs run under chroot, printenv included",
  ["chroot"],
  async () => {
    const rootfs = await busyboxRootfs();
    const output = await new Deno.Command(findTool("chroot")!, {
      args: [rootfs, "/bin/sh", "-c", "id -u; printenv GREETING; whoami; ls /usr/bin/env"],
      env: { GREETING: "hello", PATH: "/bin:/usr/bin" },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(output.code, 0, decoder.decode(output.stderr));
    assert.equal(decoder.decode(output.stdout), "0\nhello\nroot\n/usr/bin/env\n");
  },
  { root: true },
);

testWithTools(
  "the busybox layer tar lists like GNU tar's deterministic archive of the same rootfs",
  ["tar"],
  async () => {
    const ours = await capture("tar", ["-tvf", await busyboxLayerTar(), "--numeric-owner"]);
    const rootfs = await busyboxRootfs();
    const gnu = await Deno.makeTempFile({ suffix: ".tar" });
    try {
      await capture("tar", [
        "-cf",
        gnu,
        "-C",
        rootfs,
        "--sort=name",
        `--mtime=@${FIXTURE_MTIME}`,
        "--owner=0",
        "--group=0",
        "--numeric-owner",
        "--format=pax",
        "--pax-option=delete=atime,delete=ctime",
        ...[...Deno.readDirSync(rootfs)].map((entry) => entry.name).sort(),
      ]);
      const theirs = await capture("tar", ["-tvf", gnu, "--numeric-owner"]);
      assert.equal(ours, theirs);
      assert.match(ours, /^lrwxrwxrwx 0\/0 +0 2023-11-14 22:13 bin\/sh -> busybox$/m);
    } finally {
      await Deno.remove(gnu);
    }
  },
);

Deno.test("the gzip layer decompresses to the tar layer and is the layout's layer blob", async () => {
  const tar = await Deno.readFile(await busyboxLayerTar());
  const gz = await Deno.readFile(await busyboxLayerTarGz());
  assert.deepEqual(new Uint8Array(gunzipSync(gz)), tar);
  const { dir, manifestDigest } = await busyboxOciLayout();
  const manifest = JSON.parse(
    await Deno.readTextFile(`${dir}/blobs/sha256/${manifestDigest.slice(7)}`),
  );
  assert.equal(manifest.layers[0].digest, sha256Digest(gz));
  const config = JSON.parse(
    await Deno.readTextFile(`${dir}/blobs/sha256/${manifest.config.digest.slice(7)}`),
  );
  assert.deepEqual(config.rootfs.diff_ids, [sha256Digest(tar)]);
});

Deno.test("fixtures are cached: a second call returns the same path and bytes", async () => {
  const first = await busyboxOciLayout();
  const again = await busyboxOciLayout();
  assert.deepEqual(again, first);
  assert.match(first.dir, /^\/tmp\/singlet-fixtures\/v1-[0-9a-f]{16}\/busybox-oci$/);
});

testWithTools(
  "skopeo reads the busybox image from the OCI layout, the oci-archive and the docker-archive",
  ["skopeo"],
  async () => {
    const { dir, ref, manifestDigest } = await busyboxOciLayout();
    const layout = JSON.parse(await capture("skopeo", ["inspect", `oci:${dir}:${ref}`]));
    assert.equal(layout.Digest, manifestDigest);
    assert.equal(layout.Architecture, "amd64");
    assert.equal(layout.Os, "linux");
    assert.deepEqual(layout.Labels, BUSYBOX_CONFIG.Labels);
    const archive = JSON.parse(
      await capture("skopeo", ["inspect", `oci-archive:${await busyboxOciArchive()}`]),
    );
    assert.equal(archive.Digest, manifestDigest);
    const config = JSON.parse(
      await capture("skopeo", ["inspect", "--config", `oci:${dir}:${ref}`]),
    );
    assert.deepEqual(config.config.Cmd, ["/bin/sh"]);
    const docker = await busyboxDockerArchive();
    const dockerConfig = JSON.parse(
      await capture("skopeo", ["inspect", "--config", `docker-archive:${docker}`]),
    );
    assert.deepEqual(dockerConfig, config);
  },
);

testWithTools(
  "umoci unpacks the busybox layout into the same tree as the rootfs fixture",
  ["umoci"],
  async () => {
    const { dir, ref } = await busyboxOciLayout();
    const bundle = await Deno.makeTempDir();
    try {
      await capture("umoci", ["unpack", "--rootless", "--image", `${dir}:${ref}`, `${bundle}/b`]);
      assert.equal(
        await describeTree(`${bundle}/b/rootfs`),
        await describeTree(await busyboxRootfs()),
      );
    } finally {
      await Deno.remove(bundle, { recursive: true });
    }
  },
);

testWithTools(
  "umoci applies the whiteout image's three layers into the documented expected tree",
  ["umoci", "getfattr"],
  async () => {
    const { dir, ref, manifestDigest } = await whiteoutOciLayout();
    const manifest = JSON.parse(
      await Deno.readTextFile(`${dir}/blobs/sha256/${manifestDigest.slice(7)}`),
    );
    assert.equal(manifest.layers.length, 3);
    const bundle = await Deno.makeTempDir();
    try {
      await capture("umoci", ["unpack", "--rootless", "--image", `${dir}:${ref}`, `${bundle}/b`]);
      assert.equal(await describeTree(`${bundle}/b/rootfs`), WHITEOUT_EXPECTED_TREE);
    } finally {
      await Deno.remove(bundle, { recursive: true });
    }
  },
);

Deno.test("two processes building the fixtures from scratch at once get the same bytes as the cache", async () => {
  const cacheRoot = await Deno.makeTempDir({ prefix: "singlet-fixture-rebuild-" });
  try {
    const script = new URL("./testdata/print_fixture_digests.ts", import.meta.url).pathname;
    const build = () =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-read",
          "--allow-write",
          "--allow-run",
          "--allow-env",
          "--allow-sys",
          script,
        ],
        env: { SINGLET_FIXTURE_CACHE: cacheRoot },
        stdout: "piped",
        stderr: "piped",
      }).output();
    const outputs = await Promise.all([build(), build()]);
    const results = outputs.map((output) => {
      assert.equal(output.code, 0, decoder.decode(output.stderr));
      return JSON.parse(decoder.decode(output.stdout));
    });
    assert.deepEqual(results[0], results[1]);
    const sha = async (path: string) => sha256Digest(await Deno.readFile(path)).slice(7);
    assert.deepEqual(
      { ...results[0], rootfs: await describeTree(results[0].rootfs) },
      {
        layout: (await busyboxOciLayout()).manifestDigest,
        whiteout: (await whiteoutOciLayout()).manifestDigest,
        tar: await sha(await busyboxLayerTar()),
        gz: await sha(await busyboxLayerTarGz()),
        ociArchive: await sha(await busyboxOciArchive()),
        dockerArchive: await sha(await busyboxDockerArchive()),
        rootfs: await describeTree(await busyboxRootfs()),
      },
    );
    const cacheDir = results[0].rootfs.replace(/\/busybox-rootfs$/, "");
    const leftovers = [...Deno.readDirSync(cacheDir)].filter((e) => e.name.startsWith(".tmp-"));
    assert.deepEqual(leftovers, [], "no half-built fixture is left behind");
  } finally {
    await Deno.remove(cacheRoot, { recursive: true });
  }
});
