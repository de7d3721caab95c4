/**
 * singlet: pull, build, sign and run Singularity-compatible containers without root.
 *
 * This module is the library API: the formats (SIF, SquashFS, OCI images, definition
 * files) and the runtime, as used by the `singlet` command line in `cli/`.
 *
 * @example Usage
 * ```ts
 * import { VERSION } from "./mod.ts";
 * console.log(VERSION);
 * ```
 *
 * @module
 */
export { VERSION } from "./core/version.ts";
export { EXIT_FAILURE, EXIT_USAGE, SingletError, UsageError } from "./core/errors.ts";
export type { SingletErrorOptions } from "./core/errors.ts";
export * from "./core/build/deffile.ts";
export * from "./core/build/deffile_text.ts";
export * from "./core/build/deffile_json.ts";
export * from "./core/build/build_args.ts";
export * from "./core/build/section_scripts.ts";
export { buildImage, type BuildOptions, type BuildResult } from "./core/build/build.ts";
export type { RunnerBind, SectionRunner } from "./core/build/section_runner.ts";
export * from "./core/image/singularity_d.ts";
export * from "./core/sif/mod.ts";
export * from "./core/image/inspect.ts";
export * from "./core/image/image_files.ts";
export * as oci from "./core/oci/mod.ts";
export { DEFAULT_GZIP_LEVEL, SquashfsWriter } from "./core/squashfs/writer.ts";
export type {
  SquashfsCompressor,
  SquashfsOutput,
  SquashfsStats,
  SquashfsWriterOptions,
} from "./core/squashfs/writer.ts";
export { DirectorySource } from "./core/squashfs/directory_source.ts";
export type { DirectorySourceOptions, XattrProvider } from "./core/squashfs/directory_source.ts";
export * from "./core/squashfs/xattr_dump.ts";
export * from "./runtime/xattr_reader.ts";
export { mergeLayers } from "./core/squashfs/layers.ts";
export type { LayerSource, MergeLayersOptions, MergeStats } from "./core/squashfs/layers.ts";
export { DirectorySink } from "./core/squashfs/directory_sink.ts";
export type { DirectorySinkOptions, DirectorySinkReport } from "./core/squashfs/directory_sink.ts";
export { readTar } from "./core/tar/reader.ts";
export type { ReadTarOptions, SparseSegment, TarEntry, TarEntryKind } from "./core/tar/reader.ts";
export { decompress, detectCompression } from "./core/codec/decompress.ts";
export type { Compression, DecompressOptions } from "./core/codec/decompress.ts";
export * from "./core/squashfs/reader.ts";
export * from "./core/squashfs/extract.ts";
export { launch } from "./runtime/launch.ts";
export type { BindSpec, LaunchLogger, LaunchOptions } from "./runtime/launch.ts";
export type { Action } from "./runtime/action_script.ts";
export type { ResourceLimits } from "./runtime/resources.ts";
export { hostGoArch, writeNativeSif } from "./core/image/native_sif.ts";
export type { NativeSifParts } from "./core/image/native_sif.ts";
