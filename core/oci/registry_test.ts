import assert from "node:assert/strict";
import { testWithTools } from "../../tests/_helpers/tools.ts";
import { startTestRegistry, type TestRegistry } from "../../tests/_helpers/test_registry.ts";
import { pushImage, tinyImage, tinyIndex } from "../../tests/_helpers/tiny_image.ts";
import { BlobCache } from "./blob_cache.ts";
import { fetchImage } from "./fetch_image.ts";
import { wantedPlatform } from "./manifest.ts";
import { parseDockerName } from "./reference.ts";
import { openRegistrySource, type RegistrySourceOptions } from "./registry_source.ts";
import type { CredentialOptions } from "./auth.ts";

const TOOLS = ["docker-registry", "openssl", "htpasswd"];
const image = tinyImage([
  [{ path: "bin" }, { path: "bin/hello", content: "#!/bin/sh\necho hi\n", mode: 0o755 }],
  [{ path: "etc" }, { path: "etc/motd", content: "welcome\n" }],
], { config: { Env: ["PATH=/bin", "A=b c"], Entrypoint: ["/bin/hello"], WorkingDir: "/w" } });

async function pull(
  registry: TestRegistry,
  name: string,
  options: RegistrySourceOptions & { arch?: string; platform?: string } = {},
) {
  const root = await Deno.makeTempDir();
  const cache = await BlobCache.open(root);
  const source = await openRegistrySource(parseDockerName(`${registry.host}/${name}`), {
    http: { allowHttp: !registry.caFile, backoffMs: 10, ...options.http },
    credentials: { env: () => undefined, ...options.credentials },
  });
  try {
    const img = await fetchImage(source, cache, { platform: wantedPlatform(options) });
    return { img, cache, root };
  } finally {
    await source.close();
  }
}

const noEnv: CredentialOptions = { env: () => undefined };

testWithTools(
  "an image is pulled over plain HTTP into the cache, every blob verified",
  TOOLS,
  async () => {
    const registry = await startTestRegistry();
    try {
      await pushImage(registry.url, "test/hello", "v1", image);
      const { img, cache, root } = await pull(registry, "test/hello:v1");
      assert.equal(img.manifestDigest, image.top.digest);
      assert.equal(img.layers.length, 2);
      for (const layer of img.layers) assert.equal(await cache.verify(layer.descriptor), true);
      assert.deepEqual(img.config.entrypoint, ["/bin/hello"]);
      assert.deepEqual(img.config.env, ["PATH=/bin", "A=b c"]);
      assert.equal(img.config.workingDir, "/w");
      // Pinned by digest, the same manifest comes back.
      const byDigest = await pull(registry, `test/hello@${image.top.digest}`);
      assert.equal(byDigest.img.manifestDigest, image.top.digest);
      await Deno.remove(root, { recursive: true });
      await Deno.remove(byDigest.root, { recursive: true });
    } finally {
      await registry.stop();
    }
  },
);

testWithTools("a missing tag is a clear not-found error", TOOLS, async () => {
  const registry = await startTestRegistry();
  try {
    await assert.rejects(
      pull(registry, "test/none:v9"),
      (e: Error & { exitCode?: number }) => /HTTP 404/.test(e.message) && e.exitCode === 5,
    );
  } finally {
    await registry.stop();
  }
});

testWithTools("plain HTTP is refused unless --no-https allows it", TOOLS, async () => {
  const registry = await startTestRegistry();
  try {
    await assert.rejects(
      pull(registry, "test/hello:v1", { http: { allowHttp: false } }),
      // Without --no-https the client speaks TLS to a plain-HTTP server and fails.
      (e: Error & { exitCode?: number }) => e.exitCode === 4,
    );
  } finally {
    await registry.stop();
  }
});

testWithTools("TLS with a custom CA works, and without the CA fails cleanly", TOOLS, async () => {
  const registry = await startTestRegistry({ tls: true });
  try {
    await pushImage(registry.url, "test/hello", "v1", image, { client: registry.client! });
    const { img, root } = await pull(registry, "test/hello:v1", {
      http: { caFile: registry.caFile!, attempts: 1 },
    });
    assert.equal(img.manifestDigest, image.top.digest);
    await Deno.remove(root, { recursive: true });
    await assert.rejects(
      pull(registry, "test/hello:v1", { http: { attempts: 1 } }),
      (e: Error & { exitCode?: number }) => e.exitCode === 4 && /Cannot fetch/.test(e.message),
    );
  } finally {
    await registry.stop();
  }
});

testWithTools("basic auth: credentials are required, checked and used", TOOLS, async () => {
  const registry = await startTestRegistry({ tls: true, auth: "basic" });
  try {
    await pushImage(registry.url, "test/hello", "v1", image, {
      client: registry.client!,
      authorization: (await registry.pushAuthorization("test/hello"))!,
    });
    const http = { caFile: registry.caFile!, attempts: 1 };
    await assert.rejects(
      pull(registry, "test/hello:v1", { http, credentials: noEnv }),
      (e: Error & { hint?: string }) =>
        /authentication required/.test(e.message) && /registry login/.test(e.hint!),
    );
    await assert.rejects(
      pull(registry, "test/hello:v1", {
        http,
        credentials: { ...noEnv, explicit: { username: "tester", password: "wrong" } },
      }),
      /refused the credentials/,
    );
    const env: Record<string, string> = {
      SINGULARITY_DOCKER_USERNAME: registry.username!,
      SINGULARITY_DOCKER_PASSWORD: registry.password!,
    };
    const { img, root } = await pull(registry, "test/hello:v1", {
      http,
      credentials: { env: (n) => env[n] },
    });
    assert.equal(img.layers.length, 2);
    await Deno.remove(root, { recursive: true });
  } finally {
    await registry.stop();
  }
});

testWithTools("bearer tokens are fetched from the realm with the right scope", TOOLS, async () => {
  const registry = await startTestRegistry({ auth: "token" });
  try {
    await pushImage(registry.url, "test/hello", "v1", image, {
      authorization: (await registry.pushAuthorization("test/hello"))!,
    });
    // Anonymous: the token service grants pull.
    const anon = await pull(registry, "test/hello:v1", { http: { allowHttp: true } });
    assert.equal(anon.img.layers.length, 2);
    assert.deepEqual(registry.tokens!.requests.at(-1)!.scopes, ["repository:test/hello:pull"]);
    assert.equal(registry.tokens!.requests.at(-1)!.sawAuthorization, false);
    // With credentials: they go to the token service, and only there.
    registry.tokens!.requireAuth = true;
    await assert.rejects(pull(registry, "test/hello:v1"), /authentication required/);
    const env: Record<string, string> = {
      SINGLET_DOCKER_USERNAME: registry.username!,
      SINGLET_DOCKER_PASSWORD: registry.password!,
    };
    const authed = await pull(registry, "test/hello:v1", { credentials: { env: (n) => env[n] } });
    assert.equal(authed.img.manifestDigest, image.top.digest);
    assert.equal(registry.tokens!.requests.at(-1)!.authorized, true);
    await Deno.remove(anon.root, { recursive: true });
    await Deno.remove(authed.root, { recursive: true });
  } finally {
    await registry.stop();
  }
});

testWithTools(
  "a multi-platform index yields the wanted platform or lists the others",
  TOOLS,
  async () => {
    const registry = await startTestRegistry();
    try {
      const amd = tinyImage([[{ path: "amd", content: "x86" }]], { architecture: "amd64" });
      const arm = tinyImage([[{ path: "arm", content: "arm" }]], {
        architecture: "arm64",
        docker: true,
      });
      const index = tinyIndex([
        { image: amd, architecture: "amd64" },
        { image: arm, architecture: "arm64", variant: "v8" },
      ]);
      await pushImage(registry.url, "test/multi", "latest", index);
      const a = await pull(registry, "test/multi", { arch: "amd64" });
      assert.equal(a.img.manifestDigest, amd.top.digest);
      assert.deepEqual(a.img.platform, { os: "linux", architecture: "amd64" });
      const b = await pull(registry, "test/multi", { platform: "linux/arm64" });
      assert.equal(b.img.manifestDigest, arm.top.digest);
      assert.equal(
        b.img.manifest.mediaType,
        "application/vnd.docker.distribution.manifest.v2+json",
      );
      await assert.rejects(
        pull(registry, "test/multi", { platform: "linux/ppc64le" }),
        /no image for platform linux\/ppc64le; available: linux\/amd64, linux\/arm64\/v8/,
      );
      await Deno.remove(a.root, { recursive: true });
      await Deno.remove(b.root, { recursive: true });
    } finally {
      await registry.stop();
    }
  },
);
