import assert from "node:assert/strict";
import { bindMount, systemMounts, tmpfsMount } from "./bundle.ts";
import { type MountPoint, mountPointCheck, mountPoints } from "./mounts.ts";

const SYSTEM = systemMounts({ root: false, ipc: false, net: false, ttyGid: 5, skip: new Set() });
const KINDS = new Map([["/sys", true], ["/dev/shm", true], ["/s/etc/passwd", false]]);

Deno.test("mountPoints lists what no earlier mount provides, then the working directory", () => {
  const home = Deno.makeTempDirSync();
  const file = `${home}/file`;
  Deno.writeTextFileSync(file, "");
  const mounts = [
    ...SYSTEM,
    bindMount(home, "/home/alice"),
    bindMount("/tmp", "/tmp"),
    bindMount(home, "/tmp/x"), // in the bound host /tmp: not the image's business
    bindMount(file, "/etc/motd"),
    bindMount("/s/etc/passwd", "/etc/passwd", true),
    tmpfsMount("/scratch"),
  ];
  const points = mountPoints(mounts, "/home/alice/work", KINDS);
  Deno.removeSync(home, { recursive: true });
  assert.deepEqual(points, [
    { path: "proc", directory: true, exact: false },
    { path: "sys", directory: true, exact: false },
    { path: "dev", directory: true, exact: false },
    { path: "home/alice", directory: true, exact: false },
    { path: "tmp", directory: true, exact: false },
    { path: "etc/motd", directory: false, exact: false },
    { path: "etc/passwd", directory: false, exact: false },
    { path: "scratch", directory: true, exact: false },
  ]);
});

Deno.test("mountPoints counts the working directory when no mount provides it", () => {
  const points = mountPoints(SYSTEM, "/work/proj/", KINDS);
  assert.deepEqual(points?.at(-1), { path: "work/proj", directory: true, exact: false });
});

Deno.test("a mount point under a later mount must exist as it is", () => {
  const points = mountPoints(
    [...SYSTEM, tmpfsMount("/opt/a/b"), tmpfsMount("/opt")],
    "/",
    KINDS,
  );
  assert.deepEqual(points?.filter((p) => p.path.startsWith("opt")), [
    { path: "opt/a/b", directory: true, exact: true },
    { path: "opt", directory: true, exact: false },
  ]);
});

Deno.test("mountPoints gives up where the runtime would write into the image anyway", () => {
  const noDev = systemMounts({
    root: false,
    ipc: false,
    net: false,
    ttyGid: 5,
    skip: new Set(["dev"]),
  });
  assert.equal(mountPoints(noDev, "/tmp", KINDS), undefined, "no /dev: device nodes");
  assert.equal(mountPoints(SYSTEM, undefined, KINDS), undefined, "working directory unknown");
  assert.equal(mountPoints([...SYSTEM, tmpfsMount("/a/../b")], "/", KINDS), undefined);
  assert.equal(mountPoints([...SYSTEM, tmpfsMount("/")], "/tmp", KINDS), undefined);
  assert.equal(
    mountPoints([...SYSTEM, bindMount("/no/such/source", "/data")], "/tmp", KINDS),
    undefined,
    "a bind source that cannot be examined",
  );
});

/** Run the check against a directory; returns [ok, tmpfs directories]. */
async function check(lower: string, points: MountPoint[]): Promise<[boolean, string[]]> {
  const script = `${mountPointCheck(lower, points)}\necho "ok=$singlet_ok"\n` +
    'for d; do echo "tmpfs=$d"; done';
  const out = await new Deno.Command("sh", { args: ["-c", script], stdout: "piped" }).output();
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  return [
    lines.includes("ok=1"),
    lines.filter((l) => l.startsWith("tmpfs=")).map((l) => l.slice(6)),
  ];
}

function dir(path: string): MountPoint {
  return { path, directory: true, exact: false };
}

Deno.test("the mount-point check accepts an image with everything, of the right kinds", async () => {
  const lower = await Deno.makeTempDir();
  for (const d of ["proc", "sys", "dev", "tmp", "etc", "home", "root", "it's [a] *"]) {
    await Deno.mkdir(`${lower}/${d}`);
  }
  await Deno.writeTextFile(`${lower}/etc/hosts`, "");
  const hosts = { path: "etc/hosts", directory: false, exact: false };
  assert.deepEqual(
    await check(lower, [
      dir("proc"),
      dir("sys"),
      dir("tmp"),
      dir("root"),
      dir("it's [a] *"),
      hosts,
    ]),
    [true, []],
  );
  // a directory where a file is bound, a file where a directory is
  assert.deepEqual(await check(lower, [dir("etc/hosts")]), [false, []]);
  assert.deepEqual(await check(lower, [{ ...hosts, path: "etc" }]), [false, []]);
  await Deno.remove(lower, { recursive: true });
});

Deno.test("the mount-point check puts a tmpfs only on an empty directory", async () => {
  const lower = await Deno.makeTempDir();
  await Deno.mkdir(`${lower}/home`);
  await Deno.mkdir(`${lower}/etc`);
  await Deno.writeTextFile(`${lower}/etc/hosts`, "");
  await Deno.mkdir(`${lower}/.singularity.d/libs`, { recursive: true });
  const lib = { path: ".singularity.d/libs/libcuda.so.1", directory: false, exact: false };
  assert.deepEqual(
    await check(lower, [dir("home/alice"), dir("home/bob/deep"), lib]),
    [true, ["home", ".singularity.d/libs"]],
  );
  await Deno.mkdir(`${lower}/it's [a] *`);
  assert.deepEqual(await check(lower, [dir("it's [a] */x")]), [true, ["it's [a] *"]]);
  // missing at the top (the root is never covered), or in a directory with something in it
  assert.deepEqual(await check(lower, [dir("work/proj")]), [false, []]);
  assert.deepEqual(await check(lower, [dir("etc/ssl")]), [false, []]);
  // a directory holding only a dot file is not empty
  await Deno.writeTextFile(`${lower}/.singularity.d/libs/.keep`, "");
  assert.deepEqual(await check(lower, [lib]), [false, []]);
  // under a file
  assert.deepEqual(await check(lower, [dir("etc/hosts/x")]), [false, []]);
  // where a later mount lies above it
  assert.deepEqual(await check(lower, [{ ...dir("home/alice"), exact: true }]), [false, []]);
  await Deno.remove(lower, { recursive: true });
});

Deno.test("the mount-point check refuses any symbolic link on the way", async () => {
  const lower = await Deno.makeTempDir();
  await Deno.mkdir(`${lower}/etc`);
  await Deno.mkdir(`${lower}/run`);
  await Deno.mkdir(`${lower}/data`);
  await Deno.writeTextFile(`${lower}/run/resolv.conf`, "");
  await Deno.symlink("../run/resolv.conf", `${lower}/etc/resolv.conf`);
  await Deno.symlink("data", `${lower}/data-link`);
  await Deno.symlink("nowhere", `${lower}/empty-parent-link`);
  const resolv = { path: "etc/resolv.conf", directory: false, exact: false };
  assert.deepEqual(await check(lower, [resolv]), [false, []]);
  assert.deepEqual(await check(lower, [dir("data-link")]), [false, []]);
  assert.deepEqual(await check(lower, [dir("data-link/x")]), [false, []]);
  assert.deepEqual(await check(lower, [dir("empty-parent-link/x")]), [false, []]);
  assert.deepEqual(await check(lower, [dir("data"), dir("data/x")]), [true, ["data"]]);
  await Deno.remove(lower, { recursive: true });
});
