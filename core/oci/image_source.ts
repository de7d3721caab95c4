/**
 * Where an image's documents and blobs come from, as one interface for every transport
 * (registry, OCI layout directory, OCI and Docker archives), in the spirit of containers/image's
 * `ImageSource`: the fetch pipeline in `fetch_image.ts` only sees this.
 *
 * @module
 */
import type { BlobSource } from "./blob_cache.ts";
import type { FetchedManifest } from "./registry.ts";
import type { Descriptor } from "./manifest.ts";

/** An image source. */
export interface ImageSource {
  /** A name for messages, e.g. `docker://127.0.0.1:5000/busybox:latest`. */
  readonly name: string;
  /** The document the reference names (an index or a manifest). */
  topManifest(signal?: AbortSignal): Promise<FetchedManifest>;
  /** A manifest or nested index by descriptor, digest-checked. */
  manifest(desc: Descriptor, signal?: AbortSignal): Promise<FetchedManifest>;
  /** A small blob (config) read whole, size- and digest-checked. */
  smallBlob(desc: Descriptor): Promise<Uint8Array>;
  /** A resumable byte source for a large blob (the cache verifies it). */
  blobSource(desc: Descriptor): BlobSource;
  /** Whether errors of the blob source may be resumed. */
  resumable(error: unknown): boolean;
  /** Release resources (temp files, HTTP clients). */
  close(): Promise<void>;
}
