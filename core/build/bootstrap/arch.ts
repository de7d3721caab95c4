/**
 * `Bootstrap: arch` (Arch Linux), as SingularityCE does it: the host's `pacstrap -C <conf>
 * -c -G -M <rootfs> haveged base`, then pacman's keyring set up in the new tree
 * (`pacman-key --init`, `--populate archlinux`, haveged removed again), amd64 only. Run as
 * root, or as root of the fakeroot user namespace for an unprivileged caller (see
 * `debootstrap.ts`); the keyring step runs in the build container.
 *
 * Differences: no `-d` (pacstrap 25 and later install into any directory and refuse the
 * option; SingularityCE still passes it). SingularityCE downloads `pacman.conf` from a git URL that no longer exists;
 * singlet writes the standard one with `[core]` and `[extra]` served by `MirrorURL:` (a
 * pacman `Server` line with `$repo`/`$arch`), default the Arch geo mirror.
 *
 * @module
 */
import { SingletError } from "../../errors.ts";
import type { Stage } from "../deffile.ts";
import type { SectionRunner } from "../section_runner.ts";
import { requireHostTool, runToolAsRoot } from "./host_tool.ts";

/** The mirror used when the header names none. */
export const ARCH_DEFAULT_MIRROR = "https://geo.mirror.pkgbuild.com/$repo/os/$arch";

/**
 * The pacman.conf pacstrap runs with.
 *
 * @param mirror A pacman `Server` URL.
 * @returns The file's text.
 */
export function pacmanConf(mirror: string): string {
  return "[options]\nHoldPkg = pacman glibc\nArchitecture = auto\n" +
    "SigLevel = Required DatabaseOptional\nLocalFileSigLevel = Optional\n\n" +
    `[core]\nServer = ${mirror}\n\n[extra]\nServer = ${mirror}\n`;
}

/**
 * The pacstrap command line.
 *
 * @param conf The pacman.conf path.
 * @param rootfs The target tree.
 * @returns The argv.
 */
export function pacstrapArgv(conf: string, rootfs: string): string[] {
  return ["pacstrap", "-C", conf, "-c", "-G", "-M", rootfs, "haveged", "base"];
}

/**
 * Fill `rootfs` with an Arch Linux system through the host's pacstrap.
 *
 * @param stage The stage (`MirrorURL:` optional).
 * @param rootfs The empty target directory.
 * @param runner The build's runner.
 * @throws {SingletError} When pacstrap is missing, the host is not amd64, or a step fails.
 */
export async function bootstrapArch(
  stage: Stage,
  rootfs: string,
  runner: SectionRunner | undefined,
): Promise<void> {
  requireHostTool(
    "arch",
    ["pacstrap"],
    "pacstrap (Debian/Ubuntu: apt-get install arch-install-scripts)",
  );
  // pacstrap runs the host's pacman
  requireHostTool(
    "arch",
    ["pacman"],
    "pacman (Debian/Ubuntu: apt-get install pacman-package-manager)",
  );
  if (Deno.build.arch !== "x86_64") {
    throw new SingletError(`Cannot bootstrap "arch": ${Deno.build.arch} is not supported`, {
      hint: "Arch Linux bootstraps need an x86_64 host",
    });
  }
  const conf = `${rootfs}/.singlet-pacman.conf`;
  await Deno.writeTextFile(
    conf,
    pacmanConf(stage.header.get("mirrorurl")?.trim() || ARCH_DEFAULT_MIRROR),
  );
  try {
    await runToolAsRoot(runner, "arch", pacstrapArgv(conf, rootfs), {}, [0], rootfs);
  } finally {
    await Deno.remove(conf).catch(() => {});
  }
  const code = await runner!.runInContainer(
    rootfs,
    [
      "/bin/sh",
      "-c",
      "haveged -w 1024; pacman-key --init && pacman-key --populate archlinux && " +
      "pacman -Rs --noconfirm haveged",
    ],
    {},
    [],
  );
  if (code !== 0) {
    throw new SingletError(
      `Cannot bootstrap "arch": setting up pacman's keyring exited with status ${code}`,
      { hint: "see the output above" },
    );
  }
}
