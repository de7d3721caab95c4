/**
 * `singlet build` as users run it (bin/singlet): image URIs to SIF and sandbox, sandbox <->
 * SIF, SIF -> SIF; results checked by running them, `inspect --json` and `siftool list`;
 * failed builds and refused overwrites leave nothing behind.
 */
import assert from "node:assert/strict";
import { testWithTools } from "../_helpers/tools.ts";
import { runSinglet } from "../_helpers/singlet.ts";
import {
  busyboxDockerArchive,
  busyboxOciArchive,
  busyboxOciLayout,
  WHITEOUT_EXPECTED_TREE,
  whiteoutOciLayout,
} from "../_helpers/fixtures.ts";
import { describeTree } from "../_helpers/tree.ts";

const decoder = new TextDecoder();

async function siftoolList(sif: string): Promise<string> {
  const out = await new Deno.Command("siftool", { args: ["list", sif], stdout: "piped" }).output();
  assert.equal(out.code, 0);
  return decoder.decode(out.stdout);
}

async function entries(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

async function withDir(fn: (dir: string, env: Record<string, string>) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "singlet-build-test-" });
  try {
    await fn(dir, { SINGLET_CACHEDIR: `${dir}/cache` });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

testWithTools(
  "build turns OCI archives and layouts into SIFs that run and list with siftool",
  ["siftool"],
  async () => {
    await withDir(async (dir, env) => {
      const layout = await busyboxOciLayout();
      const sources = [
        `oci-archive:${await busyboxOciArchive()}`,
        `docker-archive:${await busyboxDockerArchive()}`,
        `oci:${layout.dir}:${layout.ref}`,
      ];
      for (const [i, source] of sources.entries()) {
        const out = `${dir}/img${i}.sif`;
        const r = await runSinglet(["build", "--json", out, source], { env });
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(JSON.parse(r.stdout), {
          output: out,
          source,
          sourceKind: "uri",
          format: "sif",
        });
        const list = await siftoolList(out);
        assert.match(list, /Def\.FILE/);
        assert.match(list, /FS \(Squashfs\/\*System\/amd64\)/);
        const run = await runSinglet(["exec", out, "/bin/echo", `hello ${i}`], { env });
        assert.equal(run.stdout, `hello ${i}\n`, run.stderr);
      }
    });
  },
);

testWithTools(
  "build --sandbox unpacks an OCI image with its /.singularity.d",
  ["siftool"],
  async () => {
    await withDir(async (dir, env) => {
      const sandbox = `${dir}/sb`;
      const r = await runSinglet(
        ["build", "--sandbox", sandbox, `oci-archive:${await busyboxOciArchive()}`],
        { env },
      );
      assert.equal(r.code, 0, r.stderr);
      const stat = await Deno.stat(`${sandbox}/bin/busybox`);
      assert.ok(stat.isFile && (stat.mode! & 0o111) !== 0);
      assert.ok((await Deno.stat(`${sandbox}/.singularity.d/runscript`)).isFile);
      assert.ok((await Deno.stat(`${sandbox}/.singularity.d/actions/exec`)).isFile);
      JSON.parse(await Deno.readTextFile(`${sandbox}/.singularity.d/labels.json`));
      const run = await runSinglet(["exec", sandbox, "/bin/sh", "-c", "echo in-sandbox"], { env });
      assert.equal(run.stdout, "in-sandbox\n", run.stderr);
      // Only the sandbox and the cache: no temporary directory left beside it.
      assert.deepEqual(await entries(dir), ["cache", "sb"]);
    });
  },
);

testWithTools("build --sandbox resolves whiteouts and opaque directories", [], async () => {
  await withDir(async (dir, env) => {
    const layout = await whiteoutOciLayout();
    const r = await runSinglet(
      ["build", "--sandbox", `${dir}/w`, `oci:${layout.dir}:${layout.ref}`],
      { env },
    );
    assert.equal(r.code, 0, r.stderr);
    const added = new Set([
      ".singularity.d",
      ".exec",
      ".run",
      ".shell",
      ".test",
      "singularity",
      "environment",
      "dev",
      "proc",
      "sys",
      "tmp",
      "var",
      "home",
      "root",
      "etc",
    ]);
    const tree = (await describeTree(`${dir}/w`, { xattrs: true })).split("\n").filter(
      (line) => {
        const path = line.startsWith("symlink ") ? line.split(" ")[1]! : line.split(" ").at(-1)!;
        return line !== "" && !added.has(path.split("/")[0]!);
      },
    ).join("\n") + "\n";
    // Deno can neither create non-UTF-8 names nor set xattrs: those are skipped with a
    // warning (a SIF build keeps them).
    const expected = WHITEOUT_EXPECTED_TREE.split("\n").filter((line) =>
      !line.startsWith("xattr ") && !line.includes("\\x")
    ).join("\n");
    assert.equal(tree, expected);
    assert.match(r.stderr, /WARNING:.*caf.*not valid UTF-8/);
  });
});

testWithTools(
  "a sandbox becomes a SIF and back, and a SIF copies to a SIF, keeping its metadata",
  ["siftool"],
  async () => {
    await withDir(async (dir, env) => {
      const first = `${dir}/first.sif`;
      let r = await runSinglet(["build", first, `oci-archive:${await busyboxOciArchive()}`], {
        env,
      });
      assert.equal(r.code, 0, r.stderr);
      r = await runSinglet(["build", "--sandbox", `${dir}/sb`, first], { env });
      assert.equal(r.code, 0, r.stderr);
      // A change made in the sandbox reaches the SIF built from it.
      await Deno.writeTextFile(`${dir}/sb/marker`, "from the sandbox\n");
      r = await runSinglet(["build", "--json", `${dir}/second.sif`, `${dir}/sb`], { env });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).sourceKind, "sandbox");
      const list = await siftoolList(`${dir}/second.sif`);
      assert.match(list, /JSON\.Generic/);
      assert.match(list, /FS \(Squashfs\/\*System\/amd64\)/);
      const cat = await runSinglet(["exec", `${dir}/second.sif`, "/bin/cat", "/marker"], { env });
      assert.equal(cat.stdout, "from the sandbox\n", cat.stderr);
      const inspect = await runSinglet(["inspect", "--json", `${dir}/second.sif`], { env });
      assert.equal(inspect.code, 0, inspect.stderr);
      assert.equal(JSON.parse(inspect.stdout).type, "container");

      r = await runSinglet(["build", `${dir}/third.sif`, `${dir}/second.sif`], { env });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(
        await Deno.readFile(`${dir}/third.sif`),
        await Deno.readFile(`${dir}/second.sif`),
      );
    });
  },
);

Deno.test("build refuses to overwrite without --force and replaces with it", async () => {
  await withDir(async (dir, env) => {
    const out = `${dir}/out.sif`;
    await Deno.writeTextFile(out, "precious");
    const archive = `oci-archive:${await busyboxOciArchive()}`;
    let r = await runSinglet(["build", out, archive], { env });
    assert.equal(r.code, 255);
    assert.match(r.stderr, /FATAL: +Cannot build ".*out\.sif": it already exists/);
    assert.match(r.stderr, /--force/);
    assert.equal(await Deno.readTextFile(out), "precious");
    r = await runSinglet(["build", "--force", out, archive], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.notEqual(await Deno.readTextFile(out).catch(() => ""), "precious");
    // A sandbox is replaced as a whole.
    await Deno.mkdir(`${dir}/sb`);
    await Deno.writeTextFile(`${dir}/sb/old`, "x");
    r = await runSinglet(["build", "--force", "--sandbox", `${dir}/sb`, out], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!(await entries(`${dir}/sb`)).includes("old"));
    assert.deepEqual(await entries(dir), ["cache", "out.sif", "sb"]);
  });
});

Deno.test("a failed build leaves no output and no temporary files", async () => {
  await withDir(async (dir, env) => {
    const bad = `${dir}/bad.tar`;
    await Deno.writeTextFile(bad, "not an archive at all");
    let r = await runSinglet(["build", `${dir}/o.sif`, `oci-archive:${bad}`], { env });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /FATAL/);
    r = await runSinglet(["build", "--sandbox", `${dir}/o`, `oci-archive:${bad}`], { env });
    assert.notEqual(r.code, 0);
    r = await runSinglet(["build", `${dir}/o.sif`, `${dir}/missing`], { env });
    assert.equal(r.code, 255);
    assert.match(r.stderr, /not an image URI, a SIF, a SquashFS image or a sandbox/);
    const left = (await entries(dir)).filter((n) => n !== "cache" && n !== "bad.tar");
    assert.deepEqual(left, []);
  });
});
