/**
 * A real OCI registry for tests: Debian's `docker-registry` (distribution 2.8) on a free
 * 127.0.0.1 port, storage in a temporary directory, in three variants: plain HTTP, TLS
 * with a self-signed CA, and TLS plus htpasswd basic auth. Always stop it, even when the
 * test fails:
 *
 * ```ts
 * await using registry = await startRegistry({ tls: true });
 * const digest = await registry.push(layout.dir, layout.ref, "singlet/busybox:latest");
 * ```
 *
 * (or `try { ... } finally { await registry.stop(); }`). Registries left running when
 * the test process exits are killed by an `unload` hook.
 *
 * @module
 */
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { Buffer } from "node:buffer";

/** Options of {@linkcode startRegistry}. */
export interface RegistryOptions {
  /** Serve HTTPS with a certificate for 127.0.0.1 signed by a fresh self-signed CA. */
  tls?: boolean;
  /** Require HTTP basic auth with these credentials (htpasswd, bcrypt). */
  auth?: { username: string; password: string };
}

/** A running registry. */
export interface TestRegistry {
  /** Process id of the registry. */
  pid: number;
  /** "127.0.0.1:PORT", as in image references: `${host}/repo:tag`. */
  host: string;
  /** "http://host" or "https://host". */
  url: string;
  /** The CA certificate (PEM) that signed the server certificate (TLS only). */
  caFile?: string;
  /** A directory holding only `ca.crt`, for skopeo's `--cert-dir` (TLS only). */
  certDir?: string;
  /** The user name (auth only). */
  username?: string;
  /** The password (auth only). */
  password?: string;
  /**
   * Push an image from an OCI layout with skopeo.
   *
   * @param ociLayoutDir The layout directory.
   * @param ref The tag inside the layout (e.g. "latest").
   * @param repoTag Destination "repository:tag", e.g. "singlet/busybox:latest".
   * @returns The pushed manifest's digest.
   */
  push(ociLayoutDir: string, ref: string, repoTag: string): Promise<string>;
  /**
   * Copy any image skopeo can read into the registry, e.g. `docker-archive:FILE` with
   * `{ format: "v2s2" }` for a Docker schema 2 manifest.
   *
   * @param source A skopeo source reference ("oci:DIR:TAG", "docker-archive:FILE", ...).
   * @param repoTag Destination "repository:tag".
   * @param options `format` forces the manifest type (skopeo `--format`).
   * @returns The pushed manifest's digest.
   */
  copy(source: string, repoTag: string, options?: { format?: "oci" | "v2s2" }): Promise<string>;
  /** Kill the registry and remove its storage. Idempotent. */
  stop(): Promise<void>;
  /** Same as {@linkcode TestRegistry.stop}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** The answer to a plain GET. */
export interface RegistryResponse {
  /** HTTP status. */
  status: number;
  /** Response headers (lower-case names). */
  headers: Record<string, string | string[] | undefined>;
  /** Body text. */
  body: string;
}

const REGISTRY_BINARY = "/usr/bin/docker-registry";
const decoder = new TextDecoder();
const running = new Set<Deno.ChildProcess>();

globalThis.addEventListener("unload", () => {
  for (const child of running) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
});

const REGISTRY_DIR_PREFIX = "singlet-registry-";

/**
 * The command line of a live process, or undefined (ps: Deno refuses /proc/<pid> reads
 * without --allow-all).
 */
async function processArgs(pid: number): Promise<string | undefined> {
  const output = await new Deno.Command("ps", {
    args: ["-o", "stat=,args=", "-p", String(pid)],
    stdout: "piped",
    stderr: "null",
  }).output();
  const line = decoder.decode(output.stdout).trim();
  if (!output.success || line === "" || line.startsWith("Z")) return undefined;
  return line.replace(/^\S+\s+/, "");
}

/**
 * Kill registries whose test process died without its unload hook (e.g. SIGKILL) and
 * remove their storage. Only registries started from a directory of ours are touched.
 */
async function reapOrphans(): Promise<void> {
  const tmp = Deno.env.get("TMPDIR") || "/tmp";
  for await (const entry of Deno.readDir(tmp)) {
    if (!entry.isDirectory || !entry.name.startsWith(REGISTRY_DIR_PREFIX)) continue;
    const dir = `${tmp}/${entry.name}`;
    let owner: number, registry: number;
    try {
      [owner, registry] = (await Deno.readTextFile(`${dir}/pids`)).trim().split(" ").map(
        Number,
      ) as [
        number,
        number,
      ];
    } catch {
      continue; // starting up, or not ours
    }
    if (await processArgs(owner)) continue;
    if ((await processArgs(registry))?.includes(`${dir}/config.yml`)) {
      try {
        Deno.kill(registry, "SIGKILL");
      } catch {
        // already gone
      }
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

async function run(program: string, args: string[], options: { cwd?: string } = {}) {
  const output = await new Deno.Command(program, {
    args,
    stdout: "piped",
    stderr: "piped",
    ...options,
  }).output();
  if (!output.success) {
    throw new Error(`${program} ${args.join(" ")} failed: ${decoder.decode(output.stderr)}`);
  }
  return decoder.decode(output.stdout);
}

/** A self-signed CA and a server certificate for 127.0.0.1 (EC P-256: fast to make). */
async function makeCertificates(dir: string): Promise<void> {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await run("openssl", [
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-days",
    "3650",
    "-subj",
    "/CN=singlet test CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ], { cwd: dir });
  await run("openssl", [
    "req",
    ...ec,
    "-keyout",
    "server.key",
    "-out",
    "server.csr",
    "-subj",
    "/CN=127.0.0.1",
  ], { cwd: dir });
  await Deno.writeTextFile(
    `${dir}/server.ext`,
    "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n" +
      "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n",
  );
  await run("openssl", [
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.crt",
    "-days",
    "3650",
    "-extfile",
    "server.ext",
  ], { cwd: dir });
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/**
 * GET a path on a registry (no redirects), trusting its CA and sending its credentials
 * when asked.
 *
 * @param registry The registry.
 * @param path E.g. "/v2/".
 * @param options `anonymous: true` leaves credentials out; `headers` adds request headers
 *   (distribution answers 404 for an OCI manifest unless `accept` names its media type).
 * @returns Status, headers and body.
 */
export function registryGet(
  registry: Pick<TestRegistry, "url" | "caFile" | "username" | "password">,
  path: string,
  options: { anonymous?: boolean; headers?: Record<string, string> } = {},
): Promise<RegistryResponse> {
  const url = new URL(path, registry.url);
  const headers: Record<string, string> = { ...options.headers };
  if (!options.anonymous && registry.username !== undefined) {
    headers.authorization = `Basic ${btoa(`${registry.username}:${registry.password ?? ""}`)}`;
  }
  return new Promise((resolve, reject) => {
    const ca = registry.caFile ? Deno.readTextFileSync(registry.caFile) : undefined;
    const callback = (response: import("node:http").IncomingMessage) => {
      const chunks: Uint8Array[] = [];
      response.on("data", (chunk: Uint8Array) => chunks.push(chunk));
      response.on("end", () =>
        resolve({
          status: response.statusCode ?? 0,
          headers: response.headers,
          body: Buffer.concat(chunks).toString("utf8"),
        }));
      response.on("error", reject);
    };
    const req = url.protocol === "https:"
      ? httpsRequest(url, { headers, ...(ca ? { ca } : {}) }, callback)
      : httpRequest(url, { headers }, callback);
    req.on("error", reject);
    req.end();
  });
}

/**
 * The lines of a docker-registry config that every test registry shares: quiet logs,
 * storage under `dir/data` with deletes enabled, and the listen address. Callers append
 * their `tls:` and `auth:` sections.
 *
 * @param dir The registry's temporary directory.
 * @param addr `host:port` to listen on.
 * @returns YAML lines, ending inside the `http:` section.
 */
export function registryBaseConfig(dir: string, addr: string): string[] {
  return [
    "version: 0.1",
    "log:",
    "  level: error",
    "  accesslog:",
    "    disabled: true",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${dir}/data`,
    "  delete:",
    "    enabled: true",
    "http:",
    `  addr: ${addr}`,
  ];
}

/**
 * Start a registry and wait until `/v2/` answers.
 *
 * @param options TLS and auth.
 * @returns The running registry; stop it with `await using` or `stop()` in `finally`.
 */
export async function startRegistry(options: RegistryOptions = {}): Promise<TestRegistry> {
  await reapOrphans();
  const dir = await Deno.makeTempDir({ prefix: REGISTRY_DIR_PREFIX });
  let child: Deno.ChildProcess | undefined;
  try {
    await Deno.mkdir(`${dir}/data`);
    const tls = options.tls ?? false;
    let certDir: string | undefined;
    if (tls) {
      await makeCertificates(dir);
      certDir = `${dir}/certs`;
      await Deno.mkdir(certDir);
      await Deno.copyFile(`${dir}/ca.crt`, `${certDir}/ca.crt`);
    }
    if (options.auth) {
      const line = await run("htpasswd", [
        "-Bbn",
        options.auth.username,
        options.auth.password,
      ]);
      await Deno.writeTextFile(`${dir}/htpasswd`, line.trim() + "\n");
    }
    // The port may be taken between freePort() and the registry's bind: retry then.
    for (let attempt = 0;; attempt++) {
      const port = freePort();
      const host = `127.0.0.1:${port}`;
      const config = [
        ...registryBaseConfig(dir, host),
        "  secret: singlet-test-registry",
        ...(tls
          ? ["  tls:", `    certificate: ${dir}/server.crt`, `    key: ${dir}/server.key`]
          : []),
        ...(options.auth
          ? ["auth:", "  htpasswd:", "    realm: singlet-test", `    path: ${dir}/htpasswd`]
          : []),
      ].join("\n") + "\n";
      await Deno.writeTextFile(`${dir}/config.yml`, config);
      // The log goes to a file, not a pipe: a pipe would keep a test process that forgot
      // stop() alive forever, where unref() lets it exit and the unload hook kill this.
      child = new Deno.Command("/bin/sh", {
        args: [
          "-c",
          'exec "$0" serve "$1" 2>"$2"',
          REGISTRY_BINARY,
          `${dir}/config.yml`,
          `${dir}/registry.log`,
        ],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      child.unref();
      running.add(child);
      // Lets a later test process kill this registry if ours dies without unload (SIGKILL).
      await Deno.writeTextFile(`${dir}/pids`, `${Deno.pid} ${child.pid}\n`);
      let exited = false;
      const status = child.status.then((s) => {
        exited = true;
        return s;
      });
      const registry: TestRegistry = {
        pid: child.pid,
        host,
        url: `${tls ? "https" : "http"}://${host}`,
        ...(tls ? { caFile: `${dir}/ca.crt`, certDir: certDir! } : {}),
        ...(options.auth
          ? { username: options.auth.username, password: options.auth.password }
          : {}),
        push: (layout, ref, repoTag) => copy(registry, `oci:${layout}:${ref}`, repoTag),
        copy: (source, repoTag, copyOptions) => copy(registry, source, repoTag, copyOptions),
        stop: async () => {
          if (!child) return;
          const current = child;
          child = undefined;
          current.ref();
          if (!exited) current.kill("SIGKILL");
          await status;
          running.delete(current);
          await Deno.remove(dir, { recursive: true }).catch(() => {});
        },
        [Symbol.asyncDispose]: () => registry.stop(),
      };
      const deadline = Date.now() + 15_000;
      let ready = false;
      while (!exited && Date.now() < deadline) {
        try {
          const response = await registryGet(registry, "/v2/", { anonymous: true });
          if (response.status === 200 || response.status === 401) {
            ready = true;
            break;
          }
        } catch {
          // not listening yet
        }
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      if (ready) return registry;
      const log = await Deno.readTextFile(`${dir}/registry.log`).catch(() => "");
      const bindFailure = /address already in use/.test(log);
      const message = `docker-registry did not answer on ${host}: ${log.trim() || "no output"}`;
      const dirToKeep = dir;
      // stop() would remove the directory we still need for the next attempt.
      child.ref();
      if (!exited) child.kill("SIGKILL");
      await status;
      running.delete(child);
      child = undefined;
      if (!bindFailure || attempt >= 3) {
        await Deno.remove(dirToKeep, { recursive: true }).catch(() => {});
        throw new Error(message);
      }
    }
  } catch (error) {
    if (child) {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
      running.delete(child);
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
}

async function copy(
  registry: TestRegistry,
  source: string,
  repoTag: string,
  options: { format?: "oci" | "v2s2" } = {},
): Promise<string> {
  const digestFile = await Deno.makeTempFile({ prefix: "singlet-push-digest-" });
  try {
    const args = ["copy", "--quiet", "--digestfile", digestFile];
    if (registry.certDir) args.push("--dest-cert-dir", registry.certDir);
    else args.push("--dest-tls-verify=false");
    if (registry.username !== undefined) {
      args.push("--dest-creds", `${registry.username}:${registry.password ?? ""}`);
    }
    if (options.format) args.push("--format", options.format);
    args.push(source, `docker://${registry.host}/${repoTag}`);
    await run("skopeo", args);
    return (await Deno.readTextFile(digestFile)).trim();
  } finally {
    await Deno.remove(digestFile).catch(() => {});
  }
}
