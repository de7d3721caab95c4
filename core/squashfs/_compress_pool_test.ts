import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import zlib from "node:zlib";
import { CompressPool, zstdFrameLength, zstdWindowLog } from "./_compress_pool.ts";

/** A raw zstd block header: last flag, type, size. */
function blockHeader(last: number, type: number, size: number): number[] {
  const h = last | (type << 1) | (size << 3);
  return [h & 0xff, (h >> 8) & 0xff, (h >> 16) & 0xff];
}

Deno.test("a zstd frame ending in an empty last block is rewritten to end in its data block", () => {
  const frame = new Uint8Array([
    0x28,
    0xb5,
    0x2f,
    0xfd,
    0x00,
    0x10, // magic, descriptor, 4 KiB window
    ...blockHeader(0, 0, 3),
    0x61,
    0x62,
    0x63, // raw "abc", not last
    ...blockHeader(1, 0, 0), // empty raw last block
    0x28,
    0xb5,
    0x2f,
    0xfd,
    0x00,
    0x10,
    ...blockHeader(1, 0, 0), // a second, empty frame
  ]);
  const length = zstdFrameLength(frame);
  assert.equal(length, 12);
  assert.equal(frame[6]! & 1, 1);
  const out = zlib.zstdDecompressSync(frame.subarray(0, length));
  assert.equal(new TextDecoder().decode(out), "abc");
});

Deno.test("a well-formed zstd frame keeps its length, and trailing frames are cut", () => {
  const data = new TextEncoder().encode("hello hello hello hello");
  const one = zlib.zstdCompressSync(data);
  const two = new Uint8Array([...one, ...one]);
  assert.equal(zstdFrameLength(two), one.length);
  assert.throws(() => zstdFrameLength(new Uint8Array([1, 2, 3, 4, 5, 6])), /not start with a zstd/);
});

Deno.test("zstd windows never exceed one block (what Linux allocates for)", () => {
  assert.equal(zstdWindowLog(131072), 17);
  assert.equal(zstdWindowLog(4096), 12);
  assert.equal(zstdWindowLog(1 << 20), 20);
});

Deno.test("the pool returns compressed bytes in the buffer it was given, or the input", async () => {
  const pool = new CompressPool(2, "zstd", 3, 131072);
  try {
    const text = new TextEncoder().encode("squashfs ".repeat(1000));
    const buffer = new Uint8Array(16384);
    buffer.set(text);
    const out = await pool.compress(buffer, text.length);
    assert.ok(out.length < text.length);
    assert.deepEqual(zlib.zstdDecompressSync(out), Buffer.from(text));
    const noise = crypto.getRandomValues(new Uint8Array(4096));
    const copy = noise.slice();
    const same = await pool.compress(noise, noise.length);
    assert.deepEqual(same, copy);
  } finally {
    pool.close();
  }
});

for (const compressor of ["gzip", "zstd"] as const) {
  Deno.test(`a worker's ${compressor} blocks are the public zlib call's bytes, whatever it compressed before`, async () => {
    // One worker compresses every block in turn, so whatever it keeps between blocks has
    // seen all the earlier ones: longer, shorter, compressible and not.
    const blockSize = 131072;
    const pool = new CompressPool(1, compressor, 3, blockSize);
    const params = {
      [zlib.constants.ZSTD_c_compressionLevel]: 3,
      [zlib.constants.ZSTD_c_windowLog]: zstdWindowLog(blockSize),
    };
    const reference = (input: Uint8Array): Uint8Array => {
      const out = compressor === "gzip"
        ? zlib.deflateSync(input, { level: 3 })
        : zlib.zstdCompressSync(
          input,
          { params, pledgedSrcSize: input.length } as zlib.ZstdOptions,
        );
      const bytes = new Uint8Array(out.buffer, out.byteOffset, out.length);
      if (bytes.length >= input.length) return input;
      return compressor === "zstd" ? bytes.subarray(0, zstdFrameLength(bytes)) : bytes;
    };
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    const words = [
      "usr",
      "lib",
      "x86_64-linux-gnu",
      "share",
      "doc",
      "\0\0\0\0",
      "ELF",
      "GLIBC_2.34",
    ];
    try {
      for (let i = 0; i < 60; i++) {
        const length = i % 4 === 0 ? blockSize : 1 + Math.floor(random() * (blockSize - 1));
        const block = new Uint8Array(blockSize);
        if (i % 7 === 3) {
          crypto.getRandomValues(block.subarray(0, Math.min(length, 65536)));
        } else {
          const text = new TextEncoder().encode(
            Array.from({ length: length / 4 }, () => words[Math.floor(random() * 8)]).join("/"),
          );
          block.set(text.subarray(0, length));
        }
        const input = block.slice(0, length);
        const got = await pool.compress(block, length);
        assert.deepEqual(got, reference(input), `block ${i} (${length} bytes)`);
      }
    } finally {
      pool.close();
    }
  });
}

for (const compressor of ["gzip", "zstd"] as const) {
  Deno.test(`metadata blocks compressed synchronously on a worker are the public ${compressor} call's bytes`, () => {
    const blockSize = 4096;
    const pool = new CompressPool(2, compressor, 5, blockSize);
    const params = {
      [zlib.constants.ZSTD_c_compressionLevel]: 5,
      [zlib.constants.ZSTD_c_windowLog]: zstdWindowLog(blockSize),
    };
    try {
      // Many in a row: each answer's wake-up must not be taken for the next one's.
      for (let i = 0; i < 400; i++) {
        const length = 1 + (i * 2039) % 8192;
        const input = i % 5 === 4
          ? crypto.getRandomValues(new Uint8Array(length))
          : new TextEncoder().encode(`inode ${i} `.repeat(900)).subarray(0, length);
        const out = compressor === "gzip"
          ? zlib.deflateSync(input, { level: 5 })
          : zlib.zstdCompressSync(
            input,
            { params, pledgedSrcSize: input.length } as zlib.ZstdOptions,
          );
        let want: Uint8Array | undefined = new Uint8Array(out.buffer, out.byteOffset, out.length);
        if (compressor === "zstd") want = want.subarray(0, zstdFrameLength(want));
        if (want.length >= input.length) want = undefined;
        assert.deepEqual(pool.compressSync(input), want, `block ${i} (${length} bytes)`);
      }
    } finally {
      pool.close();
    }
  });
}
