import assert from "node:assert/strict";
import { findTool, testWithTools } from "../../tests/_helpers/tools.ts";
import { SquashfsWriter } from "../squashfs/writer.ts";
import { openImageFiles } from "./image_files.ts";
import { inspectImage } from "./inspect.ts";
import { ociRunscript, schemaLabels, writeSingularityD } from "./singularity_d.ts";

const CONFIG = {
  Env: ["PATH=/bin", "GREETING=hello from ENV"],
  Entrypoint: ["/bin/sh", "-c", 'echo "$GREETING: $0 $*"'],
  Cmd: ["default"],
  Labels: { "org.opencontainers.image.title": "tiny" },
};

async function output(cmd: string, args: string[]) {
  const out = await new Deno.Command(findTool(cmd)!, {
    args,
    env: { PATH: "/bin" },
    clearEnv: true,
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

testWithTools(
  "a pulled image's metadata, written through the SquashFS writer, lists, inspects and runs",
  ["unsquashfs", "chroot", "busybox"],
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "singlet-sd-sqfs-" });
    try {
      const image = `${dir}/image.sqfs`;
      const writer = await SquashfsWriter.create(image);
      const enc = new TextEncoder();
      const meta = { mode: 0o755, uid: 0, gid: 0, mtime: 1700000000 };
      // A tiny "layer": busybox and the applets the scripts use, plus an image /tmp (1777)
      // that the layout must leave alone.
      await writer.directory(enc.encode("bin"), meta);
      await writer.directory(enc.encode("tmp"), { ...meta, mode: 0o1777 });
      const busybox = await Deno.readFile("/bin/busybox");
      await writer.file(
        enc.encode("bin/busybox"),
        meta,
        busybox.length,
        (async function* () {
          yield busybox;
        })(),
      );
      for (const applet of ["sh", "echo", "cat"]) {
        await writer.symlink(enc.encode(`bin/${applet}`), meta, enc.encode("busybox"));
      }
      const warnings = await writeSingularityD(writer, {
        ociConfig: CONFIG,
        buildLabels: schemaLabels({ date: new Date(0), version: "0.1.0", arch: "amd64" }),
      }, { mtime: 1700000000, exists: (p) => p === "bin" || p === "tmp" });
      assert.deepEqual(warnings, []);
      await writer.finish();

      const list = await output("unsquashfs", ["-lln", image]);
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stdout, /^drwxrwxrwt 0\/0 .* squashfs-root\/tmp$/m);
      assert.match(
        list.stdout,
        /^-rwxr-xr-x 0\/0 .* squashfs-root\/\.singularity\.d\/actions\/run$/m,
      );
      assert.match(list.stdout, /squashfs-root\/singularity -> \.singularity\.d\/runscript$/m);
      assert.match(
        list.stdout,
        /squashfs-root\/\.singularity\.d\/env\/10-docker2singularity\.sh$/m,
      );

      const files = await openImageFiles(image);
      try {
        const { metadata } = await inspectImage(files, { runscript: true, labels: true });
        assert.equal(metadata.data.attributes.runscript, ociRunscript(CONFIG).trimEnd());
        assert.equal(metadata.data.attributes.labels?.["org.opencontainers.image.title"], "tiny");
        assert.equal(metadata.data.attributes.labels?.["org.label-schema.build-arch"], "amd64");
      } finally {
        files.close();
      }

      const root = `${dir}/root`;
      const extract = await output("unsquashfs", ["-q", "-d", root, image]);
      assert.equal(extract.code, 0, extract.stderr);
      const run = await output("chroot", [root, "/.run", "a b"]);
      assert.equal(run.stdout, "hello from ENV: a b \n", run.stderr);
      const runDefault = await output("chroot", [root, "/.run"]);
      assert.equal(runDefault.stdout, "hello from ENV: default \n", runDefault.stderr);
      // The runscript alone does not source the environment: the action script does.
      const bare = await output("chroot", [root, "/singularity"]);
      assert.equal(bare.stdout, ": default \n", bare.stderr);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
  { root: true },
);
