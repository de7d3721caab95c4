/**
 * A fault-injecting HTTP proxy in front of a real registry (Deno.serve on 127.0.0.1), with a
 * second origin for redirects. Tests script faults per request: reset the connection after N
 * body bytes, flip a byte, answer a status (429, 503) with `Retry-After`, redirect to the
 * second origin, delay the answer, or stall. Every request is logged (method, path, Range, and whether an
 * Authorization header came along) on both origins.
 *
 * @module
 */

/** What to do with one matching request. */
export type Fault =
  | { kind: "reset"; afterBytes: number }
  | { kind: "flip"; atByte: number }
  | { kind: "status"; status: number; retryAfter?: string }
  | { kind: "redirect"; status?: number }
  | { kind: "stall"; afterBytes: number }
  | { kind: "delay"; ms: number };

/** A scripted fault. */
export interface FaultRule {
  /** Which requests (by method and path). */
  match: (method: string, path: string) => boolean;
  /** How many times it fires (default 1; Infinity for always). */
  times?: number;
  /** What happens. */
  fault: Fault;
}

/** One logged request. */
export interface LoggedRequest {
  /** Which origin saw it. */
  origin: "proxy" | "second";
  /** Method. */
  method: string;
  /** Path and query. */
  path: string;
  /** Range header. */
  range: string | null;
  /** Whether an Authorization header was present. */
  authorization: boolean;
}

/** A running proxy. */
export interface FaultProxy {
  /** 127.0.0.1:port of the proxy (what the client pulls from). */
  host: string;
  /** Origin of the second server. */
  secondOrigin: string;
  /** Scripted faults, consumed in order of match. */
  rules: FaultRule[];
  /** Request log. */
  log: LoggedRequest[];
  /** Stop both servers. */
  stop(): Promise<void>;
}

function truncatedBody(
  body: ReadableStream<Uint8Array>,
  limit: number,
  end: "error" | "stall",
  signal: AbortSignal,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let sent = 0;
  return new ReadableStream({
    async pull(controller) {
      if (sent >= limit) {
        await reader.cancel().catch(() => {});
        if (end === "error") {
          controller.error(new Error("injected reset"));
        } else {
          // Never enqueue again; the client's inactivity timeout must fire.
          await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve()));
          controller.close();
        }
        return;
      }
      const { done, value } = await reader.read();
      if (done) return controller.close();
      const chunk = value.subarray(0, Math.max(0, limit - sent));
      sent += chunk.length;
      controller.enqueue(chunk);
    },
    cancel() {
      reader.cancel().catch(() => {});
    },
  });
}

function flippedBody(body: ReadableStream<Uint8Array>, at: number): ReadableStream<Uint8Array> {
  let offset = 0;
  return body.pipeThrough(
    new TransformStream({
      transform(chunk, controller) {
        if (at >= offset && at < offset + chunk.length) {
          const copy = chunk.slice();
          copy[at - offset]! ^= 0x01;
          chunk = copy;
        }
        offset += chunk.length;
        controller.enqueue(chunk);
      },
    }),
  );
}

/**
 * Start a proxy in front of `upstream` and a second origin serving the same upstream.
 *
 * @param upstream e.g. `http://127.0.0.1:5000`.
 * @param options How the second origin authenticates upstream (as a storage service would
 *   by its presigned URL; never with the client's credentials).
 * @returns The proxy.
 */
export function startFaultProxy(
  upstream: string,
  options: { secondAuthorization?: () => Promise<string | undefined> } = {},
): FaultProxy {
  const stalls = new AbortController();
  const log: LoggedRequest[] = [];
  const rules: FaultRule[] = [];
  const forward = async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    const headers = new Headers(req.headers);
    headers.delete("host");
    const response = await fetch(`${upstream}${url.pathname}${url.search}`, {
      method: req.method,
      headers,
      redirect: "manual",
      ...(req.body ? { body: await req.arrayBuffer() } : {}),
    });
    // Rewrite upstream redirects/realms as they are (same registry); copy headers.
    return new Response(response.body, { status: response.status, headers: response.headers });
  };
  const second = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    log.push({
      origin: "second",
      method: req.method,
      path: url.pathname + url.search,
      range: req.headers.get("range"),
      authorization: req.headers.has("authorization"),
    });
    // Like a presigned storage URL: no credentials needed; strip any that leaked.
    const headers = new Headers(req.headers);
    headers.delete("authorization");
    const own = await options.secondAuthorization?.();
    if (own) headers.set("authorization", own);
    return forward(new Request(req.url, { method: req.method, headers }));
  });
  const secondOrigin = `http://127.0.0.1:${second.addr.port}`;
  const proxy = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    log.push({
      origin: "proxy",
      method: req.method,
      path: url.pathname + url.search,
      range: req.headers.get("range"),
      authorization: req.headers.has("authorization"),
    });
    const index = rules.findIndex((r) => r.match(req.method, url.pathname));
    const rule = index >= 0 ? rules[index]! : undefined;
    if (rule) {
      rule.times = (rule.times ?? 1) - 1;
      if (rule.times <= 0) rules.splice(index, 1);
    }
    const fault = rule?.fault;
    if (fault?.kind === "status") {
      return new Response(`{"errors":[{"code":"TOOMANYREQUESTS"}]}`, {
        status: fault.status,
        headers: fault.retryAfter ? { "retry-after": fault.retryAfter } : {},
      });
    }
    if (fault?.kind === "redirect") {
      return new Response(null, {
        status: fault.status ?? 307,
        headers: { location: `${secondOrigin}${url.pathname}?X-Amz-Signature=secret` },
      });
    }
    if (fault?.kind === "delay") await new Promise((r) => setTimeout(r, fault.ms));
    const response = await forward(req);
    if (!fault || fault.kind === "delay" || !response.body) return response;
    const headers = new Headers(response.headers);
    if (fault.kind === "flip") {
      return new Response(flippedBody(response.body, fault.atByte), {
        status: response.status,
        headers,
      });
    }
    return new Response(
      truncatedBody(
        response.body,
        fault.afterBytes,
        fault.kind === "reset" ? "error" : "stall",
        stalls.signal,
      ),
      { status: response.status, headers },
    );
  });
  return {
    host: `127.0.0.1:${proxy.addr.port}`,
    secondOrigin,
    rules,
    log,
    async stop() {
      stalls.abort();
      await proxy.shutdown();
      await second.shutdown();
    },
  };
}
