import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { gzipSync, zstdCompressSync } from "node:zlib";
import { buildTar, memoryLayer, RecordingSink } from "./_layer_test_helpers.ts";
import type { TarSpec } from "./_layer_test_helpers.ts";
import { mergeLayers } from "./layers.ts";

async function merge(...layers: TarSpec[][]) {
  const sink = new RecordingSink();
  const sources = layers.map((specs, i) => memoryLayer(`L${i + 1}`, buildTar(specs)));
  const stats = await mergeLayers(sources, sink);
  return { sink, stats, sources };
}

Deno.test("mergeLayers applies whiteouts, opaque directories and file/directory replacement", async () => {
  const { sink, stats } = await merge(
    [
      { path: "./", type: "5", mode: 0o700 },
      { path: "etc/", type: "5" },
      { path: "etc/keep", data: "keep" },
      { path: "etc/gone", data: "gone" },
      { path: "opq/", type: "5", mode: 0o750 },
      { path: "opq/old", data: "old" },
      { path: "opq/sub/", type: "5" },
      { path: "opq/sub/deep", data: "deep" },
      { path: "f2d", data: "was a file" },
      { path: "d2f/", type: "5" },
      { path: "d2f/child", data: "child" },
      { path: "wdir/", type: "5" },
      { path: "wdir/x", data: "x" },
    ],
    [
      { path: "etc/.wh.gone" },
      { path: "opq/.wh..wh..opq" },
      { path: "opq/new", data: "new" },
      { path: "f2d/", type: "5" },
      { path: "f2d/inside", data: "inside" },
      { path: "d2f", data: "now a file" },
      { path: ".wh.wdir" },
      { path: "etc/.wh..wh.plnk/ignored", data: "aufs" },
    ],
    [
      { path: "wdir/", type: "5", mode: 0o711 },
      { path: "wdir/y", data: "y" },
    ],
  );
  assert.deepEqual(sink.summary(), [
    ". directory",
    "d2f file now a file",
    "etc directory",
    "etc/keep file keep",
    "f2d directory",
    "f2d/inside file inside",
    "opq directory",
    "opq/new file new",
    "wdir directory",
    "wdir/y file y",
  ]);
  // Metadata of directories comes from the layer that declared them last.
  assert.equal(sink.entries.get("")!.meta!.mode, 0o700);
  assert.equal(sink.entries.get("opq")!.meta!.mode, 0o750);
  assert.equal(sink.entries.get("wdir")!.meta!.mode, 0o711);
  // Shadowed data never reached the sink.
  assert.equal(sink.bytes, "now a file".length + "keep".length + "inside".length + 3 + 1);
  assert.equal(stats.whiteouts, 4);
});

Deno.test("mergeLayers keeps same-layer entries next to a whiteout of the same name", async () => {
  const { sink } = await merge(
    [{ path: "d/", type: "5" }, { path: "d/lower", data: "lower" }, { path: "f", data: "lower f" }],
    [
      { path: "d/", type: "5" },
      { path: "d/upper", data: "upper" },
      { path: ".wh.d" }, // after its own layer's d: still removes only the lower d/lower
      { path: ".wh.f" },
      { path: "f", data: "upper f" },
    ],
  );
  assert.deepEqual(sink.summary(), ["d directory", "d/upper file upper", "f file upper f"]);
});

Deno.test("mergeLayers takes directory metadata from a lower layer when upper layers only imply it", async () => {
  const { sink } = await merge(
    [{ path: "usr/", type: "5", mode: 0o700, uid: 7 }, { path: "usr/a", data: "a" }],
    [{ path: "usr/b", data: "b" }],
  );
  assert.equal(sink.entries.get("usr")!.meta!.mode, 0o700);
  assert.equal(sink.entries.get("usr")!.meta!.uid, 7);
  assert.deepEqual(sink.summary(), ["usr directory", "usr/a file a", "usr/b file b"]);
});

Deno.test("mergeLayers links hard links to live targets and re-reads a layer for shadowed ones", async () => {
  const { sink, stats, sources } = await merge(
    [
      { path: "a", data: "old a" },
      { path: "b", type: "1", link: "a" },
      { path: "c", type: "1", link: "b" },
      { path: "keep", data: "keep" },
      { path: "keep2", type: "1", link: "./keep" },
      { path: "s", type: "2", link: "target" },
      { path: "s2", type: "1", link: "s" },
    ],
    [{ path: "a", data: "new a" }, { path: "s", data: "no longer a symlink" }],
  );
  assert.deepEqual(sink.summary(), [
    "a file new a",
    "b file old a",
    "c hardlink b",
    "keep file keep",
    "keep2 hardlink keep",
    "s file no longer a symlink",
    "s2 symlink target",
  ]);
  assert.equal(stats.rereads, 1);
  assert.equal(sources[0]!.opens, 2);
  assert.equal(sources[1]!.opens, 1);
});

Deno.test("mergeLayers reads gzip and zstd layers and drops every .wh. name", async () => {
  const lower = buildTar([{ path: "x/", type: "5" }, { path: "x/y", data: "y" }, {
    path: "z",
    data: "z",
  }]);
  const upper = buildTar([{ path: "x/.wh.y" }, { path: ".wh.z" }, { path: "w", data: "w" }]);
  const sink = new RecordingSink();
  await mergeLayers([
    memoryLayer("lower.gz", new Uint8Array(gzipSync(lower))),
    memoryLayer("upper.zst", new Uint8Array(zstdCompressSync(upper))),
  ], sink);
  assert.deepEqual(sink.summary(), ["w file w", "x directory"]);
  assert.ok(![...sink.entries.keys()].some((k) => k.includes(".wh.")));
});

// ---- refused content ----------------------------------------------------------------

const refusals: [string, TarSpec[][], RegExp][] = [
  [
    "a ../ escape",
    [[{ path: "../etc/passwd", data: "x" }]],
    /"\.\.\/etc\/passwd".*"\.\." component/,
  ],
  ["a .. in the middle", [[{ path: "a/../../b", data: "x" }]], /"\.\." component/],
  [
    "a hard link out of the root",
    [[{ path: "l", type: "1", link: "../../etc/shadow" }]],
    /hard link target.*"\.\."/,
  ],
  [
    "a hard link to a member not in the layer",
    [[{ path: "l", type: "1", link: "etc/shadow" }]],
    /not an earlier member/,
  ],
  [
    "a file written through a symlink of the same layer",
    [[{ path: "a", type: "2", link: "/etc" }, { path: "a/passwd", data: "x" }]],
    /"a\/passwd".*beneath "a", which this layer made a symlink/,
  ],
  [
    "a lower symlink under an upper layer's undeclared directory",
    [[{ path: "lib", type: "2", link: "usr/lib" }], [{ path: "lib/x", data: "x" }]],
    /"lib".*symlinked parents across layers/,
  ],
  ["an empty whiteout name", [[{ path: "d/.wh." }]], /invalid whiteout/],
  ["a whiteout of ..", [[{ path: "d/.wh.." }]], /invalid whiteout/],
  [
    "a file twice in one layer",
    [[{ path: "f", data: "1" }, { path: "f", data: "2" }]],
    /appears twice/,
  ],
  [
    "a hard link to a directory",
    [[{ path: "d/", type: "5" }, { path: "l", type: "1", link: "d" }]],
    /hard link to a directory/,
  ],
  ["a huge size field", [[{ path: "big", size: 2 ** 50 }]], /"big".*truncated/],
];
for (const [what, layers, pattern] of refusals) {
  Deno.test(`mergeLayers refuses ${what} with a clear error naming the layer`, async () => {
    await assert.rejects(merge(...layers), (error: Error) => {
      assert.ok(error instanceof SyntaxError, String(error));
      assert.match(error.message, /^Cannot (apply|read) (layer \d+\/\d+ "L\d"|tar entry)/);
      assert.match(error.message, pattern);
      return true;
    });
  });
}

Deno.test("mergeLayers strips leading / and ./ so absolute names stay inside the image", async () => {
  const { sink } = await merge([{ path: "/etc/abs", data: "a" }, { path: ".//./rel", data: "r" }]);
  assert.deepEqual(sink.summary(), ["etc/abs file a", "rel file r"]);
});

Deno.test("mergeLayers honours an opaque marker at the image root", async () => {
  const { sink } = await merge(
    [{ path: "old", data: "old" }, { path: "dir/", type: "5" }, { path: "dir/f", data: "f" }],
    [{ path: "./.wh..wh..opq" }, { path: "new", data: "new" }],
  );
  assert.deepEqual(sink.summary(), ["new file new"]);
});

Deno.test("mergeLayers lets the last of two directory entries in one layer set the metadata", async () => {
  const { sink } = await merge([
    { path: "d/", type: "5", mode: 0o700 },
    { path: "d/f", data: "f" },
    { path: "d/", type: "5", mode: 0o751 },
  ]);
  assert.equal(sink.entries.get("d")!.meta!.mode, 0o751);
});

Deno.test("mergeLayers resolves a live hard link through a shadowed link to a live file", async () => {
  const { sink, stats } = await merge(
    [
      { path: "a", data: "a" },
      { path: "b", type: "1", link: "a" },
      { path: "c", type: "1", link: "b" },
    ],
    [{ path: "b", data: "b replaced" }],
  );
  assert.deepEqual(sink.summary(), ["a file a", "b file b replaced", "c hardlink a"]);
  assert.equal(stats.rereads, 0);
});

Deno.test("mergeLayers whites out a lower hard link's target without losing the link", async () => {
  const { sink, stats } = await merge(
    [{ path: "a", data: "shared" }, { path: "b", type: "1", link: "a" }],
    [{ path: ".wh.a" }],
  );
  assert.deepEqual(sink.summary(), ["b file shared"]);
  assert.equal(stats.rereads, 1);
});

Deno.test("mergeLayers whites out a path below a directory that only lower layers have", async () => {
  const { sink } = await merge(
    [{ path: "x/", type: "5", mode: 0o700 }, { path: "x/y", data: "y" }, {
      path: "x/z",
      data: "z",
    }],
    [{ path: "x/.wh.y" }, { path: "missing/.wh.nothing" }],
  );
  // The marker neither creates "missing" nor overrides x's metadata.
  assert.deepEqual(sink.summary(), ["x directory", "x/z file z"]);
  assert.equal(sink.entries.get("x")!.meta!.mode, 0o700);
});

Deno.test("mergeLayers checks DiffIDs over the whole uncompressed stream, padding included", async () => {
  const tar = new Uint8Array([...buildTar([{ path: "f", data: "f" }]), ...new Uint8Array(8192)]);
  const diffId = `sha256:${createHash("sha256").update(tar).digest("hex")}`;
  const gz = new Uint8Array(gzipSync(tar));
  const ok = new RecordingSink();
  await mergeLayers([{ ...memoryLayer("good", gz), diffId }], ok);
  assert.deepEqual(ok.summary(), ["f file f"]);
  const bad = `sha256:${"0".repeat(64)}`;
  await assert.rejects(
    mergeLayers([{ ...memoryLayer("bad", gz), diffId: bad }], new RecordingSink()),
    new RegExp(`"bad": its content has digest ${diffId}, but the image says ${bad}`),
  );
});

Deno.test("mergeLayers lets the sink's own errors through unchanged", async () => {
  const sink = new RecordingSink();
  sink.file = () => Promise.reject(new Error("disk full"));
  await assert.rejects(
    mergeLayers([memoryLayer("L1", buildTar([{ path: "f", data: "f" }]))], sink),
    (error: Error) => !(error instanceof SyntaxError) && /disk full/.test(error.message),
  );
});
