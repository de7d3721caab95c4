/**
 * `singlet build` options beyond the basic pipeline, through bin/singlet: `--section` on
 * `--update` of a sandbox (each section SingularityCE's `RunSection` knows), `--fix-perms`,
 * `IncludeCmd` with an OCI base whose config has ENTRYPOINT and CMD, and `%files` of FIFOs
 * and device nodes as root and as an unprivileged user.
 */
import assert from "node:assert/strict";
import { testWithTools } from "../_helpers/tools.ts";
import { runSinglet } from "../_helpers/singlet.ts";
import { busyboxLayerTar, busyboxRootfs } from "../_helpers/fixtures.ts";
import { buildImage, type ImageRunConfig, writeOciLayout } from "../_helpers/oci_writer.ts";
import { writeTar } from "../_helpers/tar_writer.ts";
import { startRegistry } from "../_helpers/registry.ts";
import { runAs, testUser } from "../_helpers/unpriv.ts";
import { SINGLET_BIN } from "../_helpers/singlet.ts";

const TOOLS = ["runc"];

async function read(path: string): Promise<string | undefined> {
  return await Deno.readTextFile(path).catch(() => undefined);
}

async function sh(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/**
 * An OCI layout: the busybox layer, then a layer with a 0000 directory holding 0444 files
 * and a 0000 subdirectory (what some Docker images ship), with the given config.
 */
async function lockedImage(dir: string, config: ImageRunConfig): Promise<string> {
  const locked = writeTar([
    { name: "locked", type: "directory", mode: 0o000 },
    { name: "locked/a.txt", type: "file", mode: 0o444, content: "a\n" },
    { name: "locked/inner", type: "directory", mode: 0o000 },
    { name: "locked/inner/b.txt", type: "file", mode: 0o444, content: "b\n" },
  ]);
  const image = buildImage({
    layers: [await Deno.readFile(await busyboxLayerTar()), locked],
    config,
  });
  const layout = `${dir}/layout`;
  await writeOciLayout(layout, image, "latest");
  await sh("chmod", ["-R", "a+rX", layout]);
  return layout;
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

testWithTools(
  "build --fix-perms gives the owner rw on files and rwx on directories, so the user can delete the sandbox",
  [...TOOLS, "unshare", "newuidmap"],
  async () => {
    const user = await testUser({ subids: true });
    const dir = await Deno.makeTempDir({ prefix: "singlet-fixperms-test-" });
    try {
      await lockedImage(dir, { Env: ["PATH=/usr/bin:/bin"], Cmd: ["/bin/sh"] });
      await Deno.writeTextFile(
        `${dir}/locked.def`,
        `Bootstrap: oci
From: layout:latest

%post
    mkdir -m 000 /made
    echo c > /made/c.txt && chmod 444 /made/c.txt
    echo d > /made/other.txt && chown 5:5 /made/other.txt && chmod 000 /made/other.txt
`,
      );
      await sh("chown", ["-R", `${user.uid}:${user.gid}`, dir]);
      const as = (args: string[]) => runAs(user, args, { cwd: dir, timeoutMs: 120_000 });

      const fixed = await as([
        SINGLET_BIN,
        "build",
        "--fix-perms",
        "--sandbox",
        "fixed",
        "locked.def",
      ]);
      assert.equal(fixed.code, 0, fixed.stderr);
      assert.match(fixed.stderr, /--fix-perms option modifies the filesystem permissions/);
      const mode = async (path: string) =>
        (await Deno.lstat(`${dir}/fixed/${path}`)).mode! & 0o7777;
      assert.equal(await mode("locked"), 0o700);
      assert.equal(await mode("locked/inner"), 0o700);
      assert.equal(await mode("locked/a.txt"), 0o644);
      assert.equal(await mode("locked/inner/b.txt"), 0o644);
      assert.equal(await mode("made"), 0o700);
      assert.equal(await mode("made/c.txt"), 0o644);
      // owned by a subordinate ID: changed as namespace root
      assert.equal(await mode("made/other.txt"), 0o600);
      assert.notEqual((await Deno.lstat(`${dir}/fixed/made/other.txt`)).uid, user.uid);
      // other modes are kept
      assert.equal(await mode("tmp"), 0o1777);
      const rm = await as(["rm", "-rf", `${dir}/fixed`]);
      assert.equal(rm.code, 0, rm.stderr);

      // without the flag: a warning naming the problem, and the user cannot delete it
      const plain = await as([SINGLET_BIN, "build", "--sandbox", "plain", "locked.def"]);
      assert.equal(plain.code, 0, plain.stderr);
      assert.match(plain.stderr, /owner cannot read and write \(e\.g\. "\/locked/);
      assert.match(plain.stderr, /--fix-perms/);
      assert.equal((await Deno.lstat(`${dir}/plain/locked`)).mode! & 0o777, 0);
      const rmPlain = await as(["rm", "-rf", `${dir}/plain`]);
      assert.notEqual(rmPlain.code, 0);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

testWithTools(
  "IncludeCmd is accepted and the runscript follows the base image's ENTRYPOINT and CMD, as in SingularityCE 4",
  [...TOOLS, "docker-registry", "skopeo", "squashfuse_ll"],
  async (t) => {
    await using registry = await startRegistry();
    const dir = await Deno.makeTempDir({ prefix: "singlet-includecmd-test-" });
    try {
      await Deno.chmod(dir, 0o755);
      const layout = await lockedImage(dir, {
        Env: ["PATH=/usr/bin:/bin"],
        Entrypoint: ["/bin/echo", "entry point"],
        Cmd: ["default arg", "$HOME"],
      });
      await registry.push(layout, "latest", "tests/epcmd:1");
      for (const include of ["yes", "no"]) {
        await t.step(`IncludeCmd: ${include}`, async () => {
          const name = `inc-${include}`;
          await Deno.writeTextFile(
            `${dir}/${name}.def`,
            `Bootstrap: docker\nFrom: tests/epcmd:1\nRegistry: ${registry.host}\nIncludeCmd: ${include}\n`,
          );
          // built by the unprivileged user, in a directory of theirs
          const user = await testUser({ subids: true });
          const own = `${dir}/${name}`;
          await Deno.mkdir(own);
          await Deno.rename(`${dir}/${name}.def`, `${own}/${name}.def`);
          await Deno.chown(own, user.uid, user.gid);
          const r = await runAs(
            user,
            [SINGLET_BIN, "build", "--no-https", `${name}.sif`, `${name}.def`],
            { cwd: own, env: { NO_COLOR: "1" }, timeoutMs: 120_000 },
          );
          assert.equal(r.code, 0, r.stderr);
          await Deno.rename(`${own}/${name}.sif`, `${dir}/${name}.sif`);
          await Deno.chmod(`${dir}/${name}.sif`, 0o644);
          const runscript = await runSinglet(["inspect", "--runscript", `${dir}/${name}.sif`]);
          assert.match(runscript.stdout, /^OCI_ENTRYPOINT='"\/bin\/echo" "entry point"'$/m);
          assert.match(runscript.stdout, /^OCI_CMD='"default arg" "\\\$HOME"'$/m);
          const run = (args: string[]) =>
            runAs(user, [SINGLET_BIN, "run", ...args], {
              env: { NO_COLOR: "1" },
              timeoutMs: 60_000,
            });
          // no arguments: ENTRYPOINT + CMD (CMD was quoted when the runscript was written)
          const plain = await run([`${dir}/${name}.sif`]);
          assert.equal(plain.code, 0, plain.stderr);
          assert.equal(plain.stdout, "entry point default arg $HOME\n");
          // arguments replace CMD and are evaluated by the shell, as SingularityCE does
          const args = await run([`${dir}/${name}.sif`, "x", "$HOME"]);
          assert.equal(args.stdout, `entry point x ${user.home}\n`, args.stderr);
          // --no-eval: taken literally
          const literal = await run(["--no-eval", `${dir}/${name}.sif`, "x", "$HOME"]);
          assert.equal(literal.stdout, "entry point x $HOME\n", literal.stderr);
        });
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

testWithTools(
  "%files recreates FIFOs, and device nodes as root; an unprivileged build warns for each device node it skips",
  [...TOOLS, "mknod", "unsquashfs", "siftool", "unshare", "newuidmap"],
  async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "singlet-files-special-test-" });
    try {
      await Deno.chmod(dir, 0o755);
      await Deno.mkdir(`${dir}/specials`);
      await sh("mknod", ["-m", "0640", `${dir}/specials/pipe`, "p"]);
      await sh("mknod", ["-m", "0600", `${dir}/specials/null`, "c", "1", "3"]);
      await sh("mknod", ["-m", "0600", `${dir}/specials/loop`, "b", "7", "200"]);
      await Deno.writeTextFile(`${dir}/specials/plain.txt`, "plain\n");
      await Deno.writeTextFile(
        `${dir}/specials.def`,
        `Bootstrap: localimage
From: ${await busyboxRootfs()}

%files
    specials /opt/specials
    specials/pipe /top-pipe
`,
      );

      await t.step("as root: FIFOs and device nodes in a sandbox and a SIF", async () => {
        const r = await runSinglet(["build", "--sandbox", "root-sb", "specials.def"], { cwd: dir });
        assert.equal(r.code, 0, r.stderr);
        assert.doesNotMatch(r.stderr, /skipped/);
        const sb = `${dir}/root-sb`;
        const pipe = await Deno.lstat(`${sb}/opt/specials/pipe`);
        assert.ok(pipe.isFifo);
        assert.equal(pipe.mode! & 0o7777, 0o640);
        assert.ok((await Deno.lstat(`${sb}/top-pipe`)).isFifo);
        const nul = await Deno.lstat(`${sb}/opt/specials/null`);
        assert.ok(nul.isCharDevice);
        assert.equal(nul.rdev, (1 << 8) | 3);
        const loop = await Deno.lstat(`${sb}/opt/specials/loop`);
        assert.ok(loop.isBlockDevice);
        assert.equal(loop.rdev, (7 << 8) | 200);
        assert.equal(await read(`${sb}/opt/specials/plain.txt`), "plain\n");

        const s = await runSinglet(["build", "root.sif", "specials.def"], { cwd: dir });
        assert.equal(s.code, 0, s.stderr);
        const list = new TextDecoder().decode(
          (await new Deno.Command("sh", {
            args: [
              "-c",
              `off=$(siftool info 3 "$1" | awk '/Offset:/ {print $2}'); unsquashfs -lln -o "$off" -d "" "$1"`,
              "sh",
              `${dir}/root.sif`,
            ],
            stdout: "piped",
          }).output()).stdout,
        );
        assert.match(list, /^prw-r----- 0\/0 .* \/opt\/specials\/pipe$/m);
        assert.match(list, /^crw------- 0\/0 +1, *3 .* \/opt\/specials\/null$/m);
        assert.match(list, /^brw------- 0\/0 +7, *200 .* \/opt\/specials\/loop$/m);
      });

      await t.step(
        "as an unprivileged user: the FIFO, and one warning per device node",
        async () => {
          const user = await testUser({ subids: true });
          const out = `${dir}/user`;
          await Deno.mkdir(out);
          await sh("chown", [`${user.uid}:${user.gid}`, out]);
          const r = await runAs(
            user,
            [SINGLET_BIN, "build", "--sandbox", `${out}/sb`, `${dir}/specials.def`],
            { cwd: out, timeoutMs: 120_000, env: { NO_COLOR: "1" } },
          );
          assert.equal(r.code, 0, r.stderr);
          assert.ok((await Deno.lstat(`${out}/sb/opt/specials/pipe`)).isFifo);
          assert.ok((await Deno.lstat(`${out}/sb/top-pipe`)).isFifo);
          await assert.rejects(Deno.lstat(`${out}/sb/opt/specials/null`));
          await assert.rejects(Deno.lstat(`${out}/sb/opt/specials/loop`));
          const warnings = r.stderr.split("\n").filter((l) => /skipped/.test(l));
          assert.equal(warnings.length, 2, r.stderr);
          assert.match(
            r.stderr,
            /skipped character device 1:3 ".*\/specials\/null": an unprivileged build cannot create device nodes/,
          );
          assert.match(r.stderr, /skipped block device 7:200 ".*\/specials\/loop"/);
        },
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
