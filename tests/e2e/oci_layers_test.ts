/**
 * Layer merging against umoci: the tree singlet's single-pass, top-down merge produces for a
 * multi-layer OCI image must equal what `umoci unpack --rootless` extracts.
 */
import assert from "node:assert/strict";
import {
  buildTar,
  describeSink,
  layoutLayers,
  memoryLayer,
  RecordingSink,
} from "../../core/squashfs/_layer_test_helpers.ts";
import type { TarSpec } from "../../core/squashfs/_layer_test_helpers.ts";
import { mergeLayers } from "../../core/squashfs/layers.ts";
import {
  busyboxOciLayout,
  WHITEOUT_EXPECTED_TREE,
  whiteoutOciLayout,
} from "../_helpers/fixtures.ts";
import { buildImage, writeOciLayout } from "../_helpers/oci_writer.ts";
import { testWithTools } from "../_helpers/tools.ts";
import { describeTree } from "../_helpers/tree.ts";

async function umociTree(
  dir: string,
  ref: string,
  refusal?: RegExp,
): Promise<string | undefined> {
  const bundle = await Deno.makeTempDir({ prefix: "singlet-umoci-" });
  try {
    const out = await new Deno.Command("umoci", {
      args: ["unpack", "--rootless", "--image", `${dir}:${ref}`, `${bundle}/b`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    if (!out.success && refusal?.test(stderr)) return undefined;
    assert.ok(out.success, stderr);
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

/** A small seeded generator of valid, adversarially shaped layer stacks. */
function randomLayers(seed: number): TarSpec[][] {
  let state = seed >>> 0;
  const rand = (n: number) => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state >>> 8) % n;
  };
  const names = ["a", "b", "c"];
  const randomPath = () => {
    const depth = 1 + rand(3);
    return Array.from({ length: depth }, () => names[rand(names.length)]).join("/");
  };
  const layers: TarSpec[][] = [];
  for (let l = 0; l < 3; l++) {
    const specs: TarSpec[] = [];
    const kinds = new Map<string, string>(); // path -> "dir" | "file" | "other" in this layer
    const files: string[] = [];
    // Layers either declare every parent or may leave some out; only the former get opaque
    // markers, because umoci's result then depends on where the marker sits in the tar.
    const declareAll = rand(2) === 0;
    const ensureParents = (path: string): boolean => {
      const parts = path.split("/");
      for (let i = 1; i < parts.length; i++) {
        const dir = parts.slice(0, i).join("/");
        const kind = kinds.get(dir);
        if (kind === undefined) {
          // Now and then leave a parent undeclared, as hand-made layers do.
          if (declareAll || rand(4) > 0) {
            specs.push({ path: `${dir}/`, type: "5", mode: [0o755, 0o700, 0o750][rand(3)]! });
          }
          kinds.set(dir, "dir");
        } else if (kind !== "dir") return false;
      }
      return true;
    };
    for (let op = 0; op < 10; op++) {
      const path = randomPath();
      const choice = rand(7);
      if (!ensureParents(path)) continue;
      const slash = path.lastIndexOf("/");
      const parent = slash < 0 ? "" : path.slice(0, slash + 1);
      const base = path.slice(slash + 1);
      if (choice === 0) {
        // umoci applies a whiteout to what its own layer already wrote beneath the path
        // (the spec says whiteouts act on lower layers only), so keep such stacks out.
        if ([...kinds.keys()].some((k) => k.startsWith(`${path}/`))) continue;
        specs.push({ path: `${parent}.wh.${base}` });
        continue;
      }
      if (choice === 1) {
        if (!declareAll) continue;
        specs.push({ path: `${parent}.wh..wh..opq` });
        continue;
      }
      if (kinds.has(path)) continue;
      if (choice === 2 || choice === 3) {
        specs.push({ path, data: `layer ${l} op ${op}`, mode: [0o644, 0o600, 0o755][rand(3)]! });
        kinds.set(path, "file");
        files.push(path);
      } else if (choice === 4) {
        specs.push({ path: `${path}/`, type: "5" });
        kinds.set(path, "dir");
      } else if (choice === 5 && files.length) {
        specs.push({ path, type: "1", link: files[rand(files.length)]! });
        kinds.set(path, "other");
      } else {
        specs.push({ path, type: "2", link: `target-${rand(5)}` });
        kinds.set(path, "other");
      }
    }
    layers.push(specs);
  }
  return layers;
}

testWithTools(
  "mergeLayers matches umoci on random layer stacks (whiteouts, opaque, links, replacement)",
  ["umoci", "getfattr", "find", "sha256sum"],
  async () => {
    const work = await Deno.makeTempDir({ prefix: "singlet-layers-random-" });
    try {
      let refused = 0;
      let umociRefused = 0;
      let compared = 0;
      // SINGLET_RANDOM_STACKS=N runs a longer soak (the default keeps the suite fast).
      const count = Number(Deno.env.get("SINGLET_RANDOM_STACKS") ?? 40);
      for (let seed = 1; seed <= count; seed++) {
        const specs = randomLayers(seed);
        const layers = specs.map((s) => buildTar(s));
        const sink = new RecordingSink();
        const sources = layers.map((tar, i) => memoryLayer(`seed${seed}-L${i + 1}`, tar));
        try {
          await mergeLayers(sources, sink);
        } catch (error) {
          // Only the documented refusal may happen on these stacks.
          assert.match(String(error), /symlinked parents across layers/, `seed ${seed}`);
          refused++;
          continue;
        }
        const image = buildImage({ layers, config: { Cmd: ["/bin/sh"] } });
        const layout = `${work}/oci-${seed}`;
        await writeOciLayout(layout, image, "t");
        // umoci refuses to write beneath an undeclared parent that a lower layer made a
        // file; singlet lets the implied directory replace it. Such stacks are not compared.
        const theirs = await umociTree(layout, "t", /mkdir parent: .*not a directory/).catch(
          (error) => {
            throw new Error(`seed ${seed}: ${JSON.stringify(specs)}`, { cause: error });
          },
        );
        if (theirs === undefined) {
          umociRefused++;
          continue;
        }
        assert.equal(describeSink(sink), theirs, `seed ${seed}: ${JSON.stringify(specs)}`);
        compared++;
      }
      assert.ok(
        compared > count / 2,
        `only ${compared} of ${count} compared (${refused} refused, ${umociRefused} refused by umoci)`,
      );
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  },
);
