import assert from "node:assert/strict";
import { runSinglet } from "../tests/_helpers/singlet.ts";
import { assertGolden } from "../tests/_helpers/golden.ts";
import { VERSION } from "../mod.ts";

const golden = (name: string) => new URL(`./testdata/help/${name}.golden`, import.meta.url);

Deno.test("singlet --help lists the global flags and only implemented verbs", async () => {
  const result = await runSinglet(["--help"]);
  assert.equal(result.code, 0);
  assert.equal(result.stderr, "");
  await assertGolden(golden("singlet"), result.stdout);
});

Deno.test("singlet help check prints the check verb's help", async () => {
  const result = await runSinglet(["help", "check"]);
  assert.equal(result.code, 0);
  await assertGolden(golden("check"), result.stdout);
});

Deno.test("singlet squashfs pack --help lists the compressors and their levels", async () => {
  const result = await runSinglet(["squashfs", "pack", "--help"]);
  assert.equal(result.code, 0);
  await assertGolden(golden("squashfs-pack"), result.stdout);
});

Deno.test("singlet version and --version print the version from deno.json", async () => {
  for (const args of [["version"], ["--version"]]) {
    const result = await runSinglet(args);
    assert.equal(result.code, 0);
    assert.equal(result.stdout, `singlet version ${VERSION}\n`);
  }
});

Deno.test("an unknown flag is a usage error: one FATAL line, a hint, exit 254", async () => {
  const result = await runSinglet(["--bogus"]);
  assert.equal(result.code, 254);
  assert.equal(result.stdout, "");
  assert.deepEqual(result.stderr.trimEnd().split("\n"), [
    "FATAL:   unknown option '--bogus'",
    "hint:    run 'singlet help' or add --help to the command",
  ]);
});

Deno.test("a mistyped verb gets a did-you-mean suggestion", async () => {
  const result = await runSinglet(["chek"]);
  assert.equal(result.code, 254);
  assert.match(result.stderr, /^FATAL: {3}unknown command 'chek'\n\(Did you mean check\?\)/);
});

Deno.test("global flags after the verb are refused, as Singularity's are", async () => {
  const result = await runSinglet(["version", "--debug"]);
  assert.equal(result.code, 254);
  assert.match(result.stderr, /unknown option '--debug'/);
});

Deno.test("bare singlet prints usage on stderr and exits 254", async () => {
  const result = await runSinglet([]);
  assert.equal(result.code, 254);
  assert.match(result.stderr, /^Usage: singlet \[options\] \[command\]/);
  assert.doesNotMatch(result.stderr, /FATAL/);
});

Deno.test("messages carry no colour when stderr is not a terminal", async () => {
  const result = await runSinglet(["--bogus"], { env: { NO_COLOR: "" } });
  assert.ok(!result.stderr.includes("\x1b["), "no ANSI escape in stderr");
});
