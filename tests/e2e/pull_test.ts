/**
 * `singlet pull`, `registry` and `cache` as users run them (bin/singlet), against Debian's
 * docker-registry on loopback with the busybox fixture, through the fault proxy where the
 * test needs faults or request counts.
 */
import assert from "node:assert/strict";
import { testWithTools } from "../_helpers/tools.ts";
import { runSinglet, SINGLET_BIN } from "../_helpers/singlet.ts";
import {
  busyboxDockerArchive,
  busyboxOciArchive,
  busyboxOciLayout,
  WHITEOUT_EXPECTED_TREE,
  whiteoutOciLayout,
} from "../_helpers/fixtures.ts";
import { describeTree } from "../_helpers/tree.ts";
import { startRegistry } from "../_helpers/registry.ts";
import { startFaultProxy } from "../_helpers/fault_proxy.ts";
import { BlobCache } from "../../core/oci/blob_cache.ts";
import { listCache } from "../../core/oci/cache_dir.ts";

const TOOLS = ["docker-registry", "skopeo", "siftool", "unsquashfs"];
const decoder = new TextDecoder();

/** A pull succeeded: exit 0 and a SIF with SingularityCE's objects and a busybox rootfs. */
async function assertPullOutcome(
  result: { code: number; stderr: string },
  output: string,
): Promise<void> {
  assert.equal(result.code, 0, result.stderr);
  const list = await sh("siftool", ["list", output]);
  assert.match(list, /1 +\|1 +\|NONE +\|\d+-\d+ +\|Def\.FILE/);
  assert.match(list, /4 +\|1 +\|NONE +\|\d+-\d+ +\|FS \(Squashfs\/\*System\/amd64\)/);
  const info = await sh("siftool", ["info", "4", output]);
  const offset = Number(/Offset: +(\d+)/.exec(info)![1]);
  const size = Number(/Size: +(\d+)/.exec(info)![1]);
  const part = `${output}.part`;
  const bytes = await Deno.readFile(output);
  await Deno.writeFile(part, bytes.subarray(offset, offset + size));
  const listing = await sh("unsquashfs", ["-lln", "-d", "", part]);
  await Deno.remove(part);
  assert.match(listing, /\/bin\/busybox\n/);
  assert.match(listing, /\/\.singularity\.d\/runscript\n/);
}

async function partitionListing(sif: string): Promise<string> {
  const info = await sh("siftool", ["info", "4", sif]);
  const offset = Number(/Offset: +(\d+)/.exec(info)![1]);
  const size = Number(/Size: +(\d+)/.exec(info)![1]);
  const part = `${sif}.part`;
  await Deno.writeFile(part, (await Deno.readFile(sif)).subarray(offset, offset + size));
  try {
    return await sh("unsquashfs", ["-lln", "-d", "", part]);
  } finally {
    await Deno.remove(part);
  }
}

async function sh(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")}: ${decoder.decode(out.stderr)}`);
  return decoder.decode(out.stdout);
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
  "pull converts a registry image to a SIF through the verified blob cache",
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
      // A second pull is served from the SIF cache (after resolving the tag).
      const again = await runSinglet(
        ["pull", "--json", "--no-https", `${dir}/again.sif`, `docker://${host}/singlet/busybox`],
        { env, cwd: dir },
      );
      assert.equal(again.code, 0, again.stderr);
      assert.equal(JSON.parse(again.stdout).sifCached, true);
      assert.deepEqual(
        await Deno.readFile(`${dir}/again.sif`),
        await Deno.readFile(`${dir}/busybox_latest.sif`),
      );
      await assertNoTempFiles(dir);
      const list = await runSinglet(["cache", "list"], { env });
      assert.equal(list.code, 0);
      assert.match(
        list.stdout,
        /There are 1 container file\(s\) using [\d.]+ \w+ and 3 oci blob file\(s\)/,
      );
      const json = await runSinglet(["cache", "list", "--json", "--type", "blob"], { env });
      assert.equal(JSON.parse(json.stdout).length, 3);
      assert.equal(
        JSON.parse((await runSinglet(["cache", "list", "--json"], { env })).stdout).length,
        4,
      );
      assert.equal((await Deno.stat(`${dir}/cache`)).mode! & 0o777, 0o700);
      // The per-registry form of --no-https.
      const insecure = await runSinglet([
        "pull",
        "--fetch-only",
        `docker://${host}/singlet/busybox`,
      ], {
        env: { ...env, SINGLET_INSECURE_REGISTRIES: `other.example,${host}` },
      });
      assert.equal(insecure.code, 0, insecure.stderr);
      // --cache-first uses what the URI resolved to last time, without the registry.
      const cached = await runSinglet(
        ["pull", "--cache-first", "--json", "off.sif", `docker://${host}/singlet/busybox`],
        { env, cwd: dir },
      );
      assert.equal(cached.code, 0, cached.stderr);
      assert.equal(JSON.parse(cached.stdout).offline, true);
      assert.equal(JSON.parse(cached.stdout).sifCached, true);
      // Clean: a dry run removes nothing, then --force removes everything.
      const dry = await runSinglet(["cache", "clean", "--dry-run"], { env });
      assert.equal(dry.code, 0);
      assert.equal((dry.stdout.match(/Would remove blob/g) ?? []).length, 3);
      assert.equal((dry.stdout.match(/Would remove oci-tmp/g) ?? []).length, 1);
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
  const nodir = await runSinglet(["pull", `${dir}/missing/out.sif`, "oci:/nonexistent"], {
    env: { SINGLET_CACHEDIR: `${dir}/cache` },
  });
  assert.equal(nodir.code, 2);
  assert.match(nodir.stderr, /directory ".*\/missing" does not exist/);
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
      ["pull", "--force", "--docker-login", "--ca-file", registry.caFile!, uri],
      { env, cwd: dir, stdin: `alice\n${password}\n` },
    );
    await assertPullOutcome(prompted, `${dir}/busybox_1.sif`);
    assert.doesNotMatch(prompted.stdout + prompted.stderr, /SINGLET_CANARY/);
    // Nothing in the cache or the image holds the secret.
    assert.doesNotMatch(
      decoder.decode(await Deno.readFile(`${dir}/busybox_1.sif`)),
      /SINGLET_CANARY/,
    );
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
      const first = await Deno.readFile(`${dir}/out1.sif`);
      for (const i of [2, 3, 4]) assert.deepEqual(await Deno.readFile(`${dir}/out${i}.sif`), first);
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

testWithTools("oci:, oci-archive: and docker-archive: sources become the same SIF content", [
  "siftool",
  "unsquashfs",
], async () => {
  const layout = await busyboxOciLayout();
  const dir = await Deno.makeTempDir();
  const env = { SINGLET_CACHEDIR: `${dir}/cache` };
  try {
    for (
      const [i, uri] of [
        `oci:${layout.dir}:${layout.ref}`,
        `oci-archive:${await busyboxOciArchive()}`,
        `docker-archive:${await busyboxDockerArchive()}`,
      ].entries()
    ) {
      const r = await runSinglet(["pull", `${dir}/s${i}.sif`, uri], { env });
      await assertPullOutcome(r, `${dir}/s${i}.sif`);
    }
    // The three transports carry the same tree: the SquashFS listings are identical.
    const listings = [];
    for (const i of [0, 1, 2]) listings.push(await partitionListing(`${dir}/s${i}.sif`));
    assert.ok(listings[0]!.includes("/bin/busybox"));
    assert.equal(listings[1], listings[0]);
    assert.equal(listings[2], listings[0]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

testWithTools("whiteouts, opaque directories and replacements are applied in the SIF", [
  "siftool",
  "unsquashfs",
], async () => {
  const layout = await whiteoutOciLayout();
  const dir = await Deno.makeTempDir();
  try {
    const r = await runSinglet(["pull", `${dir}/w.sif`, `oci:${layout.dir}:${layout.ref}`], {
      env: { SINGLET_CACHEDIR: `${dir}/cache` },
    });
    assert.equal(r.code, 0, r.stderr);
    const info = await sh("siftool", ["info", "4", `${dir}/w.sif`]);
    const offset = Number(/Offset: +(\d+)/.exec(info)![1]);
    const size = Number(/Size: +(\d+)/.exec(info)![1]);
    await Deno.writeFile(
      `${dir}/part`,
      (await Deno.readFile(`${dir}/w.sif`)).subarray(offset, offset + size),
    );
    await sh("unsquashfs", ["-q", "-d", `${dir}/root`, `${dir}/part`]);
    // Singularity's own additions aside, the tree is exactly the merged image.
    const added = new Set([
      ".singularity.d",
      ".exec",
      ".run",
      ".shell",
      ".test",
      "singularity",
      "environment",
      "dev",
      "proc",
      "sys",
      "tmp",
      "var",
      "home",
      "root",
      "etc",
    ]);
    const tree = (await describeTree(`${dir}/root`, { xattrs: true })).split("\n")
      .filter((line) => {
        const path = line.startsWith("symlink ")
          ? line.split(" ")[1]!
          : line.startsWith("xattr ")
          ? line.split(" ").at(-1)!
          : line.split(" ").at(-1)!;
        return line !== "" && !added.has(path.split("/")[0]!);
      }).join("\n") + "\n";
    assert.equal(tree, WHITEOUT_EXPECTED_TREE);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

testWithTools(
  "pulls killed at random points never leave a corrupt cache or a partial SIF",
  TOOLS,
  async () => {
    await withBusyboxRegistry(async (host) => {
      const dir = await Deno.makeTempDir();
      const cacheDir = `${dir}/cache`;
      const args = [
        "pull",
        "--force",
        "--no-https",
        `${dir}/out.sif`,
        `docker://${host}/singlet/busybox`,
      ];
      try {
        // Kill points spread over start-up, resolution, download, conversion and copy.
        for (const ms of [150, 400, 700, 1000, 1300]) {
          await Deno.remove(`${cacheDir}/oci-tmp`, { recursive: true }).catch(() => {});
          const child = new Deno.Command(SINGLET_BIN, {
            args,
            env: { SINGLET_CACHEDIR: cacheDir, NO_COLOR: "1" },
            stdout: "null",
            stderr: "null",
          }).spawn();
          await new Promise((r) => setTimeout(r, ms));
          try {
            child.kill("SIGKILL");
          } catch {
            // already finished
          }
          await child.status;
          // Whatever is in the cache is intact; the output is absent or a whole SIF.
          await assertCacheConsistent(cacheDir);
          try {
            await Deno.lstat(`${dir}/out.sif`);
            await assertPullOutcome({ code: 0, stderr: "" }, `${dir}/out.sif`);
          } catch (error) {
            if (!(error instanceof Deno.errors.NotFound)) throw error;
          }
        }
        const final = await runSinglet(args, { env: { SINGLET_CACHEDIR: cacheDir } });
        await assertPullOutcome(final, `${dir}/out.sif`);
        // Temp files a killed copy left beside the output are swept by the next pull.
        await Deno.writeFile(`${dir}/.out.sif.singlet-tmp-deadbeef`, new Uint8Array(10));
        const again = await runSinglet(args, { env: { SINGLET_CACHEDIR: cacheDir } });
        await assertPullOutcome(again, `${dir}/out.sif`);
        await assertNoTempFiles(dir);
        assert.equal(await assertCacheConsistent(cacheDir), 3);
        // Leftovers of killed runs are swept by cache clean.
        const clean = await runSinglet(["cache", "clean", "--force"], {
          env: { SINGLET_CACHEDIR: cacheDir },
        });
        assert.equal(clean.code, 0, clean.stderr);
        assert.deepEqual(await Array.fromAsync(Deno.readDir(`${cacheDir}/blob/ingest`)), []);
        const oci = (await Array.fromAsync(Deno.readDir(`${cacheDir}/oci-tmp`))).map((e) => e.name);
        assert.deepEqual(oci, []);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  },
);

testWithTools(
  "SIGINT during a pull removes the half-written output and exits 130",
  TOOLS,
  async () => {
    await withBusyboxRegistry(async (_host, upstream, layers) => {
      const proxy = startFaultProxy(upstream);
      const dir = await Deno.makeTempDir();
      try {
        proxy.rules.push({
          match: (m, p) => m === "GET" && p.endsWith(`/blobs/${layers[0]}`),
          fault: { kind: "stall", afterBytes: 100_000 },
        });
        const child = new Deno.Command(SINGLET_BIN, {
          args: ["pull", "--no-https", `${dir}/out.sif`, `docker://${proxy.host}/singlet/busybox`],
          env: { SINGLET_CACHEDIR: `${dir}/cache`, NO_COLOR: "1" },
          stdout: "null",
          stderr: "null",
        }).spawn();
        for (let i = 0; !proxy.log.some((l) => l.path.endsWith(layers[0]!)); i++) {
          if (i > 400) throw new Error("the pull never reached the layer");
          await new Promise((r) => setTimeout(r, 25));
        }
        await new Promise((r) => setTimeout(r, 200));
        child.kill("SIGINT");
        const status = await child.status;
        assert.equal(status.code, 130);
        assert.deepEqual((await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name), ["cache"]);
      } finally {
        await proxy.stop();
        await Deno.remove(dir, { recursive: true });
      }
    });
  },
);

testWithTools(
  "docker-daemon: exports the image over the Docker socket (API stub: no Docker here)",
  [
    "siftool",
    "unsquashfs",
  ],
  async () => {
    const archive = await Deno.readFile(await busyboxDockerArchive());
    const dir = await Deno.makeTempDir();
    const requests: string[] = [];
    const server = Deno.serve({ path: `${dir}/docker.sock`, onListen() {} }, (req) => {
      const url = new URL(req.url);
      requests.push(decodeURIComponent(url.pathname));
      return url.pathname === `/images/${encodeURIComponent("singlet/busybox:latest")}/get`
        ? new Response(archive.slice())
        : new Response('{"message":"No such image"}', { status: 404 });
    });
    try {
      const env = { DOCKER_HOST: `unix://${dir}/docker.sock`, SINGLET_CACHEDIR: `${dir}/cache` };
      const ok = await runSinglet(
        ["pull", `${dir}/d.sif`, "docker-daemon:singlet/busybox:latest"],
        {
          env,
        },
      );
      await assertPullOutcome(ok, `${dir}/d.sif`);
      assert.deepEqual(requests, ["/images/singlet/busybox:latest/get"]);
      const missing = await runSinglet(["pull", `${dir}/m.sif`, "docker-daemon:nope:1"], { env });
      assert.equal(missing.code, 5);
      assert.match(missing.stderr, /Docker daemon answered HTTP 404/);
    } finally {
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

testWithTools(
  "a cache damaged on disk is reported by cache check and healed by the next pull",
  TOOLS,
  async () => {
    await withBusyboxRegistry(async (host, _upstream, layers) => {
      const dir = await Deno.makeTempDir();
      const env = { SINGLET_CACHEDIR: `${dir}/cache` };
      const args = [
        "pull",
        "--force",
        "--no-https",
        `${dir}/b.sif`,
        `docker://${host}/singlet/busybox`,
      ];
      try {
        assert.equal((await runSinglet(args, { env })).code, 0);
        assert.equal((await runSinglet(["cache", "check"], { env })).code, 0);
        // Flip a byte of the layer (same size, so only a re-hash sees it) and drop the SIF.
        const layer = `${dir}/cache/blob/blobs/sha256/${layers[0]!.slice(7)}`;
        const bytes = await Deno.readFile(layer);
        bytes[bytes.length >> 1]! ^= 0x40;
        await Deno.writeFile(layer, bytes);
        const check = await runSinglet(["cache", "check", "--json"], { env });
        assert.equal(check.code, 3);
        assert.deepEqual(JSON.parse(check.stdout).map((p: { name: string }) => p.name), [
          layers[0]!.slice(7),
        ]);
        for (const e of await listCache(`${dir}/cache`, ["oci-tmp"])) await Deno.remove(e.path);
        const healed = await runSinglet(args, { env });
        await assertPullOutcome(healed, `${dir}/b.sif`);
        assert.match(healed.stderr, /cached blob is corrupt .*fetching it again/);
        assert.equal((await runSinglet(["cache", "check"], { env })).code, 0);
        // --fix removes what is broken.
        await Deno.writeFile(layer, bytes);
        assert.equal((await runSinglet(["cache", "check", "--fix"], { env })).code, 0);
        await assert.rejects(Deno.lstat(layer), Deno.errors.NotFound);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  },
);
