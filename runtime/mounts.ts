/**
 * The container's root filesystem, assembled inside the session's mount namespace:
 * the image (SquashFS through `squashfuse_ll` at the partition's byte offset, or a
 * sandbox directory as is), a tmpfs for the writable layer and the runtime's state, and
 * an overlay joining them (kernel overlay, `fuse-overlayfs` when the kernel refuses).
 *
 * Nothing here unmounts: every mount lives in the session's private mount namespace and
 * disappears with it (see `session.ts`).
 *
 * @module
 */
import { CommandFailedError } from "./_command.ts";
import { SingletError } from "../core/errors.ts";
import type { ImageSource } from "./image.ts";
import type { Session } from "./session.ts";

/** Options of {@linkcode prepareRootfs}. */
export interface RootfsOptions {
  /** Write straight into a sandbox image (`--writable`): no overlay. */
  writable?: boolean;
  /** Size of the session tmpfs (writable layer, scratch), in MiB. */
  tmpfsSizeMiB?: number;
  /** Extra lower layers above the image (`--overlay dir:ro`, SquashFS overlays). */
  overlays?: OverlayLayer[];
  /** Force fuse-overlayfs (tests of the fallback; SINGLET_OVERLAY=fuse). */
  forceFuseOverlay?: boolean;
}

/** One `--overlay` item. */
export interface OverlayLayer {
  /** Directory or SquashFS image. */
  path: string;
  /** Whether writes go to it (only one may be writable). */
  writable: boolean;
  /** "dir" or "squashfs". */
  kind: "dir" | "squashfs";
}

/** Where things ended up, in the session's mount namespace. */
export interface RootfsLayout {
  /** The container's root filesystem. */
  rootfs: string;
  /** A tmpfs private to the session (runtime state, scratch). */
  tmp: string;
  /** The overlay driver used, or "none". */
  overlay: "kernel" | "fuse-overlayfs" | "none";
}

/**
 * Mount the image and the writable layer for a session.
 *
 * @param session The session whose namespaces hold the mounts.
 * @param image The image to mount.
 * @param options Writable, sizes, overlays.
 * @returns Paths of the root filesystem and the session tmpfs.
 */
export async function prepareRootfs(
  session: Session,
  image: ImageSource,
  options: RootfsOptions = {},
): Promise<RootfsLayout> {
  const dir = session.dir;
  const tmp = `${dir}/tmp`;
  const rootfs = `${dir}/rootfs`;
  await Promise.all(["image", "tmp", "rootfs"].map((name) => Deno.mkdir(`${dir}/${name}`)));
  const size = options.tmpfsSizeMiB ?? 64;
  const lower = image.kind === "sandbox" ? await Deno.realPath(image.path) : `${dir}/image`;
  const steps: Promise<unknown>[] = [
    session.run([
      "mount",
      "-t",
      "tmpfs",
      "-o",
      `nosuid,nodev,mode=0755,size=${size}m`,
      "singlet",
      tmp,
    ]).then(() => session.run(["mkdir", "-m", "0755", `${tmp}/upper`, `${tmp}/work`])),
  ];
  if (image.kind !== "sandbox") steps.push(mountSquashfs(session, image.path, image.offset, lower));
  const overlayDirs: string[] = [];
  for (const [index, layer] of (options.overlays ?? []).entries()) {
    if (layer.kind === "squashfs") {
      const target = `${dir}/overlay${index}`;
      await Deno.mkdir(target);
      steps.push(mountSquashfs(session, layer.path, 0, target));
      overlayDirs.push(target);
    } else {
      overlayDirs.push(await Deno.realPath(layer.path));
    }
  }
  await Promise.all(steps);

  if (options.writable && image.kind === "sandbox" && !overlayDirs.length) {
    await session.run(["mount", "--bind", "-o", "nosuid,nodev", lower, rootfs]);
    return { rootfs, tmp, overlay: "none" };
  }
  const writableLayer = (options.overlays ?? []).findIndex((layer) => layer.writable);
  // overlayfs lists lower layers top first
  const lowers = [...overlayDirs.filter((_, i) => i !== writableLayer).reverse(), lower];
  let upper = `${tmp}/upper`;
  let work = `${tmp}/work`;
  if (writableLayer >= 0) {
    // as SingularityCE does for a writable overlay directory: upper/ and work/ inside it
    const base = overlayDirs[writableLayer]!;
    upper = `${base}/upper`;
    work = `${base}/work`;
    await Deno.mkdir(upper, { recursive: true });
    await Deno.mkdir(work, { recursive: true });
  }
  const data = `lowerdir=${lowers.map(escapeOverlayPath).join(":")},upperdir=${
    escapeOverlayPath(upper)
  },workdir=${escapeOverlayPath(work)}`;
  if (!options.forceFuseOverlay) {
    try {
      await session.run([
        "mount",
        "-t",
        "overlay",
        "-o",
        `nosuid,nodev,${data}`,
        "overlay",
        rootfs,
      ]);
      return { rootfs, tmp, overlay: "kernel" };
    } catch (error) {
      if (!(error instanceof CommandFailedError)) throw error;
    }
  }
  try {
    await session.run(["fuse-overlayfs", "-o", data, rootfs]);
  } catch (error) {
    throw new SingletError(`Cannot create the writable overlay: ${describe(error)}`, {
      hint: "the kernel refused an overlay and fuse-overlayfs failed; is /dev/fuse usable?",
      cause: error,
    });
  }
  return { rootfs, tmp, overlay: "fuse-overlayfs" };
}

async function mountSquashfs(session: Session, path: string, offset: number, target: string) {
  const absolute = await Deno.realPath(path);
  try {
    await session.run([
      "squashfuse_ll",
      "-o",
      offset ? `offset=${offset},nosuid,nodev` : "nosuid,nodev",
      absolute,
      target,
    ]);
  } catch (error) {
    throw new SingletError(`Cannot mount image "${path}": ${describe(error)}`, {
      hint: "squashfuse_ll (package squashfuse) and a usable /dev/fuse are needed",
      cause: error,
    });
  }
}

/** overlayfs splits its options on ',' and lowerdir on ':', with backslash escapes. */
function escapeOverlayPath(path: string): string {
  return path.replace(/[\\:,]/g, (c) => `\\${c}`);
}

function describe(error: unknown): string {
  if (error instanceof CommandFailedError) return error.stderrTail || `exit ${error.code}`;
  return error instanceof Error ? error.message : String(error);
}
