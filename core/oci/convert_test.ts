import assert from "node:assert/strict";
import { testWithTools } from "../../tests/_helpers/tools.ts";
import { busyboxRootfs } from "../../tests/_helpers/fixtures.ts";
import { DirectorySource } from "../squashfs/directory_source.ts";
import { assembleSif, ociConfigJson } from "./convert.ts";
import { parseImageConfig } from "./image_config.ts";

const decoder = new TextDecoder();

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")}: ${decoder.decode(out.stderr)}`);
  return decoder.decode(out.stdout);
}

const config = parseImageConfig(new TextEncoder().encode(JSON.stringify({
  architecture: "amd64",
  os: "linux",
  config: {
    User: "1000:1000",
    Env: ["PATH=/usr/bin:/bin", 'GREETING=hello "world" $HOME'],
    Entrypoint: ["/bin/echo"],
    Cmd: ["hi"],
    WorkingDir: "/tmp",
    Labels: { "org.example": "yes" },
    ExposedPorts: {},
  },
  rootfs: { type: "layers", diff_ids: [] },
})));

Deno.test("oci-config.json keeps the config member in Go's field order without empty fields", () => {
  assert.equal(
    ociConfigJson(config),
    '{"User":"1000:1000","Env":["PATH=/usr/bin:/bin","GREETING=hello \\"world\\" $HOME"],' +
      '"Entrypoint":["/bin/echo"],"Cmd":["hi"],"WorkingDir":"/tmp","Labels":{"org.example":"yes"}}',
  );
});

testWithTools("a rootfs and an image config become a SIF with SingularityCE's objects", [
  "siftool",
  "unsquashfs",
], async () => {
  const rootfs = await busyboxRootfs();
  const dir = await Deno.makeTempDir();
  const out = `${dir}/busybox.sif`;
  let progress = 0;
  await assembleSif(
    out,
    { uri: "docker://busybox:1.36", config },
    (sink) => DirectorySource.scan(rootfs).emit(sink),
    { onProgress: (n) => (progress = n) },
  );
  assert.ok(progress > 0);
  const list = await run("siftool", ["list", out]);
  const rows = list.trim().split("\n").filter((l) => /^\d/.test(l)).map((l) =>
    l.split("|").map((c) => c.trim())
  );
  assert.deepEqual(rows.map((r) => [r[0], r[1], r[4]]), [
    ["1", "1", "Def.FILE"],
    ["2", "1", "JSON.Generic"],
    ["3", "1", "JSON.Generic"],
    ["4", "1", "FS (Squashfs/*System/amd64)"],
  ]);
  assert.equal(
    await run("siftool", ["dump", "1", out]),
    "bootstrap: docker\nfrom: busybox:1.36\n\n",
  );
  assert.equal(JSON.parse(await run("siftool", ["dump", "3", out])).WorkingDir, "/tmp");
  const inspect = JSON.parse(await run("siftool", ["dump", "2", out]));
  assert.equal(inspect.data.attributes.labels["org.example"], "yes");
  assert.match(inspect.data.attributes.runscript, /OCI_ENTRYPOINT='"\/bin\/echo"'/);
  // The partition is a SquashFS image unsquashfs reads: busybox plus /.singularity.d.
  const info = await run("siftool", ["info", "4", out]);
  const offset = Number(
    /Offset: +(\d+)/i.exec(info)?.[1] ?? /(\d+)/.exec(
      info.split("\n").find((l) => /offset/i.test(l))!,
    )![1],
  );
  const size = Number(/Size: +(\d+)/i.exec(info)?.[1]);
  const part = `${dir}/part.sqfs`;
  const bytes = await Deno.readFile(out);
  await Deno.writeFile(part, bytes.subarray(offset, offset + size));
  const listing = await run("unsquashfs", ["-lln", "-d", "", part]);
  for (
    const path of [
      "/bin/busybox",
      "/.singularity.d/runscript",
      "/.singularity.d/env/10-docker2singularity.sh",
      "/.singularity.d/actions/run",
      "/singularity -> .singularity.d/runscript",
      "/.singularity.d/labels.json",
    ]
  ) {
    assert.ok(listing.includes(path), `${path} in the image`);
  }
  await Deno.remove(dir, { recursive: true });
});
