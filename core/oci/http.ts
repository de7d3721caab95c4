/**
 * The HTTP layer under the registry client and URL downloads: our own redirect loop (so an
 * `Authorization` header never reaches another origin and https never downgrades), retries
 * with backoff and `Retry-After` for idempotent requests, a deadline for response headers and
 * an inactivity timeout on bodies, capped reads, `Accept-Encoding: identity`, and TLS with the
 * system CAs plus an optional CA file.
 *
 * @module
 */
import { SingletError } from "../errors.ts";

/** Exit code for remote failures after retries (network, TLS, auth, 429). */
export const EXIT_REMOTE = 4;

/** Settings of an {@linkcode HttpClient}. */
export interface HttpOptions {
  /** PEM file with extra CA certificates to trust besides the system ones. */
  caFile?: string;
  /** Hosts (host[:port]) that may be reached over plain HTTP (`--no-https`). */
  insecureHosts?: readonly string[];
  /** Every host may be reached over plain HTTP (`--no-https` without a host list). */
  allowHttp?: boolean;
  /** Time allowed until response headers arrive (default 30 s). */
  headersTimeoutMs?: number;
  /** Longest pause allowed between two body chunks (default 60 s). */
  idleTimeoutMs?: number;
  /** Attempts for idempotent requests (default 5). */
  attempts?: number;
  /** First backoff delay (default 2 s; doubles, with jitter). */
  backoffMs?: number;
  /** Longest backoff delay (default 60 s). */
  maxBackoffMs?: number;
  /** Debug logger for request traces (URLs are redacted, headers never logged). */
  debug?: (message: string) => void;
}

/** A failure worth retrying or resuming (reset, stall, 5xx, 429). */
export class TransientError extends Error {
  /** Server-requested delay in ms, from `Retry-After`. */
  readonly retryAfterMs: number | undefined;
  /**
   * Create a transient error.
   *
   * @param message What failed.
   * @param options Cause and server-requested delay.
   */
  constructor(message: string, options: { cause?: unknown; retryAfterMs?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "TransientError";
    this.retryAfterMs = options.retryAfterMs;
  }
}

/**
 * A URL safe to print: no userinfo, no query (presigned URLs carry credentials there).
 *
 * @param url The URL.
 * @returns `scheme://host/path`.
 */
export function redactUrl(url: URL | string): string {
  const u = typeof url === "string" ? new URL(url) : url;
  return `${u.protocol}//${u.host}${u.pathname}`;
}

/**
 * Parse `Retry-After` (seconds or an HTTP date).
 *
 * @param value The header value.
 * @param now Current time in ms.
 * @returns Delay in ms, or undefined when absent, malformed or in the past.
 */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  if (Number.isNaN(date) || date <= now) return undefined;
  return date - now;
}

const RETRY_STATUSES = new Set([429, 500, 502, 503, 504]);

/** Options of one request. */
export interface RequestOptions {
  /** HTTP method (default GET). */
  method?: "GET" | "HEAD" | "POST" | "PUT";
  /** Headers (never `Authorization`; use `authorization`). */
  headers?: Record<string, string>;
  /** Authorization header value, sent only to the request's own origin. */
  authorization?: string;
  /** Retry on 429/5xx/network errors (default: true for GET and HEAD). */
  retry?: boolean;
  /** Aborts the request. */
  signal?: AbortSignal;
  /** Request body (POST/PUT only; never retried). */
  body?: Uint8Array<ArrayBuffer> | string;
}

/** A client over `fetch` with singlet's safety rules. */
export class HttpClient {
  readonly #options: HttpOptions;
  #client: Deno.HttpClient | undefined;

  /**
   * Create a client.
   *
   * @param options TLS, insecure hosts, timeouts and retry settings.
   */
  constructor(options: HttpOptions = {}) {
    this.#options = options;
    if (options.caFile) {
      let pem: string;
      try {
        pem = Deno.readTextFileSync(options.caFile);
      } catch (error) {
        throw new SingletError(
          `Cannot read CA file "${options.caFile}": ${(error as Error).message}`,
          {
            hint: "give a PEM file with the registry's CA certificate",
            exitCode: 2,
          },
        );
      }
      this.#client = Deno.createHttpClient({ caCerts: [pem] });
    }
  }

  /** The idle timeout bodies are read under. */
  get idleTimeoutMs(): number {
    return this.#options.idleTimeoutMs ?? 60_000;
  }

  /** Release the TLS client. */
  close(): void {
    this.#client?.close();
    this.#client = undefined;
  }

  /**
   * Whether plain HTTP is allowed for a host.
   *
   * @param host host[:port].
   * @returns True with `--no-https` for it.
   */
  allowsHttp(host: string): boolean {
    return !!this.#options.allowHttp || (this.#options.insecureHosts ?? []).includes(host);
  }

  #checkScheme(url: URL, from?: URL): void {
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      throw new SingletError(`Cannot fetch "${redactUrl(url)}": unsupported scheme`, {
        exitCode: EXIT_REMOTE,
      });
    }
    if (from?.protocol === "https:" && url.protocol === "http:") {
      throw new SingletError(
        `Cannot fetch "${redactUrl(from)}": refused redirect from https to plain http ` +
          `(${redactUrl(url)})`,
        { hint: "the server tried to downgrade the connection; report it", exitCode: EXIT_REMOTE },
      );
    }
    if (url.protocol === "http:" && !from && !this.allowsHttp(url.host)) {
      throw new SingletError(`Cannot fetch "${redactUrl(url)}": plain http is not allowed`, {
        hint: "use https, or --no-https for a local registry",
        exitCode: 2,
      });
    }
  }

  /**
   * Send a request, following redirects by hand and retrying idempotent requests.
   *
   * @param input The URL.
   * @param options Method, headers, authorization, retry policy.
   * @returns The final response (any status; the body is not read).
   */
  async request(input: URL | string, options: RequestOptions = {}): Promise<Response> {
    const method = options.method ?? "GET";
    const retry = options.retry ?? (method === "GET" || method === "HEAD");
    const attempts = retry ? (this.#options.attempts ?? 5) : 1;
    let delay = this.#options.backoffMs ?? 2000;
    let lastError: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      let response: Response | undefined;
      try {
        response = await this.#once(new URL(input), method, options);
      } catch (error) {
        if (error instanceof SingletError) throw error;
        options.signal?.throwIfAborted();
        lastError = error;
      }
      if (response) {
        if (!RETRY_STATUSES.has(response.status) || attempt === attempts) return response;
        if (response.status !== 429 && !retry) return response;
        lastError = new TransientError(`HTTP ${response.status}`, {
          ...(response.headers.has("retry-after")
            ? { retryAfterMs: parseRetryAfter(response.headers.get("retry-after")) ?? delay }
            : {}),
        });
        await response.body?.cancel().catch(() => {});
      }
      if (attempt === attempts) break;
      const wait = lastError instanceof TransientError && lastError.retryAfterMs !== undefined
        ? Math.min(lastError.retryAfterMs, this.#options.maxBackoffMs ?? 60_000)
        : delay * (0.75 + Math.random() * 0.5);
      this.#options.debug?.(
        `${method} ${redactUrl(input)}: ${(lastError as Error).message}; retrying in ${
          Math.round(wait)
        } ms`,
      );
      await sleep(wait, options.signal);
      delay = Math.min(delay * 2, this.#options.maxBackoffMs ?? 60_000);
    }
    throw new SingletError(
      `Cannot fetch "${redactUrl(input)}": ${describeError(lastError)} (after ${attempts} ${
        attempts === 1 ? "attempt" : "attempts"
      })`,
      {
        hint: "check the network and the registry, then try again",
        exitCode: EXIT_REMOTE,
        cause: lastError,
      },
    );
  }

  async #once(url: URL, method: string, options: RequestOptions): Promise<Response> {
    this.#checkScheme(url);
    const origin = url.origin;
    let current = url;
    for (let hop = 0; hop <= 10; hop++) {
      const headers = new Headers(options.headers);
      headers.set("accept-encoding", "identity");
      if (!headers.has("user-agent")) headers.set("user-agent", "singlet");
      // Credentials go only to the origin they were meant for.
      if (options.authorization && current.origin === origin) {
        headers.set("authorization", options.authorization);
      }
      const controller = new AbortController();
      const onAbort = () => controller.abort(options.signal?.reason);
      options.signal?.addEventListener("abort", onAbort, { once: true });
      const timer = setTimeout(
        () => controller.abort(new TransientError("no response headers in time")),
        this.#options.headersTimeoutMs ?? 30_000,
      );
      let response: Response;
      try {
        this.#options.debug?.(`${method} ${redactUrl(current)}`);
        response = await fetch(current, {
          method,
          headers,
          redirect: "manual",
          signal: controller.signal,
          ...(this.#client ? { client: this.#client } : {}),
          ...(options.body !== undefined ? { body: options.body } : {}),
        });
      } catch (error) {
        if (controller.signal.reason instanceof TransientError) throw controller.signal.reason;
        throw new TransientError(describeError(error), { cause: error });
      } finally {
        clearTimeout(timer);
        options.signal?.removeEventListener("abort", onAbort);
      }
      if (response.status < 300 || response.status >= 400 || response.status === 304) {
        return response;
      }
      const location = response.headers.get("location");
      await response.body?.cancel().catch(() => {});
      if (!location) return response;
      const next = new URL(location, current);
      this.#checkScheme(next, current);
      this.#options.debug?.(`redirected to ${redactUrl(next)}`);
      current = next;
    }
    throw new SingletError(`Cannot fetch "${redactUrl(url)}": more than 10 redirects`, {
      exitCode: EXIT_REMOTE,
    });
  }

  /**
   * Read a response body whole, refusing more than `cap` bytes.
   *
   * @param response The response.
   * @param cap Largest accepted size.
   * @param what What is being read, for the error message.
   * @returns The bytes.
   */
  async readCapped(response: Response, cap: number, what: string): Promise<Uint8Array> {
    const declared = Number(response.headers.get("content-length") ?? "NaN");
    if (declared > cap) {
      await response.body?.cancel().catch(() => {});
      throw tooLarge(what, cap);
    }
    const parts: Uint8Array[] = [];
    let total = 0;
    for await (const chunk of this.body(response)) {
      total += chunk.length;
      if (total > cap) throw tooLarge(what, cap);
      parts.push(chunk);
    }
    const out = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  /**
   * Iterate a response body with the inactivity timeout; resets and stalls become
   * {@linkcode TransientError}s.
   *
   * @param response The response.
   * @returns The body's chunks.
   */
  async *body(response: Response): AsyncIterable<Uint8Array> {
    if (!response.body) return;
    const reader = response.body.getReader();
    // One watchdog per body, not one timer per chunk: chunks are small and many.
    let last = performance.now();
    let stalled: TransientError | undefined;
    const idle = this.idleTimeoutMs;
    const watchdog = setInterval(() => {
      if (performance.now() - last > idle) {
        stalled = new TransientError(`no data for ${idle / 1000} s`);
        reader.cancel(stalled).catch(() => {});
      }
    }, Math.max(Math.min(idle / 4, 1000), 10));
    try {
      while (true) {
        let result: ReadableStreamReadResult<Uint8Array>;
        try {
          result = await reader.read();
        } catch (error) {
          if (stalled) throw stalled;
          if (error instanceof TransientError) throw error;
          throw new TransientError(describeError(error), { cause: error });
        }
        if (stalled) throw stalled;
        if (result.done) return;
        last = performance.now();
        yield result.value;
      }
    } finally {
      clearInterval(watchdog);
      reader.cancel().catch(() => {});
    }
  }
}

function tooLarge(what: string, cap: number): SingletError {
  return new SingletError(`Cannot read ${what}: larger than the ${cap} byte limit`, {
    hint: "the server sent an oversized document; it may be hostile or misconfigured",
    exitCode: 6,
  });
}

/**
 * A short description of a network error, without URLs' secrets.
 *
 * @param error Anything thrown by fetch.
 * @returns One line.
 */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  let message = error.message.replace(/https?:\/\/[^\s"')]+/g, (u) => {
    try {
      return redactUrl(u);
    } catch {
      return "<url>";
    }
  });
  if (error.cause instanceof Error && !message.includes(error.cause.message)) {
    message += `: ${describeError(error.cause)}`;
  }
  return message;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}
