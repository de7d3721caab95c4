import assert from "node:assert/strict";
import { buildEnvironment, DEFAULT_PATH, parseEnvFile, quote } from "./env.ts";

function asMap(env: string[]): Map<string, string> {
  return new Map(
    env.map((pair) => [pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1)]),
  );
}

Deno.test("host variables travel as restore lines; HOME, PATH and Singularity's own stay out", () => {
  const env = asMap(buildEnvironment(
    { FOO: "a b", HOME: "/h", PATH: "/x", SINGULARITY_BIND: "/d", APPTAINER_X: "1", "A.B": "odd" },
    { home: "/home/u" },
  ));
  assert.equal(env.get("PATH"), DEFAULT_PATH);
  assert.equal(env.get("HOME"), "/home/u");
  assert.equal(env.get("SINGLET_ENV_RESTORE"), `[ -n "\${FOO+x}" ] || export FOO='a b'`);
  assert.equal(env.get("A.B"), "odd", "names a shell cannot hold go straight to the process");
  assert.equal(env.has("SINGULARITY_BIND"), false);
});

Deno.test("--cleanenv keeps only TERM and proxies, and sets LANG=C", () => {
  const env = asMap(buildEnvironment(
    { FOO: "a", TERM: "xterm", https_proxy: "http://p" },
    { home: "/h", cleanenv: true },
  ));
  assert.equal(env.get("LANG"), "C");
  const restore = env.get("SINGLET_ENV_RESTORE")!;
  assert.match(restore, /TERM='xterm'/);
  assert.match(restore, /https_proxy='http:\/\/p'/);
  assert.doesNotMatch(restore, /FOO/);
});

Deno.test("user variables: prefixes < --env-file < --env, PATH forms become overrides", () => {
  const env = asMap(buildEnvironment(
    {
      SINGULARITYENV_X: "1",
      APPTAINERENV_X: "2",
      SINGULARITYENV_Y: "y",
      SINGULARITYENV_PREPEND_PATH: "/pre",
      SINGLET_ENV_FILE: "/not/a/variable",
    },
    { home: "/h", envFiles: [[["Y", "file"], ["Z", "z"]]], env: [["Z", "flag"]] },
  ));
  assert.equal(env.get("SINGLET_ENV_INJECT"), 'export X="2"\nexport Y="file"\nexport Z="flag"');
  assert.equal(env.get("SING_USER_DEFINED_PREPEND_PATH"), "/pre");
});

Deno.test("--no-eval quotes user values literally", () => {
  const env = asMap(buildEnvironment({}, { home: "/h", env: [["V", "$HOME 'q'"]], noEval: true }));
  assert.equal(env.get("SINGLET_ENV_INJECT"), `export V=${quote("$HOME 'q'")}`);
  assert.equal(env.get("SINGULARITY_NO_EVAL"), "1");
});

Deno.test("env files accept export, comments and quotes, and reject other lines", () => {
  assert.deepEqual(parseEnvFile("# c\nexport A=1\nB='two words'\n\nC=\"3\"\n", "f"), [
    ["A", "1"],
    ["B", "two words"],
    ["C", "3"],
  ]);
  assert.throws(() => parseEnvFile("not an assignment\n", "f"), /line 1 is not KEY=VALUE/);
});
