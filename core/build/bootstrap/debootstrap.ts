/**
 * `Bootstrap: debootstrap` (Debian, Ubuntu): the host's `debootstrap` with SingularityCE's
 * arguments (`--variant=minbase --exclude=openssl,udev,debconf-i18n,e2fsprogs
 * --include=apt,<Include> --arch=<arch> <OSVersion> <rootfs> <MirrorURL>`).
 *
 * It runs through `SectionRunner.runHostAsRoot`, in private mount and PID namespaces: as
 * root itself, or for an unprivileged caller as root of the fakeroot user namespace (the
 * caller mapped to 0, subordinate IDs to 1..N), so that dpkg can chown to system users, chroot
 * and mount `/proc`. A user namespace may not create device nodes: the runner binds the
 * host's `/dev/null`, `zero`, `full`, `random`, `urandom` and `tty` over placeholder files in
 * the target while debootstrap runs (its `mknod_if_needed` skips what exists; dpkg's scripts
 * get real devices) and removes the placeholders afterwards; `container=lxc` makes it skip
 * its mknod probe of the target (as in LXC). The image's `/dev` then has no device nodes
 * (a root build's has them); the runtime provides `/dev` at run time either way.
 *
 * @module
 */
import { SingletError } from "../../errors.ts";
import type { Stage } from "../deffile.ts";
import { includeList, requireHostTool, type RunsAsRoot, runToolAsRoot } from "./host_tool.ts";

/** Debian's name of the host architecture (debootstrap's `--arch`). */
export function debianArch(): string {
  return ({ x86_64: "amd64", aarch64: "arm64" } as Record<string, string>)[Deno.build.arch] ??
    Deno.build.arch;
}

/**
 * The `debootstrap` argument vector SingularityCE uses for a stage.
 *
 * @param header The stage header (`OSVersion`, `MirrorURL`, `Include`).
 * @param rootfs The target directory.
 * @returns The argv, program first.
 * @throws {SingletError} When `OSVersion` or `MirrorURL` is missing.
 */
export function debootstrapArgv(header: ReadonlyMap<string, string>, rootfs: string): string[] {
  const version = header.get("osversion")?.trim();
  const mirror = header.get("mirrorurl")?.trim();
  if (!version || !mirror) {
    throw new SingletError(
      `Cannot bootstrap "debootstrap": the header needs ${
        !version && !mirror ? "OSVersion and MirrorURL" : !version ? "OSVersion" : "MirrorURL"
      }`,
      { hint: "add e.g. 'OSVersion: bookworm' and 'MirrorURL: http://deb.debian.org/debian'" },
    );
  }
  return [
    "debootstrap",
    "--variant=minbase",
    "--exclude=openssl,udev,debconf-i18n,e2fsprogs",
    `--include=${["apt", ...includeList(header)].join(",")}`,
    `--arch=${debianArch()}`,
    version,
    rootfs,
    mirror,
  ];
}

/**
 * Fill `rootfs` with a Debian-family system.
 *
 * @param stage The stage.
 * @param rootfs The empty target directory.
 * @param runner The build's runner.
 * @returns The image architecture (Go naming, which matches Debian's for amd64/arm64).
 * @throws {SingletError} When debootstrap is missing or fails.
 */
export async function debootstrap(
  stage: Stage,
  rootfs: string,
  runner: RunsAsRoot | undefined,
): Promise<{ arch: string }> {
  const argv = debootstrapArgv(stage.header, rootfs);
  requireHostTool("debootstrap", ["debootstrap"], "the debootstrap package");
  await runToolAsRoot(
    runner,
    "debootstrap",
    argv,
    Deno.uid() === 0 ? {} : { container: "lxc" },
    [0],
    rootfs,
  );
  return { arch: debianArch() };
}
