import assert from "node:assert/strict";
import { assertGolden } from "../../tests/_helpers/golden.ts";
import { findTool, testWithTools } from "../../tests/_helpers/tools.ts";
import { runSinglet } from "../../tests/_helpers/singlet.ts";
import { siftoolNativeSif } from "../../tests/_helpers/siftool.ts";
import { parseDeffile } from "../build/deffile.ts";
import { SingletError } from "../errors.ts";
import { entriesImageFiles, openImageFiles } from "./image_files.ts";
import {
  inspectImage,
  inspectJSON,
  inspectMetadataObject,
  type InspectOptions,
  inspectText,
} from "./inspect.ts";
import { type MetaEntry, schemaLabels, singularityDEntries } from "./singularity_d.ts";

const TESTDATA = new URL("./testdata/", import.meta.url);

const DEFFILE = `Bootstrap: docker
From: busybox:1.36

%help
    Prints a greeting.

%labels
    Author me@example.com

%environment
    export GREETING="hello & <welcome>"

%runscript
    echo "$GREETING: $*"

%startscript
    exec sleep 1000

%test
    test -n "$GREETING"

%apprun tool-x
    echo "tool $*"

%appenv tool-x
    export TOOL=1

%applabels tool-x
    Purpose testing

%apphelp tool-x
    Help for tool-x.

%apprun second
    echo second
`;

function layout(): MetaEntry[] {
  const deffile = parseDeffile(DEFFILE, "greet.def");
  return singularityDEntries({
    deffile,
    ociConfig: {
      Env: ["PATH=/bin:/usr/bin", "LANG=C.UTF-8"],
      Cmd: ["sh"],
      Labels: { "org.opencontainers.image.source": "https://example.com/busybox" },
    },
    buildLabels: schemaLabels({
      date: new Date(Date.UTC(2026, 0, 2, 3, 4, 5)),
      version: "0.1.0",
      arch: "amd64",
      stage: deffile.stages[0]!,
    }),
  }).entries;
}

async function materialize(root: string, entries: readonly MetaEntry[]) {
  for (const e of entries) {
    const path = `${root}/${e.path}`;
    if (e.kind === "directory") await Deno.mkdir(path, { recursive: true, mode: e.mode });
    else if (e.kind === "symlink") await Deno.symlink(e.target, path);
    else await Deno.writeTextFile(path, e.content, { mode: e.mode });
  }
}

async function run(cmd: string, args: string[]) {
  const out = await new Deno.Command(findTool(cmd)!, { args, stdout: "piped", stderr: "piped" })
    .output();
  assert.equal(out.code, 0, `${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
}

interface Fixture {
  dir: string;
  sandbox: string;
  squashfs: string;
  sif: string;
  sifWithObjects: string;
}

let fixture: Promise<Fixture> | undefined;

/** A sandbox, the same tree as SquashFS, and SIFs made with Debian's siftool. */
function images(): Promise<Fixture> {
  fixture ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "singlet-inspect-" });
    const sandbox = `${dir}/sandbox`;
    await Deno.mkdir(sandbox);
    await materialize(sandbox, layout());
    const squashfs = `${dir}/rootfs.sqfs`;
    await run("mksquashfs", [sandbox, squashfs, "-noappend", "-comp", "gzip", "-quiet"]);
    const sif = `${dir}/image.sif`;
    await Deno.writeTextFile(`${dir}/Singularity`, DEFFILE);
    await siftoolNativeSif(sif, squashfs, { deffile: `${dir}/Singularity` });
    // A second SIF whose Deffile and inspect-metadata.json objects differ from the files,
    // to show which source inspect uses.
    const sifWithObjects = `${dir}/objects.sif`;
    await run("siftool", ["new", sifWithObjects]);
    await Deno.writeTextFile(`${dir}/object.def`, "Bootstrap: docker\nFrom: from-the-object\n");
    await run("siftool", [
      "add",
      sifWithObjects,
      `${dir}/object.def`,
      "--datatype",
      "1",
      "--groupid",
      "1",
    ]);
    await Deno.writeTextFile(
      `${dir}/inspect-metadata.json`,
      JSON.stringify({
        data: { attributes: { labels: { Source: "object" }, runscript: "#!/bin/sh\necho obj" } },
        type: "container",
      }),
    );
    await run("siftool", [
      "add",
      sifWithObjects,
      `${dir}/inspect-metadata.json`,
      "--datatype",
      "6",
      "--filename",
      "inspect-metadata.json",
      "--groupid",
      "1",
    ]);
    await run("siftool", [
      "add",
      sifWithObjects,
      squashfs,
      "--datatype",
      "4",
      "--parttype",
      "2",
      "--partfs",
      "1",
      "--partarch",
      "2",
      "--groupid",
      "1",
    ]);
    return { dir, sandbox, squashfs, sif, sifWithObjects };
  })();
  return fixture;
}

async function inspect(path: string, options: InspectOptions = {}) {
  const files = await openImageFiles(path);
  try {
    return await inspectImage(files, options);
  } finally {
    files.close();
  }
}

const TOOLS = ["mksquashfs", "siftool"];

testWithTools("inspect --all of a sandbox matches the golden document", TOOLS, async () => {
  const { sandbox } = await images();
  const { metadata, warnings } = await inspect(sandbox, { all: true });
  assert.deepEqual(warnings, []);
  await assertGolden(new URL("inspect_all.json", TESTDATA), inspectJSON(metadata));
});

testWithTools("SquashFS and SIF images inspect exactly like the sandbox", TOOLS, async () => {
  const { sandbox, squashfs, sif } = await images();
  const selections: InspectOptions[] = [
    { all: true },
    {},
    { deffile: true, runscript: true, startscript: true, test: true, helpfile: true },
    { environment: true },
    { listApps: true },
    { app: "tool-x", labels: true, runscript: true, helpfile: true, environment: true },
  ];
  for (const options of selections) {
    const expected = inspectJSON((await inspect(sandbox, options)).metadata);
    assert.equal(inspectJSON((await inspect(squashfs, options)).metadata), expected);
    assert.equal(inspectJSON((await inspect(sif, options)).metadata), expected);
  }
});

testWithTools(
  "a SIF's Deffile and inspect-metadata.json objects are preferred",
  TOOLS,
  async () => {
    const { sifWithObjects } = await images();
    const { metadata } = await inspect(sifWithObjects, { all: true });
    assert.deepEqual(metadata, {
      data: {
        attributes: {
          labels: { Source: "object" },
          runscript: "#!/bin/sh\necho obj",
          deffile: "Bootstrap: docker\nFrom: from-the-object",
        },
      },
      type: "container",
    });
  },
);

testWithTools("the text form follows SingularityCE's layout", TOOLS, async () => {
  const { sif } = await images();
  const text = async (options: InspectOptions) =>
    inspectText((await inspect(sif, options)).metadata, options);
  const labels = await text({});
  assert.match(labels, /^Author: me@example\.com\n/);
  assert.match(labels, /^org\.label-schema\.build-date: Friday_2_January_2026_3:4:5_UTC$/m);
  assert.match(labels, /^org\.opencontainers\.image\.source: https:\/\/example\.com\/busybox$/m);
  assert.equal(await text({ runscript: true }), '#!/bin/sh\n\n    echo "$GREETING: $*"\n');
  assert.equal(await text({ listApps: true }), "second\ntool-x\n");
  assert.equal(await text({ app: "tool-x", helpfile: true }), "    Help for tool-x.\n");
  assert.equal(
    await text({ app: "tool-x", labels: true }),
    "Purpose: testing\nSCIF_APP_NAME: tool-x\n",
  );
  const env = await text({ environment: true });
  assert.match(env, /^=== \/\.singularity\.d\/env\/10-docker2singularity\.sh ===\n#!\/bin\/sh\n/);
  assert.match(env, /=== \/\.singularity\.d\/env\/90-environment\.sh ===\n/);
  assert.match(env, /=== \/\.singularity\.d\/env\/91-environment\.sh ===\n/);
  assert.equal(await text({ deffile: true }), DEFFILE);
});

testWithTools(
  "the build-time inspect-metadata.json object, made from the layout, matches the image",
  TOOLS,
  async () => {
    const { sandbox } = await images();
    const object = await inspectMetadataObject(entriesImageFiles(layout()));
    assert.doesNotMatch(object, /\n\t/, "compact, as json.Marshal writes it");
    assert.match(object, /\\u0026/);
    const fromSandbox = (await inspect(sandbox, { all: true })).metadata;
    assert.deepEqual(JSON.parse(object), fromSandbox);
  },
);

testWithTools("inspecting an app the image does not have is an error", TOOLS, async () => {
  const { sif } = await images();
  await assert.rejects(
    () => inspect(sif, { app: "nope" }),
    (e: unknown) =>
      e instanceof SingletError && /no such app/.test(e.message) && /second, tool-x/.test(e.hint!),
  );
});

Deno.test("a sandbox symlink pointing outside the image is never followed to the host", async () => {
  const root = await Deno.makeTempDir({ prefix: "singlet-inspect-escape-" });
  try {
    await Deno.mkdir(`${root}/.singularity.d`, { recursive: true });
    await Deno.mkdir(`${root}/etc`);
    await Deno.symlink("/etc/hostname", `${root}/.singularity.d/runscript`);
    await Deno.symlink("../../../../../../etc/hostname", `${root}/.singularity.d/test`);
    await Deno.writeTextFile(`${root}/.singularity.d/labels.json`, '{"A": "1", "B": 2}');
    const { metadata, warnings } = await inspect(root, { runscript: true, test: true });
    assert.deepEqual(metadata.data.attributes, {});
    await Deno.writeTextFile(`${root}/etc/hostname`, "inside the image\n");
    const again = await inspect(root, { runscript: true, test: true, labels: true });
    assert.deepEqual(again.metadata.data.attributes, {
      labels: { A: "1" },
      runscript: "inside the image",
      test: "inside the image",
    });
    assert.deepEqual(warnings, [
      "Unable to parse label B in /.singularity.d/labels.json: not a string",
    ]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

testWithTools("singlet inspect prints SingularityCE's JSON and text", TOOLS, async () => {
  const { sif, dir } = await images();
  const json = await runSinglet(["inspect", "--json", "--labels", "--environment", sif]);
  assert.equal(json.code, 0, json.stderr);
  const doc = JSON.parse(json.stdout);
  assert.equal(doc.type, "container");
  assert.equal(doc.data.attributes.labels.Author, "me@example.com");
  assert.match(json.stdout, /\\u0026/, "Go-style escaping of '&'");
  const all = await runSinglet(["inspect", "--all", sif]);
  assert.equal(all.stdout, await Deno.readTextFile(new URL("inspect_all.json", TESTDATA)));
  const text = await runSinglet(["inspect", "--app", "tool-x", "--runscript", sif]);
  assert.equal(text.stdout, '#!/bin/sh\n\n    echo "tool $*"\n');
  const bad = await runSinglet(["inspect", `${dir}/Singularity`]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /FATAL: +Cannot open image ".*Singularity": not a SIF image/);
  const noApp = await runSinglet(["inspect", "--app", "nope", sif]);
  assert.equal(noApp.code, 255);
  assert.match(noApp.stderr, /hint: +the image's apps are: second, tool-x/);
});

testWithTools("singlet run-help prints the image's or an app's help", TOOLS, async () => {
  const { sif, squashfs } = await images();
  const image = await runSinglet(["run-help", sif]);
  assert.deepEqual([image.code, image.stdout], [0, "    Prints a greeting.\n"]);
  const app = await runSinglet(["run-help", "--app", "tool-x", squashfs]);
  assert.deepEqual([app.code, app.stdout], [0, "    Help for tool-x.\n"]);
  const none = await runSinglet(["run-help", "--app", "second", sif]);
  assert.deepEqual([none.code, none.stdout], [0, "No help sections were defined for this image\n"]);
  const fake = await runSinglet(["run-help", "--app", "fake", sif]);
  assert.deepEqual([fake.code, fake.stdout], [0, "No help sections were defined for this image\n"]);
  assert.match(fake.stderr, /WARNING: .*no such app/);
  const missing = await runSinglet(["run-help", "/nonexistent/image.sif"]);
  assert.equal(missing.code, 255);
});

globalThis.addEventListener("unload", () => {
  fixture?.then((f) => Deno.removeSync(f.dir, { recursive: true })).catch(() => {});
});
