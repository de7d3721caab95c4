/**
 * The {@linkcode ImageSource} for `docker://` references: a {@linkcode RegistryClient} with
 * credentials found by {@linkcode findCredentials}.
 *
 * @module
 */
import { Authenticator, type CredentialOptions, findCredentials } from "./auth.ts";
import type { BlobSource } from "./blob_cache.ts";
import { parseDigest } from "./digest.ts";
import { HttpClient, type HttpOptions, TransientError } from "./http.ts";
import type { ImageSource } from "./image_source.ts";
import type { Descriptor } from "./manifest.ts";
import { type DockerReference, formatDockerReference } from "./reference.ts";
import { type FetchedManifest, RegistryClient } from "./registry.ts";

/** Options of {@linkcode openRegistrySource}. */
export interface RegistrySourceOptions {
  /** HTTP settings (CA file, `--no-https`, timeouts). */
  http?: HttpOptions;
  /** Where credentials come from. */
  credentials?: CredentialOptions;
}

/**
 * Open a registry image.
 *
 * @param ref The reference.
 * @param options HTTP and credential settings.
 * @returns The source.
 */
export async function openRegistrySource(
  ref: DockerReference,
  options: RegistrySourceOptions = {},
): Promise<ImageSource> {
  const http = new HttpClient(options.http);
  const credentials = await findCredentials(ref.registry, options.credentials);
  const client = new RegistryClient(
    http,
    ref.registry,
    new Authenticator(http, ref.registry, credentials),
  );
  return new RegistrySource(ref, client, http);
}

class RegistrySource implements ImageSource {
  readonly name: string;
  readonly #ref: DockerReference;
  readonly #client: RegistryClient;
  readonly #http: HttpClient;

  constructor(ref: DockerReference, client: RegistryClient, http: HttpClient) {
    this.name = `docker://${formatDockerReference(ref)}`;
    this.#ref = ref;
    this.#client = client;
    this.#http = http;
  }

  topManifest(signal?: AbortSignal): Promise<FetchedManifest> {
    return this.#client.manifest(this.#ref.repository, this.#ref.digest ?? this.#ref.tag!, signal);
  }

  manifest(desc: Descriptor, signal?: AbortSignal): Promise<FetchedManifest> {
    return this.#client.manifest(this.#ref.repository, parseDigest(desc.digest).value, signal);
  }

  smallBlob(desc: Descriptor): Promise<Uint8Array> {
    return this.#client.smallBlob(this.#ref.repository, desc);
  }

  blobSource(desc: Descriptor): BlobSource {
    return this.#client.blobSource(this.#ref.repository, desc);
  }

  resumable(error: unknown): boolean {
    return error instanceof TransientError;
  }

  close(): Promise<void> {
    this.#http.close();
    return Promise.resolve();
  }
}
