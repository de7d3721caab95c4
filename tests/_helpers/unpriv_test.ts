import assert from "node:assert/strict";
import {
  busyboxOciLayout,
  busyboxRootfs,
  WHITEOUT_EXPECTED_TREE,
  whiteoutOciLayout,
} from "./fixtures.ts";
import { describeTree } from "./tree.ts";
import { SINGLET_BIN } from "./singlet.ts";
import { testWithTools } from "./tools.ts";
import { NOSUB_USER, runAs, SUBID_COUNT, SUBID_USER, testUser } from "./unpriv.ts";

const TOOLS = ["setpriv", "useradd", "getent"];

function rangesOf(file: string, name: string): string[] {
  return Deno.readTextFileSync(file).split("\n").filter((line) => line.startsWith(`${name}:`));
}

testWithTools(
  "runAs runs a command as the test user, not root, with a clean environment",
  TOOLS,
  async () => {
    const user = await testUser();
    assert.equal(user.name, SUBID_USER);
    assert.notEqual(user.uid, 0);
    assert.notEqual(user.uid, Deno.uid());
    const result = await runAs(user, ["sh", "-c", "id -u; id -g; echo $HOME; env | sort"], {
      env: { EXTRA: "yes" },
    });
    assert.equal(result.code, 0, result.stderr);
    const [uid, gid, home, ...env] = result.stdout.trim().split("\n");
    assert.equal(Number(uid), user.uid);
    assert.equal(Number(gid), user.gid);
    assert.equal(home, user.home);
    assert.deepEqual(env.map((line) => line.split("=")[0]), [
      "DENO_DIR",
      "EXTRA",
      "HOME",
      "LOGNAME",
      "PATH",
      "PWD",
      "USER",
      "XDG_RUNTIME_DIR",
    ]);
    assert.ok(env.includes(`XDG_RUNTIME_DIR=/run/user/${user.uid}`));
    const stat = await Deno.stat(`/run/user/${user.uid}`);
    assert.equal(stat.uid, user.uid);
  },
  { root: true },
);

testWithTools(
  "runAs passes stdin, the working directory and the exit code through",
  TOOLS,
  async () => {
    const user = await testUser();
    const echoed = await runAs(user, ["sh", "-c", "pwd; cat; exit 7"], {
      cwd: "/tmp",
      stdin: "fed on stdin",
    });
    assert.deepEqual(echoed, { code: 7, stdout: "/tmp\nfed on stdin", stderr: "" });
    const killed = await runAs(user, ["sleep", "30"], { timeoutMs: 100 });
    assert.equal(killed.code, 137, "a command past its timeout is killed");
    const unset = await runAs(user, ["sh", "-c", 'echo "${XDG_RUNTIME_DIR-unset}"'], {
      unset: ["XDG_RUNTIME_DIR"],
    });
    assert.equal(unset.stdout, "unset\n");
    const denied = await runAs(user, ["cat", "/etc/shadow"]);
    assert.notEqual(denied.code, 0, "the test user has no root privileges");
    assert.match(denied.stderr, /Permission denied/);
  },
  { root: true },
);

testWithTools(
  "the subid test user owns /etc/subuid and /etc/subgid ranges that newuidmap applies",
  [...TOOLS, "unshare", "newuidmap"],
  async () => {
    const user = await testUser({ subids: true });
    const [subuid] = rangesOf("/etc/subuid", user.name);
    const [subgid] = rangesOf("/etc/subgid", user.name);
    assert.match(subuid ?? "", new RegExp(`^${user.name}:\\d+:${SUBID_COUNT}$`));
    assert.match(subgid ?? "", new RegExp(`^${user.name}:\\d+:${SUBID_COUNT}$`));
    assert.equal(rangesOf("/etc/subuid", user.name).length, 1, "one range, however often called");
    await testUser({ subids: true });
    assert.equal(rangesOf("/etc/subuid", user.name).length, 1);
    const first = subuid!.split(":")[1];
    const mapped = await runAs(user, [
      "unshare",
      "--user",
      "--map-root-user",
      "--map-auto",
      "cat",
      "/proc/self/uid_map",
    ]);
    assert.equal(mapped.code, 0, mapped.stderr);
    assert.deepEqual(mapped.stdout.trim().split("\n").map((line) => line.trim().split(/\s+/)), [
      ["0", String(user.uid), "1"],
      ["1", first, String(SUBID_COUNT - 1)],
    ]);
  },
  { root: true },
);

testWithTools(
  "the nosub test user has no subordinate ids, so automatic id mapping fails for it",
  [...TOOLS, "unshare"],
  async () => {
    const user = await testUser({ subids: false });
    assert.equal(user.name, NOSUB_USER);
    assert.notEqual(user.uid, (await testUser()).uid);
    assert.deepEqual(rangesOf("/etc/subuid", user.name), []);
    assert.deepEqual(rangesOf("/etc/subgid", user.name), []);
    const mapped = await runAs(user, [
      "unshare",
      "--user",
      "--map-root-user",
      "--map-auto",
      "true",
    ]);
    assert.notEqual(mapped.code, 0);
    assert.match(mapped.stderr, /no line matching user "singlet-nosub" in \/etc\/subuid/);
    const single = await runAs(user, ["unshare", "--user", "--map-root-user", "id", "-u"]);
    assert.deepEqual([single.code, single.stdout], [0, "0\n"], single.stderr);
  },
  { root: true },
);

testWithTools(
  "the test user can use /dev/fuse, read the fixtures and run bin/singlet",
  TOOLS,
  async () => {
    const user = await testUser();
    const fuse = await runAs(user, ["sh", "-c", "test -r /dev/fuse && test -w /dev/fuse"]);
    assert.equal(fuse.code, 0, "/dev/fuse is 0666 as on ordinary hosts");
    const rootfs = await busyboxRootfs();
    const layout = await busyboxOciLayout();
    const read = await runAs(user, [
      "sh",
      "-c",
      `cat "$1/etc/os-release" "$2/index.json"`,
      "sh",
      rootfs,
      layout.dir,
    ]);
    assert.equal(read.code, 0, read.stderr);
    assert.match(read.stdout, /ID=busybox/);
    const version = await runAs(user, [SINGLET_BIN, "version"]);
    assert.equal(version.code, 0, version.stderr);
    assert.match(version.stdout, /^singlet version \d+\.\d+\.\d+/);
  },
  { root: true },
);

testWithTools(
  "the test user unpacks the whiteout image with umoci --rootless into the expected tree",
  [...TOOLS, "umoci", "getfattr"],
  async () => {
    const user = await testUser();
    const { dir, ref } = await whiteoutOciLayout();
    const work = await Deno.makeTempDir({ prefix: "singlet-unpriv-umoci-" });
    try {
      await Deno.chown(work, user.uid, user.gid);
      const unpacked = await runAs(user, [
        "umoci",
        "unpack",
        "--rootless",
        "--image",
        `${dir}:${ref}`,
        `${work}/bundle`,
      ]);
      assert.equal(unpacked.code, 0, unpacked.stderr);
      const rootfs = `${work}/bundle/rootfs`;
      assert.equal(await describeTree(rootfs), WHITEOUT_EXPECTED_TREE);
      assert.equal((await Deno.stat(`${rootfs}/a/keep`)).uid, user.uid);
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  },
  { root: true },
);
