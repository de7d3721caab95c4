/**
 * `Bootstrap: yum` and `Bootstrap: dnf` (RHEL family), as SingularityCE does them: the
 * host's `dnf` (preferred) or `yum` installs `/etc/redhat-release coreutils <Include>` into
 * the new tree with a generated `/etc/bootstrap-yum.conf` (repository `MirrorURL:`, optional
 * `UpdateURL:`, `%{OSVERSION}` in either replaced by `OSVersion:`, `setopt:` passed as
 * `--setopt`; `gpgcheck` on when the `GPG` environment variable names an https key URL,
 * which dnf imports). Run as root, or as root of the fakeroot user namespace for an
 * unprivileged caller (see `debootstrap.ts`).
 *
 * Not done: device nodes in the tree (SingularityCE mknods `/dev/null` and friends, which a
 * user namespace cannot); the host `rpm` database-path check.
 *
 * @module
 */
import { SingletError } from "../../errors.ts";
import type { Stage } from "../deffile.ts";
import { requireHostTool, type RunsAsRoot, runToolAsRoot } from "./host_tool.ts";

/** The configuration file written into the tree (SingularityCE's name). */
export const YUM_CONF = "/etc/bootstrap-yum.conf";

/** What a yum/dnf stage asks for, `%{OSVERSION}` substituted. */
export interface YumOptions {
  /** `OSVersion:` (passed as `--releasever`). */
  osversion: string;
  /** `MirrorURL:`. */
  mirrorurl: string;
  /** `UpdateURL:`, or "". */
  updateurl: string;
  /** Packages: `/etc/redhat-release coreutils` then `Include:` and `$INCLUDE`. */
  include: string[];
  /** `setopt:`, or "". */
  setopt: string;
  /** The `GPG` environment variable (an https URL), or "". */
  gpg: string;
}

/**
 * Read a yum/dnf stage's header as SingularityCE does.
 *
 * @param agent "yum" or "dnf" (for messages).
 * @param header The stage header.
 * @param env The caller's environment (`INCLUDE`, `GPG`).
 * @returns The options.
 * @throws {SingletError} When `MirrorURL` is missing, or `%{OSVERSION}` is used without
 *   `OSVersion`, or `GPG` is not https.
 */
export function yumOptions(
  agent: string,
  header: ReadonlyMap<string, string>,
  env: { get(name: string): string | undefined } = Deno.env,
): YumOptions {
  let mirrorurl = header.get("mirrorurl")?.trim();
  if (!mirrorurl) {
    throw new SingletError(`Cannot bootstrap "${agent}": the header has no "MirrorURL:"`, {
      hint: "add e.g. 'MirrorURL: http://dl.rockylinux.org/pub/rocky/%{OSVERSION}/BaseOS/" +
        "x86_64/os/' and 'OSVersion: 9'",
    });
  }
  let updateurl = header.get("updateurl")?.trim() ?? "";
  const osversion = header.get("osversion")?.trim() ?? "";
  const placeholder = /%\{OSVERSION\}/gi;
  const uses = (s: string) => /%\{OSVERSION\}/i.test(s);
  if (uses(mirrorurl) || uses(updateurl)) {
    if (!osversion) {
      throw new SingletError(
        `Cannot bootstrap "${agent}": %{OSVERSION} is used in the mirror but the header has ` +
          `no "OSVersion:"`,
        { hint: "add e.g. 'OSVersion: 9'" },
      );
    }
    mirrorurl = mirrorurl.replace(placeholder, osversion);
    updateurl = updateurl.replace(placeholder, osversion);
  }
  const gpg = env.get("GPG") ?? "";
  if (gpg && !gpg.startsWith("https://")) {
    throw new SingletError(`Cannot bootstrap "${agent}": the GPG key must be fetched with https`, {
      hint: `set GPG to an https:// URL (it is "${gpg}")`,
    });
  }
  const include = [
    "/etc/redhat-release",
    "coreutils",
    ...`${header.get("include") ?? ""} ${env.get("INCLUDE") ?? ""}`.split(/\s+/).filter((p) => p),
  ];
  return {
    osversion,
    mirrorurl,
    updateurl,
    include,
    setopt: header.get("setopt")?.trim() ?? "",
    gpg,
  };
}

/**
 * The `bootstrap-yum.conf` SingularityCE generates.
 *
 * @param o The stage's options.
 * @returns The file's text.
 */
export function yumConfig(o: YumOptions): string {
  const check = o.gpg ? "gpgcheck=1\n" + `gpgkey=${o.gpg}\n` : "gpgcheck=0\n";
  let text = "[main]\ncachedir=/var/cache/yum-bootstrap\nkeepcache=0\ndebuglevel=2\n" +
    "logfile=/var/log/yum.log\nsyslog_device=/dev/null\nexactarch=1\nobsoletes=1\n" +
    (o.gpg ? "gpgcheck=1\n" : "gpgcheck=0\n") +
    "plugins=1\nreposdir=0\ndeltarpm=0\n\n" +
    "[base]\nname=Linux $releasever - $basearch\n" + `baseurl=${o.mirrorurl}\n` +
    "enabled=1\n" + check;
  if (o.updateurl) {
    text += "[updates]\nname=Linux $releasever - $basearch updates\n" +
      `baseurl=${o.updateurl}\nenabled=1\n` + check + "\n";
  }
  return text;
}

/**
 * The install command line SingularityCE runs.
 *
 * @param tool "dnf" or "yum".
 * @param o The stage's options.
 * @param rootfs The target tree.
 * @returns The argv.
 */
export function yumArgv(tool: string, o: YumOptions, rootfs: string): string[] {
  return [
    tool,
    "--noplugins",
    "-c",
    `${rootfs}${YUM_CONF}`,
    "--installroot",
    rootfs,
    `--releasever=${o.osversion}`,
    "-y",
    ...(o.setopt ? ["--setopt", o.setopt] : []),
    "install",
    ...o.include,
  ];
}

/**
 * Fill `rootfs` with a RHEL-family system through the host's dnf or yum.
 *
 * @param agent "yum" or "dnf".
 * @param stage The stage.
 * @param rootfs The empty target directory.
 * @param runner The build's runner.
 * @throws {SingletError} When neither tool is installed, the header is incomplete, or the
 *   install fails.
 */
export async function bootstrapYum(
  agent: string,
  stage: Stage,
  rootfs: string,
  runner: RunsAsRoot | undefined,
): Promise<void> {
  const { name } = requireHostTool(
    agent,
    ["dnf", "yum"],
    "dnf (Debian/Ubuntu: apt-get install dnf)",
  );
  const o = yumOptions(agent, stage.header);
  await Deno.mkdir(`${rootfs}/etc`, { mode: 0o775, recursive: true });
  await Deno.writeTextFile(`${rootfs}${YUM_CONF}`, yumConfig(o), { mode: 0o664 });
  await Deno.mkdir(`${rootfs}/dev`, { mode: 0o775, recursive: true });
  await runToolAsRoot(runner, agent, yumArgv(name, o, rootfs), {}, [0], rootfs);
  await Deno.remove(`${rootfs}/var/cache/yum-bootstrap`, { recursive: true }).catch(() => {});
}
