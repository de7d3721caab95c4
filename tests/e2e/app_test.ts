/**
 * `--app NAME` for `run`, `exec`, `shell` and `test` (SCIF apps), run as the unprivileged
 * test user: on a SIF singlet built from an apps recipe, and on a SIF assembled with
 * `mksquashfs` + `siftool` from the same tree without `95-apps.sh` (an image whose env
 * scripts do not activate apps: the runtime's own activation must). `run-help --app` and
 * `inspect --app` on the same image.
 */
import assert from "node:assert/strict";
import { testWithTools } from "../_helpers/tools.ts";
import { runSinglet, SINGLET_BIN } from "../_helpers/singlet.ts";
import { busyboxRootfs } from "../_helpers/fixtures.ts";
import { siftoolNativeSif } from "../_helpers/siftool.ts";
import { runAs, type RunAsResult, type TestUser, testUser } from "../_helpers/unpriv.ts";

const TOOLS = ["siftool", "mksquashfs", "runc", "squashfuse_ll"];

const RECIPE = (rootfs: string) =>
  `Bootstrap: localimage
From: ${rootfs}

%environment
    export IMAGE_VAR=image

%runscript
    echo "main runscript"

%appinstall foo
    printf '#!/bin/sh\\necho "foo-tool says $FOO_VAR"\\n' > bin/foo-tool
    chmod 755 bin/foo-tool
    echo "$SCIF_APPNAME $SCIF_APPDATA $(pwd)" > installed.txt

%appenv foo
    export FOO_VAR=from-foo-env
    export IMAGE_VAR=overridden-by-foo

%apprun foo
    echo "foo runscript: $* ($FOO_VAR, $IMAGE_VAR)"

%apptest foo
    echo "foo test in $SCIF_APPROOT"
    exit 7

%apphelp foo
    Foo help text.

%applabels foo
    Purpose testing

%apprun bar
    echo "bar runscript $SCIF_APPNAME"
`;

async function sh(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

function envOf(stdout: string): Map<string, string> {
  return new Map(
    stdout.split("\n").filter((l) => l.includes("=")).map((l) => {
      const eq = l.indexOf("=");
      return [l.slice(0, eq), l.slice(eq + 1)] as [string, string];
    }),
  );
}

/** Assert what every action with `--app foo` must see, on one image. */
async function checkApps(
  t: Deno.TestContext,
  user: TestUser,
  image: string,
): Promise<void> {
  const singlet = (args: string[], stdin?: string): Promise<RunAsResult> =>
    runAs(user, [SINGLET_BIN, ...args], {
      env: { NO_COLOR: "1" },
      ...(stdin !== undefined ? { stdin } : {}),
      timeoutMs: 60_000,
    });

  await t.step("run --app runs the app's runscript with its environment", async () => {
    const r = await singlet(["run", "--app", "foo", image, "a", "b c"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "foo runscript: a b c (from-foo-env, overridden-by-foo)\n");
    const bar = await singlet(["run", "--app", "bar", image]);
    assert.equal(bar.stdout, "bar runscript bar\n", bar.stderr);
    const main = await singlet(["run", image]);
    assert.equal(main.stdout, "main runscript\n", main.stderr);
  });

  await t.step("exec --app sets the SCIF variables, PATH and LD_LIBRARY_PATH", async () => {
    const r = await singlet(["exec", "--app", "foo", image, "env"]);
    assert.equal(r.code, 0, r.stderr);
    const env = envOf(r.stdout);
    const expected: Record<string, string> = {
      SINGULARITY_APPNAME: "foo",
      SCIF_APPNAME: "foo",
      SCIF_APPROOT: "/scif/apps/foo",
      SCIF_APPMETA: "/scif/apps/foo/scif",
      SCIF_APPBIN: "/scif/apps/foo/bin",
      SCIF_APPLIB: "/scif/apps/foo/lib",
      SCIF_APPRUN: "/scif/apps/foo/scif/runscript",
      SCIF_APPTEST: "/scif/apps/foo/scif/test",
      SCIF_DATA: "/scif/data",
      SCIF_APPDATA: "/scif/data/foo",
      SCIF_APPINPUT: "/scif/data/foo/input",
      SCIF_APPOUTPUT: "/scif/data/foo/output",
      FOO_VAR: "from-foo-env",
      IMAGE_VAR: "overridden-by-foo",
    };
    for (const [key, value] of Object.entries(expected)) {
      assert.equal(env.get(key), value, `${key} in\n${r.stdout}`);
    }
    assert.match(env.get("PATH") ?? "", /^\/scif\/apps\/foo\/bin:\/scif\/apps\/foo:/);
    assert.match(env.get("LD_LIBRARY_PATH") ?? "", /(^|:)\/scif\/apps\/foo\/lib(:|$)/);
    const tool = await singlet(["exec", "--app", "foo", image, "foo-tool"]);
    assert.equal(tool.stdout, "foo-tool says from-foo-env\n", tool.stderr);
    const data = await singlet(["exec", "--app", "foo", image, "ls", "-d", "/scif/data/foo"]);
    assert.equal(data.stdout, "/scif/data/foo\n", data.stderr);
    // without --app nothing is active
    const plain = envOf((await singlet(["exec", image, "env"])).stdout);
    assert.equal(plain.get("SCIF_APPNAME"), undefined);
    assert.equal(plain.get("IMAGE_VAR"), "image");
    // the environment form of the flag
    const viaEnv = await runAs(user, [SINGLET_BIN, "exec", image, "sh", "-c", "echo $FOO_VAR"], {
      env: { NO_COLOR: "1", SINGULARITY_APP: "foo" },
      timeoutMs: 60_000,
    });
    assert.equal(viaEnv.stdout, "from-foo-env\n", viaEnv.stderr);
  });

  await t.step("test --app runs the app's test and keeps its exit status", async () => {
    const r = await singlet(["test", "--app", "foo", image]);
    assert.equal(r.code, 7, r.stderr);
    assert.equal(r.stdout, "foo test in /scif/apps/foo\n");
    const none = await singlet(["test", "--app", "bar", image]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /No tests for contained app: bar/);
  });

  await t.step("shell --app starts the shell with the app active", async () => {
    const r = await singlet(["shell", "--app", "foo", image], 'echo "$SCIF_APPNAME $FOO_VAR"\n');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "foo from-foo-env");
  });

  await t.step("an unknown app is one error line naming the apps, exit 255", async () => {
    for (const action of ["run", "exec", "shell", "test"]) {
      const args = action === "exec" ? ["true"] : [];
      const r = await singlet([action, "--app", "nope", image, ...args]);
      assert.equal(r.code, 255, `${action}: ${r.stderr}`);
      const lines = r.stderr.trim().split("\n");
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, /FATAL.*app "nope".*its apps are bar, foo/);
    }
    const weird = await singlet(["run", "--app", "../foo", image]);
    assert.equal(weird.code, 255);
  });

  await t.step("run-help --app and inspect --app show the app's metadata", async () => {
    const help = await singlet(["run-help", "--app", "foo", image]);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /Foo help text\./);
    const labels = await singlet(["inspect", "--app", "foo", "--labels", image]);
    assert.equal(labels.code, 0, labels.stderr);
    assert.match(labels.stdout, /Purpose: testing/);
    assert.match(labels.stdout, /SCIF_APP_NAME: foo/);
  });
}

testWithTools(
  "--app runs SCIF apps with SingularityCE's semantics, on a built SIF and a siftool-assembled one",
  TOOLS,
  async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "singlet-app-test-" });
    try {
      await Deno.chmod(dir, 0o755);
      await Deno.writeTextFile(`${dir}/apps.def`, RECIPE(await busyboxRootfs()));
      const user = await testUser({ subids: true });
      // the apps image is built by the unprivileged user (into a directory of theirs)
      const userDir = `${dir}/user`;
      await Deno.mkdir(userDir);
      await Deno.copyFile(`${dir}/apps.def`, `${userDir}/apps.def`);
      await Deno.chown(userDir, user.uid, user.gid);
      const built = await runAs(user, [SINGLET_BIN, "build", "apps.sif", "apps.def"], {
        cwd: userDir,
        env: { NO_COLOR: "1" },
        timeoutMs: 120_000,
      });
      assert.equal(built.code, 0, built.stderr);
      await Deno.rename(`${userDir}/apps.sif`, `${dir}/apps.sif`);
      const sandbox = await runSinglet(["build", "--sandbox", "apps-sb", "apps.def"], {
        cwd: dir,
      });
      assert.equal(sandbox.code, 0, sandbox.stderr);
      // the same tree, without the env script that activates apps, as another tool's SIF
      await Deno.remove(`${dir}/apps-sb/.singularity.d/env/95-apps.sh`);
      await sh("mksquashfs", [`${dir}/apps-sb`, `${dir}/bare.sqfs`, "-noappend", "-quiet"]);
      await siftoolNativeSif(`${dir}/assembled.sif`, `${dir}/bare.sqfs`);
      await Deno.chmod(`${dir}/apps.sif`, 0o644);
      await Deno.chmod(`${dir}/assembled.sif`, 0o644);
      await t.step("singlet-built SIF", (t) => checkApps(t, user, `${dir}/apps.sif`));
      await t.step("as root", async () => {
        const r = await runSinglet(["exec", "--app", "foo", `${dir}/apps.sif`, "foo-tool"]);
        assert.equal(r.stdout, "foo-tool says from-foo-env\n", r.stderr);
        // %appinstall ran in the app's root with its 01-base.sh sourced
        assert.equal(
          await Deno.readTextFile(`${dir}/apps-sb/scif/apps/foo/installed.txt`),
          "foo /scif/data/foo /scif/apps/foo\n",
        );
        const sb = await runSinglet(["run", "--app", "foo", `${dir}/apps-sb`, "x"]);
        assert.equal(sb.stdout, "foo runscript: x (from-foo-env, overridden-by-foo)\n", sb.stderr);
      });
      await t.step(
        "SIF assembled with mksquashfs + siftool, no 95-apps.sh",
        (t) => checkApps(t, user, `${dir}/assembled.sif`),
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

testWithTools(
  "build --update replaces an app's scripts and adds new apps, as SingularityCE rewrites them",
  ["runc"],
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "singlet-app-update-test-" });
    try {
      const rootfs = await busyboxRootfs();
      await Deno.writeTextFile(
        `${dir}/v1.def`,
        `Bootstrap: localimage\nFrom: ${rootfs}\n%apprun foo\n    echo foo v1\n`,
      );
      await Deno.writeTextFile(
        `${dir}/v2.def`,
        `Bootstrap: localimage\nFrom: ${rootfs}\n%apprun foo\n    echo foo v2\n` +
          "%apprun bar\n    echo bar v2\n%appenv bar\n    export BAR=yes\n",
      );
      let r = await runSinglet(["build", "--sandbox", "sb", "v1.def"], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      r = await runSinglet(["run", "--app", "foo", `${dir}/sb`]);
      assert.equal(r.stdout, "foo v1\n", r.stderr);
      r = await runSinglet(["build", "--sandbox", "--update", "sb", "v2.def"], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      r = await runSinglet(["run", "--app", "foo", `${dir}/sb`]);
      assert.equal(r.stdout, "foo v2\n", r.stderr);
      r = await runSinglet(["exec", "--app", "bar", `${dir}/sb`, "sh", "-c", "echo $BAR"]);
      assert.equal(r.stdout, "yes\n", r.stderr);
      const globals = await Deno.readTextFile(`${dir}/sb/.singularity.d/env/94-appsbase.sh`);
      assert.match(globals, /SCIF_APPRUN_bar=/);
      assert.match(globals, /SCIF_APPENV_bar=/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
