/**
 * `singlet build` as users run it (bin/singlet): recipes bootstrapped from the loopback
 * registry, OCI/Docker archives, local images and scratch; %post and %test in the fakeroot
 * container; multi-stage, apps, build arguments; conversions; failures leave nothing behind.
 * Each image is checked with `singlet inspect --json`, `siftool list` and `unsquashfs -lln`,
 * and run.
 */
import assert from "node:assert/strict";
import { testWithTools } from "../_helpers/tools.ts";
import { runSinglet, SINGLET_BIN } from "../_helpers/singlet.ts";
import { sifRootListing } from "../_helpers/siftool.ts";
import {
  busyboxDockerArchive,
  busyboxOciArchive,
  busyboxOciLayout,
  FIXTURE_REF,
} from "../_helpers/fixtures.ts";
import { startRegistry } from "../_helpers/registry.ts";
import { runAs, testUser } from "../_helpers/unpriv.ts";
import { parseDeffile } from "../../core/build/deffile.ts";
import { toSingularityJSON } from "../../core/build/deffile_json.ts";

const TOOLS = ["siftool", "unsquashfs", "runc"];

async function sh(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return text;
}

/** `siftool list` of a built SIF: SingularityCE's objects, all in group 1. */
async function assertSifObjects(sif: string, oci = false): Promise<void> {
  const list = await sh("siftool", ["list", sif]);
  assert.match(list, /1 +\|1 +\|NONE +\|\d+-\d+ +\|Def\.FILE/);
  assert.match(list, /2 +\|1 +\|NONE +\|\d+-\d+ +\|JSON\.Generic/);
  if (oci) assert.match(list, /3 +\|1 +\|NONE +\|\d+-\d+ +\|JSON\.Generic/);
  const part = oci ? 4 : 3;
  assert.match(
    list,
    new RegExp(`${part} +\\|1 +\\|NONE +\\|\\d+-\\d+ +\\|FS \\(Squashfs/\\*System/amd64\\)`),
  );
}

async function inspectJson(image: string): Promise<Record<string, unknown>> {
  const r = await runSinglet(["inspect", "--json", "--all", image]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).data.attributes;
}

async function noTempLeft(dir: string): Promise<void> {
  for await (const e of Deno.readDir(dir)) {
    assert.ok(!e.name.startsWith(".build-temp-"), `temp dir left: ${e.name}`);
    assert.ok(!e.name.includes(".singlet-tmp-"), `temp file left: ${e.name}`);
  }
}

const RECIPE_BODY = `
%files
    host.txt /opt/host.txt

%environment
    export GREETING=hello

%labels
    Author singlet-tests
    Version 1.0

%help
    Greets whoever is named.

%runscript
    echo "$GREETING from the runscript: $*"

%post
    echo "made by post" > /post.txt
    echo 'export FROMPOST=yes' >> "$SINGULARITY_ENVIRONMENT"
    echo "PostLabel from-post" >> "$SINGULARITY_LABELS"
    mkdir /owned && touch /owned/f && chown -R 5:5 /owned

%test
    grep -q "made by post" /post.txt
`;

testWithTools(
  "an unprivileged user builds a Bootstrap: docker recipe from a loopback registry: a SIF with its runscript, environment, labels, help and %post changes",
  [...TOOLS, "docker-registry", "skopeo", "newuidmap", "unshare"],
  async () => {
    await using registry = await startRegistry();
    const layout = await busyboxOciLayout();
    await registry.push(layout.dir, layout.ref, "tests/busybox:1");
    const user = await testUser();
    const dir = `${user.home}/build-test-${crypto.randomUUID().slice(0, 8)}`;
    await Deno.mkdir(dir);
    try {
      await Deno.writeTextFile(`${dir}/host.txt`, "from the host\n");
      await Deno.writeTextFile(
        `${dir}/recipe.def`,
        `Bootstrap: docker\nFrom: tests/busybox:1\nRegistry: ${registry.host}\n${RECIPE_BODY}`,
      );
      await sh("chown", ["-R", `${user.uid}:${user.gid}`, dir]);
      const r = await runAs(
        user,
        [SINGLET_BIN, "build", "--no-https", "--json", "out.sif", "recipe.def"],
        { cwd: dir },
      );
      assert.equal(r.code, 0, r.stderr);
      const summary = JSON.parse(r.stdout);
      assert.equal(summary.format, "sif");
      assert.equal(summary.size, (await Deno.stat(`${dir}/out.sif`)).size);
      await assertSifObjects(`${dir}/out.sif`, true);
      const files = await sifRootListing(`${dir}/out.sif`);
      for (
        const path of [
          "/.singularity.d/runscript.help",
          "/.singularity.d/labels.json",
          "/.singularity.d/Singularity",
          "/.singularity.d/env/90-environment.sh",
          "/.singularity.d/env/91-environment.sh",
          "/.singularity.d/test",
          "/opt/host.txt",
          "/post.txt",
        ]
      ) assert.match(files, new RegExp(` 0/0 .*${path.replaceAll(".", "\\.")}\n`), path);
      assert.match(files, / 5\/5 .*\/owned\/f\n/);
      assert.doesNotMatch(files, /\.post\.script|\.build\.labels/);
      const attrs = await inspectJson(`${dir}/out.sif`);
      const labels = attrs.labels as Record<string, string>;
      assert.equal(labels.Author, "singlet-tests");
      assert.equal(labels.PostLabel, "from-post");
      assert.equal(labels["org.label-schema.usage.singularity.deffile.bootstrap"], "docker");
      assert.equal(labels["org.label-schema.schema-version"], "1.0");
      assert.match(String(attrs.helpfile), /Greets whoever is named/);
      assert.match(String(attrs.deffile), /^Bootstrap: docker\n/);
      const run = await runSinglet(["run", `${dir}/out.sif`, "a", "b"]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, "hello from the runscript: a b\n");
      const env = await runSinglet(["exec", `${dir}/out.sif`, "sh", "-c", "echo $FROMPOST"]);
      assert.equal(env.stdout, "yes\n");
      await noTempLeft(dir);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

testWithTools(
  "an unprivileged user builds an oci-archive recipe with %post: files are root's in the image and no temp directory is left",
  [...TOOLS, "newuidmap", "unshare"],
  async () => {
    const user = await testUser();
    const dir = `${user.home}/build-test-${crypto.randomUUID().slice(0, 8)}`;
    await Deno.mkdir(dir);
    try {
      await Deno.copyFile(await busyboxOciArchive(), `${dir}/busybox.tar`);
      await Deno.writeTextFile(`${dir}/host.txt`, "from the host\n");
      await Deno.writeTextFile(
        `${dir}/recipe.def`,
        `Bootstrap: oci-archive\nFrom: busybox.tar\n${RECIPE_BODY}`,
      );
      await sh("chown", ["-R", `${user.uid}:${user.gid}`, dir]);
      const r = await runAs(user, [SINGLET_BIN, "build", "out.sif", "recipe.def"], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      const files = await sifRootListing(`${dir}/out.sif`);
      assert.match(files, / 0\/0 .*\/post\.txt\n/);
      assert.match(files, / 0\/0 .*\/opt\/host\.txt\n/);
      assert.match(files, / 5\/5 .*\/owned\/f\n/);
      const run = await runAs(user, [SINGLET_BIN, "run", "out.sif", "x"], { cwd: dir });
      assert.equal(run.stdout, "hello from the runscript: x\n", run.stderr);
      await noTempLeft(dir);

      // built upon as the same user: the base's owners survive the unprivileged extraction
      await Deno.writeTextFile(
        `${dir}/again.def`,
        "Bootstrap: localimage\nFrom: out.sif\n%post\n    touch /again\n",
      );
      await sh("chown", [`${user.uid}:${user.gid}`, `${dir}/again.def`]);
      const again = await runAs(user, [SINGLET_BIN, "build", "again.sif", "again.def"], {
        cwd: dir,
      });
      assert.equal(again.code, 0, again.stderr);
      const againFiles = await sifRootListing(`${dir}/again.sif`);
      assert.match(againFiles, / 5\/5 .*\/owned\/f\n/);
      assert.match(againFiles, / 0\/0 .*\/again\n/);
      assert.match(againFiles, / 0\/0 .*\/post\.txt\n/);

      // a failing %post: non-zero, no output, no temp directory
      await Deno.writeTextFile(
        `${dir}/bad.def`,
        "Bootstrap: oci-archive\nFrom: busybox.tar\n%post\n    chown 7 /etc/passwd\n    exit 3\n",
      );
      const bad = await runAs(user, [SINGLET_BIN, "build", "bad.sif", "bad.def"], { cwd: dir });
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /%post .*exit status 3/);
      await assert.rejects(Deno.lstat(`${dir}/bad.sif`));
      await noTempLeft(dir);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

testWithTools(
  "an unprivileged user builds a multi-stage recipe that copies files from an earlier stage, installs an app and fills {{ }} from --build-arg",
  [...TOOLS, "newuidmap", "unshare"],
  async () => {
    const user = await testUser();
    const dir = `${user.home}/build-test-${crypto.randomUUID().slice(0, 8)}`;
    await Deno.mkdir(dir);
    try {
      // the fixtures, where the user can read them
      await Deno.copyFile(await busyboxDockerArchive(), `${dir}/busybox-docker.tar`);
      await sh("cp", ["-r", (await busyboxOciLayout()).dir, `${dir}/busybox-oci`]);
      await Deno.writeTextFile(
        `${dir}/multi.def`,
        `Bootstrap: docker-archive
From: busybox-docker.tar
Stage: builder

%post
    mkdir -p /out && echo one > /out/a.txt && echo two > /out/b.txt

Bootstrap: oci
From: busybox-oci:${FIXTURE_REF}

%arguments
    WHO=nobody

%files from builder
    /out/*.txt /data/

%runscript
    echo "hi {{ WHO }}"

%appinstall tool
    echo installed > marker

%apprun tool
    echo "tool ran"

%applabels tool
    Kind helper
`,
      );
      await Deno.writeTextFile(
        `${dir}/undef.def`,
        "Bootstrap: scratch\n%runscript\n  {{ NOPE }}\n",
      );
      await sh("chown", ["-R", `${user.uid}:${user.gid}`, dir]);
      const r = await runAs(
        user,
        [SINGLET_BIN, "build", "--build-arg", "WHO=you", "multi.sif", "multi.def"],
        { cwd: dir },
      );
      assert.equal(r.code, 0, r.stderr);
      await assertSifObjects(`${dir}/multi.sif`, true);
      const files = await sifRootListing(`${dir}/multi.sif`);
      assert.match(files, /\/data\/a\.txt\n/);
      assert.match(files, /\/data\/b\.txt\n/);
      assert.match(files, /\/scif\/apps\/tool\/marker\n/);
      assert.doesNotMatch(files, /\/out\/a\.txt/);
      const run = await runSinglet(["run", `${dir}/multi.sif`]);
      assert.equal(run.stdout, "hi you\n", run.stderr);
      const apps = await runSinglet(["inspect", "--list-apps", `${dir}/multi.sif`]);
      assert.match(apps.stdout, /tool/);
      const def = await runSinglet(["inspect", "--deffile", `${dir}/multi.sif`]);
      assert.match(def.stdout, /echo "hi you"/);
      // an undefined placeholder is refused before anything is written
      const undef = await runAs(user, [SINGLET_BIN, "build", "undef.sif", "undef.def"], {
        cwd: dir,
      });
      assert.notEqual(undef.code, 0);
      assert.match(undef.stderr, /NOPE/);
      await assert.rejects(Deno.lstat(`${dir}/undef.sif`));
      await noTempLeft(dir);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

testWithTools(
  "scratch and localimage recipes and sandbox/SIF conversions keep the image's content and metadata",
  TOOLS,
  async () => {
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(`${dir}/hello.txt`, "hello\n");
      await Deno.writeTextFile(
        `${dir}/scratch.def`,
        "Bootstrap: scratch\n%files\n    hello.txt /hello.txt\n%labels\n    Base scratch\n",
      );
      let r = await runSinglet(["build", "--sandbox", "scratch", "scratch.def"], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await Deno.readTextFile(`${dir}/scratch/hello.txt`), "hello\n");
      const scratchLabels = (await inspectJson(`${dir}/scratch`)).labels as Record<
        string,
        string
      >;
      assert.equal(scratchLabels.Base, "scratch");

      // docker-archive -> sandbox, sandbox -> SIF, SIF -> sandbox, SIF -> SIF
      r = await runSinglet([
        "build",
        "--sandbox",
        "bb",
        `docker-archive:${await busyboxDockerArchive()}`,
      ], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      assert.ok((await Deno.lstat(`${dir}/bb/bin/busybox`)).isFile);
      r = await runSinglet(["build", "bb.sif", "bb"], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      await assertSifObjects(`${dir}/bb.sif`);
      r = await runSinglet([
        "build",
        "bb-oci.sif",
        `docker-archive:${await busyboxDockerArchive()}`,
      ], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      await assertSifObjects(`${dir}/bb-oci.sif`, true);
      assert.match(await sifRootListing(`${dir}/bb-oci.sif`), /\/bin\/busybox\n/);
      assert.match(await sifRootListing(`${dir}/bb.sif`), /\/bin\/busybox\n/);
      r = await runSinglet(["build", "--sandbox", "bb2", "bb.sif"], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      assert.ok((await Deno.lstat(`${dir}/bb2/bin/busybox`)).isFile);
      r = await runSinglet(["build", "bb3.sif", "bb.sif"], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      const labels = (await inspectJson(`${dir}/bb3.sif`)).labels as Record<string, string>;
      assert.equal(labels["org.singlet.fixture"], "busybox");
      const run = await runSinglet(["exec", `${dir}/bb3.sif`, "cat", "/etc/hosts"]);
      assert.equal(run.code, 0, run.stderr);

      // localimage recipe on the SIF: %labels added, history kept
      await Deno.writeTextFile(
        `${dir}/local.def`,
        "Bootstrap: localimage\nFrom: bb.sif\n%labels\n    Layer two\n%runscript\n    echo second\n",
      );
      r = await runSinglet(["build", "local.sif", "local.def"], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      // metadata-only recipe on a SIF: the base's SquashFS data is passed through as stored
      assert.match(r.stderr, /metadata changes only/);
      const cat = async (sif: string) => {
        const list = await sh("siftool", ["list", sif]);
        const id = /^(\d+) .*FS \(Squashfs/m.exec(list)![1]!;
        const info = await sh("siftool", ["info", id, sif]);
        const offset = /Offset: +(\d+)/.exec(info)![1]!;
        return await sh("unsquashfs", ["-o", offset, "-cat", sif, "/bin/busybox"]);
      };
      assert.equal(await cat(`${dir}/local.sif`), await cat(`${dir}/bb.sif`));
      const before = (await sifRootListing(`${dir}/bb.sif`)).split("\n").filter((l) =>
        !l.includes(".singularity.d")
      );
      const after = (await sifRootListing(`${dir}/local.sif`)).split("\n").filter((l) =>
        !l.includes(".singularity.d")
      );
      assert.deepEqual(after, before);
      const local = (await inspectJson(`${dir}/local.sif`)).labels as Record<string, string>;
      assert.equal(local.Layer, "two");
      assert.equal(local["org.singlet.fixture"], "busybox");
      assert.match(await sifRootListing(`${dir}/local.sif`), /bootstrap_history\/Singularity0\n/);
      assert.equal((await runSinglet(["run", `${dir}/local.sif`])).stdout, "second\n");

      // an existing output needs --force
      r = await runSinglet(["build", "local.sif", "local.def"], { cwd: dir });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /already exists/);
      r = await runSinglet(["build", "--force", "local.sif", "local.def"], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      await noTempLeft(dir);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

testWithTools(
  "%files never writes through a symlink out of the sandbox, and a missing source fails with nothing left",
  TOOLS,
  async () => {
    const dir = await Deno.makeTempDir();
    const outside = await Deno.makeTempDir();
    try {
      await Deno.mkdir(`${dir}/base`);
      await Deno.symlink(outside, `${dir}/base/escape`);
      await Deno.symlink("../../../../..", `${dir}/base/up`);
      await Deno.writeTextFile(`${dir}/payload`, "payload\n");
      await Deno.writeTextFile(
        `${dir}/escape.def`,
        "Bootstrap: localimage\nFrom: base\n%files\n    payload /escape/p1\n    payload /up/tmp/p2\n",
      );
      const r = await runSinglet(["build", "--sandbox", "out", "escape.def"], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual([...Deno.readDirSync(outside)], []);
      assert.equal(await Deno.readTextFile(`${dir}/out/${outside}/p1`), "payload\n");
      assert.equal(await Deno.readTextFile(`${dir}/out/tmp/p2`), "payload\n");

      await Deno.writeTextFile(
        `${dir}/missing.def`,
        "Bootstrap: scratch\n%files\n    no-such-file /x\n",
      );
      const bad = await runSinglet(["build", "missing.sif", "missing.def"], { cwd: dir });
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /Cannot copy "no-such-file"/);
      await assert.rejects(Deno.lstat(`${dir}/missing.sif`));
      await noTempLeft(dir);
    } finally {
      await Deno.remove(dir, { recursive: true });
      await Deno.remove(outside, { recursive: true });
    }
  },
);

testWithTools(
  "--update runs a recipe over an existing sandbox without bootstrapping it again",
  TOOLS,
  async () => {
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(`${dir}/one.txt`, "1\n");
      await Deno.writeTextFile(`${dir}/two.txt`, "2\n");
      await Deno.writeTextFile(
        `${dir}/first.def`,
        "Bootstrap: scratch\n%files\n    one.txt /one.txt\n%labels\n    First yes\n",
      );
      await Deno.writeTextFile(
        `${dir}/second.def`,
        "Bootstrap: scratch\n%files\n    two.txt /two.txt\n%labels\n    Second yes\n",
      );
      let r = await runSinglet(["build", "--sandbox", "sb", "first.def"], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      r = await runSinglet(["build", "--sandbox", "--update", "sb", "second.def"], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await Deno.readTextFile(`${dir}/sb/one.txt`), "1\n");
      assert.equal(await Deno.readTextFile(`${dir}/sb/two.txt`), "2\n");
      const labels = (await inspectJson(`${dir}/sb`)).labels as Record<string, string>;
      assert.equal(labels.First, "yes");
      assert.equal(labels.Second, "yes");
      assert.match(
        await Deno.readTextFile(`${dir}/sb/.singularity.d/bootstrap_history/Singularity0`),
        /First yes/,
      );
      r = await runSinglet(["build", "--update", "x.sif", "second.def"], { cwd: dir });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /--update needs --sandbox/);
      await noTempLeft(dir);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

const FULL = Deno.env.get("SINGLET_TEST_SCOPE") === "full";
const DEBOOTSTRAP_NAME =
  "a debootstrap recipe installs a Debian package with apt in %post and runs it";
if (!FULL) {
  Deno.test({
    name:
      `${DEBOOTSTRAP_NAME} (skipped: needs the Debian mirror, about 35 s; set SINGLET_TEST_SCOPE=full)`,
    ignore: true,
    fn: () => {},
  });
} else {
  testWithTools(DEBOOTSTRAP_NAME, [...TOOLS, "debootstrap"], async () => {
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(
        `${dir}/deb.def`,
        `Bootstrap: debootstrap
OSVersion: bookworm
MirrorURL: http://deb.debian.org/debian

%post
    apt-get update
    apt-get install -y --no-install-recommends hello
    echo "export DEB_BUILT=1" >> "$SINGULARITY_ENVIRONMENT"

%runscript
    exec /usr/bin/hello "$@"
`,
      );
      const r = await runSinglet(["build", "deb.sif", "deb.def"], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      await assertSifObjects(`${dir}/deb.sif`);
      assert.match(await sifRootListing(`${dir}/deb.sif`), /\/usr\/bin\/hello\n/);
      const run = await runSinglet(["run", `${dir}/deb.sif`]);
      assert.equal(run.stdout, "Hello, world!\n", run.stderr);
      const env = await runSinglet(["exec", `${dir}/deb.sif`, "sh", "-c", "echo $DEB_BUILT"]);
      assert.equal(env.stdout, "1\n");
      await noTempLeft(dir);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }, { root: true });
}

testWithTools(
  "SIGTERM during %post ends the build with 143 and leaves no output and no temp directory",
  TOOLS,
  async () => {
    const dir = await Deno.makeTempDir();
    try {
      await Deno.copyFile(await busyboxOciArchive(), `${dir}/busybox.tar`);
      await Deno.writeTextFile(
        `${dir}/slow.def`,
        "Bootstrap: oci-archive\nFrom: busybox.tar\n%post\n    touch /started\n    sleep 30\n",
      );
      const child = new Deno.Command(SINGLET_BIN, {
        args: ["build", "slow.sif", "slow.def"],
        cwd: dir,
        stdout: "null",
        stderr: "piped",
      }).spawn();
      // wait until %post runs (its marker appears in the private sandbox)
      const deadline = Date.now() + 20_000;
      let started = false;
      while (!started && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        for await (const e of Deno.readDir(dir)) {
          if (!e.name.startsWith(".build-temp-")) continue;
          started = await Deno.lstat(`${dir}/${e.name}/rootfs-0/started`).then(
            () => true,
            () => false,
          );
        }
      }
      assert.ok(started, "%post did not start");
      child.kill("SIGTERM");
      const status = await child.status;
      await child.stderr.cancel();
      assert.equal(status.code, 143);
      await assert.rejects(Deno.lstat(`${dir}/slow.sif`));
      await noTempLeft(dir);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

testWithTools(
  "a build --json document (SingularityCE's types.Definition) builds like the recipe it encodes",
  TOOLS,
  async () => {
    const dir = await Deno.makeTempDir();
    try {
      await Deno.copyFile(await busyboxDockerArchive(), `${dir}/busybox.tar`);
      const def = parseDeffile(
        "Bootstrap: docker-archive\nFrom: busybox.tar\n%runscript\n    echo from-json\n" +
          "%labels\n    Source json\n",
        "j.def",
      );
      await Deno.writeTextFile(`${dir}/spec.json`, JSON.stringify(toSingularityJSON(def)));
      const r = await runSinglet(["build", "--json", "j.sif", "spec.json"], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).output, "j.sif");
      assert.equal((await runSinglet(["run", `${dir}/j.sif`])).stdout, "from-json\n");
      const labels = (await inspectJson(`${dir}/j.sif`)).labels as Record<string, string>;
      assert.equal(labels.Source, "json");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
