import assert from "node:assert/strict";
import { testWithTools } from "../../tests/_helpers/tools.ts";
import { tinyImage, tinyIndex, writeLayout } from "../../tests/_helpers/tiny_image.ts";
import { BlobCache } from "./blob_cache.ts";
import { fetchImage } from "./fetch_image.ts";
import { wantedPlatform } from "./manifest.ts";
import { parseImageReference } from "./reference.ts";
import { openLayoutSource } from "./layout_source.ts";
import type { LayoutReference } from "./reference.ts";

const image = tinyImage([
  [{ path: "bin" }, { path: "bin/tool", content: "#!/bin/sh\n", mode: 0o755 }],
  [{ path: "data", content: "payload".repeat(1000) }],
], { config: { Cmd: ["/bin/tool"], Labels: { a: "b" } } });

async function pullLocal(uri: string, root: string, platform = {}) {
  const cache = await BlobCache.open(root);
  const source = await openLayoutSource(parseImageReference(uri) as LayoutReference);
  try {
    return { cache, img: await fetchImage(source, cache, { platform: wantedPlatform(platform) }) };
  } finally {
    await source.close();
  }
}

async function sh(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) throw new Error(`${cmd}: ${new TextDecoder().decode(out.stderr)}`);
}

Deno.test("an OCI layout directory is read by ref and its blobs verified into the cache", async () => {
  const dir = await Deno.makeTempDir();
  await writeLayout(`${dir}/lay`, image, "v1");
  const { img, cache } = await pullLocal(`oci:${dir}/lay:v1`, `${dir}/cache`);
  assert.equal(img.manifestDigest, image.top.digest);
  for (const l of img.layers) assert.equal(await cache.verify(l.descriptor), true);
  assert.deepEqual(img.config.labels, { a: "b" });
  // Without a ref, the only image is taken; a wrong ref lists the names.
  assert.equal(
    (await pullLocal(`oci:${dir}/lay`, `${dir}/cache`)).img.manifestDigest,
    image.top.digest,
  );
  await assert.rejects(
    pullLocal(`oci:${dir}/lay:v2`, `${dir}/cache`),
    (e: Error & { hint?: string }) => /no image named "v2"/.test(e.message) && /v1/.test(e.hint!),
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a tampered blob in a layout is refused before it reaches the cache", async () => {
  const dir = await Deno.makeTempDir();
  await writeLayout(`${dir}/lay`, image);
  const layer = image.blobs[1]!;
  const path = `${dir}/lay/blobs/sha256/${layer.digest.slice(7)}`;
  const bytes = await Deno.readFile(path);
  bytes[20]! ^= 0xff;
  await Deno.writeFile(path, bytes);
  await assert.rejects(pullLocal(`oci:${dir}/lay`, `${dir}/cache`), /digest mismatch/);
  assert.equal(await (await BlobCache.open(`${dir}/cache`)).has(layer), false);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a layout with a multi-platform index picks the platform", async () => {
  const dir = await Deno.makeTempDir();
  const amd = tinyImage([[{ path: "a", content: "1" }]]);
  const arm = tinyImage([[{ path: "b", content: "2" }]], { architecture: "arm64" });
  await writeLayout(
    `${dir}/lay`,
    tinyIndex([{ image: amd, architecture: "amd64" }, { image: arm, architecture: "arm64" }]),
  );
  const { img } = await pullLocal(`oci:${dir}/lay`, `${dir}/cache`, { arch: "arm64" });
  assert.equal(img.manifestDigest, arm.top.digest);
  await Deno.remove(dir, { recursive: true });
});

testWithTools("oci-archive and docker-archive (tar and tar.gz) made by skopeo are read in place", [
  "skopeo",
  "gzip",
], async () => {
  const dir = await Deno.makeTempDir();
  await writeLayout(`${dir}/lay`, image, "v1");
  await sh("skopeo", ["copy", "-q", `oci:${dir}/lay:v1`, `oci-archive:${dir}/img.tar:v1`]);
  await sh("skopeo", [
    "copy",
    "-q",
    `oci:${dir}/lay:v1`,
    `docker-archive:${dir}/d.tar:test/img:v1`,
  ]);
  await sh("sh", ["-c", `gzip -c ${dir}/d.tar > ${dir}/d.tar.gz`]);
  const a = await pullLocal(`oci-archive:${dir}/img.tar`, `${dir}/c1`);
  assert.equal(a.img.layers.length, 2);
  assert.deepEqual(a.img.config.cmd, ["/bin/tool"]);
  for (const uri of [`docker-archive:${dir}/d.tar`, `docker-archive:${dir}/d.tar.gz`]) {
    const d = await pullLocal(uri, `${dir}/c2`);
    assert.equal(d.img.layers.length, 2);
    assert.deepEqual(d.img.config.cmd, ["/bin/tool"]);
    assert.deepEqual(d.img.config.diffIds, a.img.config.diffIds);
    for (const l of d.img.layers) assert.equal(await d.cache.verify(l.descriptor), true);
  }
  await assert.rejects(pullLocal(`docker-archive:${dir}/nope.tar`, `${dir}/c3`), /no such file/);
  await assert.rejects(pullLocal(`oci-archive:${dir}/d.tar`, `${dir}/c3`), /no index.json/);
  await Deno.remove(dir, { recursive: true });
});
