/**
 * `singlet exec|run` on image references (here an OCI layout: `oci:DIR:REF`, the same path
 * as docker://): pulled and converted through the cache, then run.
 */
import assert from "node:assert/strict";
import { runSinglet, SINGLET_BIN } from "../_helpers/singlet.ts";
import { runAs, testUser } from "../_helpers/unpriv.ts";
import { busyboxOciLayout } from "../_helpers/fixtures.ts";
import { testWithTools } from "../_helpers/tools.ts";

const TOOLS = ["runc", "unshare", "nsenter", "squashfuse_ll"];

testWithTools(
  "exec on an OCI reference pulls, converts and runs it, as root and as a user",
  TOOLS,
  async () => {
    const layout = await busyboxOciLayout();
    const uri = `oci:${layout.dir}:${layout.ref}`;
    const cache = await Deno.makeTempDir({ prefix: "singlet-cache-" });
    const root = await runSinglet(["exec", uri, "cat", "/etc/os-release"], {
      env: { SINGULARITY_CACHEDIR: cache },
      cwd: "/tmp",
    });
    assert.equal(root.code, 0, root.stderr);
    assert.match(root.stdout, /BusyBox/);
    const user = await testUser({ subids: true });
    const asUser = await runAs(user, [SINGLET_BIN, "exec", uri, "id", "-u"], { cwd: "/tmp" });
    assert.equal(asUser.code, 0, asUser.stderr);
    assert.equal(asUser.stdout, `${user.uid}\n`);
    await Deno.remove(cache, { recursive: true });
  },
);
