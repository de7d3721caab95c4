/**
 * `singlet build` from definition files, as users run it: OCI-archive, localimage, scratch,
 * multi-stage and templated recipes; `%post` run in a fakeroot container (as root and as the
 * unprivileged test user); results checked by running them, `inspect --json` and
 * `siftool list`; failed builds leave no output and no build directory.
 */
import assert from "node:assert/strict";
import { testWithTools } from "../_helpers/tools.ts";
import { runSinglet, SINGLET_BIN } from "../_helpers/singlet.ts";
import { busyboxOciArchive, busyboxOciLayout } from "../_helpers/fixtures.ts";
import { startRegistry } from "../_helpers/registry.ts";
import { parseDeffile } from "../../core/build/deffile.ts";
import { toSingularityJSON } from "../../core/build/deffile_json.ts";
import { runAs, testUser } from "../_helpers/unpriv.ts";

const decoder = new TextDecoder();
const TOOLS = ["siftool", "runc", "unshare", "squashfuse_ll"];

async function siftoolList(sif: string): Promise<string> {
  const out = await new Deno.Command("siftool", { args: ["list", sif], stdout: "piped" }).output();
  assert.equal(out.code, 0);
  return decoder.decode(out.stdout);
}

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

async function withDir(fn: (dir: string, env: Record<string, string>) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "singlet-build-def-" });
  try {
    await fn(dir, { SINGLET_CACHEDIR: `${dir}/cache` });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function inspectLabels(image: string, env: Record<string, string>) {
  const r = await runSinglet(["inspect", "--json", image], { env });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).data.attributes.labels as Record<string, string>;
}

function recipe(archive: string): string {
  return `Bootstrap: oci-archive
From: ${archive}

%files
    "data/with space.txt" /opt/
    data/*.cfg /etc/app/

%post
    echo built-by-post > /built.txt
    echo 'export FROMPOST=yes' >> $SINGULARITY_ENVIRONMENT
    echo 'post.label fromPost' >> $SINGULARITY_LABELS

%environment
    export GREETING=hello

%runscript
    echo "run $GREETING $FROMPOST $(cat /built.txt) $(cat '/opt/with space.txt') $*"

%labels
    Author tester

%help
    Prints a greeting.

%test
    test "$(cat /built.txt)" = built-by-post
`;
}

async function writeData(dir: string): Promise<void> {
  await Deno.mkdir(`${dir}/data`);
  await Deno.writeTextFile(`${dir}/data/with space.txt`, "spaced");
  await Deno.writeTextFile(`${dir}/data/a.cfg`, "a=1\n");
  await Deno.writeTextFile(`${dir}/data/b.cfg`, "b=2\n");
}

testWithTools(
  "an oci-archive recipe builds a SIF with its %post, %files, environment, labels and help",
  TOOLS,
  async () => {
    await withDir(async (dir, env) => {
      await writeData(dir);
      await Deno.writeTextFile(`${dir}/r.def`, recipe(await busyboxOciArchive()));
      const r = await runSinglet(["build", "--json", `${dir}/r.sif`, `${dir}/r.def`], {
        env,
        cwd: dir,
      });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).format, "sif");
      assert.match(r.stderr, /Running testscript/);
      const run = await runSinglet(["run", `${dir}/r.sif`, "arg1"], { env });
      assert.equal(run.stdout, "run hello yes built-by-post spaced arg1\n", run.stderr);
      const cfg = await runSinglet([
        "exec",
        `${dir}/r.sif`,
        "cat",
        "/etc/app/a.cfg",
        "/etc/app/b.cfg",
      ], {
        env,
      });
      assert.equal(cfg.stdout, "a=1\nb=2\n", cfg.stderr);
      const labels = await inspectLabels(`${dir}/r.sif`, env);
      assert.equal(labels.Author, "tester");
      assert.equal(labels["post.label"], "fromPost");
      assert.equal(labels["org.label-schema.usage.singularity.deffile.bootstrap"], "oci-archive");
      assert.equal(labels["org.label-schema.schema-version"], "1.0");
      const help = await runSinglet(["run-help", `${dir}/r.sif`], { env });
      assert.match(help.stdout, /Prints a greeting\./);
      const deffile = await runSinglet(["inspect", "--deffile", `${dir}/r.sif`], { env });
      assert.match(deffile.stdout, /%post/);
      const list = await siftoolList(`${dir}/r.sif`);
      assert.match(list, /Def\.FILE/);
      assert.match(list, /JSON\.Generic/);
      assert.match(list, /FS \(Squashfs\/\*System\/amd64\)/);
      // No build directory or temporary file left beside the output.
      assert.deepEqual(await names(dir), ["cache", "data", "r.def", "r.sif"]);
    });
  },
);

testWithTools(
  "localimage, scratch and multi-stage recipes with %files from a stage, and --sandbox",
  TOOLS,
  async () => {
    await withDir(async (dir, env) => {
      await writeData(dir);
      await Deno.writeTextFile(`${dir}/r.def`, recipe(await busyboxOciArchive()));
      let r = await runSinglet(["build", `${dir}/base.sif`, `${dir}/r.def`], { env, cwd: dir });
      assert.equal(r.code, 0, r.stderr);

      // localimage: only %runscript and %labels change; the base's environment stays.
      await Deno.writeTextFile(
        `${dir}/local.def`,
        `Bootstrap: localimage\nFrom: ${dir}/base.sif\n\n%runscript\n    echo "local $GREETING $(cat /built.txt)"\n\n%labels\n    Version 2\n`,
      );
      r = await runSinglet(["build", "--sandbox", `${dir}/local`, `${dir}/local.def`], { env });
      assert.equal(r.code, 0, r.stderr);
      let run = await runSinglet(["run", `${dir}/local`], { env });
      assert.equal(run.stdout, "local hello built-by-post\n", run.stderr);
      const history = await Deno.readTextFile(
        `${dir}/local/.singularity.d/bootstrap_history/Singularity0`,
      );
      assert.match(history, /Bootstrap: oci-archive/);
      const labels = JSON.parse(
        await Deno.readTextFile(`${dir}/local/.singularity.d/labels.json`),
      );
      assert.equal(labels.Author, "tester");
      assert.equal(labels.Version, "2");

      // Multi-stage: a file made in stage one's %post copied into a scratch final stage.
      await Deno.writeTextFile(
        `${dir}/multi.def`,
        `Bootstrap: oci-archive\nFrom: ${await busyboxOciArchive()}\nStage: one\n\n%post\n    echo from-stage-one > /made.txt\n\n` +
          `Bootstrap: localimage\nFrom: ${dir}/base.sif\nStage: two\n\n%files from one\n    /made.txt /opt/made.txt\n\n%runscript\n    cat /opt/made.txt\n`,
      );
      r = await runSinglet(["build", `${dir}/multi.sif`, `${dir}/multi.def`], { env });
      assert.equal(r.code, 0, r.stderr);
      run = await runSinglet(["run", `${dir}/multi.sif`], { env });
      assert.equal(run.stdout, "from-stage-one\n", run.stderr);

      // scratch with %files: a tree with only what the recipe copies (and the metadata).
      await Deno.writeTextFile(
        `${dir}/scratch.def`,
        `Bootstrap: scratch\n\n%files\n    data /data\n`,
      );
      r = await runSinglet(["build", "--sandbox", `${dir}/scratch`, `${dir}/scratch.def`], {
        env,
        cwd: dir,
      });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await Deno.readTextFile(`${dir}/scratch/data/a.cfg`), "a=1\n");
      assert.ok((await Deno.stat(`${dir}/scratch/.singularity.d/Singularity`)).isFile);
      assert.ok(!(await names(`${dir}/scratch`)).includes("bin"));
    });
  },
);

testWithTools(
  "a templated recipe takes --build-arg and --build-arg-file values",
  TOOLS,
  async () => {
    await withDir(async (dir, env) => {
      await Deno.writeTextFile(
        `${dir}/t.def`,
        `Bootstrap: oci-archive\nFrom: {{ ARCHIVE }}\n\n%arguments\n    WHO=default\n    WHAT=thing\n\n%runscript\n    echo "{{ WHO }} {{ WHAT }}"\n`,
      );
      await Deno.writeTextFile(`${dir}/args`, `WHAT=from-file\n`);
      const r = await runSinglet([
        "build",
        "--build-arg",
        `ARCHIVE=${await busyboxOciArchive()}`,
        "--build-arg",
        "WHO=flag",
        "--build-arg-file",
        `${dir}/args`,
        `${dir}/t.sif`,
        `${dir}/t.def`,
      ], { env });
      assert.equal(r.code, 0, r.stderr);
      const run = await runSinglet(["run", `${dir}/t.sif`], { env });
      assert.equal(run.stdout, "flag from-file\n", run.stderr);
      // A placeholder without a value is a parse error naming the file and line.
      const bad = await runSinglet(["build", `${dir}/u.sif`, `${dir}/t.def`], { env });
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /t\.def:2:\d+: build var ARCHIVE is not defined/);
      assert.ok(!(await names(dir)).includes("u.sif"));
    });
  },
);

testWithTools(
  "a failing %post, %test or %files leaves no output and no build directory",
  TOOLS,
  async () => {
    await withDir(async (dir, env) => {
      const archive = await busyboxOciArchive();
      const cases = {
        post: `%post\n    echo partial > /x\n    false\n    echo never\n`,
        test: `%test\n    exit 3\n`,
        files: `%files\n    /no/such/file /opt/\n`,
      };
      for (const [name, body] of Object.entries(cases)) {
        await Deno.writeTextFile(
          `${dir}/${name}.def`,
          `Bootstrap: oci-archive\nFrom: ${archive}\n\n${body}`,
        );
        for (const sandbox of [false, true]) {
          const out = `${dir}/work/${name}.out`;
          await Deno.mkdir(`${dir}/work`, { recursive: true });
          const r = await runSinglet(
            ["build", ...(sandbox ? ["--sandbox"] : []), out, `${dir}/${name}.def`],
            { env },
          );
          assert.notEqual(r.code, 0, `${name} should fail`);
          assert.match(r.stderr, /FATAL/);
          assert.deepEqual(await names(`${dir}/work`), [], `${name}: ${r.stderr}`);
        }
      }
      // --notest skips the failing test.
      const r = await runSinglet(["build", "--notest", `${dir}/ok.sif`, `${dir}/test.def`], {
        env,
      });
      assert.equal(r.code, 0, r.stderr);
    });
  },
);

testWithTools(
  "the unprivileged test user builds a recipe whose %post writes as root",
  [...TOOLS, "newuidmap"],
  async () => {
    const user = await testUser({ subids: true });
    const dir = await Deno.makeTempDir({ prefix: "singlet-build-user-" });
    try {
      await Deno.chown(dir, user.uid, user.gid);
      const archive = await busyboxOciArchive();
      await Deno.writeTextFile(
        `${dir}/u.def`,
        `Bootstrap: oci-archive\nFrom: ${archive}\n\n%post\n    id -u > /post-uid\n    echo 'export WHO=post' >> $SINGULARITY_ENVIRONMENT\n\n%runscript\n    echo "$WHO $(cat /post-uid)"\n`,
      );
      await Deno.chmod(`${dir}/u.def`, 0o644);
      const env = { SINGLET_CACHEDIR: `${dir}/cache` };
      const r = await runAs(user, [SINGLET_BIN, "build", `${dir}/u.sif`, `${dir}/u.def`], {
        env,
        cwd: dir,
      });
      assert.equal(r.code, 0, r.stderr);
      const run = await runAs(user, [SINGLET_BIN, "run", `${dir}/u.sif`], { env, cwd: dir });
      assert.equal(run.stdout, "post 0\n", run.stderr);
      assert.equal((await Deno.stat(`${dir}/u.sif`)).uid, user.uid);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

testWithTools(
  "%pre and %setup run on the host, %appfiles and %appinstall build a SCIF app",
  TOOLS,
  async () => {
    await withDir(async (dir, env) => {
      await Deno.writeTextFile(`${dir}/tool.txt`, "tool data\n");
      await Deno.writeTextFile(
        `${dir}/apps.def`,
        `Bootstrap: oci-archive\nFrom: ${await busyboxOciArchive()}\n\n` +
          `%pre\n    echo pre-ran > "${dir}/pre.marker"\n\n` +
          `%setup\n    echo setup-ran > "$SINGULARITY_ROOTFS/setup.txt"\n\n` +
          `%appfiles hello\n    tool.txt\n\n` +
          `%appinstall hello\n    echo installed > bin/installed\n    cp tool.txt bin/copied.txt\n\n` +
          `%apprun hello\n    echo "app $(cat /scif/apps/hello/bin/installed)"\n`,
      );
      const r = await runSinglet(["build", `${dir}/apps.sif`, `${dir}/apps.def`], {
        env,
        cwd: dir,
      });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await Deno.readTextFile(`${dir}/pre.marker`), "pre-ran\n");
      const cat = await runSinglet([
        "exec",
        `${dir}/apps.sif`,
        "cat",
        "/setup.txt",
        "/scif/apps/hello/bin/copied.txt",
      ], { env });
      assert.equal(cat.stdout, "setup-ran\ntool data\n", cat.stderr);
      const app = await runSinglet(
        ["exec", `${dir}/apps.sif`, "/bin/sh", "/scif/apps/hello/scif/runscript"],
        { env },
      );
      assert.equal(app.stdout, "app installed\n", app.stderr);
    });
  },
);

testWithTools("%files never writes through an image's symlink to the host", TOOLS, async () => {
  await withDir(async (dir, env) => {
    // A base sandbox whose /opt/out points at a host directory by absolute path.
    const hostDir = `${dir}/host-target`;
    await Deno.mkdir(hostDir);
    let r = await runSinglet(
      ["build", "--sandbox", `${dir}/base`, `oci-archive:${await busyboxOciArchive()}`],
      { env },
    );
    assert.equal(r.code, 0, r.stderr);
    await Deno.mkdir(`${dir}/base/opt`, { recursive: true });
    await Deno.symlink(hostDir, `${dir}/base/opt/out`);
    await Deno.writeTextFile(`${dir}/payload`, "payload\n");
    await Deno.writeTextFile(
      `${dir}/l.def`,
      `Bootstrap: localimage\nFrom: ${dir}/base\n\n%files\n    payload /opt/out/payload\n`,
    );
    r = await runSinglet(["build", "--sandbox", `${dir}/built`, `${dir}/l.def`], {
      env,
      cwd: dir,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await names(hostDir), []);
    // The link was followed inside the image: the file landed at the same path in the root.
    assert.equal(
      await Deno.readTextFile(`${dir}/built/${hostDir}/payload`),
      "payload\n",
    );
  });
});

testWithTools(
  "a localimage recipe that changes only metadata reuses the base tree (the edit-rebuild loop)",
  TOOLS,
  async () => {
    await withDir(async (dir, env) => {
      await writeData(dir);
      await Deno.writeTextFile(`${dir}/r.def`, recipe(await busyboxOciArchive()));
      let r = await runSinglet(["build", `${dir}/base.sif`, `${dir}/r.def`], { env, cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      await Deno.writeTextFile(
        `${dir}/edit.def`,
        `Bootstrap: localimage\nFrom: ${dir}/base.sif\n\n%runscript\n    echo "v2 $GREETING $FROMPOST $(cat /built.txt)"\n\n%labels\n    Version 2\n\n%test\n    test -f /built.txt\n`,
      );
      r = await runSinglet(["build", `${dir}/edit.sif`, `${dir}/edit.def`], { env });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /metadata only/);
      assert.match(r.stderr, /Running testscript/);
      const run = await runSinglet(["run", `${dir}/edit.sif`], { env });
      assert.equal(run.stdout, "v2 hello yes built-by-post\n", run.stderr);
      const labels = await inspectLabels(`${dir}/edit.sif`, env);
      assert.equal(labels.Version, "2");
      assert.equal(labels.Author, "tester");
      const cat = await runSinglet([
        "exec",
        `${dir}/edit.sif`,
        "cat",
        "/.singularity.d/bootstrap_history/Singularity0",
        "/etc/app/a.cfg",
      ], { env });
      assert.match(cat.stdout, /Bootstrap: oci-archive[\s\S]*a=1\n$/, cat.stderr);
      assert.match(await siftoolList(`${dir}/edit.sif`), /Def\.FILE/);
      // A failing %test leaves nothing.
      await Deno.writeTextFile(
        `${dir}/bad.def`,
        `Bootstrap: localimage\nFrom: ${dir}/base.sif\n\n%test\n    exit 1\n`,
      );
      r = await runSinglet(["build", `${dir}/bad.sif`, `${dir}/bad.def`], { env });
      assert.notEqual(r.code, 0);
      assert.ok(!(await names(dir)).some((n) => n.startsWith(".") || n === "bad.sif"));
    });
  },
);

testWithTools(
  "--update runs a recipe over an existing sandbox without bootstrapping",
  TOOLS,
  async () => {
    await withDir(async (dir, env) => {
      await writeData(dir);
      await Deno.writeTextFile(`${dir}/r.def`, recipe(await busyboxOciArchive()));
      let r = await runSinglet(["build", "--sandbox", `${dir}/sb`, `${dir}/r.def`], {
        env,
        cwd: dir,
      });
      assert.equal(r.code, 0, r.stderr);
      await Deno.writeTextFile(
        `${dir}/u.def`,
        `Bootstrap: debootstrap\nFrom: ignored-on-update\n\n%post\n    echo second > /second.txt\n    echo 'export SECOND=2' >> $SINGULARITY_ENVIRONMENT\n\n%labels\n    Updated yes\n`,
      );
      r = await runSinglet(["build", "--update", "--sandbox", `${dir}/sb`, `${dir}/u.def`], {
        env,
      });
      assert.equal(r.code, 0, r.stderr);
      const out = await runSinglet(
        ["exec", `${dir}/sb`, "sh", "-c", "cat /second.txt /built.txt; echo $SECOND $FROMPOST"],
        { env },
      );
      assert.equal(out.stdout, "second\nbuilt-by-post\n2 yes\n", out.stderr);
      const labels = JSON.parse(await Deno.readTextFile(`${dir}/sb/.singularity.d/labels.json`));
      assert.equal(labels.Updated, "yes");
      assert.equal(labels.Author, "tester");
      // --update needs an existing sandbox.
      r = await runSinglet(["build", "--update", `${dir}/x.sif`, `${dir}/u.def`], { env });
      assert.equal(r.code, 255);
      assert.match(r.stderr, /not an existing sandbox directory/);
      assert.ok(!(await names(dir)).some((n) => n.startsWith(".")));
    });
  },
);

testWithTools(
  "a Bootstrap: docker recipe with Registry: and Namespace: builds from a loopback registry",
  [...TOOLS, "docker-registry"],
  async () => {
    const layout = await busyboxOciLayout();
    const registry = await startRegistry();
    try {
      await registry.push(layout.dir, layout.ref, "singlet/busybox:latest");
      await withDir(async (dir, env) => {
        await Deno.writeTextFile(
          `${dir}/d.def`,
          `Bootstrap: docker\nRegistry: ${registry.host}\nNamespace: singlet\nFrom: busybox:latest\n\n` +
            `%environment\n    export WHERE=registry\n\n%runscript\n    echo "from $WHERE"\n\n%labels\n    Source registry\n`,
        );
        const r = await runSinglet(["build", "--no-https", `${dir}/d.sif`, `${dir}/d.def`], {
          env,
        });
        assert.equal(r.code, 0, r.stderr);
        const run = await runSinglet(["run", `${dir}/d.sif`], { env });
        assert.equal(run.stdout, "from registry\n", run.stderr);
        const labels = await inspectLabels(`${dir}/d.sif`, env);
        assert.equal(labels.Source, "registry");
        assert.equal(labels["org.label-schema.usage.singularity.deffile.namespace"], "singlet");

        // The same recipe as `build --json` input (SingularityCE's JSON shape).
        const json = toSingularityJSON(parseDeffile(await Deno.readTextFile(`${dir}/d.def`)));
        await Deno.writeTextFile(`${dir}/d.json`, JSON.stringify(json));
        const j = await runSinglet(["build", "--no-https", `${dir}/j.sif`, `${dir}/d.json`], {
          env,
        });
        assert.equal(j.code, 0, j.stderr);
        const runJ = await runSinglet(["run", `${dir}/j.sif`], { env });
        assert.equal(runJ.stdout, "from registry\n", runJ.stderr);
      });
    } finally {
      await registry.stop();
    }
  },
);
