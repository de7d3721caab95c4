/**
 * OCI images from anywhere: references, the registry client (auth, retries, resumable and
 * verified downloads), local layouts and archives, the content-addressed blob cache, and
 * `pull` as a library call.
 *
 * @module
 */
export {
  defaultOutputName,
  DOCKER_HUB,
  type DockerReference,
  formatDockerReference,
  type ImageReference,
  parseDockerName,
  parseImageReference,
} from "./reference.ts";
export { type Digest, parseDigest } from "./digest.ts";
export {
  type Descriptor,
  formatPlatform,
  type ImageIndex,
  type ImageManifest,
  MediaType,
  parseManifest,
  type Platform,
  selectPlatform,
  wantedPlatform,
} from "./manifest.ts";
export { type Challenge, parseWwwAuthenticate } from "./www_authenticate.ts";
export {
  type CredentialOptions,
  type Credentials,
  findCredentials,
  listCredentials,
  loginStorePath,
  removeCredentials,
  storeCredentials,
} from "./auth.ts";
export { HttpClient, type HttpOptions } from "./http.ts";
export { RegistryClient } from "./registry.ts";
export { BlobCache } from "./blob_cache.ts";
export {
  type CacheEntry,
  type CacheType,
  cleanCache,
  defaultCacheDir,
  listCache,
} from "./cache_dir.ts";
export { type ImageConfig, parseImageConfig } from "./image_config.ts";
export { type CachedImage, fetchImage } from "./fetch_image.ts";
export { layerTarStream } from "./layer_stream.ts";
export { pullImage, type PullOptions, type PullResult } from "./pull.ts";
export { convertToSif } from "./convert.ts";
