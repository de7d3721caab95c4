import assert from "node:assert/strict";
import { buildImage } from "./build.ts";
import { parseDeffile } from "./deffile.ts";
import { wantedPlatform } from "../oci/manifest.ts";
import { SingletError } from "../errors.ts";
import { copyFiles, expandGlob, secureJoin } from "./files.ts";
import { bootstrapRootfs, ociSourceURI } from "./bootstrap/mod.ts";

const oci = { platform: wantedPlatform({}) };

Deno.test("a recipe with %post and no runner is refused before anything is written", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const def = parseDeffile("Bootstrap: scratch\n%post\n    echo hi\n", "post.def");
    await assert.rejects(
      buildImage(def, { output: `${dir}/out.sif`, oci, cwd: dir, version: "test" }),
      (error: unknown) =>
        error instanceof SingletError && /%post, which needs a runtime/.test(error.message),
    );
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a scratch recipe with %files and %runscript builds a sandbox without a runner", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/a b.txt`, "spaced\n");
    await Deno.writeTextFile(`${dir}/c1.dat`, "1");
    await Deno.writeTextFile(`${dir}/c2.dat`, "2");
    const def = parseDeffile(
      'Bootstrap: scratch\n%files\n    "a b.txt" /x/\n    c?.dat /dats\n%runscript\n    echo hi\n',
      "s.def",
    );
    const result = await buildImage(def, {
      output: `${dir}/out`,
      sandbox: true,
      oci,
      cwd: dir,
      version: "test",
    });
    assert.equal(result.kind, "sandbox");
    assert.equal(await Deno.readTextFile(`${dir}/out/x/a b.txt`), "spaced\n");
    assert.deepEqual([...Deno.readDirSync(`${dir}/out/dats`)].map((e) => e.name).sort(), [
      "c1.dat",
      "c2.dat",
    ]);
    assert.match(await Deno.readTextFile(`${dir}/out/.singularity.d/runscript`), /echo hi/);
    assert.equal((await Deno.stat(`${dir}/out`)).mode! & 0o777, 0o755);
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.startsWith(".")),
      [],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("secureJoin keeps absolute and .. symlinks inside the root", async () => {
  const root = await Deno.makeTempDir();
  try {
    await Deno.symlink("/etc", `${root}/etc-link`);
    await Deno.symlink("../../..", `${root}/up`);
    assert.equal(await secureJoin(root, "/etc-link/passwd"), `${root}/etc/passwd`);
    assert.equal(await secureJoin(root, "/up/up/x"), `${root}/x`);
    assert.equal(await secureJoin(root, "/../../y"), `${root}/y`);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("expandGlob matches per component and skips dot files unless asked", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const name of ["a.txt", "b.txt", ".h.txt", "c.md"]) {
      await Deno.writeTextFile(`${dir}/${name}`, "");
    }
    assert.deepEqual(await expandGlob("", "*.txt", dir), [`${dir}/a.txt`, `${dir}/b.txt`]);
    assert.deepEqual(await expandGlob("", "[ac].*", dir), [`${dir}/a.txt`, `${dir}/c.md`]);
    assert.deepEqual(await expandGlob("", ".h*", dir), [`${dir}/.h.txt`]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("OCI agents build their source from From:, Registry: and Namespace:", () => {
  const h = (o: Record<string, string>) => new Map(Object.entries(o));
  assert.equal(ociSourceURI("docker", h({ from: "alpine:3" })), "docker://alpine:3");
  assert.equal(
    ociSourceURI("docker", h({ from: "alpine", registry: "127.0.0.1:5000", namespace: "lib" })),
    "docker://127.0.0.1:5000/lib/alpine",
  );
  assert.equal(ociSourceURI("oci-archive", h({ from: "x.tar" })), "oci-archive:x.tar");
  assert.throws(() => ociSourceURI("docker", h({})), /no "From:"/);
});

Deno.test("agents whose host tools are missing are refused with a hint", async () => {
  for (const agent of ["yum", "dnf", "zypper", "arch", "busybox", "library", "oras"]) {
    const def = parseDeffile(`Bootstrap: ${agent}\nFrom: x\nOSVersion: 9\nMirrorURL: http://x/\n`);
    await assert.rejects(
      bootstrapRootfs(def.stages[0]!, "/nonexistent", { oci, cwd: "/" }),
      (error: unknown) => error instanceof SingletError && error.message.includes(agent),
    );
  }
});

Deno.test("%files from a stage copies links inside it as links, never the host files they name", async () => {
  const stage = await Deno.makeTempDir();
  const rootfs = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${stage}/out`);
    await Deno.writeTextFile(`${stage}/out/real.txt`, "real\n");
    await Deno.symlink("/etc/hostname", `${stage}/out/host-link`);
    await copyFiles(rootfs, [{ src: "/out", dst: "/data", line: 1 }], stage, "/");
    assert.equal(await Deno.readTextFile(`${rootfs}/data/real.txt`), "real\n");
    assert.ok((await Deno.lstat(`${rootfs}/data/host-link`)).isSymlink);
    assert.equal(await Deno.readLink(`${rootfs}/data/host-link`), "/etc/hostname");
  } finally {
    await Deno.remove(stage, { recursive: true });
    await Deno.remove(rootfs, { recursive: true });
  }
});
