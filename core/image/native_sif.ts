/**
 * Write a native SIF the way SingularityCE lays one out: the definition (Def.FILE), the
 * `inspect-metadata.json` and (for OCI-origin images) `oci-config.json` JSON.Generic
 * objects, then the primary SquashFS system partition, all in group 1, behind the
 * `run-singularity` launch script. Used by `pull`, `build` and the metadata-only rebuild.
 *
 * @module
 */
import {
  createSif,
  DataType,
  FsType,
  type ObjectInput,
  type ObjectWriter,
  PartType,
  RUN_SINGULARITY_LAUNCH_SCRIPT,
} from "../sif/mod.ts";

/** The parts of a native SIF. */
export interface NativeSifParts {
  /** The stored definition file text. */
  deffile: string;
  /** The `inspect-metadata.json` document. */
  inspectMetadata: string;
  /** The image's OCI config, for images that came from OCI sources. */
  ociConfigJson?: string;
  /**
   * The primary partition: the path of a finished SquashFS image (copied in), or a writer
   * that streams the image straight into the SIF at the partition's offset.
   */
  squashfs: string | ObjectWriter;
  /** Go-style architecture name; defaults to the host's. */
  arch?: string;
}

/**
 * The host's architecture as Go names it (what SIF headers and OCI configs use).
 *
 * @returns "amd64", "arm64", or Deno's name for other machines.
 */
export function hostGoArch(): string {
  return ({ x86_64: "amd64", aarch64: "arm64" } as Record<string, string>)[Deno.build.arch] ??
    Deno.build.arch;
}

/**
 * Create `out` as a native SIF from its parts (the SquashFS streamed in, or written in place
 * by its writer; atomically: see `createSif`).
 *
 * @param out The SIF to create.
 * @param parts Definition, metadata, optional OCI config and the SquashFS image.
 */
export async function writeNativeSif(out: string, parts: NativeSifParts): Promise<void> {
  using file = typeof parts.squashfs === "string"
    ? await Deno.open(parts.squashfs, { read: true })
    : undefined;
  const data = file ? file.readable : parts.squashfs as ObjectWriter;
  const objects: ObjectInput[] = [
    { dataType: DataType.Deffile, data: parts.deffile },
    { dataType: DataType.GenericJSON, data: parts.inspectMetadata, name: "inspect-metadata.json" },
    ...(parts.ociConfigJson === undefined ? [] : [{
      dataType: DataType.GenericJSON,
      data: parts.ociConfigJson,
      name: "oci-config.json",
    }]),
    {
      dataType: DataType.Partition,
      data,
      partition: {
        fsType: FsType.Squash,
        partType: PartType.PrimSys,
        arch: parts.arch || hostGoArch(),
      },
    },
  ];
  await createSif(out, objects, { launchScript: RUN_SINGULARITY_LAUNCH_SCRIPT });
}
