/**
 * The mount steps run as one script in the session's namespaces (`runtime/mounts.ts`): a
 * step that fails is still reported on its own, with the failing tool's message, and the
 * session leaves nothing behind.
 */
import assert from "node:assert/strict";
import { runSinglet } from "../_helpers/singlet.ts";
import { testWithTools } from "../_helpers/tools.ts";
import { execImages } from "./_exec_images.ts";

const TOOLS = ["runc", "unshare", "nsenter", "squashfuse_ll", "mksquashfs", "siftool"];

testWithTools(
  "a broken --overlay image is reported with squashfuse's own message and nothing is left",
  TOOLS,
  async () => {
    const { sif } = await execImages();
    const dir = await Deno.makeTempDir({ prefix: "singlet-mount-error-" });
    const stateDir = `${dir}/state`;
    // SquashFS magic, then zeros: not a SIF, so singlet takes it for a SquashFS overlay,
    // and squashfuse_ll refuses it (version 0.0)
    const broken = `${dir}/broken.sqfs`;
    await Deno.writeFile(broken, new Uint8Array([0x68, 0x73, 0x71, 0x73, ...new Uint8Array(4096)]));
    const result = await runSinglet(["exec", "--overlay", broken, sif, "true"], {
      env: { SINGLET_STATEDIR: stateDir },
      cwd: "/tmp",
    });
    assert.equal(result.code, 255, result.stderr);
    const lines = result.stderr.trim().split("\n");
    assert.match(lines[0]!, new RegExp(`^FATAL: +Cannot mount image "${broken}": .*[Ss]quashfs`));
    assert.doesNotMatch(result.stderr, /@singlet-mount-step|mount -t tmpfs/);
    assert.match(lines[1]!, /^hint: +squashfuse_ll/);
    assert.deepEqual([...Deno.readDirSync(`${stateDir}/sessions`)], []);
    await Deno.remove(dir, { recursive: true });
  },
);
