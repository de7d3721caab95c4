import assert from "node:assert/strict";
import { assertGolden } from "../../tests/_helpers/golden.ts";
import { findTool, testWithTools } from "../../tests/_helpers/tools.ts";
import { parseDeffile } from "../build/deffile.ts";
import type { EntryMeta, FsSink } from "../squashfs/fstree.ts";
import {
  dockerEnvScript,
  labelsJSON,
  type MetaEntry,
  ociRunscript,
  schemaLabels,
  singularityDEntries,
  type SingularityDInput,
  writeSingularityD,
} from "./singularity_d.ts";

const TESTDATA = new URL("./testdata/", import.meta.url);

/** A busybox image's config as `docker inspect` shows it. */
const BUSYBOX_CONFIG = {
  Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
  Cmd: ["sh"],
  Labels: null,
};

const DEFFILE = `Bootstrap: docker
From: busybox:1.36

%help
    Prints a greeting.

%labels
    Author me@example.com
    Version 1.2

%environment
    export GREETING="hello"
    export FROM_ENV=90

%runscript
    echo "$GREETING from the runscript: $*"

%startscript
    exec sleep 1000

%test
    #!/bin/sh -e
    test "$GREETING" = hello

%apprun tool-x
    echo "tool $*"

%appenv tool-x
    export TOOL=1

%applabels tool-x
    Purpose testing
`;

const FIXED_LABELS = schemaLabels({
  date: new Date(Date.UTC(2026, 10, 5, 9, 3, 7)),
  version: "0.1.0",
  arch: "amd64",
  stage: parseDeffile(DEFFILE, "x.def").stages[0]!,
});

function render(entries: readonly MetaEntry[]): string {
  return entries.map((e) => {
    if (e.kind === "directory") return `== dir ${e.path} ${e.mode.toString(8)}\n`;
    if (e.kind === "symlink") return `== link ${e.path} -> ${e.target}\n`;
    return `== file ${e.path} ${e.mode.toString(8)}\n${e.content}${
      e.content.endsWith("\n") || e.content === "" ? "" : "\n"
    }`;
  }).join("");
}

function defInput(): SingularityDInput {
  return { deffile: parseDeffile(DEFFILE, "greet.def"), buildLabels: FIXED_LABELS };
}

Deno.test("the layout for a busybox OCI config matches its golden listing", async () => {
  const { entries, warnings } = singularityDEntries({ ociConfig: BUSYBOX_CONFIG });
  assert.deepEqual(warnings, []);
  await assertGolden(new URL("busybox_oci.golden", TESTDATA), render(entries));
});

Deno.test("the layout for a definition file matches its golden listing", async () => {
  const { entries, warnings } = singularityDEntries(defInput());
  assert.deepEqual(warnings, []);
  await assertGolden(new URL("deffile.golden", TESTDATA), render(entries));
});

Deno.test("every path appears once and every directory precedes its children", () => {
  for (const input of [{ ociConfig: BUSYBOX_CONFIG }, defInput()]) {
    const { entries } = singularityDEntries(input);
    const paths = entries.map((e) => e.path);
    assert.equal(new Set(paths).size, paths.length);
    const seen = new Set<string>();
    for (const path of paths) {
      const parent = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "";
      assert.ok(parent === "" || seen.has(parent), `${path} comes before ${parent}`);
      seen.add(path);
    }
    for (const name of ["exec", "run", "shell", "start", "test"]) {
      assert.ok(seen.has(`.singularity.d/actions/${name}`));
    }
  }
});

function scriptsOf(input: SingularityDInput): MetaEntry[] {
  return singularityDEntries(input).entries.filter((e) =>
    e.kind === "file" && (e.content.startsWith("#!") || e.path.endsWith(".sh"))
  );
}

testWithTools("every generated shell script passes shellcheck -s sh", ["shellcheck"], async () => {
  const dir = await Deno.makeTempDir({ prefix: "singularity-d-shellcheck-" });
  try {
    const inputs: SingularityDInput[] = [
      { ociConfig: BUSYBOX_CONFIG },
      defInput(),
      {
        ociConfig: {
          Env: ['Q=a"b', "D=$HOME `x` \\", "EMPTY", "NL=one\ntwo", "S='s'"],
          Entrypoint: ["/bin/sh", "-c", "echo \"$0\" '$1'"],
          Cmd: ["it's", "$(date)"],
        },
      },
      { ociConfig: { Entrypoint: ["/entry"] } },
      { ociConfig: {} },
    ];
    const files: string[] = [];
    let n = 0;
    for (const input of inputs) {
      for (const entry of scriptsOf(input)) {
        if (entry.kind !== "file") continue;
        const path = `${dir}/${n++}-${entry.path.replaceAll("/", "_")}`;
        await Deno.writeTextFile(path, entry.content);
        files.push(path);
      }
    }
    assert.ok(files.length > 40, `${files.length} scripts checked`);
    const out = await new Deno.Command("shellcheck", { args: ["-s", "sh", ...files] }).output();
    assert.equal(
      out.code,
      0,
      new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function sh(shell: string, script: string, args: string[] = [], env = {}) {
  const out = await new Deno.Command(findTool(shell)!, {
    args: ["-c", script, "sh", ...args],
    env,
    clearEnv: true,
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

const NASTY = {
  QUOTE: 'a"b',
  DOLLAR: "$HOME and ${HOME}",
  BACKTICK: "`id`",
  BACKSLASH: "c:\\dir\\",
  BRACE: "a}b",
  NEWLINE: "one\ntwo",
  SINGLE: "it's",
  PLAIN: "/usr/local/bin",
};

for (const shell of ["dash", "busybox"]) {
  testWithTools(`Docker ENV values come out exactly under ${shell}`, [shell], async () => {
    const env = Object.entries(NASTY).map(([k, v]) => `${k}=${v}`);
    const { script } = dockerEnvScript([...env, "PATH=/x:/y", "UNSET_NO_VALUE"]);
    const dump = Object.keys(NASTY).map((k) => `printf '%s\\0' "$${k}"`).join("; ");
    const program = findTool(shell)!;
    const prefix = shell === "busybox" ? ["sh"] : [];
    const run = (vars: Record<string, string>) =>
      new Deno.Command(program, {
        args: [...prefix, "-c", `${script}\n${dump}; printf '%s\\0' "$PATH" "$UNSET_NO_VALUE"`],
        env: vars,
        clearEnv: true,
      }).output();
    const fresh = await run({ HOME: "/home/u" });
    assert.equal(fresh.code, 0, new TextDecoder().decode(fresh.stderr));
    const values = new TextDecoder().decode(fresh.stdout).split("\0").slice(0, -1);
    assert.deepEqual(values, [...Object.values(NASTY), "/x:/y", ""]);
    // A value the environment already has wins, except PATH, which the image sets.
    const kept = await run({ PLAIN: "mine", PATH: "/host" });
    const keptValues = new TextDecoder().decode(kept.stdout).split("\0");
    assert.equal(keptValues[7], "mine");
    assert.equal(keptValues[8], "/x:/y");
  });
}

Deno.test("Docker ENV entries with names a shell cannot export are skipped with a warning", () => {
  const { script, warnings } = dockerEnvScript(["GOOD=1", "BAD-NAME=2", "9LIVES=3"]);
  assert.match(script, /export GOOD=/);
  assert.doesNotMatch(script, /BAD-NAME|9LIVES/);
  assert.equal(warnings.length, 2);
});

testWithTools(
  "the OCI runscript runs ENTRYPOINT + CMD the way Singularity does",
  ["dash"],
  async () => {
    const runscript = ociRunscript({
      Entrypoint: ["printf", "[%s]"],
      Cmd: ["default arg", "it's"],
    });
    const run = (args: string[], env: Record<string, string> = {}) =>
      sh("dash", runscript, args, { PATH: "/usr/bin:/bin", ...env });
    assert.equal((await run([])).stdout, "[default arg][it's]");
    assert.equal((await run(["a b", "c"])).stdout, "[a b][c]");
    // Traditional mode evaluates the arguments through the shell; --no-eval does not.
    assert.equal((await run(["$HOME"], { HOME: "/h" })).stdout, "[/h]");
    assert.equal(
      (await run(["$HOME"], { HOME: "/h", SINGULARITY_NO_EVAL: "1" })).stdout,
      "[$HOME]",
    );
    assert.equal((await run([], { SINGULARITY_NO_EVAL: "1" })).stdout, "[default arg][it's]");

    const cmdOnly = ociRunscript({ Cmd: ["printf", "<%s>", "x"] });
    assert.equal((await sh("dash", cmdOnly, [], { PATH: "/usr/bin:/bin" })).stdout, "<x>");
    assert.equal(
      (await sh("dash", cmdOnly, ["echo", "replaced"], { PATH: "/usr/bin:/bin" })).stdout,
      "replaced\n",
    );
    const neither = await sh("dash", ociRunscript({}), [], { PATH: "/usr/bin:/bin" });
    assert.deepEqual([neither.code, neither.stdout], [0, ""]);
  },
);

Deno.test("labels: image labels, then %post labels, then build labels, then %labels", () => {
  const def = parseDeffile("Bootstrap: docker\nFrom: a\n\n%labels\n  Own yes\n  Clash def\n", "l");
  const input: SingularityDInput = {
    deffile: def,
    ociConfig: { Labels: { Clash: "image", Image: "1" } },
    labels: { Post: "2" },
    buildLabels: { Build: "3" },
  };
  const labelsOf = (i: SingularityDInput) => {
    const entry = singularityDEntries(i).entries.find((e) =>
      e.path === ".singularity.d/labels.json"
    );
    assert.ok(entry?.kind === "file");
    return JSON.parse(entry.content);
  };
  assert.deepEqual(labelsOf(input), {
    Build: "3",
    Clash: "image",
    Image: "1",
    Own: "yes",
    Post: "2",
  });
  assert.deepEqual(singularityDEntries(input).warnings, [
    "Label: Clash already exists and force option is false, not overwriting",
  ]);
  assert.equal(labelsOf({ ...input, force: true }).Clash, "def");
});

Deno.test("labels.json is sorted, tab-indented and HTML-escaped like Go's encoder", () => {
  assert.equal(
    labelsJSON({ b: "<&>", a: "1" }),
    '{\n\t"a": "1",\n\t"b": "\\u003c\\u0026\\u003e"\n}',
  );
  assert.equal(labelsJSON({}), "{}");
});

Deno.test("build labels carry SingularityCE's date format and the header keys", () => {
  assert.equal(FIXED_LABELS["org.label-schema.build-date"], "Thursday_5_November_2026_9:3:7_UTC");
  assert.equal(FIXED_LABELS["org.label-schema.usage.singularity.deffile.from"], "busybox:1.36");
  assert.equal(FIXED_LABELS["org.label-schema.usage"], "/.singularity.d/runscript.help");
});

Deno.test("an update build appends %environment and keeps the definition history", () => {
  const { entries } = singularityDEntries({
    ...defInput(),
    existingEnvironment: "#!/bin/sh\nexport OLD=1\n",
    bootstrapHistory: ["first\n", "second\n"],
  });
  const get = (p: string) => entries.find((e) => e.path === p);
  const env = get(".singularity.d/env/90-environment.sh");
  assert.ok(env?.kind === "file");
  assert.match(env.content, /^#!\/bin\/sh\nexport OLD=1\n\n {4}export GREETING="hello"/);
  const h1 = get(".singularity.d/bootstrap_history/Singularity1");
  assert.ok(h1?.kind === "file" && h1.content === "second\n");
});

/** Records what a producer feeds, as the SquashFS writer would receive it. */
class RecordingSink implements FsSink {
  calls: string[] = [];
  files = new Map<string, string>();
  directory(path: Uint8Array, meta: EntryMeta) {
    this.calls.push(`d ${new TextDecoder().decode(path)} ${meta.mode.toString(8)} ${meta.uid}`);
  }
  async file(path: Uint8Array, meta: EntryMeta, size: number, data: AsyncIterable<Uint8Array>) {
    const chunks: Uint8Array[] = [];
    for await (const chunk of data) chunks.push(chunk);
    const bytes = new Uint8Array(await new Blob(chunks as BlobPart[]).arrayBuffer());
    assert.equal(bytes.length, size);
    const name = new TextDecoder().decode(path);
    this.files.set(name, new TextDecoder().decode(bytes));
    this.calls.push(`f ${name} ${meta.mode.toString(8)} ${meta.mtime}`);
  }
  symlink(path: Uint8Array, _meta: EntryMeta, target: Uint8Array) {
    this.calls.push(`l ${new TextDecoder().decode(path)} ${new TextDecoder().decode(target)}`);
  }
  hardlink(): void {
    throw new Error("not expected");
  }
  device(): void {
    throw new Error("not expected");
  }
  special(): void {
    throw new Error("not expected");
  }
}

Deno.test("writeSingularityD feeds an FsSink and leaves the image's own base paths alone", async () => {
  const sink = new RecordingSink();
  const warnings = await writeSingularityD(sink, { ociConfig: BUSYBOX_CONFIG }, {
    mtime: 1700000000,
    exists: (p) => p === "tmp" || p === "etc/hosts" || p === "singularity",
  });
  assert.deepEqual(warnings, []);
  assert.ok(sink.calls.includes("d .singularity.d/env 755 0"));
  assert.ok(sink.calls.includes("f .singularity.d/actions/run 755 1700000000"));
  assert.ok(!sink.calls.includes("l singularity .singularity.d/runscript"), "existing kept");
  assert.ok(sink.calls.includes("l .run .singularity.d/actions/run"));
  assert.ok(sink.calls.includes("l environment .singularity.d/env/90-environment.sh"));
  assert.ok(!sink.calls.some((c) => c.startsWith("d tmp ")), "existing /tmp untouched");
  assert.ok(!sink.files.has("etc/hosts"), "existing /etc/hosts untouched");
  assert.ok(sink.files.has("etc/resolv.conf"));
  assert.match(sink.files.get(".singularity.d/runscript")!, /^OCI_CMD='"sh"'$/m);
});

async function materialize(root: string, entries: readonly MetaEntry[]) {
  for (const e of entries) {
    const path = `${root}/${e.path}`;
    if (e.kind === "directory") await Deno.mkdir(path, { recursive: true, mode: e.mode });
    else if (e.kind === "symlink") await Deno.symlink(e.target, path);
    else await Deno.writeTextFile(path, e.content, { mode: e.mode });
  }
}

testWithTools(
  "in a busybox root, the actions source the environment in order and run the scripts",
  ["chroot", "busybox"],
  async () => {
    const root = await Deno.makeTempDir({ prefix: "singularity-d-root-" });
    try {
      await Deno.mkdir(`${root}/bin`);
      await Deno.copyFile("/bin/busybox", `${root}/bin/busybox`);
      for (const tool of ["sh", "echo", "test", "env", "cat", "printf", "kill", "sleep"]) {
        await Deno.symlink("busybox", `${root}/bin/${tool}`);
      }
      await materialize(root, singularityDEntries(defInput()).entries);
      // %post would have written this through $SINGULARITY_ENVIRONMENT: it wins over 90.
      await Deno.writeTextFile(
        `${root}/.singularity.d/env/91-environment.sh`,
        "export FROM_ENV=91\n",
        { append: true },
      );
      const chroot = async (args: string[], env: Record<string, string> = {}) => {
        const out = await new Deno.Command(findTool("chroot")!, {
          args: [root, ...args],
          env: { PATH: "/bin", ...env },
          clearEnv: true,
        }).output();
        return {
          code: out.code,
          out: new TextDecoder().decode(out.stdout),
          err: new TextDecoder().decode(out.stderr),
        };
      };
      const run = await chroot(["/.singularity.d/actions/run", "a", "b"]);
      assert.equal(run.out, "hello from the runscript: a b\n", run.err);
      const exec = await chroot([
        "/.singularity.d/actions/exec",
        "sh",
        "-c",
        'echo "$FROM_ENV $LD_LIBRARY_PATH $PS1"',
      ]);
      assert.equal(exec.out, "91 /.singularity.d/libs Singularity> \n", exec.err);
      const test = await chroot(["/.singularity.d/actions/test"]);
      assert.equal(test.code, 0, test.err);
      const app = await chroot(["/.run", "x"], { SINGULARITY_APPNAME: "tool-x" });
      assert.equal(app.out, "tool x\n", app.err);
      const appEnv = await chroot(
        ["/.exec", "sh", "-c", 'echo "$TOOL $SCIF_APPNAME $SCIF_APPROOT_tool_x"'],
        { SINGULARITY_APPNAME: "tool-x" },
      );
      assert.equal(appEnv.out, "1 tool-x /scif/apps/tool-x\n", appEnv.err);
      const noApp = await chroot(["/.run"], { SINGULARITY_APPNAME: "nope" });
      assert.notEqual(noApp.code, 0);
      const shell = await chroot(["/.shell", "-c", "echo $SHELL"]);
      assert.equal(shell.out, "/bin/sh\n", shell.err);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
  { root: true },
);
