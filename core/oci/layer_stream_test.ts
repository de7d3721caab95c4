import assert from "node:assert/strict";
import zlib from "node:zlib";
import { layerCompression, layerTarStream } from "./layer_stream.ts";
import { sha256Digest } from "./digest.ts";

const tar = new Uint8Array(100_000).map((_, i) => (i * 7) & 0xff);

async function collect(it: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of it) parts.push(p);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

Deno.test("gzip, zstd and plain layers stream their tar and pass the DiffID check", async () => {
  const dir = await Deno.makeTempDir();
  const cases: [string, Uint8Array][] = [
    ["application/vnd.oci.image.layer.v1.tar+gzip", zlib.gzipSync(tar)],
    ["application/vnd.oci.image.layer.v1.tar+zstd", zlib.zstdCompressSync(tar)],
    ["application/vnd.docker.image.rootfs.diff.tar", tar],
  ];
  for (const [mediaType, blob] of cases) {
    await Deno.writeFile(`${dir}/b`, blob);
    const desc = { mediaType, digest: sha256Digest(blob), size: blob.length };
    assert.deepEqual(await collect(layerTarStream(`${dir}/b`, desc, sha256Digest(tar))), tar);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a DiffID mismatch or a changed blob fails with exit code 3", async () => {
  const dir = await Deno.makeTempDir();
  const blob = zlib.gzipSync(tar);
  await Deno.writeFile(`${dir}/b`, blob);
  const desc = {
    mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
    digest: sha256Digest(blob),
    size: blob.length,
  };
  await assert.rejects(
    collect(layerTarStream(`${dir}/b`, desc, sha256Digest(new Uint8Array(1)))),
    (e: Error & { exitCode?: number }) => /DiffID mismatch/.test(e.message) && e.exitCode === 3,
  );
  await assert.rejects(
    collect(layerTarStream(`${dir}/b`, { ...desc, digest: sha256Digest(tar) }, sha256Digest(tar))),
    /cached blob is corrupt/,
  );
  await Deno.writeFile(`${dir}/b`, blob.subarray(0, 100));
  await assert.rejects(
    collect(layerTarStream(`${dir}/b`, desc, sha256Digest(tar))),
    /Cannot unpack/,
  );
  assert.throws(
    () => layerCompression("application/vnd.oci.image.layer.v1.tar+encrypted"),
    /media type/,
  );
  await Deno.remove(dir, { recursive: true });
});
