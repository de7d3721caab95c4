/**
 * A minimal Docker token service (the `auth: token:` flow of docker-registry): Deno.serve on
 * 127.0.0.1 issuing RS256 JWTs whose `x5c` header carries a self-signed certificate that the
 * registry trusts through `rootcertbundle`. Basic credentials on the token request are
 * checked when given; anonymous requests get pull-only tokens (as Docker Hub does for public
 * images). Every request is logged for assertions.
 *
 * @module
 */

/** A running token server. */
export interface TokenServer {
  /** http://127.0.0.1:port. */
  url: string;
  /** The `service` value. */
  service: string;
  /** The `iss` value. */
  issuer: string;
  /** The signing certificate (PEM), for the registry's rootcertbundle. */
  certFile: string;
  /** Requests seen: scope list and whether credentials were sent and valid. */
  requests: { scopes: string[]; authorized: boolean; sawAuthorization: boolean }[];
  /** Require credentials for every token (default false: anonymous gets pull). */
  requireAuth: boolean;
  /** Issue a token directly (for test pushes). */
  issue(scope: string, lifetimeSeconds?: number): Promise<string>;
  /** Stop. */
  stop(): Promise<void>;
}

function b64url(bytes: Uint8Array | string): string {
  const raw = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  let s = "";
  for (const b of raw) s += String.fromCharCode(b);
  return btoa(s).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function pemBody(pem: string, label: string): Uint8Array {
  const body = pem.split(`-----BEGIN ${label}-----`)[1]!.split(`-----END ${label}-----`)[0]!
    .replace(/\s+/g, "");
  return Uint8Array.from(atob(body), (c) => c.charCodeAt(0));
}

/**
 * Start a token server; its key and certificate are made with openssl in `dir`.
 *
 * @param options Where to write files and the accepted credentials.
 * @returns The server.
 */
export async function startTokenServer(
  options: { dir: string; username: string; password: string },
): Promise<TokenServer> {
  const { dir } = options;
  const out = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      `${dir}/token.key`,
      "-out",
      `${dir}/token.pem`,
      "-days",
      "2",
      "-subj",
      "/CN=singlet test token issuer",
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  const keyPem = await Deno.readTextFile(`${dir}/token.key`);
  const certPem = await Deno.readTextFile(`${dir}/token.pem`);
  const key = await crypto.subtle.importKey(
    "pkcs8",
    pemBody(keyPem, "PRIVATE KEY") as Uint8Array<ArrayBuffer>,
    { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const x5c = btoa(String.fromCharCode(...pemBody(certPem, "CERTIFICATE")));
  const service = "singlet-test-registry";
  const issuer = "singlet-test-issuer";
  const sign = async (scopes: string[], lifetime: number): Promise<string> => {
    const now = Math.floor(Date.now() / 1000);
    const access = scopes.filter((s) => s.startsWith("repository:")).map((s) => {
      const parts = s.split(":");
      return {
        type: parts[0],
        name: parts.slice(1, -1).join(":"),
        actions: parts.at(-1)!.split(","),
      };
    });
    const header = b64url(JSON.stringify({ typ: "JWT", alg: "RS256", x5c: [x5c] }));
    const claims = b64url(JSON.stringify({
      iss: issuer,
      sub: options.username,
      aud: service,
      exp: now + lifetime,
      nbf: now - 10,
      iat: now,
      jti: crypto.randomUUID(),
      access,
    }));
    const signature = new Uint8Array(
      await crypto.subtle.sign(
        "RSASSA-PKCS1-v1_5",
        key,
        new TextEncoder().encode(`${header}.${claims}`),
      ),
    );
    return `${header}.${claims}.${b64url(signature)}`;
  };
  const expected = `Basic ${btoa(`${options.username}:${options.password}`)}`;
  const state: TokenServer = {
    url: "",
    service,
    issuer,
    certFile: `${dir}/token.pem`,
    requests: [],
    requireAuth: false,
    issue: (scope, lifetime = 600) => sign([scope], lifetime),
    stop: () => Promise.resolve(),
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    const authorization = req.headers.get("authorization");
    const authorized = authorization === expected;
    state.requests.push({
      scopes: url.searchParams.getAll("scope"),
      authorized,
      sawAuthorization: authorization !== null,
    });
    if ((authorization && !authorized) || (state.requireAuth && !authorized)) {
      return new Response('{"details":"bad credentials"}', { status: 401 });
    }
    const scopes = url.searchParams.getAll("scope").map((s) =>
      authorized ? s : s.replace(/:[^:]*$/, ":pull")
    );
    const token = await sign(scopes, 300);
    return Response.json({ token, access_token: token, expires_in: 300 });
  });
  state.url = `http://127.0.0.1:${server.addr.port}`;
  state.stop = () => server.shutdown();
  return state;
}
