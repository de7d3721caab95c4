/**
 * OCI image (in the blob cache) to native SIF: layers streamed through the layer merger into
 * the SquashFS writer, `/.singularity.d` generated from the image config, and the SIF objects
 * SingularityCE writes. The pieces (layer merging, SquashFS writer, SIF writer and the
 * `/.singularity.d` generator) come from their own modules; until they are all in place this
 * reports that conversion is unavailable instead of producing anything.
 *
 * @module
 */
import { SingletError } from "../errors.ts";
import type { BlobCache } from "./blob_cache.ts";
import type { CachedImage } from "./fetch_image.ts";

/** Options of {@linkcode convertToSif}. */
export interface ConvertOptions {
  /** Progress of the conversion, in bytes of layer data consumed. */
  onProgress?: (bytes: number, total: number) => void;
}

/**
 * Convert a cached OCI image into a SIF at `out` (written in place; the caller makes it
 * atomic).
 *
 * @param image The image, all blobs in the cache.
 * @param cache The blob cache holding its layers.
 * @param out The SIF path to write.
 * @param options Progress callback.
 */
export function convertToSif(
  image: CachedImage,
  cache: BlobCache,
  out: string,
  options: ConvertOptions = {},
): Promise<void> {
  void cache;
  void out;
  void options;
  return Promise.reject(
    new SingletError(
      `Cannot convert "${image.source}" to SIF: conversion to SIF is not available yet`,
      {
        hint: "the image is fetched and verified in the cache; converting it needs the SquashFS " +
          "and SIF writers, which are not merged in this build",
        exitCode: 255,
      },
    ),
  );
}
