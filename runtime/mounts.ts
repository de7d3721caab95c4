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
import { prepareOverlayDir } from "./overlay_dir.ts";
import type { Session, SetupResult } from "./session.ts";

/** Options of {@linkcode prepareRootfs}. */
export interface RootfsOptions {
  /** Write straight into a sandbox image (`--writable`): no overlay. */
  writable?: boolean;
  /** Size of the session tmpfs (writable layer, scratch), in MiB. */
  tmpfsSizeMiB?: number;
  /** Extra lower layers above the image (`--overlay dir:ro`, SquashFS overlays). */
  overlays?: OverlayLayer[];
  /** Force fuse-overlayfs (tests of the fallback; SINGLET_OVERLAY_DRIVER=fuse-overlayfs). */
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
 * Where {@linkcode prepareRootfs} puts the root filesystem and the session tmpfs: fixed
 * paths under the session directory, known before anything is mounted (so the bundle can
 * be written while the mounts are made).
 *
 * @param sessionDir The session directory.
 * @returns The rootfs and tmpfs paths.
 */
export function rootfsPaths(sessionDir: string): { rootfs: string; tmp: string } {
  return { rootfs: `${sessionDir}/rootfs`, tmp: `${sessionDir}/tmp` };
}

/** The mount steps for a session, and how to read their outcome. */
export interface RootfsSetup {
  /** Shell commands (a function body for the session holder's set-up). */
  script: string;
  /**
   * The layout, from the script's outcome.
   *
   * @throws {SingletError} When a step failed, with that step's own messages.
   */
  finish(result: SetupResult): RootfsLayout;
}

/**
 * The steps that mount the image and the writable layer for a session.
 *
 * Every mount step runs in the session holder's own set-up script, inside the new
 * namespaces before the holder settles down (see `Session.open`): no `nsenter` and no
 * shell of their own (the steps once took four `nsenter`s, then one). Each step announces
 * itself on stderr before it runs, so a failure is reported with that step's own messages.
 *
 * @param session The session whose namespaces hold the mounts (its directory and plan).
 * @param image The image to mount.
 * @param options Writable, sizes, overlays.
 * @returns The script and the reader of its outcome.
 */
export function prepareRootfs(
  session: Pick<Session, "dir" | "plan">,
  image: ImageSource,
  options: RootfsOptions = {},
): RootfsSetup {
  const dir = session.dir;
  const { rootfs, tmp } = rootfsPaths(dir);
  // Synchronous file system calls up to the script's start: each await would wait for the
  // main thread, which launch keeps busy loading the image reader meanwhile.
  for (const name of ["image", "tmp", "rootfs"]) Deno.mkdirSync(`${dir}/${name}`);
  const size = options.tmpfsSizeMiB ?? 64;
  const lower = image.kind === "sandbox" ? Deno.realPathSync(image.path) : `${dir}/image`;
  const script = new MountScript();
  script.step("tmpfs", [
    ["mount", "-t", "tmpfs", "-o", `nosuid,nodev,mode=0755,size=${size}m`, "singlet", tmp],
    ["mkdir", "-m", "0755", `${tmp}/upper`, `${tmp}/work`],
  ]);
  if (image.kind !== "sandbox") {
    script.step(`squashfs ${image.path}`, [
      squashfuseArgv(Deno.realPathSync(image.path), image.offset, lower),
    ]);
  }
  const overlayDirs: string[] = [];
  for (const [index, layer] of (options.overlays ?? []).entries()) {
    if (layer.kind === "squashfs") {
      const target = `${dir}/overlay${index}`;
      Deno.mkdirSync(target);
      script.step(`squashfs ${layer.path}`, [
        squashfuseArgv(Deno.realPathSync(layer.path), 0, target),
      ]);
      overlayDirs.push(target);
    } else {
      overlayDirs.push(Deno.realPathSync(layer.path));
    }
  }

  let overlay: RootfsLayout["overlay"];
  if (options.writable && image.kind === "sandbox" && !overlayDirs.length) {
    script.step("bind", [["mount", "--bind", "-o", "nosuid,nodev", lower, rootfs]]);
    overlay = "none";
  } else {
    const writableLayer = (options.overlays ?? []).findIndex((layer) => layer.writable);
    // overlayfs lists lower layers top first
    const lowers = [...overlayDirs.filter((_, i) => i !== writableLayer).reverse(), lower];
    let upper = `${tmp}/upper`;
    let work = `${tmp}/work`;
    if (writableLayer >= 0) {
      // as SingularityCE does for a writable overlay directory: upper/ and work/ inside it
      ({ upper, work } = prepareOverlayDir(
        overlayDirs[writableLayer]!,
        session.plan.mode !== "root",
      ));
    }
    const data = `lowerdir=${lowers.map(escapeOverlayPath).join(":")},upperdir=${
      escapeOverlayPath(upper)
    },workdir=${escapeOverlayPath(work)}`;
    // the kernel overlay first; fuse-overlayfs when the kernel refuses (its own error is
    // not worth showing then). allow_other: the container process is not the namespace
    // root that mounted it. noacl: with FUSE ACL support on, the kernel asks for
    // system.posix_acl_access before letting anyone but a file's owner in, fuse-overlayfs
    // passes the question to the lower layer, and squashfuse answers EOPNOTSUPP, which the
    // kernel turns into EOPNOTSUPP for the stat/open itself (SquashFS holds no ACLs).
    script.overlay(
      options.forceFuseOverlay
        ? undefined
        : ["mount", "-t", "overlay", "-o", `nosuid,nodev,${data}`, "overlay", rootfs],
      ["fuse-overlayfs", "-o", `${data},allow_other,noacl`, rootfs],
      // releases before ACL support (and its noacl option) refuse the option
      ["fuse-overlayfs", "-o", `${data},allow_other`, rootfs],
    );
  }

  return {
    script: script.text(),
    finish: (result) => {
      if (result.code !== 0) throw script.explain(result.code, result.stderr);
      return {
        rootfs,
        tmp,
        overlay: overlay ??
          (result.stdout.includes("overlay=kernel") ? "kernel" : "fuse-overlayfs"),
      };
    },
  };
}

function squashfuseArgv(absolute: string, offset: number, target: string): string[] {
  return [
    "squashfuse_ll",
    "-o",
    offset ? `offset=${offset},nosuid,nodev` : "nosuid,nodev",
    absolute,
    target,
  ];
}

const STEP_MARK = "@singlet-mount-step ";

/**
 * The mount steps as the body of a POSIX shell function (stdin already closed), and how its
 * failures are reported.
 */
class MountScript {
  #lines: string[] = [];
  #steps: { name: string; argv: string[] }[] = [];

  /** Commands run in order; the script stops at the first failure. */
  step(name: string, commands: string[][]): void {
    for (const argv of commands) {
      this.#mark(name, argv);
      this.#lines.push(`${quote(argv)} || return $?`);
    }
  }

  /**
   * The overlay: the kernel's if given and it works, else fuse-overlayfs (`fuse`, then
   * `fuseRetry` if given, whose failure is the one reported).
   */
  overlay(kernel: string[] | undefined, fuse: string[], fuseRetry?: string[]): void {
    if (kernel) {
      this.#lines.push(`if ${quote(kernel)} 2>/dev/null; then echo overlay=kernel; return 0; fi`);
    }
    if (fuseRetry) {
      this.#lines.push(
        `if ${quote(fuse)} 2>/dev/null; then echo overlay=fuse-overlayfs; return 0; fi`,
      );
    }
    const last = fuseRetry ?? fuse;
    this.#mark("overlay", last);
    this.#lines.push(`${quote(last)} || return $?`, "echo overlay=fuse-overlayfs");
  }

  #mark(name: string, argv: string[]): void {
    const index = this.#steps.push({ name, argv }) - 1;
    this.#lines.push(`echo '${STEP_MARK}${index}' >&2`);
  }

  text(): string {
    return this.#lines.join("\n");
  }

  /** The error for a failed run: the failing step, with only its own stderr. */
  explain(code: number, stderr: string): Error {
    const marks = [...stderr.matchAll(new RegExp(`${STEP_MARK}(\\d+)\\n?`, "g"))];
    const last = marks.at(-1);
    const step = last ? this.#steps[Number(last[1])] : undefined;
    if (!last || !step) return new CommandFailedError(["sh", "-c", "<mount steps>"], code, stderr);
    const own = stderr.slice(last.index + last[0].length);
    const failed = new CommandFailedError(step.argv, code, own);
    if (step.name.startsWith("squashfs ")) {
      const path = step.name.slice("squashfs ".length);
      return new SingletError(`Cannot mount image "${path}": ${describe(failed)}`, {
        hint: "squashfuse_ll (package squashfuse) and a usable /dev/fuse are needed",
        cause: failed,
      });
    }
    if (step.name === "overlay") {
      return new SingletError(`Cannot create the writable overlay: ${describe(failed)}`, {
        hint: "the kernel refused an overlay and fuse-overlayfs failed; is /dev/fuse usable?",
        cause: failed,
      });
    }
    return failed;
  }
}

/** Single-quote each word for sh. */
function quote(argv: string[]): string {
  return argv.map((word) => `'${word.replaceAll("'", `'\\''`)}'`).join(" ");
}

/** overlayfs splits its options on ',' and lowerdir on ':', with backslash escapes. */
function escapeOverlayPath(path: string): string {
  return path.replace(/[\\:,]/g, (c) => `\\${c}`);
}

function describe(error: unknown): string {
  if (error instanceof CommandFailedError) return error.stderrTail || `exit ${error.code}`;
  return error instanceof Error ? error.message : String(error);
}
