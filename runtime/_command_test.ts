import assert from "node:assert/strict";
import { CommandFailedError, findExecutable, runChecked, runCommand } from "./_command.ts";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

Deno.test("runCommand() captures both streams and the exit code", async () => {
  const output = await runCommand(["sh", "-c", "echo out; echo err >&2; exit 3"]);
  assert.equal(output.code, 3);
  assert.equal(text(output.stdout), "out\n");
  assert.equal(text(output.stderr), "err\n");
});

Deno.test("runCommand() captures stderr alone when stdout is discarded", async () => {
  const output = await runCommand(["sh", "-c", "echo out; echo err >&2"], { stdout: "null" });
  assert.equal(output.code, 0);
  assert.equal(text(output.stdout), "");
  assert.equal(text(output.stderr), "err\n");
});

Deno.test("runCommand() feeds stdin bytes and honours env and cwd", async () => {
  const output = await runCommand(["sh", "-c", 'cat; echo " $GREETING $(pwd)"'], {
    stdin: new TextEncoder().encode("piped"),
    env: { GREETING: "hello" },
    cwd: "/tmp",
  });
  assert.equal(text(output.stdout), "piped hello /tmp\n");
});

Deno.test("runCommand() kills a child past its timeout and reports 128+9", async () => {
  const output = await runCommand(["sleep", "30"], { timeoutMs: 100 });
  assert.equal(output.signal, "SIGKILL");
  assert.equal(output.code, 137);
});

Deno.test("runChecked() throws CommandFailedError naming the command and stderr's tail", async () => {
  const error = await runChecked(["sh", "-c", "echo broken >&2; exit 2"]).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(error instanceof CommandFailedError);
  assert.equal(error.code, 2);
  assert.equal(error.message, "sh -c echo broken >&2; exit 2: exit 2: broken");
});

Deno.test("findExecutable() finds programs on PATH and in sbin, and not missing ones", () => {
  assert.match(findExecutable("sh") ?? "", /\/sh$/);
  assert.equal(findExecutable("mknod")?.endsWith("/mknod"), true);
  assert.equal(findExecutable("no-such-program-singlet"), undefined);
});
