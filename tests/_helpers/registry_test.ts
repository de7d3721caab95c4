import assert from "node:assert/strict";
import { busyboxDockerArchive, busyboxOciLayout } from "./fixtures.ts";
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

async function leaveRegistry(mode: "exit" | "hang") {
  const script = new URL("./testdata/leave_registry.ts", import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-run",
      "--allow-env",
      "--allow-net",
      script,
      mode,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value);
  }
  return { child, reader, started: JSON.parse(text) as { pid: number; host: string } };
}

/** Whether a process runs (ps: Deno refuses /proc/<pid> reads without --allow-all). */
async function alive(pid: number): Promise<boolean> {
  const output = await new Deno.Command("ps", {
    args: ["-o", "stat=", "-p", String(pid)],
    stdout: "piped",
    stderr: "null",
  }).output();
  const state = decoder.decode(output.stdout).trim();
  return output.success && state !== "" && !state.startsWith("Z");
}

async function waitGone(pid: number): Promise<boolean> {
  for (let i = 0; i < 100 && await alive(pid); i++) await new Promise((r) => setTimeout(r, 20));
  return !(await alive(pid));
}

testWithTools(
  "a registry its test forgot to stop is killed when the test process exits",
  ["docker-registry"],
  async () => {
    const { child, reader, started } = await leaveRegistry("exit");
    reader.releaseLock();
    await child.stdout.cancel();
    assert.equal((await child.status).code, 0);
    assert.ok(await waitGone(started.pid), "the registry process is gone");
  },
);

testWithTools(
  "a registry whose test process was SIGKILLed is reaped by the next startRegistry",
  ["docker-registry"],
  async () => {
    const { child, reader, started } = await leaveRegistry("hang");
    reader.releaseLock();
    child.kill("SIGKILL");
    await child.status;
    await child.stdout.cancel();
    assert.ok(await alive(started.pid), "the orphan outlives its test process");
    await using _next = await startRegistry();
    assert.ok(await waitGone(started.pid), "the orphan is killed");
  },
);

testWithTools(
  "copy() stores the docker-archive as a Docker schema 2 manifest with the same config",
  TOOLS,
  async () => {
    const layout = await busyboxOciLayout();
    await using registry = await startRegistry();
    const digest = await registry.copy(
      `docker-archive:${await busyboxDockerArchive()}`,
      "singlet/busybox:docker",
      { format: "v2s2" },
    );
    const docker = "application/vnd.docker.distribution.manifest.v2+json";
    const response = await registryGet(registry, "/v2/singlet/busybox/manifests/docker", {
      headers: { accept: docker },
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers["docker-content-digest"], digest);
    const manifest = JSON.parse(response.body);
    assert.equal(manifest.mediaType, docker);
    const ociManifest = JSON.parse(
      await Deno.readTextFile(`${layout.dir}/blobs/sha256/${layout.manifestDigest.slice(7)}`),
    );
    assert.equal(manifest.config.digest, ociManifest.config.digest);
  },
);
