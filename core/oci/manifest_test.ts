import assert from "node:assert/strict";
import { MediaType, parseManifest, selectPlatform, wantedPlatform } from "./manifest.ts";
import type { ImageIndex } from "./manifest.ts";

const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const d = (c: string) => `sha256:${c.repeat(64)}`;

Deno.test("an OCI manifest and a Docker v2s2 manifest parse to the same shape", () => {
  for (const mediaType of [MediaType.ociManifest, MediaType.dockerManifest]) {
    const m = parseManifest(
      enc({
        schemaVersion: 2,
        mediaType,
        config: { mediaType: "c", digest: d("a"), size: 2 },
        layers: [{ mediaType: "l", digest: d("b"), size: 3 }],
      }),
      mediaType,
      "test",
    );
    assert.equal(m.kind, "manifest");
    if (m.kind === "manifest") assert.equal(m.layers[0]!.digest, d("b"));
  }
});

Deno.test("schema 1 is refused with a hint to re-push", () => {
  assert.throws(
    () => parseManifest(enc({ schemaVersion: 1, fsLayers: [] }), "application/json", "x"),
    (e: Error & { hint?: string }) => /schema 1/.test(e.message) && /re-push/.test(e.hint!),
  );
  assert.throws(
    () => parseManifest(enc({}), MediaType.dockerSchema1Signed, "x"),
    /schema 1/,
  );
});

Deno.test("ambiguous documents, bad digests and bad sizes are refused", () => {
  const cfg = { mediaType: "c", digest: d("a"), size: 2 };
  assert.throws(
    () =>
      parseManifest(
        enc({ schemaVersion: 2, manifests: [], config: cfg, layers: [] }),
        undefined,
        "x",
      ),
    /both an index and a manifest/,
  );
  assert.throws(
    () =>
      parseManifest(
        enc({ schemaVersion: 2, config: { ...cfg, digest: "sha256:../../etc" }, layers: [] }),
        undefined,
        "x",
      ),
    /invalid digest/,
  );
  assert.throws(
    () =>
      parseManifest(
        enc({ schemaVersion: 2, config: { ...cfg, size: -1 }, layers: [] }),
        undefined,
        "x",
      ),
    /invalid size/,
  );
  assert.throws(
    () =>
      parseManifest(
        enc({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] }),
        MediaType.ociManifest,
        "x",
      ),
    /differs from Content-Type/,
  );
});

Deno.test("a manifest with a duplicated or case-variant key is ambiguous and refused", () => {
  const text = `{"schemaVersion":2,"config":{"mediaType":"c","digest":"${d("a")}","size":2},` +
    `"layers":[],"Layers":[{"mediaType":"l","digest":"${d("b")}","size":3}]}`;
  assert.throws(
    () => parseManifest(new TextEncoder().encode(text), undefined, "x"),
    /"Layers" appears twice/,
  );
});

Deno.test("platform selection honours variant and lists what is available", () => {
  const entry = (architecture: string, variant?: string) => ({
    mediaType: MediaType.ociManifest,
    digest: d(String(architecture.length % 10)),
    size: 1,
    platform: { os: "linux", architecture, ...(variant ? { variant } : {}) },
  });
  const index: ImageIndex = {
    kind: "index",
    mediaType: MediaType.ociIndex,
    manifests: [entry("amd64"), entry("arm", "v6"), entry("arm", "v7"), entry("arm64", "v8")],
  };
  assert.equal(selectPlatform(index, wantedPlatform({ arch: "x86_64" }), "i"), index.manifests[0]);
  assert.equal(
    selectPlatform(index, wantedPlatform({ platform: "linux/arm" }), "i"),
    index.manifests[2],
  );
  assert.equal(
    selectPlatform(index, wantedPlatform({ platform: "linux/arm/v6" }), "i"),
    index.manifests[1],
  );
  assert.equal(selectPlatform(index, wantedPlatform({ arch: "aarch64" }), "i"), index.manifests[3]);
  assert.throws(
    () => selectPlatform(index, wantedPlatform({ platform: "linux/s390x" }), "i"),
    /available: linux\/amd64, linux\/arm\/v6, linux\/arm\/v7, linux\/arm64\/v8/,
  );
  assert.throws(() => wantedPlatform({ platform: "linux" }), /os\/arch/);
});
