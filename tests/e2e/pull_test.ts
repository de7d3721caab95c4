/**
 * `singlet pull`, `registry` and `cache` as users run them (bin/singlet), against Debian's
 * docker-registry on loopback with the busybox fixture, through the fault proxy where the
 * test needs faults or request counts.
 */
import assert from "node:assert/strict";
import { testWithTools } from "../_helpers/tools.ts";
import { runSinglet, SINGLET_BIN } from "../_helpers/singlet.ts";
import { busyboxOciLayout } from "../_helpers/fixtures.ts";
import { startRegistry } from "../_helpers/registry.ts";
import { startFaultProxy } from "../_helpers/fault_proxy.ts";
import { BlobCache } from "../../core/oci/blob_cache.ts";
import { listCache } from "../../core/oci/cache_dir.ts";

const TOOLS = ["docker-registry", "skopeo"];
const decoder = new TextDecoder();

/**
 * What a successful pull ends with in this build: the image is fetched and verified into
 * the cache, then conversion reports that it is not available, and no output file exists.
 */
async function assertPullOutcome(
  result: { code: number; stderr: string },
  output: string,
): Promise<void> {
  assert.equal(result.code, 255, result.stderr);
  assert.match(result.stderr, /conversion to SIF is not available yet/);
  await assert.rejects(Deno.lstat(output), Deno.errors.NotFound);
}

async function assertCacheConsistent(cacheDir: string): Promise<number> {
  const cache = await BlobCache.open(cacheDir);
  const entries = await listCache(cacheDir, ["blob"]);
  for (const e of entries) {
    assert.equal(await cache.verify({ digest: `sha256:${e.name}`, size: e.size }), true, e.name);
  }
  return entries.length;
}

async function assertNoTempFiles(dir: string): Promise<void> {
  const names = (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name);
  assert.deepEqual(names.filter((n) => n.includes("singlet-tmp")), []);
}

async function withBusyboxRegistry(
  fn: (host: string, upstream: string, layerDigests: string[]) => Promise<void>,
  options: { tls?: boolean; auth?: { username: string; password: string } } = {},
): Promise<void> {
  const layout = await busyboxOciLayout();
  const registry = await startRegistry(options);
  try {
    await registry.push(layout.dir, layout.ref, "singlet/busybox:latest");
    const manifest = JSON.parse(
      await Deno.readTextFile(`${layout.dir}/blobs/sha256/${layout.manifestDigest.slice(7)}`),
    );
    await fn(registry.host, registry.url, manifest.layers.map((l: { digest: string }) => l.digest));
  } finally {
    await registry.stop();
  }
}

testWithTools(
  "pull fetches a registry image into the cache and writes no partial output",
  TOOLS,
  async () => {
    await withBusyboxRegistry(async (host) => {
      const dir = await Deno.makeTempDir();
      const env = { SINGLET_CACHEDIR: `${dir}/cache` };
      const r = await runSinglet(["pull", "--no-https", `docker://${host}/singlet/busybox`], {
        env,
        cwd: dir,
      });
      await assertPullOutcome(r, `${dir}/busybox_latest.sif`);
      assert.equal(await assertCacheConsistent(`${dir}/cache`), 3, "manifest, config and layer");
      await assertNoTempFiles(dir);
      const list = await runSinglet(["cache", "list"], { env });
      assert.equal(list.code, 0);
      assert.match(
        list.stdout,
        /There are 0 container file\(s\) using 0 B and 3 oci blob file\(s\)/,
      );
      const json = await runSinglet(["cache", "list", "--json", "--type", "blob"], { env });
      assert.equal(JSON.parse(json.stdout).length, 3);
      assert.equal((await Deno.stat(`${dir}/cache`)).mode! & 0o777, 0o700);
      // Clean: a dry run removes nothing, then --force removes everything.
      const dry = await runSinglet(["cache", "clean", "--dry-run"], { env });
      assert.equal(dry.code, 0);
      assert.equal((dry.stdout.match(/Would remove blob/g) ?? []).length, 3);
      const clean = await runSinglet(["cache", "clean", "--force"], { env });
      assert.equal(clean.code, 0, clean.stderr);
      assert.equal(await assertCacheConsistent(`${dir}/cache`), 0);
      await Deno.remove(dir, { recursive: true });
    });
  },
);

testWithTools("pull refuses to overwrite an existing file without --force", TOOLS, async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/out.sif`, "precious");
  const r = await runSinglet(["pull", `${dir}/out.sif`, "oci:/nonexistent"], {
    env: { SINGLET_CACHEDIR: `${dir}/cache` },
  });
  assert.equal(r.code, 255);
  assert.match(r.stderr, /already exists/);
  assert.match(r.stderr, /--force/);
  assert.equal(await Deno.readTextFile(`${dir}/out.sif`), "precious");
  await Deno.remove(dir, { recursive: true });
});

testWithTools("usage and reference errors are one clear line", [], async () => {
  const bad = await runSinglet(["pull", "docker://Ubuntu"]);
  assert.equal(bad.code, 5);
  assert.match(bad.stderr, /FATAL: +Cannot pull "docker:\/\/Ubuntu": .*path component/);
  assert.match(bad.stderr, /lowercase/);
  const daemon = await runSinglet(["pull", "docker-daemon:alpine:3"], {
    env: { DOCKER_HOST: "unix:///nonexistent/docker.sock" },
  });
  assert.equal(daemon.code, 7);
  assert.match(daemon.stderr, /no Docker daemon socket at \/nonexistent\/docker.sock/);
  assert.match(daemon.stderr, /docker-archive/);
  assert.doesNotMatch(bad.stderr + daemon.stderr, /^\s+at /m);
});

testWithTools("an http:// SIF is downloaded and kept byte for byte", [], async () => {
  const sif = new Uint8Array(300_000);
  crypto.getRandomValues(sif.subarray(0, 65536));
  sif.set(new TextEncoder().encode("#!/usr/bin/env run-singularity\n"), 0);
  sif.set(new TextEncoder().encode("SIF_MAGIC\0"), 32);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response(sif.slice()),
  );
  const dir = await Deno.makeTempDir();
  try {
    const r = await runSinglet(
      ["pull", "--json", `http://127.0.0.1:${server.addr.port}/files/lolcow.sif`],
      { cwd: dir, env: { SINGLET_CACHEDIR: `${dir}/cache` } },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await Deno.readFile(`${dir}/lolcow.sif`), sif);
    assert.equal(JSON.parse(r.stdout).size, sif.length);
    await assertNoTempFiles(dir);
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

testWithTools("registry login stores credentials 0600 that pull then uses; logout removes them", [
  ...TOOLS,
  "htpasswd",
], async () => {
  const password = "pw-SINGLET_CANARY_8f3c-xyz";
  const layout = await busyboxOciLayout();
  const registry = await startRegistry({ tls: true, auth: { username: "alice", password } });
  const dir = await Deno.makeTempDir();
  const env = { SINGLET_CONFIGDIR: `${dir}/config`, SINGLET_CACHEDIR: `${dir}/cache`, HOME: dir };
  try {
    await registry.push(layout.dir, layout.ref, "private/busybox:1");
    const uri = `docker://${registry.host}/private/busybox:1`;
    const denied = await runSinglet(["pull", "--ca-file", registry.caFile!, uri], {
      env,
      cwd: dir,
    });
    assert.equal(denied.code, 4);
    assert.match(denied.stderr, /authentication required/);
    const wrong = await runSinglet(
      [
        "registry",
        "login",
        "-u",
        "alice",
        "--password-stdin",
        "--ca-file",
        registry.caFile!,
        `docker://${registry.host}`,
      ],
      { env, stdin: "nope\n" },
    );
    assert.equal(wrong.code, 4, wrong.stderr);
    await assert.rejects(Deno.lstat(`${dir}/config/docker-config.json`), Deno.errors.NotFound);
    const login = await runSinglet(
      [
        "registry",
        "login",
        "-u",
        "alice",
        "--password-stdin",
        "--ca-file",
        registry.caFile!,
        `docker://${registry.host}`,
      ],
      { env, stdin: `${password}\n` },
    );
    assert.equal(login.code, 0, login.stderr);
    const store = `${dir}/config/docker-config.json`;
    assert.equal((await Deno.stat(store)).mode! & 0o777, 0o600);
    assert.ok(JSON.parse(await Deno.readTextFile(store)).auths[registry.host]);
    const list = await runSinglet(["registry", "list"], { env });
    assert.match(list.stdout, new RegExp(`docker://${registry.host.replace(".", "\\.")} +alice`));
    const pulled = await runSinglet(["-d", "pull", "--ca-file", registry.caFile!, uri], {
      env,
      cwd: dir,
    });
    await assertPullOutcome(pulled, `${dir}/busybox_1.sif`);
    for (const out of [denied, wrong, login, list, pulled]) {
      assert.doesNotMatch(out.stdout + out.stderr, /SINGLET_CANARY/);
    }
    const logout = await runSinglet(["registry", "logout", `docker://${registry.host}`], { env });
    assert.equal(logout.code, 0, logout.stderr);
    assert.equal(JSON.parse(await Deno.readTextFile(store)).auths[registry.host], undefined);
    // --docker-login reads the user and password from stdin when it is not a terminal.
    const prompted = await runSinglet(
      ["pull", "--docker-login", "--ca-file", registry.caFile!, uri],
      { env, cwd: dir, stdin: `alice\n${password}\n` },
    );
    await assertPullOutcome(prompted, `${dir}/busybox_1.sif`);
    assert.doesNotMatch(prompted.stdout + prompted.stderr, /SINGLET_CANARY/);
    // Nothing in the cache holds the secret.
    for (const e of await listCache(`${dir}/cache`)) {
      assert.doesNotMatch(decoder.decode(await Deno.readFile(e.path)), /SINGLET_CANARY/);
    }
  } finally {
    await registry.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

testWithTools("four concurrent pulls into one cache download each blob once", TOOLS, async () => {
  await withBusyboxRegistry(async (_host, upstream, layers) => {
    const proxy = startFaultProxy(upstream);
    const dir = await Deno.makeTempDir();
    try {
      // Slow the first layer request so the four processes overlap on it.
      proxy.rules.push({
        match: (m, p) => m === "GET" && p.endsWith(`/blobs/${layers[0]}`),
        fault: { kind: "delay", ms: 1500 },
      });
      const env = { SINGLET_CACHEDIR: `${dir}/cache` };
      const results = await Promise.all([1, 2, 3, 4].map((i) =>
        runSinglet(
          ["pull", "--no-https", `${dir}/out${i}.sif`, `docker://${proxy.host}/singlet/busybox`],
          { env },
        )
      ));
      for (const [i, r] of results.entries()) await assertPullOutcome(r, `${dir}/out${i + 1}.sif`);
      for (const layer of layers) {
        const gets = proxy.log.filter((l) =>
          l.method === "GET" && l.path.endsWith(`/blobs/${layer}`)
        );
        assert.equal(gets.length, 1, `layer ${layer} fetched ${gets.length} times`);
      }
      assert.equal(await assertCacheConsistent(`${dir}/cache`), 3);
      assert.deepEqual([...Deno.readDirSync(`${dir}/cache/blob/ingest`)], []);
    } finally {
      await proxy.stop();
      await Deno.remove(dir, { recursive: true });
    }
  });
});

testWithTools(
  "a pull killed with SIGKILL mid-download is resumed by the next pull",
  TOOLS,
  async () => {
    await withBusyboxRegistry(async (_host, upstream, layers) => {
      const proxy = startFaultProxy(upstream);
      const dir = await Deno.makeTempDir();
      const cacheDir = `${dir}/cache`;
      try {
        proxy.rules.push({
          match: (m, p) => m === "GET" && p.endsWith(`/blobs/${layers[0]}`),
          fault: { kind: "stall", afterBytes: 200_000 },
        });
        const child = new Deno.Command(SINGLET_BIN, {
          args: ["pull", "--no-https", `${dir}/out.sif`, `docker://${proxy.host}/singlet/busybox`],
          env: { SINGLET_CACHEDIR: cacheDir, NO_COLOR: "1" },
          stdout: "null",
          stderr: "null",
        }).spawn();
        // Kill once the partial download holds the bytes sent before the stall.
        const hex = layers[0]!.slice(7);
        for (let i = 0;; i++) {
          const partial = [...(function* () {
            try {
              yield* Deno.readDirSync(`${cacheDir}/blob/ingest`);
            } catch {
              // not created yet
            }
          })()].find((e) => e.name.startsWith(hex) && e.name.endsWith(".partial"));
          if (
            partial && Deno.statSync(`${cacheDir}/blob/ingest/${partial.name}`).size >= 200_000
          ) break;
          if (i > 400) throw new Error("the pull never reached the stalled layer");
          await new Promise((r) => setTimeout(r, 25));
        }
        child.kill("SIGKILL");
        await child.status;
        const again = await runSinglet(
          ["pull", "--no-https", `${dir}/out.sif`, `docker://${proxy.host}/singlet/busybox`],
          { env: { SINGLET_CACHEDIR: cacheDir } },
        );
        await assertPullOutcome(again, `${dir}/out.sif`);
        const gets = proxy.log.filter((l) => l.path.endsWith(`/blobs/${layers[0]}`));
        assert.equal(gets.length, 2);
        assert.equal(gets[1]!.range, "bytes=200000-", "resumed from the verified partial file");
        assert.equal(await assertCacheConsistent(cacheDir), 3);
        await assertNoTempFiles(dir);
      } finally {
        await proxy.stop();
        await Deno.remove(dir, { recursive: true });
      }
    });
  },
);
