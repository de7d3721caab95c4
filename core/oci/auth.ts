/**
 * Registry credentials and authentication: where user names and passwords come from (the
 * `singlet registry login` store, `--authfile`, `$REGISTRY_AUTH_FILE`, `~/.docker/config.json`,
 * and the `SINGLET_`/`SINGULARITY_`/`APPTAINER_DOCKER_USERNAME`/`_PASSWORD` variables), and the
 * anonymous, bearer-token and basic flows a registry asks for in `WWW-Authenticate`.
 *
 * Secrets stay inside this module's objects: no message, debug trace or file other than the
 * mode-0600 credential store ever contains them.
 *
 * @module
 */
import { SingletError } from "../errors.ts";
import { DOCKER_HUB } from "./reference.ts";
import { EXIT_REMOTE, type HttpClient, redactUrl } from "./http.ts";
import { type Challenge, parseWwwAuthenticate } from "./www_authenticate.ts";

/** A user name and password (or token used as one). */
export interface Credentials {
  /** User name. */
  username: string;
  /** Password or access token. */
  password: string;
}

/** Docker's `config.json` shape (the parts singlet reads and writes). */
interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string }>;
  [key: string]: unknown;
}

/** Options for locating credentials. */
export interface CredentialOptions {
  /** `--authfile`: the only file consulted besides the environment. */
  authfile?: string;
  /** Explicit credentials (`--docker-login`, `registry login -u/-p`). */
  explicit?: Credentials;
  /** Environment lookup (default `Deno.env.get`). */
  env?: (name: string) => string | undefined;
}

const ENV_PREFIXES = ["SINGLET_DOCKER_", "SINGULARITY_DOCKER_", "APPTAINER_DOCKER_", "DOCKER_"];

/**
 * The normalised key a registry has in a credential store.
 *
 * @param registry host[:port], or a URL-ish key as Docker writes them.
 * @returns host[:port], with Docker Hub's aliases folded into `index.docker.io`.
 */
export function registryKey(registry: string): string {
  let key = registry.replace(/^[a-z]+:\/\//, "").replace(/\/.*$/, "").toLowerCase();
  if (key === "docker.io" || key === "registry-1.docker.io" || key === "registry.hub.docker.com") {
    key = DOCKER_HUB;
  }
  return key;
}

function home(env: (name: string) => string | undefined): string | undefined {
  return env("HOME");
}

/**
 * The file `singlet registry login` writes: `$SINGLET_CONFIGDIR/docker-config.json`, by
 * default `~/.singlet/docker-config.json`.
 *
 * @param env Environment lookup.
 * @returns Its path.
 */
export function loginStorePath(
  env: (name: string) => string | undefined = (n) => Deno.env.get(n),
): string {
  const dir = env("SINGLET_CONFIGDIR") ?? `${home(env) ?? "."}/.singlet`;
  return `${dir}/docker-config.json`;
}

async function readDockerConfig(path: string): Promise<DockerConfig | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw new SingletError(`Cannot read credentials file "${path}": ${(error as Error).message}`);
  }
  try {
    const parsed = JSON.parse(text);
    return typeof parsed === "object" && parsed ? parsed : undefined;
  } catch {
    throw new SingletError(`Cannot read credentials file "${path}": not valid JSON`, {
      hint: "fix or remove the file, then log in again",
    });
  }
}

function entryCredentials(
  entry: { auth?: string; username?: string; password?: string },
): Credentials | undefined {
  if (entry.auth) {
    try {
      const decoded = new TextDecoder().decode(
        Uint8Array.from(atob(entry.auth), (c) => c.charCodeAt(0)),
      );
      const colon = decoded.indexOf(":");
      if (colon > 0) {
        return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
      }
    } catch {
      return undefined;
    }
  }
  if (entry.username && entry.password) {
    return { username: entry.username, password: entry.password };
  }
  return undefined;
}

function lookup(config: DockerConfig | undefined, registry: string): Credentials | undefined {
  if (!config?.auths) return undefined;
  const want = registryKey(registry);
  for (const [key, entry] of Object.entries(config.auths)) {
    if (registryKey(key) === want && entry) {
      const creds = entryCredentials(entry);
      if (creds) return creds;
    }
  }
  return undefined;
}

/**
 * The credentials to use for a registry, by precedence: explicit, environment variables,
 * `--authfile` (exclusively, when given), `$REGISTRY_AUTH_FILE`, the login store,
 * `~/.singularity/docker-config.json`, `~/.docker/config.json`.
 *
 * @param registry host[:port].
 * @param options Where to look.
 * @returns Credentials, or undefined for anonymous access.
 */
export async function findCredentials(
  registry: string,
  options: CredentialOptions = {},
): Promise<Credentials | undefined> {
  const env = options.env ?? ((n: string) => Deno.env.get(n));
  if (options.explicit) return options.explicit;
  for (const prefix of ENV_PREFIXES) {
    const username = env(`${prefix}USERNAME`);
    const password = env(`${prefix}PASSWORD`);
    if (username && password !== undefined) return { username, password };
  }
  if (options.authfile) return lookup(await readDockerConfig(options.authfile), registry);
  const files = [
    env("REGISTRY_AUTH_FILE"),
    loginStorePath(env),
    home(env) ? `${home(env)}/.singularity/docker-config.json` : undefined,
    home(env) ? `${home(env)}/.docker/config.json` : undefined,
  ];
  for (const file of files) {
    if (!file) continue;
    const found = lookup(await readDockerConfig(file), registry);
    if (found) return found;
  }
  return undefined;
}

async function writePrivate(path: string, config: DockerConfig): Promise<void> {
  const dir = path.replace(/\/[^/]*$/, "") || ".";
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = `${path}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    using file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
    await file.write(new TextEncoder().encode(JSON.stringify(config, null, "\t") + "\n"));
    await file.sync();
    await Deno.chmod(tmp, 0o600);
    await Deno.rename(tmp, path);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
}

/**
 * Store credentials for a registry (mode 0600, atomic replace, other entries kept).
 *
 * @param path The docker-style config file.
 * @param registry host[:port].
 * @param credentials What to store.
 */
export async function storeCredentials(
  path: string,
  registry: string,
  credentials: Credentials,
): Promise<void> {
  const config = (await readDockerConfig(path)) ?? {};
  config.auths = config.auths ?? {};
  const key = registryKey(registry);
  for (const existing of Object.keys(config.auths)) {
    if (registryKey(existing) === key) delete config.auths[existing];
  }
  const raw = new TextEncoder().encode(`${credentials.username}:${credentials.password}`);
  config.auths[key] = { auth: btoa(String.fromCharCode(...raw)) };
  await writePrivate(path, config);
}

/**
 * Remove a registry's credentials.
 *
 * @param path The docker-style config file.
 * @param registry host[:port].
 * @returns Whether there was an entry.
 */
export async function removeCredentials(path: string, registry: string): Promise<boolean> {
  const config = await readDockerConfig(path);
  if (!config?.auths) return false;
  const key = registryKey(registry);
  let found = false;
  for (const existing of Object.keys(config.auths)) {
    if (registryKey(existing) === key) {
      delete config.auths[existing];
      found = true;
    }
  }
  if (found) await writePrivate(path, config);
  return found;
}

/**
 * The registries with stored credentials, and their user names (never passwords).
 *
 * @param path The docker-style config file.
 * @returns Registry and user name pairs.
 */
export async function listCredentials(
  path: string,
): Promise<{ registry: string; username: string }[]> {
  const config = await readDockerConfig(path);
  return Object.entries(config?.auths ?? {}).map(([registry, entry]) => ({
    registry,
    username: entryCredentials(entry)?.username ?? "",
  }));
}

/** The largest token response accepted (as containers/image). */
export const TOKEN_CAP = 1 << 20;

interface CachedToken {
  value: string;
  expires: number;
}

/**
 * Answers a registry's 401 challenges for one registry: fetches and caches bearer tokens
 * per scope, or sends basic credentials; anonymous when there are no credentials.
 */
export class Authenticator {
  readonly #http: HttpClient;
  readonly #registry: string;
  readonly #credentials: Credentials | undefined;
  readonly #tokens = new Map<string, CachedToken>();
  #basic = false;
  #challenge: Challenge | undefined;

  /**
   * Create an authenticator for one registry.
   *
   * @param http The HTTP client.
   * @param registry host[:port] (for messages and insecure checks).
   * @param credentials Credentials, if any.
   */
  constructor(http: HttpClient, registry: string, credentials: Credentials | undefined) {
    this.#http = http;
    this.#registry = registry;
    this.#credentials = credentials;
  }

  /** Whether credentials were found for this registry. */
  get hasCredentials(): boolean {
    return this.#credentials !== undefined;
  }

  /**
   * The `Authorization` value to send for a scope, from what earlier challenges taught.
   *
   * @param scope e.g. `repository:library/ubuntu:pull`.
   * @returns The header value, or undefined.
   */
  header(scope: string): string | undefined {
    if (this.#basic && this.#credentials) return basicHeader(this.#credentials);
    const token = this.#tokens.get(scope);
    if (token && token.expires > Date.now()) return `Bearer ${token.value}`;
    return undefined;
  }

  /**
   * Learn from a 401 response and get what it asks for.
   *
   * @param response The 401 response.
   * @param scope The scope needed.
   * @param url The URL that answered 401 (to check the realm's transport).
   * @returns True when a retry with {@linkcode header} may succeed.
   */
  async challenge(response: Response, scope: string, url: URL): Promise<boolean> {
    const challenges = parseWwwAuthenticate(response.headers.get("www-authenticate") ?? "");
    const bearer = challenges.find((c) => c.scheme === "bearer" && c.params.realm);
    if (bearer) {
      this.#challenge = bearer;
      await this.#fetchToken(bearer, scope, url);
      return true;
    }
    if (challenges.some((c) => c.scheme === "basic") && this.#credentials && !this.#basic) {
      if (url.protocol !== "https:" && !this.#http.allowsHttp(url.host)) {
        throw new SingletError(
          `Cannot log in to "${this.#registry}": refusing to send a password over plain http`,
          { hint: "use https (add --no-https only for a trusted local registry)", exitCode: 2 },
        );
      }
      this.#basic = true;
      return true;
    }
    return false;
  }

  /**
   * Refresh the token of a scope that was refused (expired or insufficient_scope).
   *
   * @param scope The scope.
   * @param url The URL that answered 401.
   */
  async refresh(scope: string, url: URL): Promise<void> {
    this.#tokens.delete(scope);
    if (this.#challenge) await this.#fetchToken(this.#challenge, scope, url);
  }

  async #fetchToken(challenge: Challenge, scope: string, url: URL): Promise<void> {
    let realm: URL;
    try {
      realm = new URL(challenge.params.realm!);
    } catch {
      throw new SingletError(`Cannot authenticate to "${this.#registry}": invalid token realm`, {
        exitCode: EXIT_REMOTE,
      });
    }
    if (realm.protocol !== "https:" && !this.#http.allowsHttp(realm.host)) {
      // A token service on plain http would expose credentials (CVE-2019-10214 class).
      throw new SingletError(
        `Cannot authenticate to "${this.#registry}": token service ${
          redactUrl(realm)
        } is not https`,
        { hint: "use --no-https only for a trusted local registry and token service", exitCode: 2 },
      );
    }
    if (challenge.params.service) realm.searchParams.set("service", challenge.params.service);
    const scopes = new Set([scope]);
    if (challenge.params.scope) scopes.add(challenge.params.scope);
    for (const s of scopes) realm.searchParams.append("scope", s);
    const response = await this.#http.request(realm, {
      ...(this.#credentials ? { authorization: basicHeader(this.#credentials) } : {}),
    });
    if (response.status === 401 || response.status === 403) {
      await response.body?.cancel().catch(() => {});
      throw authError(this.#registry, url, this.#credentials !== undefined);
    }
    if (!response.ok) {
      await response.body?.cancel().catch(() => {});
      throw new SingletError(
        `Cannot authenticate to "${this.#registry}": token service answered HTTP ${response.status}`,
        { exitCode: EXIT_REMOTE },
      );
    }
    const bytes = await this.#http.readCapped(response, TOKEN_CAP, "token response");
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      body = JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      throw new SingletError(`Cannot authenticate to "${this.#registry}": bad token response`, {
        exitCode: EXIT_REMOTE,
      });
    }
    const value = typeof body.token === "string" ? body.token : body.access_token;
    if (typeof value !== "string" || !value || /[\r\n]/.test(value)) {
      throw new SingletError(`Cannot authenticate to "${this.#registry}": no token in response`, {
        exitCode: EXIT_REMOTE,
      });
    }
    // At least 60 s, as the token spec says, renewed 10 s before expiry.
    const lifetime = Math.max(typeof body.expires_in === "number" ? body.expires_in : 60, 60);
    this.#tokens.set(scope, { value, expires: Date.now() + (lifetime - 10) * 1000 });
  }
}

function basicHeader(c: Credentials): string {
  const raw = new TextEncoder().encode(`${c.username}:${c.password}`);
  let s = "";
  for (const b of raw) s += String.fromCharCode(b);
  return `Basic ${btoa(s)}`;
}

/**
 * The error for credentials refused (or missing) at a registry.
 *
 * @param registry host[:port].
 * @param url What was being fetched.
 * @param hadCredentials Whether credentials were sent.
 * @returns The error.
 */
export function authError(registry: string, url: URL, hadCredentials: boolean): SingletError {
  return new SingletError(
    `Cannot access "${redactUrl(url)}": ${
      hadCredentials ? "the registry refused the credentials" : "authentication required"
    }`,
    {
      hint: hadCredentials
        ? `check the user name and password, then 'singlet registry login ${registry}'`
        : `log in with 'singlet registry login docker://${registry}' or use --docker-login`,
      exitCode: EXIT_REMOTE,
    },
  );
}
