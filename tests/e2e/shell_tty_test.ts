/**
 * `singlet shell` on a terminal: the container gets a TTY of its own, the prompt is
 * Singularity's (`Singlet> `), and the shell's exit status is singlet's. `script` (util-linux)
 * provides the pseudo-terminal a user's terminal would.
 */
import assert from "node:assert/strict";
import { SINGLET_BIN } from "../_helpers/singlet.ts";
import { runAs, testUser } from "../_helpers/unpriv.ts";
import { testWithTools } from "../_helpers/tools.ts";
import { execImages } from "./_exec_images.ts";

const TOOLS = ["runc", "unshare", "nsenter", "squashfuse_ll", "mksquashfs", "siftool", "script"];
const TYPED = 'tty; echo "prompt=[$PS1]"; exit 7\n';

/**
 * `script` runs its command through `$SHELL -c`. `exec` makes singlet the terminal's process
 * itself, whatever that shell is: dash (`/bin/sh`, CI's `$SHELL`) otherwise waits as the
 * pty's foreground process and, on Ctrl-C, exits 130 itself after singlet returned.
 */
function onTerminal(command: string): string[] {
  return ["script", "-qec", `exec ${command}`, "/dev/null"];
}

function shellOnTerminal(sif: string): string[] {
  return onTerminal(`${SINGLET_BIN} shell ${sif}`);
}

/** Start `argv` in /tmp with its three standard streams piped to the test. */
function spawnPiped([program, ...args]: string[]): Deno.ChildProcess {
  return new Deno.Command(program!, {
    args,
    cwd: "/tmp",
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

function assertInteractive(result: { code: number; stdout: string; stderr: string }): void {
  const lines = result.stdout.replaceAll("\r", "").split("\n");
  assert.equal(result.code, 7, `the shell's exit status is singlet's: ${result.stderr}`);
  assert.ok(lines.some((l) => /^\/dev\/pts\/\d+$/.test(l)), `a TTY inside: ${result.stdout}`);
  assert.ok(lines.includes("prompt=[Singlet> ]"), `Singularity's prompt: ${result.stdout}`);
  assert.ok(lines.some((l) => l.startsWith("Singlet> tty;")), "the prompt was shown");
}

testWithTools("shell gives an interactive shell on a TTY, as root", TOOLS, async () => {
  const { sif } = await execImages();
  const child = spawnPiped(shellOnTerminal(sif));
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(TYPED));
  await writer.close();
  const out = await child.output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  assertInteractive({ code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) });
});

testWithTools("shell gives an interactive shell on a TTY, as a user", TOOLS, async () => {
  const { sif } = await execImages();
  const user = await testUser({ subids: true });
  assertInteractive(await runAs(user, shellOnTerminal(sif), { cwd: "/tmp", stdin: TYPED }));
});

testWithTools("Ctrl-C on a terminal reaches the payload's own handler", TOOLS, async () => {
  const { sif } = await execImages();
  const payload = `trap 'echo got INT; exit 43' INT; echo ready; sleep 30 & wait`;
  const child = spawnPiped(onTerminal(`${SINGLET_BIN} exec ${sif} sh -c "${payload}"`));
  const reader = child.stdout.getReader();
  let seen = "";
  while (!seen.includes("ready")) {
    const { value, done } = await reader.read();
    if (done) break;
    seen += new TextDecoder().decode(value);
  }
  const writer = child.stdin.getWriter();
  await writer.write(new Uint8Array([3])); // what the terminal sends for Ctrl-C
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
    seen += new TextDecoder().decode(chunk.value);
  }
  await writer.close().catch(() => {});
  const status = await child.status;
  await child.stderr.cancel();
  assert.match(seen, /got INT/, "the payload's trap ran");
  assert.equal(status.code, 43, "the payload's exit status is singlet's");
});
