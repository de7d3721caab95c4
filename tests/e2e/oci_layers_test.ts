/**
 * Layer merging against umoci: the tree singlet's single-pass, top-down merge produces for a
 * multi-layer OCI image must equal what `umoci unpack --rootless` extracts.
 */
import assert from "node:assert/strict";
import {
  buildTar,
  describeSink,
  layoutLayers,
  RecordingSink,
} from "../../core/squashfs/_layer_test_helpers.ts";
import { mergeLayers } from "../../core/squashfs/layers.ts";
import {
  busyboxOciLayout,
  WHITEOUT_EXPECTED_TREE,
  whiteoutOciLayout,
} from "../_helpers/fixtures.ts";
import { buildImage, writeOciLayout } from "../_helpers/oci_writer.ts";
import { testWithTools } from "../_helpers/tools.ts";
import { describeTree } from "../_helpers/tree.ts";

async function umociTree(dir: string, ref: string): Promise<string> {
  const bundle = await Deno.makeTempDir({ prefix: "singlet-umoci-" });
  try {
    const out = await new Deno.Command("umoci", {
      args: ["unpack", "--rootless", "--image", `${dir}:${ref}`, `${bundle}/b`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    return await describeTree(`${bundle}/b/rootfs`);
  } finally {
    await Deno.remove(bundle, { recursive: true });
  }
}

testWithTools(
  "mergeLayers turns the three-layer whiteout image into the same tree as umoci unpack",
  ["umoci", "getfattr", "find", "sha256sum"],
  async () => {
    const { dir, ref } = await whiteoutOciLayout();
    const layers = await layoutLayers(dir, ref);
    assert.equal(layers.length, 3);
    const sink = new RecordingSink();
    const stats = await mergeLayers(layers, sink);
    const ours = describeSink(sink);
    assert.equal(ours, await umociTree(dir, ref));
    assert.equal(ours, WHITEOUT_EXPECTED_TREE);
    assert.ok(![...sink.entries.keys()].some((key) => key.includes(".wh.")));
    // Top-down: data of shadowed and whited-out files never reached the sink.
    const live = [...sink.entries.values()].reduce((n, v) => n + (v.size ?? 0), 0);
    assert.equal(sink.bytes, live);
    assert.ok(stats.shadowed > 0);
  },
);

testWithTools(
  "mergeLayers turns the busybox image into the same tree as umoci unpack",
  ["umoci", "getfattr", "find", "sha256sum"],
  async () => {
    const { dir, ref } = await busyboxOciLayout();
    const sink = new RecordingSink();
    await mergeLayers(await layoutLayers(dir, ref), sink);
    assert.equal(describeSink(sink), await umociTree(dir, ref));
  },
);

testWithTools(
  "mergeLayers matches umoci on hard links to replaced files, recreated and opaque directories",
  ["umoci", "getfattr", "find", "sha256sum"],
  async () => {
    const layers = [
      buildTar([
        { path: "./", type: "5" },
        { path: "a", data: "old a" },
        { path: "b", type: "1", link: "a" },
        { path: "c", type: "1", link: "b" },
        { path: "dir/", type: "5" },
        { path: "dir/lower", data: "lower" },
        { path: "opq/", type: "5" },
        { path: "opq/x", data: "x" },
        { path: "tosym/", type: "5" },
        { path: "tosym/f", data: "f" },
        { path: "fifo", type: "6" },
        { path: "setuid", data: "s", mode: 0o4755 },
      ]),
      buildTar([
        { path: "a", data: "new a, b and c keep the old one" },
        { path: ".wh.dir" },
        { path: "dir/", type: "5", mode: 0o700 },
        { path: "dir/upper", data: "upper" },
        { path: "opq/", type: "5" },
        { path: "opq/.wh..wh..opq" },
        { path: "opq/y", data: "y" },
        { path: "tosym", type: "2", link: "opq" },
        { path: "nowhere/.wh.nothing" },
      ]),
      buildTar([{ path: ".wh.setuid" }, { path: "c", data: "c replaced on top" }]),
    ];
    const work = await Deno.makeTempDir({ prefix: "singlet-layers-" });
    try {
      const image = buildImage({ layers, config: { Cmd: ["/bin/sh"] } });
      await writeOciLayout(`${work}/oci`, image, "t");
      const sink = new RecordingSink();
      const stats = await mergeLayers(await layoutLayers(`${work}/oci`, "t"), sink);
      const ours = describeSink(sink);
      assert.equal(ours, await umociTree(`${work}/oci`, "t"));
      assert.match(ours, /file 0644 size=5 links=1 sha256=\w+ b\n/);
      assert.equal(stats.rereads, 1);
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  },
);
