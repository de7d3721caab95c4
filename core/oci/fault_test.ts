import assert from "node:assert/strict";
import { testWithTools } from "../../tests/_helpers/tools.ts";
import { startTestRegistry, type TestRegistry } from "../../tests/_helpers/test_registry.ts";
import { type FaultProxy, startFaultProxy } from "../../tests/_helpers/fault_proxy.ts";
import { pushImage, tinyImage } from "../../tests/_helpers/tiny_image.ts";
import { BlobCache } from "./blob_cache.ts";
import { fetchImage } from "./fetch_image.ts";
import { wantedPlatform } from "./manifest.ts";
import { parseDockerName } from "./reference.ts";
import { openRegistrySource } from "./registry_source.ts";
import type { HttpOptions } from "./http.ts";

const TOOLS = ["docker-registry", "openssl", "htpasswd"];

function noise(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) {
    crypto.getRandomValues(out.subarray(i, Math.min(i + 65536, n)));
  }
  return out;
}

// Random content does not compress: the layer blob is about 1.5 MiB.
const image = tinyImage([
  [{ path: "big", content: noise(1_500_000) }],
  [{ path: "small", content: "x" }],
]);
const big = image.blobs[0]!;
const isBlob = (digest: string) => (m: string, p: string) =>
  m === "GET" && p.endsWith(`/blobs/${digest}`);
const isManifest = (m: string, p: string) => m === "GET" && p.includes("/manifests/");

async function withProxy(
  fn: (proxy: FaultProxy, registry: TestRegistry) => Promise<void>,
  auth?: "token",
): Promise<void> {
  const registry = await startTestRegistry(auth ? { auth } : {});
  const proxy = startFaultProxy(registry.url, {
    secondAuthorization: () => registry.pushAuthorization("test/faults"),
  });
  try {
    await pushImage(registry.url, "test/faults", "v1", image, {
      ...(auth ? { authorization: (await registry.pushAuthorization("test/faults"))! } : {}),
    });
    await fn(proxy, registry);
  } finally {
    await proxy.stop();
    await registry.stop();
  }
}

async function pullThrough(proxy: FaultProxy, root: string, http: HttpOptions = {}) {
  const cache = await BlobCache.open(root);
  const source = await openRegistrySource(parseDockerName(`${proxy.host}/test/faults:v1`), {
    http: { allowHttp: true, backoffMs: 20, idleTimeoutMs: 1000, ...http },
    credentials: { env: () => undefined },
  });
  try {
    return { cache, img: await fetchImage(source, cache, { platform: wantedPlatform({}) }) };
  } finally {
    await source.close();
  }
}

testWithTools(
  "a connection reset mid-blob is resumed with a validated Range request",
  TOOLS,
  async () => {
    await withProxy(async (proxy) => {
      proxy.rules.push({
        match: isBlob(big.digest),
        fault: { kind: "reset", afterBytes: 600_000 },
      });
      const root = await Deno.makeTempDir();
      const { cache, img } = await pullThrough(proxy, root);
      assert.equal(await cache.verify(img.layers[0]!.descriptor), true);
      const gets = proxy.log.filter((r) => r.path.endsWith(big.digest));
      assert.equal(gets.length, 2);
      assert.equal(gets[0]!.range, null);
      assert.match(gets[1]!.range!, /^bytes=\d+-$/);
      assert.ok(Number(/\d+/.exec(gets[1]!.range!)![0]) > 0);
      await Deno.remove(root, { recursive: true });
    });
  },
);

testWithTools("a flipped byte is refused and nothing reaches the cache", TOOLS, async () => {
  await withProxy(async (proxy) => {
    proxy.rules.push({
      match: isBlob(big.digest),
      times: Infinity,
      fault: { kind: "flip", atByte: 1000 },
    });
    const root = await Deno.makeTempDir();
    await assert.rejects(
      pullThrough(proxy, root),
      (e: Error & { exitCode?: number }) => /digest mismatch/.test(e.message) && e.exitCode === 3,
    );
    const cache = await BlobCache.open(root);
    assert.equal(await cache.has(big), false);
    const leftovers = [...Deno.readDirSync(`${root}/blob/ingest`)].map((e) => e.name);
    assert.deepEqual(leftovers.filter((n) => n.startsWith(big.digest.slice(7))), []);
    await Deno.remove(root, { recursive: true });
  });
});

testWithTools("429 with Retry-After is waited out, then the pull succeeds", TOOLS, async () => {
  await withProxy(async (proxy) => {
    proxy.rules.push({
      match: isManifest,
      fault: { kind: "status", status: 429, retryAfter: "1" },
    });
    proxy.rules.push({ match: isBlob(big.digest), fault: { kind: "status", status: 503 } });
    const root = await Deno.makeTempDir();
    const started = performance.now();
    const { img } = await pullThrough(proxy, root);
    assert.ok(performance.now() - started >= 900, "Retry-After: 1 was honoured");
    assert.equal(img.manifestDigest, image.top.digest);
    assert.equal(proxy.log.filter((r) => r.path.includes("/manifests/")).length, 2);
    assert.equal(proxy.log.filter((r) => r.path.endsWith(big.digest)).length, 2);
    await Deno.remove(root, { recursive: true });
  });
});

testWithTools(
  "a blob redirected to another origin gets no Authorization there",
  TOOLS,
  async () => {
    await withProxy(async (proxy) => {
      proxy.rules.push({ match: isBlob(big.digest), fault: { kind: "redirect" } });
      const root = await Deno.makeTempDir();
      const { cache } = await pullThrough(proxy, root);
      assert.equal(await cache.verify(big), true);
      const onProxy = proxy.log.filter((r) => r.origin === "proxy" && r.path.endsWith(big.digest));
      const onSecond = proxy.log.filter((r) => r.origin === "second");
      assert.equal(onProxy[0]!.authorization, true, "the registry itself got the token");
      assert.equal(onSecond.length, 1);
      assert.equal(onSecond[0]!.authorization, false);
      await Deno.remove(root, { recursive: true });
    }, "token");
  },
);

testWithTools("a stalled blob times out and resumes instead of hanging", TOOLS, async () => {
  await withProxy(async (proxy) => {
    proxy.rules.push({ match: isBlob(big.digest), fault: { kind: "stall", afterBytes: 300_000 } });
    const root = await Deno.makeTempDir();
    const { cache } = await pullThrough(proxy, root, { idleTimeoutMs: 300 });
    assert.equal(await cache.verify(big), true);
    // Stalling for good ends in a clear error in bounded time.
    await Deno.remove(root, { recursive: true });
    proxy.rules.push({
      match: isBlob(big.digest),
      times: Infinity,
      fault: { kind: "stall", afterBytes: 0 },
    });
    const root2 = await Deno.makeTempDir();
    const started = performance.now();
    await assert.rejects(pullThrough(proxy, root2, { idleTimeoutMs: 200 }), /no data for/);
    assert.ok(performance.now() - started < 10_000);
    await Deno.remove(root2, { recursive: true });
  });
});
