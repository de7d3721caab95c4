/**
 * `Bootstrap: zypper` (openSUSE, SLE), as SingularityCE does it: the host's `zypper` adds
 * `MirrorURL:` as repository `repo` (and `UpdateURL:` as `update`, `OtherURL0..N` as
 * `repo-N`), refreshes them importing their keys, then installs `aaa_base <Include>` into
 * the new tree (`%{OSVERSION}` in the URLs replaced by `OSVersion:`; exit status 107, "some
 * RPM scripts failed", is a warning). Run as root, or as root of the fakeroot user
 * namespace for an unprivileged caller (see `debootstrap.ts`).
 *
 * Not done: SLE registration (`Product`, `User`, `Regcode`, `ProductPGP`, `RegisterURL`,
 * `Modules` through SUSEConnect): refused with an error; device nodes in the tree.
 *
 * @module
 */
import { SingletError } from "../../errors.ts";
import type { Stage } from "../deffile.ts";
import { includeList, requireHostTool, type RunsAsRoot, runToolAsRoot } from "./host_tool.ts";

/** The zypp configuration written into the tree (SingularityCE's path and text). */
export const ZYPP_CONF = "/etc/zypp/zypp.conf";

/**
 * The zypper command lines SingularityCE runs for a stage, in order.
 *
 * @param header The stage header.
 * @param rootfs The target tree.
 * @returns Each argv, program first; the last one installs.
 * @throws {SingletError} When `MirrorURL` is missing, `%{OSVERSION}` is used without
 *   `OSVersion`, or SLE registration keys are present.
 */
export function zypperCommands(header: ReadonlyMap<string, string>, rootfs: string): string[][] {
  const sle = ["product", "user", "regcode", "productpgp", "registerurl", "modules"]
    .filter((k) => header.has(k));
  if (sle.length) {
    throw new SingletError(
      `Cannot bootstrap "zypper": SLE registration (${sle.join(", ")}) is not supported by ` +
        "singlet",
      {
        hint: "bootstrap openSUSE from a MirrorURL, or SLE from an OCI image ('Bootstrap: docker')",
      },
    );
  }
  const osversion = header.get("osversion")?.trim() ?? "";
  const placeholder = /%\{OSVERSION\}/gi;
  const uses = (s: string) => /%\{OSVERSION\}/i.test(s);
  const url = (key: string) => {
    const value = header.get(key)?.trim() ?? "";
    if (!uses(value)) return value;
    if (!osversion) {
      throw new SingletError(
        `Cannot bootstrap "zypper": %{OSVERSION} is used in ${key} but the header has no ` +
          `"OSVersion:"`,
        { hint: "add e.g. 'OSVersion: 15.6'" },
      );
    }
    return value.replace(placeholder, osversion);
  };
  const mirror = url("mirrorurl");
  if (!mirror) {
    throw new SingletError(`Cannot bootstrap "zypper": the header has no "MirrorURL:"`, {
      hint: "add e.g. 'MirrorURL: http://download.opensuse.org/distribution/leap/" +
        "%{OSVERSION}/repo/oss/' and 'OSVersion: 15.6'",
    });
  }
  const z = ["zypper", "--root", rootfs];
  const commands = [[...z, "ar", mirror, "repo"], [...z, "--gpg-auto-import-keys", "refresh"]];
  const update = url("updateurl");
  if (update) {
    commands.push([...z, "ar", "-f", update, "update"]);
    commands.push([...z, "--gpg-auto-import-keys", "refresh", "-r", "update"]);
  }
  // OtherURL0 (or OtherURL1) onwards, stopping at the first gap, as SingularityCE reads them
  const others: string[] = [];
  for (let n = header.has("otherurl0") ? 0 : 1; header.has(`otherurl${n}`); n++) {
    others.push(url(`otherurl${n}`));
  }
  others.forEach((u, i) => {
    commands.push([...z, "ar", "-f", u, `repo-${i}`]);
    commands.push([...z, "--gpg-auto-import-keys", "refresh", "-r", `repo-${i}`]);
  });
  commands.push([
    "zypper",
    "--non-interactive",
    "-c",
    `${rootfs}${ZYPP_CONF}`,
    "--root",
    rootfs,
    `--releasever=${osversion}`,
    "-n",
    "install",
    "--auto-agree-with-licenses",
    "--download-in-advance",
    "aaa_base",
    ...includeList(
      new Map([["include", `${header.get("include") ?? ""} ${Deno.env.get("INCLUDE") ?? ""}`]]),
    ),
  ]);
  return commands;
}

/**
 * Fill `rootfs` with an openSUSE system through the host's zypper.
 *
 * @param stage The stage.
 * @param rootfs The empty target directory.
 * @param runner The build's runner.
 * @param onWarning Where "some RPM scripts failed" goes.
 * @throws {SingletError} When zypper is missing, the header is incomplete, or a step fails.
 */
export async function bootstrapZypper(
  stage: Stage,
  rootfs: string,
  runner: RunsAsRoot | undefined,
  onWarning?: (message: string) => void,
): Promise<void> {
  requireHostTool("zypper", ["zypper"], "zypper (Debian/Ubuntu: apt-get install zypper)");
  const commands = zypperCommands(stage.header, rootfs);
  await Deno.mkdir(`${rootfs}/etc/zypp`, { mode: 0o775, recursive: true });
  await Deno.writeTextFile(
    `${rootfs}${ZYPP_CONF}`,
    "[main]\ncachedir=/val/cache/zypp-bootstrap\n\n",
    { mode: 0o664 },
  );
  await Deno.mkdir(`${rootfs}/dev`, { mode: 0o775, recursive: true });
  for (const [i, argv] of commands.entries()) {
    const last = i === commands.length - 1;
    const code = await runToolAsRoot(runner, "zypper", argv, {}, last ? [0, 107] : [0], rootfs);
    if (code === 107) onWarning?.("Bootstrap succeeded, some RPM scripts failed");
  }
}
