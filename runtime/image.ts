/**
 * What kind of image the user named and where its root filesystem lives: a sandbox
 * directory, a bare SquashFS file, or a SIF whose primary system partition is a SquashFS
 * at some byte offset.
 *
 * A SIF's root filesystem is its primary system partition (`core/sif`), as SingularityCE's
 * `GetRootFsPartition` picks it.
 *
 * @module
 */
import { SingletError } from "../core/errors.ts";
import { FsType } from "../core/sif/_layout.ts";
import { openSif } from "../core/sif/load.ts";

/** An image ready to be mounted. */
export type ImageSource =
  | { kind: "sandbox"; path: string }
  | { kind: "squashfs"; path: string; offset: number; size: number }
  | { kind: "sif"; path: string; offset: number; size: number; arch: string };

const SIF_MAGIC = "SIF_MAGIC\0";
const SQUASHFS_MAGIC = 0x73717368; // "hsqs" little-endian

/**
 * Open an image path and find its root filesystem.
 *
 * @param path The image: directory, SquashFS file or SIF.
 * @returns Where the root filesystem is.
 * @throws {SingletError} When the path is missing or not an image singlet can run.
 */
export async function openImage(path: string): Promise<ImageSource> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    throw new SingletError(`Cannot open image "${path}": ${reason(error)}`, {
      hint: "check the path, or pull/build the image first",
      cause: error,
    });
  }
  if (info.isDirectory) return { kind: "sandbox", path };
  const file = await Deno.open(path, { read: true });
  let sif = false;
  try {
    const header = new Uint8Array(128);
    const read = await readFully(file, header, 0);
    const view = new DataView(header.buffer);
    if (read >= 4 && view.getUint32(0, true) === SQUASHFS_MAGIC) {
      return { kind: "squashfs", path, offset: 0, size: info.size };
    }
    if (read === 128 && new TextDecoder().decode(header.subarray(32, 42)) === SIF_MAGIC) {
      sif = true;
    }
  } finally {
    file.close();
  }
  if (sif) return await findSifRoot(path);
  throw new SingletError(
    `Cannot open image "${path}": not a SIF, a SquashFS image or a sandbox directory`,
    { hint: "build or pull an image with 'singlet build' / 'singlet pull'" },
  );
}

async function findSifRoot(path: string): Promise<ImageSource> {
  const sif = await openSif(path);
  try {
    const root = sif.primaryPartition();
    if (root.partition?.fsType !== FsType.Squash) {
      throw new SingletError(
        `Cannot run image "${path}": its root partition is not SquashFS`,
        { hint: "only SquashFS root partitions are supported (no ext3 or encrypted ones)" },
      );
    }
    return {
      kind: "sif",
      path,
      offset: Number(root.offset),
      size: Number(root.size),
      arch: String(root.partition.arch ?? ""),
    };
  } finally {
    sif.close();
  }
}

async function readFully(file: Deno.FsFile, buffer: Uint8Array, at: number): Promise<number> {
  await file.seek(at, Deno.SeekMode.Start);
  let done = 0;
  while (done < buffer.length) {
    const n = await file.read(buffer.subarray(done));
    if (n === null) break;
    done += n;
  }
  return done;
}

function reason(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "no such file or directory";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  return error instanceof Error ? error.message : String(error);
}
