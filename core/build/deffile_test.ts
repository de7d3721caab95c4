import assert from "node:assert/strict";
import { assertGolden } from "../../tests/_helpers/golden.ts";
import {
  DeffileSyntaxError,
  type Definition,
  definitionFromURI,
  finalStage,
  parseDeffile,
} from "./deffile.ts";
import { definitionToJSON, parseDeffileJSON, toSingularityJSON } from "./deffile_json.ts";
import { storedDeffileText, toDeffileText } from "./deffile_text.ts";
import { applyBuildArgs } from "./build_args.ts";

const TESTDATA = new URL("./testdata/", import.meta.url);

function cases(dir: string): string[] {
  return [...Deno.readDirSync(new URL(dir, TESTDATA))]
    .filter((e) => e.isFile && e.name.endsWith(".def"))
    .map((e) => e.name.slice(0, -4))
    .sort();
}

/** The parse result without positions and raw text: what a round trip must preserve. */
function content(def: Definition): unknown {
  return JSON.parse(JSON.stringify(definitionToJSON(def), (key, value) => {
    if (key === "line" || key === "file" || key === "warnings") return undefined;
    return value;
  }));
}

const good = cases("good");
const bad = cases("bad");

Deno.test("the golden corpus has at least 20 good and 20 bad recipes", () => {
  assert.ok(good.length >= 20, `${good.length} good cases`);
  assert.ok(bad.length >= 20, `${bad.length} bad cases`);
});

for (const name of good) {
  Deno.test(`good recipe "${name}" parses to its golden structure`, async () => {
    const text = await Deno.readTextFile(new URL(`good/${name}.def`, TESTDATA));
    const def = parseDeffile(text, `${name}.def`);
    await assertGolden(
      new URL(`good/${name}.json`, TESTDATA),
      JSON.stringify(definitionToJSON(def), null, 2) + "\n",
    );
  });

  Deno.test(`good recipe "${name}" survives toDeffileText and reparsing unchanged`, async () => {
    const text = await Deno.readTextFile(new URL(`good/${name}.def`, TESTDATA));
    const def = parseDeffile(text, `${name}.def`);
    const canonical = toDeffileText(def);
    const again = parseDeffile(canonical, "canonical.def");
    assert.deepEqual(content(again), content(def));
    // Canonical text is a fixed point.
    assert.equal(toDeffileText(again), canonical);
  });

  Deno.test(`good recipe "${name}" survives SingularityCE's JSON form`, async () => {
    const text = await Deno.readTextFile(new URL(`good/${name}.def`, TESTDATA));
    const def = parseDeffile(text, `${name}.def`);
    const last = finalStage(def);
    const fromJson = parseDeffileJSON(JSON.stringify(toSingularityJSON(def, last)), "x.json");
    const expected = content({ ...def, stages: [last] }) as { stages: { line?: number }[] };
    assert.deepEqual(content(fromJson), expected);
    assert.equal(fromJson.raw, text, "fullraw carries the original text");
  });
}

for (const name of bad) {
  Deno.test(`bad recipe "${name}" is refused with its golden message`, async () => {
    const text = await Deno.readTextFile(new URL(`bad/${name}.def`, TESTDATA));
    let error: unknown;
    try {
      // Placeholders are only checked when build arguments are applied.
      applyBuildArgs(parseDeffile(text, `${name}.def`), {});
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof DeffileSyntaxError, `expected a DeffileSyntaxError, got ${error}`);
    assert.ok(error instanceof SyntaxError);
    assert.match(error.message, new RegExp(`^${name}\\.def:\\d+:\\d+: .+; expected .+`));
    assert.equal(error.message.startsWith(`${name}.def:${error.line}:${error.column}: `), true);
    await assertGolden(new URL(`bad/${name}.err`, TESTDATA), error.message + "\n");
  });
}

Deno.test("header keywords are case-insensitive and continuation lines are joined", () => {
  const def = parseDeffile(
    "BootStrap: debootstrap\nINCLUDE: a,\\\n   b\nSetOpt: x\\n\\\ny\n",
    "c.def",
  );
  const header = finalStage(def).header;
  assert.equal(header.get("bootstrap"), "debootstrap");
  assert.equal(header.get("include"), "a,b");
  assert.equal(header.get("setopt"), "x\ny");
});

Deno.test("an error points at the line and column of the offending word", () => {
  assert.throws(
    () => parseDeffile("Bootstrap: docker\nFrom: alpine\n\n  %runscipt\n", "r.def"),
    (e: unknown) =>
      e instanceof DeffileSyntaxError && e.line === 4 && e.column === 3 &&
      e.expected.includes("%runscript"),
  );
});

Deno.test("a later stage may copy files from an earlier named stage only", () => {
  const def = parseDeffile(
    "Bootstrap: docker\nFrom: a\nStage: one\n\nBootstrap: docker\nFrom: b\n\n" +
      "%files from one\n  /x /y\n",
    "m.def",
  );
  assert.equal(def.stages.length, 2);
  assert.equal(def.stages[0]!.name, "one");
  assert.deepEqual(finalStage(def).sections.files[0]!.stage, "one");
  assert.equal(def.stages[0]!.raw + def.stages[1]!.raw, def.raw);
});

Deno.test("a repeated header keyword keeps the last value with a warning", () => {
  const def = parseDeffile("Bootstrap: docker\nFrom: a\nFrom: b\n", "d.def");
  assert.equal(finalStage(def).header.get("from"), "b");
  assert.equal(def.warnings.length, 1);
  assert.equal(def.warnings[0]!.line, 3);
});

Deno.test("toDeffileText quotes names that need it and writes newlines in header values", () => {
  const def = parseDeffile(
    "Bootstrap: docker\nFrom: a\nSetopt: one\\n\\\ntwo\n\n%files\n  \"a b\" 'say \"hi\"'\n  '#x'\n",
    "q.def",
  );
  const text = toDeffileText(def);
  assert.match(text, /\t"a b" 'say "hi"'\n/);
  assert.match(text, /\t"#x"\n/);
  assert.deepEqual(content(parseDeffile(text, "q2.def")), content(def));
  assert.equal(storedDeffileText(def), def.raw);
});

Deno.test("SingularityCE JSON input is read with Go's case-insensitive field names", () => {
  const json = JSON.stringify({
    header: { Bootstrap: "docker", from: "alpine" },
    imageData: {
      labels: { Maintainer: "me" },
      imageScripts: { runscript: { args: "", script: "echo run" }, HELP: { script: "help" } },
    },
    buildData: {
      files: [{ args: "", files: [{ source: "a", destination: "/b" }] }],
      buildScripts: { post: { args: "-c /bin/bash", script: "echo post\n" } },
    },
    customData: { "apprun foo": "echo foo\n", "applabels foo": "K v\n" },
    appOrder: ["foo"],
  });
  const def = parseDeffileJSON(json, "in.json");
  const stage = finalStage(def);
  assert.equal(stage.header.get("bootstrap"), "docker");
  assert.equal(stage.sections.runscript?.script, "echo run\n");
  assert.equal(stage.sections.help?.script, "help\n");
  assert.equal(stage.sections.post?.args, "-c /bin/bash");
  assert.deepEqual(stage.sections.files[0]!.files[0], { src: "a", dst: "/b", line: 0 });
  assert.equal(stage.apps.get("foo")?.run?.script, "echo foo\n");
  assert.equal(stage.apps.get("foo")?.labels.get("K"), "v");
  // No raw text in the document: the canonical text is generated, and it parses back.
  assert.match(def.raw, /^bootstrap: docker\nfrom: alpine\n/);
  assert.deepEqual(content(parseDeffile(def.raw, "x")), content(def));
});

Deno.test("SingularityCE JSON input errors name the position or the JSON path", () => {
  assert.throws(
    () => parseDeffileJSON('{\n  "header": {\n    "bootstrap": "docker",\n  }\n}', "a.json"),
    (e: unknown) =>
      e instanceof DeffileSyntaxError && e.line === 4 && /invalid JSON/.test(e.message),
  );
  assert.throws(
    () => parseDeffileJSON('{"header": {"frm": "x"}}', "b.json"),
    /b\.json:1:1: \$\.header\.frm is an unknown header keyword; expected one of bootstrap/,
  );
  assert.throws(
    () => parseDeffileJSON('{"buildData": {"files": [{"files": [{"source": 3}]}]}}', "c.json"),
    /\$\.buildData\.files\[0\]\.files\[0\]\.source is number; expected a string/,
  );
  assert.throws(
    () => parseDeffileJSON('{"customData": {"apprun ../x": "echo"}}', "d.json"),
    /names app "\.\.\/x"/,
  );
});

Deno.test("a URI build gets SingularityCE's two-line definition", () => {
  const def = definitionFromURI("docker://alpine:3.19");
  assert.equal(storedDeffileText(def), "bootstrap: docker\nfrom: alpine:3.19\n\n");
  assert.equal(
    finalStage(definitionFromURI("oci-archive:/tmp/a.tar")).header.get("from"),
    "/tmp/a.tar",
  );
  assert.throws(() => definitionFromURI("alpine"), DeffileSyntaxError);
});

/**
 * Where singlet deliberately reads a recipe differently from SingularityCE 4.3's parser
 * (tests/oracles/ce_deffile), and why.
 */
const CE_DIFFERENCES: Record<string, string> = {
  casekeys: "singlet lower-cases the agent; SingularityCE keeps 'Docker' and then refuses it",
  quotedfiles: "SingularityCE cannot read single quotes or a quoted name joined to more text",
  indentedsections: "SingularityCE refuses indented section headers; singlet accepts them",
};

interface CEScript {
  args?: string;
  script?: string;
}

/** The parts of SingularityCE's types.Definition the comparison needs. */
interface CEDefinition {
  header: Record<string, string> | null;
  imageData: { labels: Record<string, string> | null; imageScripts: Record<string, CEScript> };
  buildData: {
    files: { args: string; files: { source: string; destination: string }[] | null }[] | null;
    buildScripts: Record<string, CEScript>;
  };
  customData: Record<string, string> | null;
  appOrder: string[] | null;
}

/** Our stage in SingularityCE's terms, normalised the way the comparison needs. */
function ceView(stage: Definition["stages"][number]) {
  const text = (s: { args: string; script: string } | undefined) => ({
    args: s?.args ?? "",
    script: (s?.script ?? "").trimEnd(),
  });
  const s = stage.sections;
  const custom: Record<string, string> = {};
  for (const app of stage.apps.values()) {
    for (const [section, field] of Object.entries(APP_FIELDS)) {
      const script = app[field];
      if (script) custom[`${section} ${app.name}`] = script.script.trimEnd();
    }
  }
  return {
    header: Object.fromEntries(stage.header),
    labels: Object.fromEntries(s.labels),
    scripts: {
      help: text(s.help),
      environment: text(s.environment),
      runscript: text(s.runscript),
      test: text(s.test),
      startscript: text(s.startscript),
      pre: text(s.pre),
      setup: text(s.setup),
      post: text(s.post),
      arguments: text(s.arguments),
    },
    files: s.files.map((b) => ({
      stage: b.stage ?? "",
      files: b.files.map((f) => [f.src, f.dst]),
    })),
    custom,
    appOrder: [...stage.apps.keys()],
  };
}

const APP_FIELDS = {
  appinstall: "install",
  apprun: "run",
  appenv: "env",
  apphelp: "help",
  apptest: "test",
  appstart: "start",
} as const;

function ceDefinitionView(d: CEDefinition) {
  const text = (s: CEScript | undefined) => ({
    args: (s?.args ?? "").split("#")[0]!.trim(),
    script: (s?.script ?? "").trimEnd(),
  });
  const is = d.imageData.imageScripts;
  const bs = d.buildData.buildScripts;
  const custom: Record<string, string> = {};
  for (const [key, value] of Object.entries(d.customData ?? {})) {
    if (key.split(" ")[0]! in APP_FIELDS) custom[key] = value.trimEnd();
  }
  return {
    header: d.header ?? {},
    labels: d.imageData.labels ?? {},
    scripts: {
      help: text(is.help),
      environment: text(is.environment),
      runscript: text(is.runScript),
      test: text(is.test),
      startscript: text(is.startScript),
      pre: text(bs.pre),
      setup: text(bs.setup),
      post: text(bs.post),
      arguments: text(bs.arguments),
    },
    files: (d.buildData.files ?? []).filter((b) => (b.files ?? []).length > 0).map((b) => ({
      stage: b.args.split("#")[0]!.trim().replace(/^from\s+/i, ""),
      files: (b.files ?? []).map((f) => [f.source, f.destination]),
    })),
    custom,
    appOrder: d.appOrder ?? [],
  };
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, sortKeys(v)]),
    );
  }
  return value;
}

for (const name of good) {
  const reason = CE_DIFFERENCES[name];
  Deno.test(
    reason
      ? `good recipe "${name}" differs from SingularityCE's parser only as documented`
      : `good recipe "${name}" parses exactly as SingularityCE's own parser does`,
    async () => {
      const text = await Deno.readTextFile(new URL(`good/${name}.def`, TESTDATA));
      const ours = parseDeffile(text, `${name}.def`);
      let ce: CEDefinition[];
      try {
        ce = JSON.parse(await Deno.readTextFile(new URL(`good/${name}.ce.json`, TESTDATA)));
      } catch {
        const err = await Deno.readTextFile(new URL(`good/${name}.ce.err`, TESTDATA));
        assert.ok(reason, `SingularityCE refuses ${name}.def (${err.trim()}) without a reason`);
        return;
      }
      // SingularityCE's JSON form of its own parse (what `build --json` takes) reads back to
      // the same final stage as the text.
      const fromCEJson = parseDeffileJSON(JSON.stringify(ce[ce.length - 1]), `${name}.json`);
      if (!reason) {
        assert.deepEqual(
          sortKeys(ceView(finalStage(fromCEJson))),
          sortKeys(ceView(finalStage(ours))),
        );
      }
      const expected = sortKeys(ce.map(ceDefinitionView));
      const actual = sortKeys(ours.stages.map(ceView));
      if (reason) {
        assert.notDeepEqual(actual, expected, `${name} no longer differs: drop its exception`);
      } else {
        assert.deepEqual(actual, expected);
      }
    },
  );
}

Deno.test("a bad %appfiles line in JSON input names the customData entry", () => {
  assert.throws(
    () => parseDeffileJSON('{"customData": {"appfiles foo": "a b c\\n"}}', "e.json"),
    /e\.json:1:1: \$\.customData\["appfiles foo"\] line 1 has unexpected "c" after the destination; expected/,
  );
});
