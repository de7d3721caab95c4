/**
 * Supplementary groups: root's (from /etc/group) are kept inside through the runtime's
 * `process.user.additionalGids` and still grant access; in a user namespace they are not
 * (runtime/README.md says why), which this test pins down so a change is noticed.
 */
import assert from "node:assert/strict";
import { runSinglet, SINGLET_BIN } from "../_helpers/singlet.ts";
import { runAs, testUser } from "../_helpers/unpriv.ts";
import { testWithTools } from "../_helpers/tools.ts";
import { execImages } from "./_exec_images.ts";

const TOOLS = ["runc", "unshare", "nsenter", "squashfuse_ll", "mksquashfs", "siftool"];
const GROUP = "singlet-suppl";

async function run(program: string, ...args: string[]): Promise<string> {
  const output = await new Deno.Command(program, { args, stdout: "piped", stderr: "piped" })
    .output();
  if (!output.success) {
    throw new Error(`${program} ${args.join(" ")}: ${new TextDecoder().decode(output.stderr)}`);
  }
  return new TextDecoder().decode(output.stdout);
}

testWithTools(
  "root's supplementary groups are kept inside; a user namespace drops them",
  TOOLS,
  async () => {
    const { sif } = await execImages();
    const user = await testUser({ subids: true });
    const dir = await Deno.makeTempDir({ prefix: "singlet-groups-" });
    await Deno.chmod(dir, 0o755);
    // a group of the test's own, with root and the test user as members, for this test only
    await run("groupadd", "-f", GROUP);
    const gid = (await run("getent", "group", GROUP)).split(":")[2]!;
    await run("gpasswd", "-a", "root", GROUP);
    await run("gpasswd", "-a", user.name, GROUP);
    try {
      const secret = `${dir}/secret`;
      await Deno.writeTextFile(secret, "group only\n");
      await run("chgrp", GROUP, secret);
      await Deno.chmod(secret, 0o640);
      const script = `id -G; cat ${secret} 2>/dev/null || echo denied; id -Gn`;

      const root = await runSinglet(["exec", sif, "sh", "-c", script], { cwd: "/tmp" });
      assert.equal(root.code, 0, root.stderr);
      const [rootGroups, rootRead, rootNames] = root.stdout.split("\n");
      assert.ok(rootGroups!.split(" ").includes(gid), root.stdout);
      assert.equal(rootRead, "group only");
      // named inside too (the container's /etc/group has the host's entry)
      assert.ok(rootNames!.split(" ").includes(GROUP), root.stdout);

      // the user can read it outside, not inside: the group is gone there
      const outside = await runAs(user, ["cat", secret]);
      assert.equal(outside.stdout, "group only\n", outside.stderr);
      const inside = await runAs(user, [SINGLET_BIN, "exec", sif, "sh", "-c", script], {
        cwd: "/tmp",
      });
      assert.equal(inside.code, 0, inside.stderr);
      assert.equal(inside.stdout, `${user.gid}\ndenied\n${user.name}\n`);
    } finally {
      await run("groupdel", GROUP);
      await Deno.remove(dir, { recursive: true });
    }
  },
);
