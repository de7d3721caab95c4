/**
 * A client for the OCI distribution API over {@linkcode HttpClient}: manifests by tag or
 * digest (size-capped, digest-checked against the reference and `Docker-Content-Digest`),
 * small blobs read whole, and large blobs as resumable streams (validated
 * `Range`/`Content-Range`), with the registry's 401 challenges answered by an
 * {@linkcode Authenticator}.
 *
 * @module
 */
import { SingletError } from "../errors.ts";
import { type Authenticator, authError } from "./auth.ts";
import type { BlobSource } from "./blob_cache.ts";
import { hasherFor, parseDigest } from "./digest.ts";
import { EXIT_REMOTE, type HttpClient, redactUrl, TransientError } from "./http.ts";
import { MANIFEST_ACCEPT } from "./manifest.ts";
import { DOCKER_HUB, DOCKER_HUB_API } from "./reference.ts";

/** Largest manifest accepted (as containers/image). */
export const MANIFEST_CAP = 4 << 20;
/** Largest image config accepted. */
export const CONFIG_CAP = 4 << 20;
/** Largest error body read. */
const ERROR_BODY_CAP = 1 << 20;

/** A fetched manifest or index. */
export interface FetchedManifest {
  /** Raw bytes, exactly as served. */
  bytes: Uint8Array;
  /** Their digest (sha256, or the algorithm of the requested digest). */
  digest: string;
  /** The `Content-Type` served. */
  contentType: string | undefined;
}

/** One registry, one repository at a time. */
export class RegistryClient {
  readonly #http: HttpClient;
  readonly #auth: Authenticator;
  /** host[:port] as the user named it. */
  readonly registry: string;
  /** Base URL of the API (`https://host/v2/`). */
  readonly base: URL;

  /**
   * Create a client for one registry.
   *
   * @param http The HTTP client (TLS, insecure hosts, retries).
   * @param registry host[:port].
   * @param auth The authenticator for this registry.
   */
  constructor(http: HttpClient, registry: string, auth: Authenticator) {
    this.#http = http;
    this.#auth = auth;
    this.registry = registry;
    const host = registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
    const scheme = http.allowsHttp(registry) ? "http" : "https";
    this.base = new URL(`${scheme}://${host}/v2/`);
  }

  /**
   * Send a request with authentication: on 401 answer the challenge and try once more.
   *
   * @param url The URL.
   * @param scope The token scope it needs.
   * @param headers Extra headers.
   * @param method GET or HEAD.
   * @param signal Abort signal.
   * @returns The response (the caller checks the status).
   */
  async send(
    url: URL,
    scope: string,
    headers: Record<string, string> = {},
    method: "GET" | "HEAD" = "GET",
    signal?: AbortSignal,
  ): Promise<Response> {
    for (let round = 0; round < 3; round++) {
      const authorization = this.#auth.header(scope);
      const response = await this.#http.request(url, {
        method,
        headers,
        ...(authorization ? { authorization } : {}),
        ...(signal ? { signal } : {}),
      });
      if (response.status !== 401) return response;
      await response.body?.cancel().catch(() => {});
      if (round === 2) break;
      const learnt = round === 0
        ? await this.#auth.challenge(response, scope, url)
        : (await this.#auth.refresh(scope, url), true);
      if (!learnt) break;
    }
    throw authError(this.registry, url, this.#auth.hasCredentials);
  }

  /**
   * Check that the registry answers the API (`GET /v2/`), authenticating if asked; used by
   * `registry login` to test credentials.
   */
  async ping(): Promise<void> {
    const response = await this.send(this.base, "");
    await response.body?.cancel().catch(() => {});
    if (!response.ok) throw await this.#statusError(response, this.base, "registry API");
  }

  async #statusError(response: Response, url: URL, what: string): Promise<SingletError> {
    let detail = "";
    try {
      const bytes = await this.#http.readCapped(response, ERROR_BODY_CAP, "error body");
      const body = JSON.parse(new TextDecoder().decode(bytes));
      const first = body?.errors?.[0];
      if (first?.code) detail = `: ${first.code}${first.message ? ` (${first.message})` : ""}`;
    } catch {
      // No OCI error body.
    }
    const notFound = response.status === 404;
    return new SingletError(
      `Cannot fetch ${what} "${redactUrl(url)}": HTTP ${response.status}${detail}`,
      {
        hint: notFound
          ? "check the image name and tag (and log in if the repository is private)"
          : "the registry refused the request; try again later",
        exitCode: notFound ? 5 : EXIT_REMOTE,
      },
    );
  }

  /**
   * Fetch a manifest or index by tag or digest, verifying its digest when the reference is
   * a digest and against `Docker-Content-Digest` when the registry sends one.
   *
   * @param repository e.g. `library/ubuntu`.
   * @param reference A tag or a digest.
   * @param signal Abort signal.
   * @returns The raw document, its digest and content type.
   */
  async manifest(
    repository: string,
    reference: string,
    signal?: AbortSignal,
  ): Promise<FetchedManifest> {
    const url = new URL(`${repository}/manifests/${reference}`, this.base);
    const response = await this.send(
      url,
      `repository:${repository}:pull`,
      { accept: MANIFEST_ACCEPT },
      "GET",
      signal,
    );
    if (!response.ok) throw await this.#statusError(response, url, "manifest");
    const bytes = await this.#http.readCapped(response, MANIFEST_CAP, `manifest ${reference}`);
    const pinned = reference.includes(":") ? parseDigest(reference) : undefined;
    const algorithm = pinned ?? parseDigest(`sha256:${"0".repeat(64)}`);
    const hex = hasherFor(algorithm).update(bytes).digest("hex");
    const digest = `${algorithm.algorithm}:${hex}`;
    if (pinned && pinned.hex !== hex) {
      throw new SingletError(
        `Cannot pull manifest "${reference}": digest mismatch, got ${digest}`,
        { hint: "the registry served different content than requested", exitCode: 3 },
      );
    }
    const served = response.headers.get("docker-content-digest");
    if (served && served.startsWith(`${algorithm.algorithm}:`) && served !== digest) {
      throw new SingletError(
        `Cannot pull manifest "${reference}": Docker-Content-Digest ${served} does not match ` +
          `the content (${digest})`,
        { hint: "the registry or a proxy altered the manifest", exitCode: 3 },
      );
    }
    return { bytes, digest, contentType: response.headers.get("content-type") ?? undefined };
  }

  /**
   * Fetch a small blob (an image config) whole, capped and digest-checked.
   *
   * @param repository The repository.
   * @param desc Its descriptor.
   * @param cap Largest size accepted.
   * @returns The bytes.
   */
  async smallBlob(
    repository: string,
    desc: { digest: string; size: number },
    cap = CONFIG_CAP,
  ): Promise<Uint8Array> {
    const digest = parseDigest(desc.digest);
    if (desc.size > cap) {
      throw new SingletError(
        `Cannot fetch blob "${desc.digest}": ${desc.size} bytes exceeds the limit`,
        {
          exitCode: 6,
        },
      );
    }
    const url = new URL(`${repository}/blobs/${digest.value}`, this.base);
    const response = await this.send(url, `repository:${repository}:pull`);
    if (!response.ok) throw await this.#statusError(response, url, "blob");
    const bytes = await this.#http.readCapped(
      response,
      Math.min(cap, desc.size),
      `blob ${digest.value}`,
    );
    const hex = hasherFor(digest).update(bytes).digest("hex");
    if (bytes.length !== desc.size || hex !== digest.hex) {
      throw new SingletError(
        `Cannot pull blob "${desc.digest}": ${
          bytes.length !== desc.size ? "size" : "digest"
        } mismatch`,
        { hint: "the registry sent corrupted data; nothing was cached", exitCode: 3 },
      );
    }
    return bytes;
  }

  /**
   * A resumable byte source for a blob, for {@linkcode BlobCache.fetch}: from offset 0 a plain
   * GET, later a `Range` request whose `206` answer must carry exactly the expected
   * `Content-Range`.
   *
   * @param repository The repository.
   * @param desc The blob.
   * @returns The source.
   */
  blobSource(repository: string, desc: { digest: string; size: number }): BlobSource {
    const digest = parseDigest(desc.digest);
    const url = new URL(`${repository}/blobs/${digest.value}`, this.base);
    return (offset, signal) => this.#blobStream(url, repository, desc, offset, signal);
  }

  async *#blobStream(
    url: URL,
    repository: string,
    desc: { digest: string; size: number },
    offset: number,
    signal: AbortSignal,
  ): AsyncIterable<Uint8Array> {
    const headers: Record<string, string> = {};
    if (offset > 0) headers.range = `bytes=${offset}-`;
    const response = await this.send(
      url,
      `repository:${repository}:pull`,
      headers,
      "GET",
      signal,
    );
    if (offset > 0) {
      const range = response.headers.get("content-range");
      const match = range ? /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(range.trim()) : null;
      if (
        response.status !== 206 || !match || Number(match[1]) !== offset ||
        Number(match[2]) !== desc.size - 1 ||
        (match[3] !== "*" && Number(match[3]) !== desc.size)
      ) {
        await response.body?.cancel().catch(() => {});
        throw new SingletError(
          `Cannot resume blob "${desc.digest}" at byte ${offset}: the registry answered ` +
            `HTTP ${response.status}${range ? ` with Content-Range "${range}"` : ""}`,
          { hint: "try the pull again; it restarts the download", exitCode: EXIT_REMOTE },
        );
      }
    } else if (!response.ok) {
      if (response.status >= 500 || response.status === 429) {
        await response.body?.cancel().catch(() => {});
        throw new TransientError(`HTTP ${response.status}`);
      }
      throw await this.#statusError(response, url, "blob");
    }
    const encoding = response.headers.get("content-encoding");
    if (encoding && encoding !== "identity") {
      await response.body?.cancel().catch(() => {});
      throw new SingletError(
        `Cannot pull blob "${desc.digest}": the server applied Content-Encoding "${encoding}" ` +
          "despite Accept-Encoding: identity",
        {
          hint: "a proxy between you and the registry re-encodes data; bypass it",
          exitCode: EXIT_REMOTE,
        },
      );
    }
    yield* this.#http.body(response);
  }
}
