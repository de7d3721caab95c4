/**
 * The container's root filesystem, assembled inside the session's mount namespace:
 * the image (SquashFS through `squashfuse_ll` at the partition's byte offset, or a
 * sandbox directory as is), a tmpfs for the writable layer and the runtime's state, and
 * an overlay joining them (kernel overlay, `fuse-overlayfs` when the kernel refuses).
 *
 * The overlay is left out when nothing needs it: no writable layer was asked for and the
 * image already has every mount point the runtime needs (see {@linkcode mountPoints}); the
 * root is then the `squashfuse_ll` mount itself. An overlay over a FUSE file system costs
 * a FUSE `GETXATTR` round trip for every lower inode it looks up (overlayfs asks for its
 * `trusted.overlay.*` attributes; squashfuse answers ENODATA, which FUSE does not cache),
 * some 15-20% of the time it takes to read a whole tree.
 *
 * Nothing here unmounts: every mount lives in the session's private mount namespace and
 * disappears with it (see `session.ts`).
 *
 * @module
 */
import { CommandFailedError } from "./_command.ts";
import type { OciMount } from "./bundle.ts";
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
  /**
   * What the runtime needs in the image (from {@linkcode mountPoints}), when no writable
   * layer is wanted: if the mounted image has all of it, it is the root itself, with no
   * overlay. Left out (or undefined): always the overlay.
   */
  mountPoints?: MountPoint[] | undefined;
}

/**
 * A path the OCI runtime needs in the image: a mount's destination or the working
 * directory, which the runtime creates when missing (impossible on the read-only image).
 */
export interface MountPoint {
  /** Path relative to the image's root (no leading slash, no `.` or `..`). */
  path: string;
  /** A directory, or a regular file (the destination of a bind of a file). */
  directory: boolean;
  /**
   * Another mount point lies above it (mounted after it): it must exist as it is, not
   * in a tmpfs put on an empty directory above it.
   */
  exact: boolean;
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

/**
 * The paths the runtime needs in the image, in the order it needs them: the destination of
 * each mount that no earlier mount provides (`/dev/pts` lies in the `/dev` tmpfs, anything
 * under a bound host directory in that directory), then the working directory, which the
 * runtime creates after the mounts. A bind's kind is its source's (the runtime makes a
 * file for a bound file).
 *
 * @param mounts The bundle's mounts, in order.
 * @param cwd The working directory, or undefined when it is not known yet (it then counts
 *   as missing).
 * @param kinds Bind sources whose kind is known without looking (true: a directory):
 *   files not written yet, and what Deno may not stat (`/sys`, `/dev/shm`).
 * @returns The mount points; undefined when the runtime writes into the root whatever it
 *   holds (no `/dev` mount: it makes device nodes there) or a path cannot be checked
 *   (`..`, a bind source that cannot be examined, a mount on `/`).
 */
export function mountPoints(
  mounts: readonly OciMount[],
  cwd: string | undefined,
  kinds: ReadonlyMap<string, boolean> = new Map(),
): MountPoint[] | undefined {
  if (cwd === undefined || !mounts.some((m) => m.destination === "/dev")) return undefined;
  // the root needs nothing as a working directory; as a mount destination it is not checked
  const all = [...mounts.map((m) => m.destination), ...cwd === "/" ? [] : [cwd]].map(components);
  if (all.some((parts) => !parts?.length)) return undefined;
  const points: { parts: string[]; directory: boolean }[] = [];
  for (const [index, parts] of (all as string[][]).entries()) {
    if (all.slice(0, index).some((other) => isPrefix(other!, parts))) continue;
    const mount = mounts[index];
    let directory = true;
    if (mount?.type === "bind") {
      try {
        directory = kinds.get(mount.source) ?? Deno.statSync(mount.source).isDirectory;
      } catch {
        return undefined;
      }
    }
    points.push({ parts, directory });
  }
  return points.map(({ parts, directory }) => ({
    path: parts.join("/"),
    directory,
    exact: all.some((other) => other!.length < parts.length && isPrefix(other!, parts)),
  }));
}

/** The components of an absolute path; undefined with `..` or when relative. */
function components(path: string): string[] | undefined {
  if (!path.startsWith("/")) return undefined;
  const parts = path.split("/").filter((part) => part !== "" && part !== ".");
  return parts.includes("..") ? undefined : parts;
}

function isPrefix(prefix: string[], parts: string[]): boolean {
  return prefix.length <= parts.length && prefix.every((part, i) => parts[i] === part);
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
    // allow_other: without an overlay the container process reads the image mount itself,
    // and it is not (always) the namespace root that mounted it. default_permissions: the
    // kernel then checks the files' modes (squashfuse_ll checks none; an overlay did).
    script.step(`squashfs ${image.path}`, [
      squashfuseArgv(
        Deno.realPathSync(image.path),
        image.offset,
        lower,
        "ro,allow_other,default_permissions",
      ),
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
  if (image.kind !== "sandbox" && !overlayDirs.length && options.mountPoints) {
    // the image itself when it has every mount point (the script checks, and goes on to
    // the overlay below when it does not)
    script.imageRoot(lower, rootfs, options.mountPoints);
  }
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
          (result.stdout.includes("overlay=none")
            ? "none"
            : result.stdout.includes("overlay=kernel")
            ? "kernel"
            : "fuse-overlayfs"),
      };
    },
  };
}

function squashfuseArgv(
  absolute: string,
  offset: number,
  target: string,
  extra?: string,
): string[] {
  const options = ["nosuid,nodev", ...extra ? [extra] : []].join(",");
  return [
    "squashfuse_ll",
    "-o",
    offset ? `offset=${offset},${options}` : options,
    absolute,
    target,
  ];
}

/**
 * Shell commands that check the image mounted at `lower` has every mount point: they
 * leave `singlet_ok` non-empty when it does, and the positional parameters set to the
 * empty directories (relative to `lower`) that need a tmpfs for the missing ones.
 *
 * @param lower The image mount.
 * @param points What the runtime needs ({@linkcode mountPoints}).
 * @returns The commands (POSIX sh; they define `singlet_need` and `singlet_has`).
 */
export function mountPointCheck(lower: string, points: MountPoint[]): string {
  const lines = [
    NEED_FUNCTIONS,
    `singlet_l=${quote([lower])} singlet_ok=1`,
    // the tmpfs directories accumulate in the positional parameters
    "set --",
  ];
  for (const point of points) {
    lines.push(
      `[ -z "$singlet_ok" ] || singlet_need ${
        quote([point.directory ? "d" : "f", point.path, point.exact ? "1" : "0"])
      } || singlet_ok=`,
      '[ -z "$singlet_ok" ] || [ -z "$singlet_a" ] || singlet_has "$singlet_a" "$@" || ' +
        'set -- "$@" "$singlet_a"',
    );
  }
  return lines.join("\n");
}

/**
 * Shell functions for {@linkcode mountPointCheck}. `singlet_need KIND PATH EXACT`
 * succeeds when PATH (relative to `$singlet_l`, the image mount) can serve as a mount
 * point: no component is a symbolic link (the runtime would resolve it inside the root,
 * maybe to something missing), and either it exists with the right kind (`d` directory,
 * `f` regular file) or, EXACT being 0, its nearest existing ancestor other than the root
 * is an empty directory, which `singlet_a` then names (a tmpfs there lets the runtime
 * create the mount point and hides nothing). `singlet_has X ARGS...`: X is among ARGS.
 */
const NEED_FUNCTIONS = `singlet_need() {
  singlet_a= singlet_p=$singlet_l singlet_r=$2
  while [ -n "$singlet_r" ]; do
    singlet_c=\${singlet_r%%/*}
    case $singlet_r in */*) singlet_r=\${singlet_r#*/} ;; *) singlet_r= ;; esac
    singlet_d=$singlet_p singlet_p=$singlet_p/$singlet_c
    [ ! -L "$singlet_p" ] || return 1
    if [ ! -e "$singlet_p" ]; then
      [ "$3" = 0 ] && [ "$singlet_d" != "$singlet_l" ] && [ -d "$singlet_d" ] || return 1
      for singlet_e in "$singlet_d"/* "$singlet_d"/.[!.]* "$singlet_d"/..?*; do
        if [ -e "$singlet_e" ] || [ -L "$singlet_e" ]; then return 1; fi
      done
      singlet_a=\${singlet_d#"$singlet_l"/}
      return 0
    fi
  done
  if [ "$1" = d ]; then [ -d "$singlet_p" ]; else [ -f "$singlet_p" ]; fi
}
singlet_has() {
  singlet_x=$1
  shift
  for singlet_y; do [ "$singlet_y" != "$singlet_x" ] || return 0; done
  return 1
}`;

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
   * The image mount as the root (a bind onto `rootfs`) when it has every mount point, with
   * a small tmpfs on each empty directory that must hold missing ones; the script goes on
   * (to the overlay) when it does not. Prints `overlay=none` when taken.
   */
  imageRoot(lower: string, rootfs: string, points: MountPoint[]): void {
    this.#lines.push(mountPointCheck(lower, points));
    this.#lines.push('if [ -n "$singlet_ok" ]; then');
    const bind = ["mount", "--bind", lower, rootfs];
    this.#mark("rootfs", bind);
    this.#lines.push(`${quote(bind)} || return $?`, "for singlet_a; do");
    const tmpfs = ["mount", "-t", "tmpfs", "-o", "nosuid,nodev,mode=0755,size=1m", "singlet"];
    this.#mark("rootfs", [...tmpfs, `${rootfs}/<empty directory>`]);
    this.#lines.push(
      `${quote(tmpfs)} ${quote([rootfs])}/"$singlet_a" || return $?`,
      "done",
      "echo overlay=none",
      "return 0",
      "fi",
    );
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
    if (step.name === "rootfs") {
      return new SingletError(
        `Cannot mount the image as the container's root: ${describe(failed)}`,
        {
          hint: "--writable-tmpfs puts an overlay over the image instead",
          cause: failed,
        },
      );
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
