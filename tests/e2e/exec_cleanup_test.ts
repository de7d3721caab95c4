/**
 * What `singlet exec` leaves behind and how it passes signals: nothing after a normal
 * exit, nothing (processes, mounts) right after singlet is SIGKILLed and no session
 * directory after the next run; SIGTERM to singlet reaches the container.
 */
import assert from "node:assert/strict";
import { testWithTools } from "../_helpers/tools.ts";
import { testUser } from "../_helpers/unpriv.ts";
import { execImages } from "./_exec_images.ts";
import { processesWith, sessions, spawnSinglet, waitFor } from "./_spawn.ts";

const TOOLS = ["runc", "unshare", "nsenter", "squashfuse_ll", "mksquashfs", "siftool"];

/** The host cgroup directories (any controller) named `name`. */
async function cgroupsNamed(name: string): Promise<string[]> {
  const out = await new Deno.Command("sh", {
    args: [
      "-c",
      'for d in /sys/fs/cgroup/*/"$1" /sys/fs/cgroup/"$1"; do [ -d "$d" ] && echo "$d"; done; true',
      "sh",
      name,
    ],
    stdout: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout).split("\n").filter(Boolean);
}

for (const asUser of [false, true]) {
  const who = asUser ? "an unprivileged user" : "root";

  testWithTools(`exec as ${who} leaves nothing behind after a normal exit`, TOOLS, async () => {
    const { sif } = await execImages();
    const { child, stateDir } = await spawnSinglet(asUser, ["exec", sif, "true"]);
    const output = await child.output();
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    assert.deepEqual(await sessions(stateDir), []);
    assert.deepEqual(await processesWith(stateDir, true), [], "no helper process is left");
    await Deno.remove(stateDir.replace(/\/s$/, ""), { recursive: true });
  });

  for (const [signal, status, offset] of [["SIGTERM", 42, 0], ["SIGINT", 43, 2]] as const) {
    testWithTools(`${signal} to singlet as ${who} reaches the container`, TOOLS, async () => {
      const { sif } = await execImages();
      const name = signal.slice(3);
      const marker = `sleep ${31000 + offset + (asUser ? 1 : 0)}`;
      const { child, stateDir } = await spawnSinglet(asUser, [
        "exec",
        sif,
        "sh",
        "-c",
        `trap 'echo got ${name}; exit ${status}' ${name}; ${marker} & wait`,
      ]);
      await waitFor("the container", async () => (await processesWith(marker)).length > 0);
      child.kill(signal);
      const output = await child.output();
      assert.equal(output.code, status, new TextDecoder().decode(output.stderr));
      assert.equal(new TextDecoder().decode(output.stdout), `got ${name}\n`);
      await waitFor("the sleep to go", async () => (await processesWith(marker)).length === 0);
      assert.deepEqual(await sessions(stateDir), []);
      await Deno.remove(stateDir.replace(/\/s$/, ""), { recursive: true });
    });
  }

  testWithTools(
    `kill -9 of singlet as ${who} ends the container at once and the next run cleans up`,
    TOOLS,
    async () => {
      const { sif } = await execImages();
      const marker = `sleep ${32000 + (asUser ? 1 : 0)}`;
      const { child, stateDir } = await spawnSinglet(asUser, ["exec", sif, ...marker.split(" ")]);
      await waitFor("the container", async () => (await processesWith(marker)).length > 0);
      const [session] = await sessions(stateDir);
      assert.ok(session, "a session directory exists while the container runs");
      child.kill("SIGKILL");
      await child.output();
      // the holder sees its pipe close; the kernel kills its PID namespace and drops mounts
      await waitFor("the container to die", async () => (await processesWith(marker)).length === 0);
      await waitFor(
        "helpers (squashfuse_ll, runc, cat) to die",
        async () => (await processesWith(session!, true)).length === 0,
      );
      assert.deepEqual(await sessions(stateDir), [session], "the directory waits for the next run");
      const next = await spawnSinglet(asUser, ["exec", sif, "true"], stateDir);
      const output = await next.child.output();
      assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
      assert.deepEqual(await sessions(stateDir), [], "the next run removed the stale session");
      // as root runc made cgroups named after the session; the next run removes them too
      assert.deepEqual(await cgroupsNamed(session!), [], "no cgroup of the killed run is left");
      await Deno.remove(stateDir.replace(/\/s$/, ""), { recursive: true });
    },
  );
}

testWithTools(
  "20 concurrent execs of one image by one user all succeed and clean up",
  TOOLS,
  async () => {
    const { sif } = await execImages();
    const stateDir = await Deno.makeTempDir({ prefix: "singlet-state-" });
    const user = await testUser({ subids: true });
    await Deno.chown(stateDir, user.uid, user.gid);
    const runs = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const { child } = await spawnSinglet(
          true,
          ["exec", sif, "sh", "-c", `echo ${i}`],
          stateDir,
        );
        const output = await child.output();
        const err = new TextDecoder().decode(output.stderr);
        return { code: output.code, out: new TextDecoder().decode(output.stdout), err, i };
      }),
    );
    for (const run of runs) {
      assert.equal(run.code, 0, run.err);
      assert.equal(run.out, `${run.i}\n`);
    }
    assert.deepEqual(await sessions(stateDir), []);
    await Deno.remove(stateDir, { recursive: true });
  },
);
