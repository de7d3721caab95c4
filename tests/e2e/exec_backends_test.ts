/**
 * Each fallback forced and checked: crun refused -> runc with a note (once), kernel overlay
 * -> fuse-overlayfs, and `--overlay` directories that keep what the container writes.
 */
import assert from "node:assert/strict";
import { runSinglet, SINGLET_BIN } from "../_helpers/singlet.ts";
import { runAs, testUser } from "../_helpers/unpriv.ts";
import { testWithTools } from "../_helpers/tools.ts";
import { execImages } from "./_exec_images.ts";

const TOOLS = ["runc", "unshare", "nsenter", "squashfuse_ll", "mksquashfs", "siftool"];

testWithTools(
  "the runtime is crun where it works, else runc with a note once",
  [...TOOLS, "crun"],
  async () => {
    const { sif } = await execImages();
    const stateDir = await Deno.makeTempDir({ prefix: "singlet-state-" });
    const env = { SINGLET_STATEDIR: stateDir };
    const first = await runSinglet(["-d", "exec", sif, "true"], { env, cwd: "/tmp" });
    assert.equal(first.code, 0, first.stderr);
    const chosen = /DEBUG:\s+runtime (crun|runc)/.exec(first.stderr)?.[1];
    assert.ok(chosen, first.stderr);
    const again = await runSinglet(["exec", sif, "true"], { env, cwd: "/tmp" });
    assert.equal(again.code, 0, again.stderr);
    if (chosen === "runc") {
      assert.match(first.stderr, /INFO: +crun cannot run containers here \(.+\); using runc/);
      assert.doesNotMatch(again.stderr, /crun cannot run/, "the verdict is cached: no note again");
      const forced = await runSinglet(["exec", "--runtime", "crun", sif, "true"], {
        env,
        cwd: "/tmp",
      });
      assert.notEqual(forced.code, 0, "--runtime crun means crun, without fallback");
    }
    assert.equal((await runSinglet(["exec", "--runtime", "runc", sif, "true"], { env })).code, 0);
    await Deno.remove(stateDir, { recursive: true });
  },
);

for (const asUser of [false, true]) {
  const who = asUser ? "an unprivileged user" : "root";
  const run = async (args: string[], env: Record<string, string> = {}) => {
    if (!asUser) return await runSinglet(args, { env, cwd: "/tmp" });
    const user = await testUser({ subids: true });
    return await runAs(user, [SINGLET_BIN, ...args], { env, cwd: "/tmp" });
  };

  testWithTools(
    `fuse-overlayfs stands in for the kernel overlay, files owned by others included (${who})`,
    [...TOOLS, "fuse-overlayfs"],
    async () => {
      const { sif } = await execImages();
      // As a user the process is not the owner of the image's root-owned files: the
      // kernel then consults ACLs, which fuse-overlayfs over squashfuse used to answer
      // with EOPNOTSUPP (runc: "stat /bin/sh: operation not supported").
      const result = await run([
        "exec",
        "--writable-tmpfs",
        sif,
        "sh",
        "-c",
        "touch /shared/f && cat /etc/passwd >/dev/null && grep ' / / ' /proc/self/mountinfo",
      ], {
        SINGLET_OVERLAY_DRIVER: "fuse-overlayfs",
      });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, / - fuse\.fuse-overlayfs /);
    },
  );

  testWithTools(`--overlay DIR keeps what the container writes (${who})`, TOOLS, async () => {
    const { sif } = await execImages();
    const dir = await Deno.makeTempDir({ prefix: "singlet-overlay-" });
    if (asUser) {
      const user = await testUser({ subids: true });
      await Deno.chown(dir, user.uid, user.gid);
    }
    const first = await run([
      "exec",
      "--overlay",
      dir,
      sif,
      "sh",
      "-c",
      "echo kept > /shared/note",
    ]);
    assert.equal(first.code, 0, first.stderr);
    const second = await run(["exec", "--overlay", dir, sif, "cat", "/shared/note"]);
    assert.equal(second.stdout, "kept\n", second.stderr);
    const without = await run(["exec", sif, "cat", "/shared/note"]);
    assert.notEqual(without.code, 0);
    await Deno.remove(dir, { recursive: true });
  });
}

testWithTools(
  "--overlay DIR as a user: a root-owned 0777 directory works; upper/ and work/ left by root give one line saying what to do",
  TOOLS,
  async () => {
    const { sif } = await execImages();
    const user = await testUser({ subids: true });
    const asUser = (dir: string, script: string) =>
      runAs(user, [SINGLET_BIN, "exec", "--overlay", dir, sif, "sh", "-c", script], {
        cwd: "/tmp",
      });
    const shared = await Deno.makeTempDir({ prefix: "singlet-overlay-" });
    await Deno.chmod(shared, 0o777);
    const fresh = await asUser(shared, "echo kept > /shared/note && cat /shared/note");
    assert.equal(fresh.code, 0, fresh.stderr);
    assert.equal(fresh.stdout, "kept\n");

    const rootUsed = await Deno.makeTempDir({ prefix: "singlet-overlay-" });
    await Deno.chmod(rootUsed, 0o777);
    const root = await runSinglet(["exec", "--overlay", rootUsed, sif, "true"], { cwd: "/tmp" });
    assert.equal(root.code, 0, root.stderr);
    const refused = await asUser(rootUsed, "echo never");
    assert.equal(refused.code, 255, refused.stderr);
    assert.equal(refused.stdout, "");
    assert.match(
      refused.stderr,
      /^FATAL: +Cannot use overlay "[^"]+": its upper\/ directory belongs to root, not to you, so it cannot be written\n.*hint.*a directory of your own/s,
    );
    assert.doesNotMatch(refused.stderr, /read-only file system|runc/);
    await Deno.remove(shared, { recursive: true });
    await Deno.remove(rootUsed, { recursive: true });
  },
);
