import assert from "node:assert/strict";
import { SingletError } from "../errors.ts";
import { DeffileSyntaxError, finalStage, parseDeffile } from "./deffile.ts";
import { applyBuildArgs, argumentDefaults, mergeBuildArgs } from "./build_args.ts";

const TEMPLATED = await Deno.readTextFile(
  new URL("./testdata/good/templated.def", import.meta.url),
);

Deno.test("placeholders take %arguments defaults when nothing else is given", () => {
  const { definition, unused } = applyBuildArgs(parseDeffile(TEMPLATED, "t.def"), {
    SRC: "app.tar",
  });
  const stage = finalStage(definition);
  assert.equal(stage.header.get("from"), "alpine:3.19");
  assert.match(stage.sections.post!.script, /echo "hello world" > \/greeting/);
  assert.equal(stage.sections.labels.get("Version"), "3.19");
  assert.deepEqual(stage.sections.files[0]!.files[0], {
    src: "app.tar",
    dst: "/opt/app.tar",
    line: 11,
  });
  assert.deepEqual(unused, []);
  assert.match(definition.raw, /^From: alpine:3\.19$/m);
});

Deno.test("--build-arg beats --build-arg-file, which beats %arguments", () => {
  const { args } = mergeBuildArgs(
    ["VERSION=3.20", "VERSION=3.21", "SRC=cli.tar"],
    "VERSION=3.18\nBASE=debian\nSRC=file.tar\n",
  );
  const { definition } = applyBuildArgs(parseDeffile(TEMPLATED, "t.def"), args);
  const stage = finalStage(definition);
  assert.equal(stage.header.get("from"), "debian:3.21");
  assert.equal(stage.sections.files[0]!.files[0]!.src, "cli.tar");
});

Deno.test("build arguments nothing uses are reported back for a warning", () => {
  const { unused } = applyBuildArgs(parseDeffile(TEMPLATED, "t.def"), {
    SRC: "x",
    VERSION: "1",
    NOBODY: "2",
    NOR_ME: "3",
  });
  assert.deepEqual(unused, ["NOBODY", "NOR_ME"]);
});

Deno.test("an undefined placeholder is an error at its position with SingularityCE's words", () => {
  assert.throws(
    () => applyBuildArgs(parseDeffile(TEMPLATED, "t.def"), {}),
    (e: unknown) =>
      e instanceof DeffileSyntaxError && e.line === 11 && e.column === 5 &&
      e.message.includes(
        "build var SRC is not defined through either --build-arg (--build-arg-file) or " +
          "'arguments' section",
      ),
  );
});

Deno.test("each stage uses its own %arguments", () => {
  const text = "Bootstrap: docker\nFrom: a:{{ V }}\nStage: one\n\n%arguments\n  V=1\n\n" +
    "Bootstrap: docker\nFrom: b:{{ V }}\n\n%arguments\n  V=2\n";
  const { definition } = applyBuildArgs(parseDeffile(text, "s.def"), new Map());
  assert.deepEqual(definition.stages.map((s) => s.header.get("from")), ["a:1", "b:2"]);
  const forced = applyBuildArgs(parseDeffile(text, "s.def"), { V: "9" }).definition;
  assert.deepEqual(forced.stages.map((s) => s.header.get("from")), ["a:9", "b:9"]);
});

Deno.test("malformed %arguments and --build-arg-file lines are skipped with a warning", () => {
  const def = parseDeffile(
    "Bootstrap: docker\nFrom: a\n\n%arguments\n  NOEQUALS\n  A=1\n",
    "w.def",
  );
  const { defaults, warnings } = argumentDefaults(finalStage(def), "w.def");
  assert.deepEqual([...defaults], [["A", "1"]]);
  assert.equal(warnings.length, 1);
  assert.equal(warnings[0]!.line, 5);
  assert.match(warnings[0]!.message, /Skipping "NOEQUALS" in 'arguments' section/);

  const merged = mergeBuildArgs([], "GOOD=1\nBAD\n=novalue\n", "args.txt");
  assert.deepEqual([...merged.args], [["GOOD", "1"]]);
  assert.deepEqual(merged.warnings.map((w) => w.line), [2, 3]);
  assert.equal(
    applyBuildArgs(def, {}).definition.warnings.length,
    1,
    "the templated definition carries the %arguments warning",
  );
});

Deno.test("a --build-arg that is not NAME=VALUE is refused", () => {
  assert.throws(() => mergeBuildArgs(["JUSTNAME"]), SingletError);
  assert.throws(() => mergeBuildArgs(["A="]), /missing value portion/);
});

Deno.test("stage names and %files from <stage> may be build arguments", async () => {
  const text = await Deno.readTextFile(
    new URL("./testdata/good/templatedstages.def", import.meta.url),
  );
  const { definition } = applyBuildArgs(parseDeffile(text, "ts.def"), {});
  assert.equal(definition.stages[0]!.name, "builder");
  assert.equal(finalStage(definition).sections.files[0]!.stage, "builder");
  // The reference is checked again once the names are known.
  const at = text.lastIndexOf("FIRST=builder");
  const other = text.slice(0, at) + "FIRST=other" + text.slice(at + "FIRST=builder".length);
  assert.throws(
    () => applyBuildArgs(parseDeffile(other, "ts.def"), {}),
    /ts\.def:17:13: %files from unknown stage "other"/,
  );
});
