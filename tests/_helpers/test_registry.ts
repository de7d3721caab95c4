/**
 * Debian's docker-registry on 127.0.0.1 for the registry-client tests, in the setups the
 * client must handle: plain HTTP, TLS with a CA made for the test, basic auth (htpasswd), and
 * token auth backed by `token_server.ts`. Certificates come from openssl, passwords from
 * htpasswd; everything lives in a temp dir removed by `stop()`.
 *
 * @module
 */
import { startTokenServer, type TokenServer } from "./token_server.ts";
import { registryBaseConfig } from "./registry.ts";

/** A running registry. */
export interface TestRegistry {
  /** 127.0.0.1:port. */
  host: string;
  /** http(s)://127.0.0.1:port. */
  url: string;
  /** The CA that signed the TLS certificate (TLS only). */
  caFile?: string;
  /** A fetch client trusting that CA (TLS only). */
  client?: Deno.HttpClient;
  /** User and password (basic or token auth). */
  username?: string;
  /** Password. */
  password?: string;
  /** The token server (token auth only). */
  tokens?: TokenServer;
  /** Authorization header value that may push. */
  pushAuthorization(repository: string): Promise<string | undefined>;
  /** Stop and clean up. */
  stop(): Promise<void>;
}

/** Options of {@linkcode startTestRegistry}. */
export interface TestRegistryOptions {
  /** Serve TLS with a test CA. */
  tls?: boolean;
  /** "basic" (htpasswd) or "token" (bearer tokens from a token server). */
  auth?: "basic" | "token";
}

async function run(cmd: string, args: string[], cwd?: string): Promise<string> {
  const out = await new Deno.Command(cmd, {
    args,
    ...(cwd ? { cwd } : {}),
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

/**
 * A free TCP port on 127.0.0.1.
 *
 * @returns The port.
 */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/**
 * Make a CA and a server certificate for 127.0.0.1 signed by it.
 *
 * @param dir Where to write ca.pem, server.pem, server.key.
 */
export async function makeTlsFiles(dir: string): Promise<void> {
  await run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=singlet test CA",
  ], dir);
  await run("openssl", [
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "server.key",
    "-out",
    "server.csr",
    "-subj",
    "/CN=127.0.0.1",
  ], dir);
  await Deno.writeTextFile(`${dir}/ext.cnf`, "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  await run("openssl", [
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.pem",
    "-days",
    "2",
    "-extfile",
    "ext.cnf",
  ], dir);
}

/**
 * Start a registry.
 *
 * @param options TLS and auth.
 * @returns The running registry.
 */
export async function startTestRegistry(options: TestRegistryOptions = {}): Promise<TestRegistry> {
  const dir = await Deno.makeTempDir({ prefix: "singlet-registry-" });
  const port = freePort();
  const lines = registryBaseConfig(dir, `127.0.0.1:${port}`);
  let client: Deno.HttpClient | undefined;
  if (options.tls) {
    await makeTlsFiles(dir);
    lines.push("  tls:", `    certificate: ${dir}/server.pem`, `    key: ${dir}/server.key`);
    client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(`${dir}/ca.pem`)] });
  }
  const username = options.auth ? "tester" : undefined;
  const password = options.auth ? "s3cret-SINGLET_CANARY_8f3c" : undefined;
  let tokens: TokenServer | undefined;
  if (options.auth === "basic") {
    await run("htpasswd", ["-Bbc", `${dir}/htpasswd`, username!, password!]);
    lines.push("auth:", "  htpasswd:", "    realm: test", `    path: ${dir}/htpasswd`);
  } else if (options.auth === "token") {
    tokens = await startTokenServer({ dir, username: username!, password: password! });
    lines.push(
      "auth:",
      "  token:",
      `    realm: ${tokens.url}/token`,
      `    service: ${tokens.service}`,
      `    issuer: ${tokens.issuer}`,
      `    rootcertbundle: ${tokens.certFile}`,
    );
  }
  await Deno.writeTextFile(`${dir}/config.yml`, lines.join("\n") + "\n");
  const child = new Deno.Command("docker-registry", {
    args: ["serve", `${dir}/config.yml`],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderrDone = child.stderr.pipeTo(new WritableStream()).catch(() => {});
  const scheme = options.tls ? "https" : "http";
  const url = `${scheme}://127.0.0.1:${port}`;
  for (let i = 0;; i++) {
    try {
      const r = await fetch(`${url}/v2/`, client ? { client } : {});
      await r.body?.cancel();
      break;
    } catch (error) {
      if (i > 100) throw new Error(`docker-registry did not start: ${error}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    host: `127.0.0.1:${port}`,
    url,
    ...(options.tls ? { caFile: `${dir}/ca.pem`, client: client! } : {}),
    ...(username ? { username, password: password! } : {}),
    ...(tokens ? { tokens } : {}),
    pushAuthorization(repository: string): Promise<string | undefined> {
      if (options.auth === "basic") {
        return Promise.resolve(`Basic ${btoa(`${username}:${password}`)}`);
      }
      if (tokens) {
        return tokens.issue(`repository:${repository}:pull,push`).then((t) => `Bearer ${t}`);
      }
      return Promise.resolve(undefined);
    },
    async stop() {
      child.kill("SIGTERM");
      await child.status;
      await stderrDone;
      client?.close();
      await tokens?.stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}
