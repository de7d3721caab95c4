/**
 * `--oci` on an OCI-origin image whose config has `User` and `WorkingDir`: the process
 * runs as the image's user (resolved in the image's /etc/passwd and /etc/group, with its
 * supplementary groups) and starts in its WORKDIR, as root, as a user with subordinate
 * ranges (with and without --fakeroot); a user without ranges gets a clear error. Without
 * `--oci`, Singularity's semantics stay.
 */
import assert from "node:assert/strict";
import { runSinglet, SINGLET_BIN } from "../_helpers/singlet.ts";
import { runAs, testUser } from "../_helpers/unpriv.ts";
import { testWithTools } from "../_helpers/tools.ts";
import { appImageSif } from "./_oci_app_image.ts";

const TOOLS = ["runc", "unshare", "nsenter", "squashfuse_ll"];

const SHOW = 'id -u; id -g; id -G; pwd; echo "$HOME"';

testWithTools(
  "--oci runs as the image's USER in its WORKDIR, as root and as users with subuid ranges",
  TOOLS,
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "singlet-oci-mode-" });
    await Deno.chmod(dir, 0o755);
    try {
      const sif = await appImageSif(dir, { User: "app", WorkingDir: "/srv/app" });
      const expected = "1234\n1234\n1234 2345\n/srv/app\n/home/app\n";
      const root = await runSinglet(["exec", "--oci", sif, "sh", "-c", SHOW], { cwd: "/tmp" });
      assert.equal(root.code, 0, root.stderr);
      assert.equal(root.stdout, expected);
      // the user owns its WORKDIR: it can write there
      const write = await runSinglet(
        ["exec", "--oci", "--writable-tmpfs", sif, "sh", "-c", "touch f && ls -n f"],
        { cwd: "/tmp" },
      );
      assert.equal(write.code, 0, write.stderr);
      assert.match(write.stdout, /^-\S+ +1 1234 +1234 /);
      // the environment form
      const env = await runSinglet(["exec", sif, "id", "-u"], {
        cwd: "/tmp",
        env: { SINGULARITY_OCI: "1" },
      });
      assert.equal(env.stdout, "1234\n", env.stderr);
      // default: Singularity semantics (the caller, the current directory)
      const native = await runSinglet(["exec", sif, "sh", "-c", "id -u; pwd"], { cwd: "/tmp" });
      assert.equal(native.code, 0, native.stderr);
      assert.equal(native.stdout, "0\n/tmp\n");

      const user = await testUser({ subids: true });
      for (const extra of [[], ["--fakeroot"]]) {
        const asUser = await runAs(
          user,
          [SINGLET_BIN, "exec", "--oci", ...extra, sif, "sh", "-c", SHOW],
          { cwd: "/tmp" },
        );
        assert.equal(asUser.code, 0, `${extra}: ${asUser.stderr}`);
        assert.equal(asUser.stdout, expected, `${extra}`);
      }
      const plain = await runAs(user, [SINGLET_BIN, "exec", sif, "id", "-u"], { cwd: "/tmp" });
      assert.equal(plain.stdout, `${user.uid}\n`, plain.stderr);

      const nosub = await testUser({ subids: false });
      const refused = await runAs(nosub, [SINGLET_BIN, "exec", "--oci", sif, "id"], {
        cwd: "/tmp",
      });
      assert.equal(refused.code, 255, refused.stderr);
      assert.match(
        refused.stderr,
        /^FATAL: +Cannot run image ".*" as its USER \(uid 1234, gid 1234\): you have no \/etc\/subuid and \/etc\/subgid ranges/m,
      );
      assert.equal(refused.stdout, "");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

testWithTools("--oci resolves USER forms uid:gid and name:group", TOOLS, async () => {
  const dir = await Deno.makeTempDir({ prefix: "singlet-oci-mode-" });
  await Deno.chmod(dir, 0o755);
  try {
    for (
      const [userSpec, expected] of [
        ["4321:2345", "4321\n2345\n2345\n/\n/\n"],
        ["app:data", "1234\n2345\n2345\n/\n/home/app\n"],
        ["root", "0\n0\n0 3456\n/\n/root\n"],
      ]
    ) {
      const sif = await appImageSif(dir, { User: userSpec });
      const root = await runSinglet(["exec", "--oci", sif, "sh", "-c", SHOW], { cwd: "/" });
      assert.equal(root.code, 0, `${userSpec}: ${root.stderr}`);
      assert.equal(root.stdout, expected, userSpec);
    }
    const sif = await appImageSif(dir, { User: "nobody-here" });
    const missing = await runSinglet(["exec", "--oci", sif, "true"], { cwd: "/tmp" });
    assert.equal(missing.code, 255);
    assert.match(missing.stderr, /no user "nobody-here" in the image's \/etc\/passwd/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
