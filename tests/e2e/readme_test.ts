/** The README's first command keeps working: build a SIF from the fixture, run it unprivileged. */
import assert from "node:assert/strict";
import { REPO_ROOT } from "../_helpers/singlet.ts";
import { testWithTools } from "../_helpers/tools.ts";

testWithTools(
  "scripts/demo.sh builds a SIF from the busybox fixture and runs it as an unprivileged user",
  ["siftool", "runc", "squashfuse_ll", "setpriv"],
  async () => {
    const output = await new Deno.Command("bash", {
      args: [`${REPO_ROOT}/scripts/demo.sh`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(output.stdout);
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, stderr);
    assert.match(stdout, /\|FS \(Squashfs\/\*System\/amd64\)\n/);
    const expectedUser = Deno.uid() === 0 ? "singlet-test" : undefined;
    const hello = stdout.match(
      /^Hello from singlet busybox fixture .* as (\S+) \(uid (\d+)\) in (\S+)$/m,
    );
    assert.ok(hello, stdout);
    if (expectedUser) assert.equal(hello[1], expectedUser);
    assert.notEqual(Number(hello[2]), 0, "the container process is not root");
  },
);
