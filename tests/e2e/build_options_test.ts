/**
 * `singlet build` options beyond the basic pipeline, through bin/singlet: `--section` on
 * `--update` of a sandbox (each section SingularityCE's `RunSection` knows), `--fix-perms`,
 * `IncludeCmd` with an OCI base whose config has ENTRYPOINT and CMD, and `%files` of FIFOs
 * and device nodes as root and as an unprivileged user.
 */
import assert from "node:assert/strict";
import { testWithTools } from "../_helpers/tools.ts";
import { runSinglet } from "../_helpers/singlet.ts";
import { busyboxRootfs } from "../_helpers/fixtures.ts";

const TOOLS = ["runc"];

async function read(path: string): Promise<string | undefined> {
  return await Deno.readTextFile(path).catch(() => undefined);
}

async function cp(from: string, to: string): Promise<void> {
  const out = await new Deno.Command("cp", { args: ["-a", from, to] }).output();
  assert.ok(out.success, `cp -a ${from} ${to}`);
}

testWithTools(
  "build --update --section runs only the named sections and leaves the others' files as they were",
  TOOLS,
  async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "singlet-section-test-" });
    try {
      const rootfs = await busyboxRootfs();
      await Deno.writeTextFile(`${dir}/one.txt`, "1\n");
      await Deno.writeTextFile(`${dir}/two.txt`, "2\n");
      await Deno.writeTextFile(
        `${dir}/first.def`,
        `Bootstrap: localimage
From: ${rootfs}
%files
    one.txt /one.txt
%environment
    export V=first
%runscript
    echo run1
%startscript
    echo start1
%test
    echo test1
%help
    help1
%labels
    L 1
%post
    echo post1 > /post.txt
`,
      );
      await Deno.writeTextFile(
        `${dir}/second.def`,
        `Bootstrap: localimage
From: ${rootfs}
%pre
    echo pre2 > "${dir}/pre.txt"
%setup
    echo setup2 > "$SINGULARITY_ROOTFS/setup.txt"
%files
    two.txt /two.txt
%environment
    export V=second
%runscript
    echo run2
%startscript
    echo start2
%test
    echo test2 > /test-ran.txt
%help
    help2
%labels
    M 2
%post
    echo post2 > /post.txt
`,
      );
      const r = await runSinglet(["build", "--sandbox", "base", "first.def"], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);

      /** Copy the base, update it with `--section sections`, describe the result. */
      const update = async (name: string, sections: string[]) => {
        const sb = `${dir}/${name}`;
        await cp(`${dir}/base`, sb);
        await Deno.remove(`${dir}/pre.txt`).catch(() => {});
        const args = sections.flatMap((s) => ["--section", s]);
        const u = await runSinglet(
          ["build", "--sandbox", "--update", ...args, name, "second.def"],
          {
            cwd: dir,
          },
        );
        assert.equal(u.code, 0, u.stderr);
        const sd = `${sb}/.singularity.d`;
        const labels = JSON.parse((await read(`${sd}/labels.json`))!);
        return {
          pre: await read(`${dir}/pre.txt`),
          setup: await read(`${sb}/setup.txt`),
          two: await read(`${sb}/two.txt`),
          post: await read(`${sb}/post.txt`),
          testRan: await read(`${sb}/test-ran.txt`),
          env: (await read(`${sd}/env/90-environment.sh`))!,
          runscript: (await read(`${sd}/runscript`))!,
          startscript: (await read(`${sd}/startscript`))!,
          test: (await read(`${sd}/test`))!,
          help: (await read(`${sd}/runscript.help`))!,
          labels,
          deffile: (await read(`${sd}/Singularity`))!,
        };
      };

      await t.step("labels,help: only %labels and %help", async () => {
        const s = await update("meta", ["labels,help"]);
        assert.equal(s.labels.M, "2");
        assert.equal(s.labels.L, "1");
        assert.equal(s.labels["org.label-schema.usage"], "/.singularity.d/runscript.help");
        assert.match(s.help, /^\s*help2\n$/);
        assert.match(s.runscript, /echo run1/);
        assert.match(s.startscript, /echo start1/);
        assert.match(s.test, /echo test1/);
        assert.doesNotMatch(s.env, /second/);
        assert.equal(s.two, undefined);
        assert.equal(s.post, "post1\n");
        assert.equal(s.setup, undefined);
        assert.equal(s.pre, undefined);
        assert.equal(s.testRan, undefined);
        // the stored definition is always the new one, the old one goes to the history
        assert.match(s.deffile, /echo run2/);
      });

      await t.step("environment, runscript, startscript, test: the scripts", async () => {
        const s = await update("scripts", ["environment", "runscript", "startscript", "test"]);
        // %environment is appended to what the sandbox had, as SingularityCE does
        assert.match(s.env, /export V=first[\s\S]*export V=second/);
        assert.match(s.runscript, /echo run2/);
        assert.match(s.startscript, /echo start2/);
        assert.match(s.test, /echo test2/);
        assert.equal(s.testRan, "test2\n");
        assert.match(s.help, /^\s*help1\n$/);
        assert.equal(s.labels.M, undefined);
        assert.equal(s.post, "post1\n");
        assert.equal(s.two, undefined);
      });

      await t.step("files: only %files", async () => {
        const s = await update("files", ["files"]);
        assert.equal(s.two, "2\n");
        assert.equal(s.post, "post1\n");
        assert.equal(s.setup, undefined);
        assert.match(s.runscript, /echo run1/);
        assert.equal(s.labels.M, undefined);
      });

      await t.step("pre, setup, post: only the scripts that change files", async () => {
        const s = await update("scriptlets", ["pre,setup,post"]);
        assert.equal(s.pre, "pre2\n");
        assert.equal(s.setup, "setup2\n");
        assert.equal(s.post, "post2\n");
        assert.equal(s.two, undefined);
        assert.match(s.runscript, /echo run1/);
        assert.equal(s.testRan, undefined);
      });

      await t.step("none: nothing runs, the metadata stays", async () => {
        const s = await update("none", ["none"]);
        assert.equal(s.pre, undefined);
        assert.equal(s.setup, undefined);
        assert.equal(s.two, undefined);
        assert.equal(s.post, "post1\n");
        assert.match(s.runscript, /echo run1/);
        assert.match(s.help, /^\s*help1\n$/);
        assert.equal(s.labels.L, "1");
        assert.equal(s.labels.M, undefined);
        assert.doesNotMatch(s.env, /second/);
      });

      await t.step("an unknown section is a usage error and changes nothing", async () => {
        const u = await runSinglet(
          ["build", "--sandbox", "--update", "--section", "lables", "base", "second.def"],
          { cwd: dir },
        );
        assert.equal(u.code, 254, u.stderr);
        assert.match(u.stderr, /section "lables"/);
        assert.equal(await read(`${dir}/base/two.txt`), undefined);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
