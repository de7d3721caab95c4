/**
 * Test fixtures made by the repository itself from Debian's busybox-static: a rootfs
 * directory, its layer tar (plain and gzip), an OCI image layout, an oci-archive and a
 * docker-archive, plus a three-layer image exercising whiteouts. All are deterministic
 * (fixed mtime, numeric owner 0:0, sorted names, fixed JSON) and cached under
 * `/tmp/singlet-fixtures/` (see fixture_cache.ts). Returned paths are shared between
 * tests and processes: never modify them, copy first.
 *
 * @module
 */
import { cachedFixture } from "./fixture_cache.ts";
import {
  buildImage,
  type BuiltImage,
  dockerArchive,
  type ImageRunConfig,
  ociArchive,
  writeOciLayout,
} from "./oci_writer.ts";
import { compareNames, FIXTURE_MTIME, type TarEntry, writeTar } from "./tar_writer.ts";
import { WHITEOUT_LAYERS } from "./whiteout_layers.ts";

export { FIXTURE_MTIME } from "./tar_writer.ts";
export { WHITEOUT_EXPECTED_TREE } from "./whiteout_layers.ts";

/** An OCI image layout fixture. */
export interface OciLayoutFixture {
  /** The layout directory (read-only). */
  dir: string;
  /** The tag inside it: use `oci:${dir}:${ref}`. */
  ref: string;
  /** The image manifest digest, "sha256:...". */
  manifestDigest: string;
}

/** Where the busybox binary comes from (Debian's busybox-static). */
export const BUSYBOX_BINARY = "/bin/busybox";
/** The tag of the fixture images inside their layouts. */
export const FIXTURE_REF = "latest";
/** The repo:tag recorded in the docker-archive. */
export const DOCKER_ARCHIVE_TAG = "singlet/busybox:latest";
/** The PATH in the busybox image config. */
export const FIXTURE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The runtime config of the busybox image. */
export const BUSYBOX_CONFIG: ImageRunConfig = {
  Env: [`PATH=${FIXTURE_PATH}`],
  Cmd: ["/bin/sh"],
  Labels: {
    "org.opencontainers.image.title": "singlet busybox fixture",
    "org.singlet.fixture": "busybox",
  },
};

/** This busybox build has no printenv applet; a script keeps tests' `printenv X` working. */
const PRINTENV_SCRIPT = `#!/bin/sh
# printenv for the singlet busybox fixture (this busybox has no printenv applet).
if [ $# -eq 0 ]; then exec env; fi
exec awk 'BEGIN { s = 0; for (i = 1; i < ARGC; i++) { if (ARGV[i] in ENVIRON) print ENVIRON[ARGV[i]]; else s = 1 } exit s }' "$@"
`;

const PASSWD =
  "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
const GROUP = "root:x:0:\nnobody:x:65534:\n";

async function busyboxApplets(): Promise<string[]> {
  const output = await new Deno.Command(BUSYBOX_BINARY, { args: ["--list"], stdout: "piped" })
    .output();
  if (!output.success) throw new Error(`${BUSYBOX_BINARY} --list failed`);
  return new TextDecoder().decode(output.stdout).split("\n").filter((name) =>
    name && name !== "busybox" && !name.includes("/")
  );
}

async function busyboxVersion(): Promise<string> {
  const output = await new Deno.Command(BUSYBOX_BINARY, { stdout: "piped" }).output();
  const match = /BusyBox v([0-9][^ ]*)/.exec(new TextDecoder().decode(output.stdout));
  return match?.[1] ?? "unknown";
}

/**
 * The members of the busybox rootfs, sorted by name.
 *
 * @returns Tar entries (owner 0:0, fixed mtime).
 */
async function busyboxEntries(): Promise<TarEntry[]> {
  const binary = await Deno.readFile(BUSYBOX_BINARY);
  const applets = await busyboxApplets();
  const version = await busyboxVersion();
  const entries: TarEntry[] = [];
  for (
    const dir of [
      "bin",
      "dev",
      "etc",
      "home",
      "proc",
      "root",
      "sbin",
      "sys",
      "usr",
      "usr/bin",
      "usr/sbin",
      "var",
    ]
  ) entries.push({ name: dir, type: "directory", mode: 0o755 });
  entries.push(
    { name: "tmp", type: "directory", mode: 0o1777 },
    { name: "var/tmp", type: "directory", mode: 0o1777 },
    { name: "bin/busybox", type: "file", mode: 0o755, content: binary },
    { name: "etc/passwd", type: "file", content: PASSWD },
    { name: "etc/group", type: "file", content: GROUP },
    { name: "etc/hostname", type: "file", content: "busybox\n" },
    {
      name: "etc/os-release",
      type: "file",
      content: `NAME="singlet busybox fixture"\nID=busybox\nVERSION_ID=${version}\n` +
        `PRETTY_NAME="singlet busybox fixture (BusyBox ${version})"\n`,
    },
    { name: "usr/bin/env", type: "symlink", mode: 0o777, linkname: "../../bin/busybox" },
  );
  for (const applet of applets) {
    entries.push({ name: `bin/${applet}`, type: "symlink", mode: 0o777, linkname: "busybox" });
  }
  if (!applets.includes("printenv")) {
    entries.push({ name: "bin/printenv", type: "file", mode: 0o755, content: PRINTENV_SCRIPT });
  }
  return entries.sort((a, b) => compareNames(a.name, b.name));
}

let busyboxImagePromise: Promise<BuiltImage> | undefined;

/** The busybox image in memory (only built on a cache miss). */
function busyboxImage(): Promise<BuiltImage> {
  busyboxImagePromise ??= (async () =>
    buildImage({
      layers: [writeTar(await busyboxEntries())],
      config: BUSYBOX_CONFIG,
      history: ["COPY busybox rootfs / # singlet tests/_helpers/fixtures.ts"],
    }))();
  return busyboxImagePromise;
}

async function writeFixtureFile(path: string, bytes: Uint8Array): Promise<void> {
  await Deno.writeFile(path, bytes, { mode: 0o644 });
  await Deno.chmod(path, 0o644);
}

async function run(program: string, args: string[]): Promise<void> {
  const output = await new Deno.Command(program, { args, stdout: "piped", stderr: "piped" })
    .output();
  if (!output.success) {
    throw new Error(
      `${program} ${args.join(" ")} failed: ${new TextDecoder().decode(output.stderr)}`,
    );
  }
}

/**
 * The busybox layer as an uncompressed tar: sorted names, numeric owner 0:0, fixed mtime.
 *
 * @returns Path of the tar file.
 */
export function busyboxLayerTar(): Promise<string> {
  return cachedFixture("busybox-layer.tar", async (path) => {
    await writeFixtureFile(path, (await busyboxImage()).layers[0]!.tar);
  });
}

/**
 * The busybox layer gzip-compressed (node:zlib level 9; the blob in the OCI layout).
 *
 * @returns Path of the .tar.gz file.
 */
export function busyboxLayerTarGz(): Promise<string> {
  return cachedFixture("busybox-layer.tar.gz", async (path) => {
    await writeFixtureFile(path, (await busyboxImage()).layers[0]!.blob);
  });
}

/**
 * The busybox rootfs as a directory: `/bin/busybox` and applet symlinks, `/etc/passwd`,
 * `/etc/group`, `/etc/os-release`, `/tmp` (1777), `/root`, `/home`, `/proc`, `/sys`,
 * `/dev`, `/var/tmp`, `/usr/bin`; extracted from {@linkcode busyboxLayerTar} by GNU tar,
 * so owner 0:0 (when built as root) and the fixed mtime.
 *
 * @returns Path of the rootfs directory (read-only).
 */
export function busyboxRootfs(): Promise<string> {
  return cachedFixture("busybox-rootfs", async (path) => {
    const tar = await busyboxLayerTar();
    await Deno.mkdir(path, { mode: 0o755 });
    await run("tar", ["-xpf", tar, "-C", path, "--numeric-owner"]);
    await Deno.chmod(path, 0o755);
    await Deno.utime(path, FIXTURE_MTIME, FIXTURE_MTIME);
  });
}

async function layoutFixture(name: string, image: () => Promise<BuiltImage>) {
  const dir = await cachedFixture(name, async (path) => {
    await writeOciLayout(path, await image(), FIXTURE_REF);
    await run("chmod", ["-R", "a+rX", path]);
  });
  const index = JSON.parse(await Deno.readTextFile(`${dir}/index.json`));
  return { dir, ref: FIXTURE_REF, manifestDigest: String(index.manifests[0].digest) };
}

/**
 * The busybox image as an OCI image layout: one gzip layer, config with Env PATH,
 * Cmd ["/bin/sh"], Labels, amd64/linux, tagged {@linkcode FIXTURE_REF}.
 *
 * @returns The layout directory, its ref and the manifest digest.
 */
export function busyboxOciLayout(): Promise<OciLayoutFixture> {
  return layoutFixture("busybox-oci", busyboxImage);
}

/**
 * The busybox OCI layout as a tar (for `oci-archive:FILE`).
 *
 * @returns Path of the archive.
 */
export function busyboxOciArchive(): Promise<string> {
  return cachedFixture("busybox-oci-archive.tar", async (path) => {
    await writeFixtureFile(path, ociArchive(await busyboxImage(), FIXTURE_REF));
  });
}

/**
 * The busybox image in `docker save` format (for `docker-archive:FILE`), tagged
 * {@linkcode DOCKER_ARCHIVE_TAG}; same config and manifest digest inputs as the layout.
 *
 * @returns Path of the archive.
 */
export function busyboxDockerArchive(): Promise<string> {
  return cachedFixture("busybox-docker-archive.tar", async (path) => {
    await writeFixtureFile(path, dockerArchive(await busyboxImage(), DOCKER_ARCHIVE_TAG));
  });
}

let whiteoutImagePromise: Promise<BuiltImage> | undefined;

function whiteoutImage(): Promise<BuiltImage> {
  whiteoutImagePromise ??= Promise.resolve(buildImage({
    layers: WHITEOUT_LAYERS.map((layer) => writeTar(layer)),
    config: { Env: [`PATH=${FIXTURE_PATH}`], Labels: { "org.singlet.fixture": "whiteout" } },
    history: ["layer 1: base tree", "layer 2: whiteouts and replacements", "layer 3: re-adds"],
  }));
  return whiteoutImagePromise;
}

/**
 * A three-layer OCI image exercising layer semantics: file whiteouts, an opaque directory,
 * file->directory and directory->file replacement, a hard link, a symlink, a file re-added
 * after a whiteout, names with spaces and a non-UTF-8 byte, an empty, a 131072-byte and a
 * multi-block file, and a `user.test` xattr (PAX). The expected merged tree is
 * {@linkcode WHITEOUT_EXPECTED_TREE} (compare with `describeTree()` from tree.ts).
 *
 * @returns The layout directory, its ref and the manifest digest.
 */
export function whiteoutOciLayout(): Promise<OciLayoutFixture> {
  return layoutFixture("whiteout-oci", whiteoutImage);
}
