/**
 * Host feature probes behind `singlet check`: each one tries the real thing (a user
 * namespace, an overlay mount inside one, a container run by each OCI runtime) rather
 * than guessing from versions or config files, and says what to do when it fails.
 *
 * @module
 */
import { findExecutable, runCommand } from "./_command.ts";

/** One line of the report. */
export interface HostFinding {
  /** Short name of the feature, e.g. "user namespaces". */
  feature: string;
  /** "ok": works; "fail": present but refuses; "missing": absent; "note": information. */
  status: "ok" | "fail" | "missing" | "note";
  /** What was found. */
  detail: string;
  /** What to do about a failure. */
  hint?: string;
}

/** The whole report, and the runtime singlet will use. */
export interface HostReport {
  /** The user the probes ran as. */
  user: { name: string; uid: number; gid: number };
  /** One finding per feature, in display order. */
  findings: HostFinding[];
  /** The OCI runtime singlet picks ("crun" first, "runc" as fallback), or undefined. */
  runtime: "crun" | "runc" | undefined;
  /** Whether `exec` can work here at all. */
  usable: boolean;
}

const decoder = new TextDecoder();

/**
 * The login name for a uid, from /etc/passwd, else `id -un`.
 *
 * @param uid The numeric user ID.
 * @returns The name, or the uid as text when unknown.
 */
export async function userName(uid: number): Promise<string> {
  try {
    for (const line of (await Deno.readTextFile("/etc/passwd")).split("\n")) {
      const fields = line.split(":");
      if (fields[2] === String(uid) && fields[0]) return fields[0];
    }
  } catch {
    // fall through to id(1), which also knows directory-service users
  }
  const output = await runCommand(["id", "-un"]).catch(() => undefined);
  const name = output && output.code === 0 ? decoder.decode(output.stdout).trim() : "";
  return name || String(uid);
}

/**
 * Subordinate ID ranges of a user from /etc/subuid or /etc/subgid.
 *
 * @param file "/etc/subuid" or "/etc/subgid".
 * @param name The user's login name.
 * @param id The user's numeric ID (entries may use either).
 * @returns The ranges as start and count.
 */
export async function subordinateRanges(
  file: string,
  name: string,
  id: number,
): Promise<{ start: number; count: number }[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch {
    return [];
  }
  const ranges: { start: number; count: number }[] = [];
  for (const line of text.split("\n")) {
    const [owner, start, count] = line.trim().split(":");
    if ((owner === name || owner === String(id)) && start && count) {
      ranges.push({ start: Number(start), count: Number(count) });
    }
  }
  return ranges;
}

async function firstLine(argv: string[]): Promise<string> {
  const output = await runCommand(argv).catch(() => undefined);
  if (!output) return "";
  const text = decoder.decode(output.stdout).trim() || decoder.decode(output.stderr).trim();
  return text.split("\n")[0] ?? "";
}

function lastLine(bytes: Uint8Array): string {
  const lines = decoder.decode(bytes).trim().split("\n").filter((line) => line.trim());
  return (lines.at(-1) ?? "").replace(/^.*level=error msg="?/, "").replace(/"$/, "");
}

async function probeUserNamespaces(): Promise<HostFinding> {
  const feature = "user namespaces";
  if (!findExecutable("unshare")) {
    return { feature, status: "missing", detail: "unshare not found", hint: "install util-linux" };
  }
  const output = await runCommand(["unshare", "--user", "--map-root-user", "true"]);
  if (output.code === 0) return { feature, status: "ok", detail: "unshare --user works" };
  return {
    feature,
    status: "fail",
    detail: `unshare --user refused: ${lastLine(output.stderr)}`,
    hint: "ask an admin to enable them: sysctl user.max_user_namespaces=15000 " +
      "(and kernel.unprivileged_userns_clone=1 on Debian kernels)",
  };
}

async function probeSubordinateIds(name: string, uid: number): Promise<HostFinding> {
  const feature = "subuid/subgid";
  if (uid === 0) return { feature, status: "ok", detail: "not needed as root" };
  const uids = await subordinateRanges("/etc/subuid", name, uid);
  const gids = await subordinateRanges("/etc/subgid", name, uid);
  const tools = ["newuidmap", "newgidmap"].filter((tool) => !findExecutable(tool));
  if (tools.length) {
    return {
      feature,
      status: "missing",
      detail: `${tools.join(" and ")} not found`,
      hint: "install the uidmap package (newuidmap/newgidmap)",
    };
  }
  if (uids.length && gids.length) {
    const total = (ranges: { count: number }[]) => ranges.reduce((sum, r) => sum + r.count, 0);
    return {
      feature,
      status: "ok",
      detail: `${total(uids)} subordinate uids, ${total(gids)} gids for ${name}`,
    };
  }
  return {
    feature,
    status: "fail",
    detail: `no ${uids.length ? "" : "/etc/subuid "}${
      gids.length ? "" : "/etc/subgid "
    }entry for ${name}`
      .replace("  ", " "),
    hint: `containers run with a single-ID mapping; --fakeroot needs an admin to run: ` +
      `usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${name}`,
  };
}

/** A bundle whose rootfs borrows the host's /usr read-only, so any runtime can run `true`. */
async function writeProbeBundle(dir: string, uid: number, gid: number): Promise<void> {
  const rootfs = `${dir}/rootfs`;
  await Deno.mkdir(`${rootfs}/usr`, { recursive: true });
  const mounts: Record<string, unknown>[] = [
    { destination: "/usr", type: "bind", source: "/usr", options: ["rbind", "ro", "nosuid"] },
  ];
  // Debian 12 is usr-merged; older hosts get their /bin, /lib and /lib64 bound too.
  for (const top of ["bin", "lib", "lib64", "lib32"]) {
    let info: Deno.FileInfo;
    try {
      info = await Deno.lstat(`/${top}`);
    } catch {
      continue;
    }
    if (info.isSymlink) {
      await Deno.symlink(await Deno.readLink(`/${top}`), `${rootfs}/${top}`);
    } else if (info.isDirectory) {
      await Deno.mkdir(`${rootfs}/${top}`);
      mounts.push({
        destination: `/${top}`,
        type: "bind",
        source: `/${top}`,
        options: ["rbind", "ro", "nosuid"],
      });
    }
  }
  // runc needs /proc to close inherited descriptors; a fresh proc needs its own pid namespace.
  mounts.push({ destination: "/proc", type: "proc", source: "proc" });
  await Deno.mkdir(`${rootfs}/proc`);
  const namespaces: { type: string }[] = [
    { type: "pid" },
    { type: "mount" },
    { type: "ipc" },
    { type: "uts" },
  ];
  const linux: Record<string, unknown> = { namespaces };
  if (uid !== 0) {
    namespaces.push({ type: "user" });
    // runc 1.1 insists on a mapping for container root, as `runc spec --rootless` writes.
    linux.uidMappings = [{ containerID: 0, hostID: uid, size: 1 }];
    linux.gidMappings = [{ containerID: 0, hostID: gid, size: 1 }];
  }
  const spec = {
    ociVersion: "1.0.2",
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: ["/usr/bin/true"],
      env: ["PATH=/usr/bin:/bin"],
      cwd: "/",
      noNewPrivileges: true,
    },
    root: { path: "rootfs", readonly: true },
    hostname: "singlet-check",
    mounts,
    linux,
  };
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(spec, null, 2));
}

async function probeRuntime(
  name: "crun" | "runc",
  uid: number,
  gid: number,
): Promise<HostFinding & { works: boolean }> {
  const path = findExecutable(name);
  if (!path) {
    return {
      feature: name,
      status: "missing",
      detail: "not found",
      hint: `install the ${name} package`,
      works: false,
    };
  }
  const version = (await firstLine([name, "--version"])).replace(/^.*version\s*/, "");
  const feature = `${name} ${version}`.trim();
  const dir = await Deno.makeTempDir({ prefix: "singlet-check-" });
  try {
    await writeProbeBundle(dir, uid, gid);
    const id = `singlet-check-${Deno.pid}-${name}`;
    const output = await runCommand(
      [name, "--root", `${dir}/state`, "run", "--bundle", dir, id],
      { timeoutMs: 20_000 },
    );
    if (output.code === 0) return { feature, status: "ok", detail: "runs containers", works: true };
    return {
      feature,
      status: "fail",
      detail: `refuses this host: ${lastLine(output.stderr) || `exit ${output.code}`}`,
      works: false,
    };
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/**
 * Whether FUSE mounts work for this user, by mounting and unmounting a fuse-overlayfs in a
 * temp dir. (Deno grants access to /dev only with --allow-all, which singlet never asks for,
 * so /dev/fuse cannot be inspected directly.)
 */
async function probeFuseMount(): Promise<{ works: boolean; detail: string }> {
  if (!findExecutable("fuse-overlayfs")) {
    return { works: false, detail: "fuse-overlayfs not found" };
  }
  const dir = await Deno.makeTempDir({ prefix: "singlet-check-" });
  try {
    for (const sub of ["lower", "upper", "work", "merged"]) await Deno.mkdir(`${dir}/${sub}`);
    const mounted = await runCommand([
      "fuse-overlayfs",
      "-o",
      `lowerdir=${dir}/lower,upperdir=${dir}/upper,workdir=${dir}/work`,
      `${dir}/merged`,
    ], { timeoutMs: 10_000 });
    if (mounted.code !== 0) return { works: false, detail: lastLine(mounted.stderr) };
    const unmount = findExecutable("fusermount3") ? "fusermount3" : "fusermount";
    await runCommand([unmount, "-u", `${dir}/merged`]);
    return { works: true, detail: "" };
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

function probeSquashfuse(uid: number, fuse: { works: boolean; detail: string }): HostFinding {
  const feature = "squashfuse";
  const low = findExecutable("squashfuse_ll");
  const high = findExecutable("squashfuse");
  if (!low && !high) {
    return {
      feature,
      status: uid === 0 ? "note" : "missing",
      detail: uid === 0 ? "not found; root mounts images with the kernel" : "not found",
      hint: "install the squashfuse package",
    };
  }
  const which = low ? "squashfuse_ll" : "squashfuse (squashfuse_ll is faster)";
  if (!fuse.works) {
    return {
      feature,
      status: uid === 0 ? "note" : "fail",
      detail: `${which} found, but FUSE mounts fail: ${fuse.detail}`,
      hint: "ask an admin to make /dev/fuse usable (mode 0666) or load the fuse module",
    };
  }
  return { feature, status: "ok", detail: `${which}, FUSE mounts work` };
}

function probeFuseOverlayfs(fuse: { works: boolean; detail: string }): HostFinding {
  const feature = "fuse-overlayfs";
  if (!findExecutable("fuse-overlayfs")) {
    return {
      feature,
      status: "missing",
      detail: "not found (only needed where the kernel refuses overlay in a user namespace)",
      hint: "install the fuse-overlayfs package",
    };
  }
  return fuse.works ? { feature, status: "ok", detail: "mounts" } : {
    feature,
    status: "fail",
    detail: `refused: ${fuse.detail}`,
    hint: "ask an admin to make /dev/fuse usable (mode 0666) or load the fuse module",
  };
}

async function probeKernelOverlay(): Promise<HostFinding> {
  const feature = "kernel overlay in a user namespace";
  const dir = await Deno.makeTempDir({ prefix: "singlet-check-" });
  try {
    for (const sub of ["lower", "upper", "work", "merged"]) await Deno.mkdir(`${dir}/${sub}`);
    const output = await runCommand([
      "unshare",
      "--user",
      "--map-root-user",
      "--mount",
      "mount",
      "-t",
      "overlay",
      "overlay",
      "-o",
      `lowerdir=${dir}/lower,upperdir=${dir}/upper,workdir=${dir}/work`,
      `${dir}/merged`,
    ]);
    if (output.code === 0) return { feature, status: "ok", detail: "mounts" };
    return {
      feature,
      status: "fail",
      detail: `refused: ${lastLine(output.stderr)}`,
      hint: "singlet uses fuse-overlayfs instead (kernels before 5.11 refuse this)",
    };
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

async function probeCgroups(): Promise<HostFinding> {
  const feature = "cgroups";
  const exists = (path: string) => Deno.stat(path).then(() => true, () => false);
  if (await exists("/sys/fs/cgroup/cgroup.controllers")) {
    return { feature, status: "note", detail: "v2 (unified)" };
  }
  if (await exists("/sys/fs/cgroup/unified")) {
    return {
      feature,
      status: "note",
      detail: "hybrid (v1 controllers, v2 mounted at /sys/fs/cgroup/unified)",
    };
  }
  return { feature, status: "note", detail: "v1" };
}

/**
 * Probe this host for everything `exec` needs and choose the OCI runtime.
 *
 * @returns The findings, the chosen runtime and whether containers can run here.
 */
export async function checkHost(): Promise<HostReport> {
  const uid = Deno.uid() ?? 0;
  const gid = Deno.gid() ?? 0;
  const name = await userName(uid);
  const [fuse, userns, subids, crun, runc, overlay, cgroups] = await Promise.all([
    probeFuseMount(),
    probeUserNamespaces(),
    probeSubordinateIds(name, uid),
    probeRuntime("crun", uid, gid),
    probeRuntime("runc", uid, gid),
    probeKernelOverlay(),
    probeCgroups(),
  ]);
  const runtime = crun.works ? "crun" : runc.works ? "runc" : undefined;
  if (!crun.works && crun.status === "fail" && runc.works) {
    crun.hint = "singlet falls back to runc";
  }
  const squashfuse = probeSquashfuse(uid, fuse);
  const findings: HostFinding[] = [userns, subids, crun, runc, squashfuse, probeFuseOverlayfs(fuse)]
    .map(({ feature, status, detail, hint }) => ({
      feature,
      status,
      detail,
      ...(hint ? { hint } : {}),
    }));
  findings.push(overlay, cgroups);
  const canMount = uid === 0 || squashfuse.status === "ok";
  const usable = runtime !== undefined && (uid === 0 || userns.status === "ok") && canMount;
  return { user: { name, uid, gid }, findings, runtime, usable };
}
