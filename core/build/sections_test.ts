import assert from "node:assert/strict";
import { metadataStage, sectionFilter } from "./sections.ts";
import { parseDeffile } from "./deffile.ts";
import { UsageError } from "../errors.ts";

Deno.test("--section follows SingularityCE's RunSection: none and all win in order", () => {
  assert.ok(sectionFilter(undefined)("post"));
  assert.ok(sectionFilter([])("labels"));
  const some = sectionFilter(["labels", "Help"]);
  assert.ok(some("labels") && some("help"));
  assert.ok(!some("post") && !some("runscript") && !some("files"));
  assert.ok(!sectionFilter(["none", "all"])("labels"));
  assert.ok(sectionFilter(["all", "none"])("labels"));
  assert.ok(!sectionFilter(["none"])("files"));
});

Deno.test("%appinstall runs with post (SingularityCE appends it to %post) or on its own name", () => {
  assert.ok(sectionFilter(["post"])("appinstall"));
  assert.ok(sectionFilter(["appinstall"])("appinstall"));
  assert.ok(!sectionFilter(["appinstall"])("post"));
  assert.ok(!sectionFilter(["files"])("appinstall"));
});

Deno.test("an unknown --section name is a usage error naming the valid ones", () => {
  assert.throws(() => sectionFilter(["lables"]), (e: unknown) => {
    assert.ok(e instanceof UsageError);
    assert.match(e.message, /"lables"/);
    assert.match(e.hint ?? "", /environment/);
    return true;
  });
});

Deno.test("the metadata step sees only the metadata sections --section selects", () => {
  const def = parseDeffile(
    "Bootstrap: scratch\n%help\n  h\n%labels\n  A 1\n%environment\n  export X=1\n" +
      "%runscript\n  echo r\n%startscript\n  echo s\n%test\n  echo t\n",
    "x.def",
  );
  const stage = def.stages[0]!;
  assert.equal(metadataStage(stage, sectionFilter([])), stage);
  const only = metadataStage(stage, sectionFilter(["labels", "runscript"]));
  assert.equal(only.sections.labels.get("A"), "1");
  assert.ok(only.sections.runscript);
  for (const name of ["help", "environment", "startscript", "test"] as const) {
    assert.equal(only.sections[name], undefined, name);
  }
  const none = metadataStage(stage, sectionFilter(["none"]));
  assert.equal(none.sections.labels.size, 0);
  assert.equal(none.sections.runscript, undefined);
  // the original is untouched
  assert.ok(stage.sections.help && stage.sections.labels.size === 1);
});
