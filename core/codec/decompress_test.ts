import assert from "node:assert/strict";
import { gzipSync, zstdCompressSync } from "node:zlib";
import { decompress, decompressedSizeHint, detectCompression } from "./decompress.ts";

const data = new TextEncoder().encode("layer ".repeat(50_000));

async function all(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts = await Array.fromAsync(source);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

async function* chunks(bytes: Uint8Array, size: number) {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

Deno.test("decompress passes plain data through and decodes gzip and zstd, in any chunking", async () => {
  for (
    const [name, bytes] of [
      ["plain", data],
      ["gzip", new Uint8Array(gzipSync(data))],
      ["zstd", new Uint8Array(zstdCompressSync(data))],
    ] as const
  ) {
    for (const size of [1, 3, 65536]) {
      assert.deepEqual(await all(decompress(chunks(bytes, size))), data, `${name}/${size}`);
    }
    assert.equal(detectCompression(bytes), name === "plain" ? "none" : name);
  }
});

Deno.test("decompress names truncated and corrupt streams and unsupported formats", async () => {
  const gz = new Uint8Array(gzipSync(data));
  await assert.rejects(
    all(decompress(chunks(gz.subarray(0, gz.length - 100), 4096), { name: "layer.gz" })),
    /Cannot decompress "layer\.gz" \(gzip\)/,
  );
  const zst = new Uint8Array(zstdCompressSync(data));
  zst[zst.length - 10] = zst[zst.length - 10]! ^ 0xff;
  await assert.rejects(all(decompress(chunks(zst, 4096))), /Cannot decompress "stream" \(zstd\)/);
  const xz = new Uint8Array([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0, 0]);
  await assert.rejects(all(decompress(chunks(xz, 4))), /xz compression is not supported/);
});

Deno.test("decompressedSizeHint reads gzip ISIZE and zstd frame content size", () => {
  const gz = new Uint8Array(gzipSync(data));
  assert.equal(
    decompressedSizeHint(gz.subarray(0, 32), gz.subarray(gz.length - 4), gz.length),
    data.length,
  );
  // A frame header with a 4-byte content size (single segment), as the zstd CLI writes.
  const header = new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0xa0, 0x40, 0x42, 0x0f, 0x00]);
  assert.equal(decompressedSizeHint(header, new Uint8Array(4), 100), 1_000_000);
  // node's streaming encoder records no size: fall back to three times the file.
  const zst = new Uint8Array(zstdCompressSync(data));
  const hint = decompressedSizeHint(zst.subarray(0, 32), zst.subarray(zst.length - 4), zst.length);
  assert.equal(hint, zst.length * 3);
  assert.equal(
    decompressedSizeHint(data.subarray(0, 32), data.subarray(data.length - 4), 1234),
    1234,
  );
});
