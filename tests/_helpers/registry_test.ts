import assert from "node:assert/strict";
import { busyboxOciLayout } from "./fixtures.ts";
import { registryGet, startRegistry, type TestRegistry } from "./registry.ts";
import { testWithTools } from "./tools.ts";

const decoder = new TextDecoder();

async function skopeoInspect(registry: TestRegistry, repoTag: string, creds?: string) {
  const args = ["inspect"];
  if (registry.certDir) args.push("--cert-dir", registry.certDir);
  else args.push("--tls-verify=false");
  if (creds) args.push("--creds", creds);
  else args.push("--no-creds");
  args.push(`docker://${registry.host}/${repoTag}`);
  const output = await new Deno.Command("skopeo", { args, stdout: "piped", stderr: "piped" })
    .output();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

const TOOLS = ["docker-registry", "skopeo", "openssl", "htpasswd"];

for (
  const [variant, options] of [
    ["plain HTTP", {}],
    ["TLS with a self-signed CA", { tls: true }],
    ["TLS with basic auth", { tls: true, auth: { username: "alice", password: "s3cret pw" } }],
  ] as const
) {
  testWithTools(
    `a registry over ${variant} serves a pushed busybox manifest that skopeo inspect reads`,
    TOOLS,
    async () => {
      const layout = await busyboxOciLayout();
      await using registry = await startRegistry(options);
      assert.match(registry.host, /^127\.0\.0\.1:\d+$/);
      assert.equal(registry.url, `${"tls" in options ? "https" : "http"}://${registry.host}`);
      const digest = await registry.push(layout.dir, layout.ref, "singlet/busybox:latest");
      assert.equal(digest, layout.manifestDigest, "the OCI manifest is pushed unchanged");
      const creds = registry.username ? `${registry.username}:${registry.password}` : undefined;
      const inspected = await skopeoInspect(registry, "singlet/busybox:latest", creds);
      assert.equal(inspected.code, 0, inspected.stderr);
      assert.equal(JSON.parse(inspected.stdout).Digest, layout.manifestDigest);
      const manifest = await registryGet(registry, `/v2/singlet/busybox/manifests/${digest}`, {
        headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
      });
      assert.equal(manifest.status, 200);
      assert.equal(
        JSON.parse(manifest.body).mediaType,
        "application/vnd.oci.image.manifest.v1+json",
      );
    },
  );
}

testWithTools(
  "a registry with basic auth refuses anonymous access with 401",
  TOOLS,
  async () => {
    const layout = await busyboxOciLayout();
    await using registry = await startRegistry({
      tls: true,
      auth: { username: "alice", password: "s3cret" },
    });
    await registry.push(layout.dir, layout.ref, "private/busybox:1");
    const anonymous = await registryGet(registry, "/v2/", { anonymous: true });
    assert.equal(anonymous.status, 401);
    assert.match(String(anonymous.headers["www-authenticate"]), /^Basic realm="singlet-test"/);
    assert.equal((await registryGet(registry, "/v2/")).status, 200);
    const denied = await skopeoInspect(registry, "private/busybox:1");
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /unauthorized|authentication required/i);
    const wrong = await skopeoInspect(registry, "private/busybox:1", "alice:wrong");
    assert.notEqual(wrong.code, 0);
  },
);

testWithTools(
  "a TLS registry is not trusted without its CA, and stop() kills it and removes its storage",
  TOOLS,
  async () => {
    const registry = await startRegistry({ tls: true });
    try {
      await assert.rejects(registryGet({ url: registry.url }, "/v2/"));
      assert.equal((await registryGet(registry, "/v2/")).status, 200);
    } finally {
      await registry.stop();
    }
    await assert.rejects(registryGet({ url: registry.url }, "/v2/"));
    await assert.rejects(Deno.stat(registry.caFile!), Deno.errors.NotFound);
    await registry.stop();
  },
);
