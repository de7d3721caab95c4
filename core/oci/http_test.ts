import assert from "node:assert/strict";
import { HttpClient, parseRetryAfter, redactUrl } from "./http.ts";
import { Authenticator } from "./auth.ts";
import { RegistryClient } from "./registry.ts";

function serve(handler: (req: Request) => Response | Promise<Response>) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    host: `127.0.0.1:${server.addr.port}`,
    server,
  };
}

Deno.test("Retry-After is read as seconds or an HTTP date; past dates are ignored", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");
  assert.equal(parseRetryAfter("3", now), 3000);
  assert.equal(parseRetryAfter("Thu, 01 Jan 2026 00:00:10 GMT", now), 10_000);
  assert.equal(parseRetryAfter("Wed, 31 Dec 2025 00:00:00 GMT", now), undefined);
  assert.equal(parseRetryAfter("soon", now), undefined);
  assert.equal(parseRetryAfter(null, now), undefined);
});

Deno.test("printed URLs lose userinfo and presigned query strings", () => {
  assert.equal(
    redactUrl("https://u:p@s3.example/bucket/blob?X-Amz-Signature=abc"),
    "https://s3.example/bucket/blob",
  );
});

Deno.test("redirects to other schemes and endless redirect chains are refused", async () => {
  let hops = 0;
  const a = serve((req) => {
    const path = new URL(req.url).pathname;
    if (path === "/ftp") {
      return new Response(null, { status: 302, headers: { location: "ftp://x/y" } });
    }
    hops++;
    return new Response(null, { status: 302, headers: { location: `/loop${hops}` } });
  });
  const http = new HttpClient({ allowHttp: true, attempts: 1 });
  try {
    await assert.rejects(http.request(`${a.url}/ftp`), /unsupported scheme/);
    await assert.rejects(http.request(`${a.url}/loop`), /more than 10 redirects/);
    assert.equal(hops, 11);
  } finally {
    http.close();
    await a.server.shutdown();
  }
});

Deno.test("oversized manifests are cut off at the cap", async () => {
  const big = new Uint8Array(5 << 20).fill(0x20);
  const a = serve(() =>
    new Response(big, { headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" } })
  );
  const http = new HttpClient({ allowHttp: true, attempts: 1 });
  try {
    const client = new RegistryClient(http, a.host, new Authenticator(http, a.host, undefined));
    await assert.rejects(
      client.manifest("x/y", "latest"),
      (e: Error & { exitCode?: number }) =>
        /larger than the 4194304 byte limit/.test(e.message) && e.exitCode === 6,
    );
  } finally {
    http.close();
    await a.server.shutdown();
  }
});

Deno.test("a manifest whose bytes do not match the pinned digest is refused", async () => {
  const a = serve(() =>
    new Response('{"schemaVersion":2}', {
      headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" },
    })
  );
  const http = new HttpClient({ allowHttp: true, attempts: 1 });
  try {
    const client = new RegistryClient(http, a.host, new Authenticator(http, a.host, undefined));
    await assert.rejects(
      client.manifest("x/y", `sha256:${"a".repeat(64)}`),
      (e: Error & { exitCode?: number }) => /digest mismatch/.test(e.message) && e.exitCode === 3,
    );
  } finally {
    http.close();
    await a.server.shutdown();
  }
});

Deno.test("a token realm on plain http is refused unless --no-https allows it", async () => {
  let tokenRequests = 0;
  const tokens = serve(() => {
    tokenRequests++;
    return Response.json({ token: "t" });
  });
  const registry = serve((req) =>
    req.headers.get("authorization") === "Bearer t" ? new Response("{}") : new Response(null, {
      status: 401,
      headers: { "www-authenticate": `Bearer realm="${tokens.url}/token",service="s"` },
    })
  );
  // The registry host is allowed plain http, the token host is not.
  const strict = new HttpClient({ insecureHosts: [registry.host], attempts: 1 });
  const creds = { username: "u", password: "SINGLET_CANARY_8f3c" };
  try {
    const client = new RegistryClient(
      strict,
      registry.host,
      new Authenticator(strict, registry.host, creds),
    );
    await assert.rejects(
      client.ping(),
      (e: Error & { exitCode?: number }) =>
        /token service .* is not https/.test(e.message) && e.exitCode === 2 &&
        !/CANARY/.test(e.message),
    );
    assert.equal(tokenRequests, 0, "no credentials were sent");
    const lax = new HttpClient({ allowHttp: true, attempts: 1 });
    await new RegistryClient(lax, registry.host, new Authenticator(lax, registry.host, creds))
      .ping();
    assert.equal(tokenRequests, 1);
    lax.close();
  } finally {
    strict.close();
    await tokens.server.shutdown();
    await registry.server.shutdown();
  }
});

Deno.test("a redirect from https to plain http is refused", async () => {
  const dir = await Deno.makeTempDir();
  const { makeTlsFiles } = await import("../../tests/_helpers/test_registry.ts");
  await makeTlsFiles(dir);
  const plain = serve(() => new Response("leak"));
  const tls = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
    cert: await Deno.readTextFile(`${dir}/server.pem`),
    key: await Deno.readTextFile(`${dir}/server.key`),
  }, () => new Response(null, { status: 307, headers: { location: `${plain.url}/blob` } }));
  const http = new HttpClient({ caFile: `${dir}/ca.pem`, attempts: 1 });
  try {
    await assert.rejects(
      http.request(`https://127.0.0.1:${tls.addr.port}/v2/x/blobs/y`, {
        authorization: "Bearer t",
      }),
      /refused redirect from https to plain http/,
    );
  } finally {
    http.close();
    await tls.shutdown();
    await plain.server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
