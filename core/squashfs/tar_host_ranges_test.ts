import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { busyboxLayerTar } from "../../tests/_helpers/fixtures.ts";
import { readFileChunks } from "../codec/file_chunks.ts";
import { buildTar, RecordingSink } from "./_layer_test_helpers.ts";
import type { TarSpec } from "./_layer_test_helpers.ts";
import type { EntryMeta } from "./fstree.ts";
import { HOST_OFFSET, HOST_PATH } from "./fstree.ts";
import type { LayerSource } from "./layers.ts";
import { mergeLayers } from "./layers.ts";
import type { SquashfsCompressor } from "./writer.ts";
import { SquashfsWriter } from "./writer.ts";

/** Text that compresses, of a given length, different for every seed. */
function text(length: number, seed: number): string {
  let out = "";
  for (let i = 0; out.length < length; i++) out += `line ${seed}:${i * 7919 % 10007}\n`;
  return out.slice(0, length);
}

/** Members that exercise every path: tails, several ranges, zero blocks, duplicates. */
const LOWER: TarSpec[] = [
  { path: "etc/", type: "5" },
  { path: "etc/small", data: "hello\n" },
  { path: "etc/empty", data: "" },
  { path: "etc/gone", data: "whited out above" },
  { path: "big/", type: "5" },
  { path: "big/two-ranges", data: text(512 * 1024 + 1, 1) },
  { path: "big/five-ranges", data: text(2_300_000, 2) },
  { path: "big/zeros", data: "\0".repeat(400_000) + "end" },
  { path: "big/copy", data: text(2_300_000, 2) },
  { path: "etc/copy-small", data: "hello\n" },
  { path: "etc/link", type: "2", link: "small" },
  { path: "etc/hard", type: "1", link: "etc/small" },
  { path: `deep/${"n".repeat(120)}`, data: text(70_000, 3) },
];
const UPPER: TarSpec[] = [
  { path: "etc/.wh.gone" },
  { path: "etc/small", data: "replaced\n" },
  { path: "up", data: text(300_000, 4) },
];

async function withTars(
  fn: (dir: string, tars: string[]) => Promise<void>,
  specs: TarSpec[][] = [LOWER, UPPER],
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "singlet-tar-ranges-" });
  try {
    const tars: string[] = [];
    for (const [i, layer] of specs.entries()) {
      const path = `${dir}/layer${i}.tar`;
      await Deno.writeFile(path, buildTar(layer));
      tars.push(path);
    }
    await fn(dir, tars);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Layer sources over tar files: with `path` (host ranges) or streamed only. */
function sources(tars: string[], ranges: boolean): LayerSource[] {
  return tars.map((path) => ({
    name: path,
    ...(ranges ? { path } : {}),
    open: () => readFileChunks(path),
  }));
}

async function pack(
  out: string,
  layers: LayerSource[],
  compressor: SquashfsCompressor,
  parallelism: number,
): Promise<string> {
  const writer = await SquashfsWriter.create(out, { compressor, parallelism });
  await mergeLayers(layers, writer);
  await writer.finish();
  return createHash("sha256").update(await Deno.readFile(out)).digest("hex");
}

Deno.test("a plain tar on disk packs to the same bytes through host ranges as streamed (gzip, zstd; 1 and 2 workers)", async () => {
  await withTars(async (dir, tars) => {
    for (const compressor of ["gzip", "zstd"] as const) {
      const streamed = await pack(`${dir}/s.sqfs`, sources(tars, false), compressor, 1);
      for (const parallelism of [1, 2]) {
        const ranged = await pack(`${dir}/r.sqfs`, sources(tars, true), compressor, parallelism);
        assert.equal(ranged, streamed, `${compressor}, ${parallelism} workers`);
      }
    }
  });
});

Deno.test("the busybox layer tar packs to the same bytes through host ranges as streamed", async () => {
  const tar = await busyboxLayerTar();
  await withTars(async (dir) => {
    const streamed = await pack(`${dir}/s.sqfs`, sources([tar], false), "zstd", 2);
    const ranged = await pack(`${dir}/r.sqfs`, sources([tar], true), "zstd", 2);
    assert.equal(ranged, streamed);
  }, []);
});

/** Records the host range a sink is offered for each file (and reads the data too). */
class RangeSink extends RecordingSink {
  ranges = new Map<string, { path: string; offset: number }>();
  override file(
    path: Uint8Array,
    meta: EntryMeta,
    size: number,
    data: AsyncIterable<Uint8Array>,
  ): Promise<void> {
    const host = data as { [HOST_PATH]?: string; [HOST_OFFSET]?: number };
    if (host[HOST_PATH] !== undefined) {
      this.ranges.set(new TextDecoder().decode(path), {
        path: host[HOST_PATH],
        offset: host[HOST_OFFSET] ?? 0,
      });
    }
    return super.file(path, meta, size, data);
  }
}

Deno.test("members of a plain tar on disk name where their bytes lie in it, and still stream for sinks that read them", async () => {
  await withTars(async (_dir, tars) => {
    const ranged = new RangeSink();
    await mergeLayers(sources(tars, true), ranged);
    const streamed = new RecordingSink();
    await mergeLayers(sources(tars, false), streamed);
    // every file came with a range, and iterating the data gave what streaming gives
    assert.deepEqual(ranged.summary(), streamed.summary());
    assert.deepEqual([...ranged.ranges.keys()].sort(), [
      "big/copy",
      "big/five-ranges",
      "big/two-ranges",
      "big/zeros",
      `deep/${"n".repeat(120)}`,
      "etc/copy-small",
      "etc/empty",
      "etc/small",
      "up",
    ]);
    const big = ranged.ranges.get("big/five-ranges")!;
    assert.equal(big.path, tars[0]);
    const bytes = await Deno.readFile(tars[0]!);
    const want = new TextEncoder().encode(text(2_300_000, 2));
    assert.deepEqual(bytes.subarray(big.offset, big.offset + want.length), want);
    const up = ranged.ranges.get("up")!;
    assert.equal(up.path, tars[1]);
  });
});

Deno.test("compressed layers and layers checked against a DiffID are streamed, not read by range", async () => {
  await withTars(async (dir, tars) => {
    const gz = `${dir}/layer.tar.gz`;
    const { gzipSync } = await import("node:zlib");
    await Deno.writeFile(gz, gzipSync(await Deno.readFile(tars[0]!)));
    const sink = new RangeSink();
    await mergeLayers([{ name: gz, path: gz, open: () => readFileChunks(gz) }], sink);
    assert.equal(sink.ranges.size, 0);
    assert.ok(sink.summary().some((line) => line.startsWith("big/zeros file")));
    const digest = "sha256:" +
      createHash("sha256").update(await Deno.readFile(tars[0]!)).digest("hex");
    const checked = new RangeSink();
    await mergeLayers(
      [{ name: tars[0]!, path: tars[0]!, diffId: digest, open: () => readFileChunks(tars[0]!) }],
      checked,
    );
    assert.equal(checked.ranges.size, 0);
  });
});

Deno.test("a plain tar on disk cut inside a member's data is refused as truncated when read by range", async () => {
  await withTars(async (dir, tars) => {
    const whole = await Deno.readFile(tars[0]!);
    const cut = `${dir}/cut.tar`;
    // inside big/five-ranges, which the reader seeks over
    const at = new TextDecoder("latin1").decode(whole).indexOf("line 2:0\n") + 100_000;
    await Deno.writeFile(cut, whole.subarray(0, at));
    await assert.rejects(
      mergeLayers(sources([cut], true), new RecordingSink()),
      /Cannot apply layer 1\/1 ".*cut\.tar".*truncated inside the data/,
    );
  });
});
