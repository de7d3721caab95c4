import assert from "node:assert/strict";
import { BlobCache } from "./blob_cache.ts";
import { sha256Digest } from "./digest.ts";
import { cleanCache, defaultCacheDir, listCache } from "./cache_dir.ts";

function blob(n: number, seed = 1): { bytes: Uint8Array; desc: { digest: string; size: number } } {
  const bytes = new Uint8Array(n);
  for (let i = 0; i < n; i++) bytes[i] = (i * 31 + seed) & 0xff;
  return { bytes, desc: { digest: sha256Digest(bytes), size: n } };
}

async function* chunks(bytes: Uint8Array, from: number, size = 1000): AsyncIterable<Uint8Array> {
  for (let i = from; i < bytes.length; i += size) {
    yield bytes.slice(i, Math.min(i + size, bytes.length));
  }
}

class Reset extends Error {}

Deno.test("the cache root and blob layout are created with mode 0700", async () => {
  const root = await Deno.makeTempDir();
  await BlobCache.open(`${root}/c`);
  assert.equal((await Deno.stat(`${root}/c`)).mode! & 0o777, 0o700);
  assert.equal((await Deno.stat(`${root}/c/blob/blobs/sha256`)).mode! & 0o777, 0o700);
  assert.deepEqual(JSON.parse(await Deno.readTextFile(`${root}/c/blob/oci-layout`)), {
    imageLayoutVersion: "1.0.0",
  });
  await Deno.remove(root, { recursive: true });
});

Deno.test("the cache directory honours SINGLET_, SINGULARITY_ and APPTAINER_CACHEDIR", () => {
  const env = (vars: Record<string, string>) => (n: string) => vars[n];
  assert.equal(defaultCacheDir(env({ HOME: "/h" })), "/h/.singlet/cache");
  assert.equal(defaultCacheDir(env({ HOME: "/h", APPTAINER_CACHEDIR: "/a" })), "/a");
  assert.equal(
    defaultCacheDir(env({ SINGULARITY_CACHEDIR: "/s", APPTAINER_CACHEDIR: "/a" })),
    "/s",
  );
  assert.equal(defaultCacheDir(env({ SINGLET_CACHEDIR: "/t/", SINGULARITY_CACHEDIR: "/s" })), "/t");
});

Deno.test("a download interrupted by a reset resumes from where it stopped", async () => {
  const root = await Deno.makeTempDir();
  const cache = await BlobCache.open(root);
  const { bytes, desc } = blob(10_000);
  const offsets: number[] = [];
  const path = await cache.fetch(desc, async function* (offset) {
    offsets.push(offset);
    let at = offset;
    for await (const c of chunks(bytes, offset)) {
      yield c;
      at += c.length;
      if (offsets.length === 1 && at >= 4000) throw new Reset("reset");
    }
  }, { resumable: (e) => e instanceof Reset });
  assert.deepEqual(offsets, [0, 4000]);
  assert.deepEqual(await Deno.readFile(path), bytes);
  assert.equal(await cache.verify(desc), true);
  await Deno.remove(root, { recursive: true });
});

Deno.test("a blob with a flipped byte is refused and nothing is cached", async () => {
  const root = await Deno.makeTempDir();
  const cache = await BlobCache.open(root);
  const { bytes, desc } = blob(5000);
  const bad = bytes.slice();
  bad[1234]! ^= 1;
  await assert.rejects(
    cache.fetch(desc, (offset) => chunks(bad, offset)),
    (e: Error & { exitCode?: number }) => /digest mismatch/.test(e.message) && e.exitCode === 3,
  );
  assert.equal(await cache.has(desc), false);
  assert.deepEqual([...Deno.readDirSync(`${root}/blob/ingest`)].map((e) => e.name), []);
  await assert.rejects(cache.putBytes(desc, bad), /digest mismatch/);
  await assert.rejects(cache.putBytes(desc, bytes.subarray(1)), /size mismatch/);
  await Deno.remove(root, { recursive: true });
});

Deno.test("a partial download left by a dead process is adopted and re-hashed", async () => {
  const root = await Deno.makeTempDir();
  const cache = await BlobCache.open(root, { staleMs: 60_000 });
  const { bytes, desc } = blob(8000);
  const hex = desc.digest.slice(7);
  // A lock from a pid that does not exist on this host, and its partial file.
  await Deno.writeTextFile(
    `${root}/blob/ingest/${hex}.lock`,
    JSON.stringify({ host: Deno.hostname(), pid: 1, token: "dead" }),
  );
  await Deno.writeFile(`${root}/blob/ingest/${hex}.dead.partial`, bytes.subarray(0, 3000));
  const offsets: number[] = [];
  await cache.fetch(desc, (offset) => {
    offsets.push(offset);
    return chunks(bytes, offset);
  });
  assert.deepEqual(offsets, [3000]);
  assert.equal(await cache.verify(desc), true);
  assert.deepEqual([...Deno.readDirSync(`${root}/blob/ingest`)].map((e) => e.name), []);
  await Deno.remove(root, { recursive: true });
});

Deno.test("a corrupt partial prefix is caught by the final digest check", async () => {
  const root = await Deno.makeTempDir();
  const cache = await BlobCache.open(root);
  const { bytes, desc } = blob(8000);
  const hex = desc.digest.slice(7);
  const prefix = bytes.slice(0, 3000);
  prefix[10]! ^= 0xff;
  await Deno.writeFile(`${root}/blob/ingest/${hex}.old.partial`, prefix);
  await assert.rejects(cache.fetch(desc, (offset) => chunks(bytes, offset)), /digest mismatch/);
  // The next attempt starts from scratch and succeeds.
  await cache.fetch(desc, (offset) => chunks(bytes, offset));
  assert.equal(await cache.verify(desc), true);
  await Deno.remove(root, { recursive: true });
});

Deno.test("concurrent fetches of one blob download it once and all succeed", async () => {
  const root = await Deno.makeTempDir();
  const { bytes, desc } = blob(50_000);
  let downloads = 0;
  const source = async function* (offset: number) {
    downloads++;
    for await (const c of chunks(bytes, offset)) {
      await new Promise((r) => setTimeout(r, 2));
      yield c;
    }
  };
  const caches = await Promise.all([1, 2, 3, 4].map(() => BlobCache.open(root)));
  const paths = await Promise.all(caches.map((c) => c.fetch(desc, source)));
  assert.equal(downloads, 1);
  assert.equal(new Set(paths).size, 1);
  assert.equal(await caches[0]!.verify(desc), true);
  await Deno.remove(root, { recursive: true });
});

Deno.test("verify removes a cached blob whose bytes changed on disk", async () => {
  const root = await Deno.makeTempDir();
  const cache = await BlobCache.open(root);
  const { bytes, desc } = blob(100);
  const path = await cache.putBytes(desc, bytes);
  const changed = bytes.slice();
  changed[0]! ^= 1;
  await Deno.writeFile(path, changed);
  assert.equal(await cache.readVerified(desc), undefined);
  assert.equal(await cache.has(desc), false);
  await Deno.remove(root, { recursive: true });
});

Deno.test("cache list and clean see blobs by type and age", async () => {
  const root = await Deno.makeTempDir();
  const cache = await BlobCache.open(root);
  const a = blob(10, 1);
  const b = blob(20, 2);
  await cache.putBytes(a.desc, a.bytes);
  await cache.putBytes(b.desc, b.bytes);
  const old = new Date(Date.now() - 10 * 86400_000);
  await Deno.utime(cache.path(a.desc.digest), old, old);
  assert.equal((await listCache(root)).length, 2);
  assert.equal((await listCache(root, ["net"])).length, 0);
  const dry = await cleanCache(root, { days: 5, dryRun: true });
  assert.deepEqual(dry.map((e) => e.name), [a.desc.digest.slice(7)]);
  assert.equal((await listCache(root)).length, 2);
  await cleanCache(root, { days: 5 });
  assert.deepEqual((await listCache(root)).map((e) => e.size), [20]);
  await cleanCache(root);
  assert.equal((await listCache(root)).length, 0);
  await Deno.remove(root, { recursive: true });
});

Deno.test("a source sending more than the descriptor's size is cut off and nothing is cached", async () => {
  const root = await Deno.makeTempDir();
  const cache = await BlobCache.open(root);
  const { bytes, desc } = blob(3000);
  let sent = 0;
  const endless = async function* () {
    // Never ends on its own: the cache must stop at size + 1 chunk, not read forever.
    while (true) {
      sent += bytes.length;
      yield bytes;
    }
  };
  await assert.rejects(
    cache.fetch(desc, endless),
    (e: Error & { exitCode?: number }) =>
      /more data than the 3000 bytes/.test(e.message) && e.exitCode === 3,
  );
  assert.ok(sent <= 2 * bytes.length);
  assert.equal(await cache.has(desc), false);
  await Deno.remove(root, { recursive: true });
});
