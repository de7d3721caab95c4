import assert from "node:assert/strict";
import { REPO_ROOT } from "../_helpers/singlet.ts";

async function run(argv: string[], env: Record<string, string> = {}) {
  const output = await new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    cwd: REPO_ROOT,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

Deno.test("bootstrap on a ready machine only checks: no install, one 'ready' line", async () => {
  const result = await run(["bash", "scripts/bootstrap.sh"]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /^bootstrap: ready: deno 2\.9\.6 /);
  assert.doesNotMatch(result.stderr, /installing/);
});

Deno.test("compile with a DENORT_BIN that does not exist fails in one line and leaves no binary", async () => {
  const out = `${await Deno.makeTempDir()}/singlet`;
  const result = await run(["bash", "scripts/compile.sh", out], {
    DENORT_BIN: "/nonexistent/denort",
  });
  assert.equal(result.code, 255);
  assert.match(result.stderr, /^FATAL: {3}Cannot compile: DENORT_BIN=\/nonexistent\/denort is not/);
  assert.match(result.stderr, /\nhint: {4}/);
  await assert.rejects(Deno.stat(out), Deno.errors.NotFound);
});

Deno.test("compile either builds a working binary or says why denort is unavailable", async () => {
  const out = `${await Deno.makeTempDir()}/singlet`;
  const result = await run(["bash", "scripts/compile.sh", out]);
  if (result.code === 0) {
    const version = await run([out, "version"]);
    assert.match(version.stdout, /^singlet version /);
    return;
  }
  // No route to Deno's download host here: the task must say so and leave nothing behind.
  assert.equal(result.code, 255);
  assert.match(result.stderr, /the denort runtime for Deno 2\.9\.6 could not be obtained/);
  assert.match(result.stderr, /DENORT_BIN=/);
  await assert.rejects(Deno.stat(out), Deno.errors.NotFound);
});

Deno.test("the launcher, the compile task and the tests share one permission set without -A", async () => {
  const permissions = await Deno.readTextFile(`${REPO_ROOT}/cli/permissions.args`);
  const flags = permissions.split("\n").filter((line) => line.trim() && !line.startsWith("#"));
  assert.ok(!flags.some((flag) => /^(-A|--allow-all)$/.test(flag)), "never --allow-all");
  assert.ok(flags.some((flag) => flag.startsWith("--allow-run=")), "programs are listed");
  for (const script of ["bin/singlet", "scripts/compile.sh"]) {
    const text = await Deno.readTextFile(`${REPO_ROOT}/${script}`);
    assert.match(text, /cli\/permissions\.args/, `${script} reads cli/permissions.args`);
  }
  // A program outside the list is refused at run time: the set is really enforced.
  const probe = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeTextFile(
    probe,
    `try { await new Deno.Command("ls").output(); console.log("ran"); }
     catch (e) { console.log(e instanceof Deno.errors.NotCapable ? "refused" : String(e)); }`,
  );
  const result = await run([`${REPO_ROOT}/.tools/bin/deno`, "run", "--quiet", ...flags, probe]);
  assert.equal(result.stdout.trim(), "refused");
});
