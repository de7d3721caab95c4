/**
 * `--cpus`, `--memory` and `--pids-limit`: cgroup limits written into the OCI config's
 * `linux.resources`, applied by the OCI runtime.
 *
 * They can be applied when the caller is root (cgroup v1, hybrid or v2 with the
 * controllers present), or when cgroup v2 is delegated to the calling user (their own
 * cgroup is theirs and offers the controllers, as systemd's `Delegate=yes` gives). On a
 * cgroup v1 or hybrid host an unprivileged user can never be given a cgroup: that is one
 * clear error before anything starts, as SingularityCE's OCI mode refuses limits it cannot
 * apply.
 *
 * @module
 */
import { SingletError, UsageError } from "../core/errors.ts";
import type { OciConfig } from "./bundle.ts";
import { runCommand } from "./_command.ts";

/** The limits the user asked for. */
export interface ResourceLimits {
  /** CPUs (fractional), as a CFS quota over a 100 ms period. */
  cpus?: number;
  /** Memory limit in bytes. */
  memoryBytes?: number;
  /** Maximum number of processes. */
  pidsLimit?: number;
}

/** The OCI `linux.resources` object singlet writes. */
export interface OciResources {
  /** CFS quota and period. */
  cpu?: { quota: number; period: number };
  /** Memory limit. */
  memory?: { limit: number };
  /** PID limit. */
  pids?: { limit: number };
  /** Device cgroup rules (CDI device nodes). */
  devices?: { allow: boolean; type?: string; major?: number; minor?: number; access?: string }[];
}

const CFS_PERIOD = 100_000;

/**
 * Parse the flag values (each may be undefined).
 *
 * @param flags `--cpus`, `--memory`, `--pids-limit` as typed.
 * @returns The limits, or undefined when none was asked for.
 * @throws {UsageError} For a value that does not parse.
 */
export function parseResourceFlags(
  flags: { cpus?: string | undefined; memory?: string | undefined; pidsLimit?: string | undefined },
): ResourceLimits | undefined {
  const limits: ResourceLimits = {};
  if (flags.cpus !== undefined) {
    const cpus = Number(flags.cpus.trim());
    if (!/^\d*\.?\d+$/.test(flags.cpus.trim()) || !(cpus > 0) || cpus * CFS_PERIOD < 1000) {
      throw new UsageError(
        `Cannot use --cpus "${flags.cpus}": not a number of CPUs`,
        "use e.g. --cpus 1.5 (at least 0.01)",
      );
    }
    limits.cpus = cpus;
  }
  if (flags.memory !== undefined) limits.memoryBytes = parseBytes(flags.memory);
  if (flags.pidsLimit !== undefined) {
    const n = Number(flags.pidsLimit.trim());
    if (!/^\d+$/.test(flags.pidsLimit.trim()) || n < 1) {
      throw new UsageError(
        `Cannot use --pids-limit "${flags.pidsLimit}": not a positive number`,
        "use e.g. --pids-limit 100",
      );
    }
    limits.pidsLimit = n;
  }
  return Object.keys(limits).length ? limits : undefined;
}

/**
 * Parse a memory size as Docker and SingularityCE do: bytes, or a number with a `b`, `k`,
 * `m`, `g` or `t` suffix (powers of 1024).
 *
 * @param text E.g. `512m`, `1G`, `1073741824`.
 * @returns Bytes.
 * @throws {UsageError} When it does not parse or is below 6 MiB (the runtime minimum).
 */
export function parseBytes(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([bkmgt]?)i?b?$/i.exec(text.trim());
  if (!match) {
    throw new UsageError(`Cannot use --memory "${text}": not a size`, "use e.g. 512M or 2G");
  }
  const power = "bkmgt".indexOf(match[2]!.toLowerCase() || "b");
  const bytes = Math.floor(Number(match[1]) * 1024 ** power);
  if (bytes < 6 * 1024 * 1024) {
    throw new UsageError(`Cannot use --memory "${text}": below the 6M minimum`);
  }
  return bytes;
}

/**
 * The `linux.resources` object for the limits.
 *
 * @param limits From {@linkcode parseResourceFlags}.
 * @returns The object.
 */
export function ociResources(limits: ResourceLimits): OciResources {
  const out: OciResources = {};
  if (limits.cpus !== undefined) {
    out.cpu = { quota: Math.round(limits.cpus * CFS_PERIOD), period: CFS_PERIOD };
  }
  if (limits.memoryBytes !== undefined) out.memory = { limit: limits.memoryBytes };
  if (limits.pidsLimit !== undefined) out.pids = { limit: limits.pidsLimit };
  return out;
}

/** The cgroup controllers the limits need. */
export function controllersFor(limits: ResourceLimits): string[] {
  return [
    ...(limits.cpus !== undefined ? ["cpu"] : []),
    ...(limits.memoryBytes !== undefined ? ["memory"] : []),
    ...(limits.pidsLimit !== undefined ? ["pids"] : []),
  ];
}

/** What {@linkcode checkCgroups} found. */
export interface CgroupPlan {
  /** The cgroup layout of the host. */
  layout: "v1" | "hybrid" | "v2";
  /** `linux.cgroupsPath` to use (unset: the runtime's default). */
  cgroupsPath: string | undefined;
}

/** Where {@linkcode checkCgroups} looks (tests point it elsewhere). */
export interface CgroupCheckOptions {
  /** The caller is real root. */
  root: boolean;
  /** The caller's uid. */
  uid: number;
  /** The caller's cgroup v2 path (from `/proc/self/cgroup`'s `0::` line), when known. */
  ownCgroup?: () => Promise<string | undefined>;
  /** A name for the container's own cgroup (under the delegated one). */
  name: string;
  /** The cgroup mount point (default `/sys/fs/cgroup`). */
  mountPoint?: string;
}

/**
 * Decide whether the limits can be applied here, and how.
 *
 * @param limits The requested limits.
 * @param options Who asks, and where the cgroup tree is.
 * @returns How to apply them.
 * @throws {SingletError} (exit 255) Saying why they cannot be applied.
 */
export async function checkCgroups(
  limits: ResourceLimits,
  options: CgroupCheckOptions,
): Promise<CgroupPlan> {
  const mountPoint = options.mountPoint ?? "/sys/fs/cgroup";
  const wanted = controllersFor(limits);
  const flags = wanted.map((c) => FLAG_OF[c]).join(", ");
  const pureV2 = await hostRead(["cat", `${mountPoint}/cgroup.controllers`]);
  const entries = pureV2 === undefined
    ? ((await hostRead(["ls", "-1", mountPoint])) ?? "").split("\n")
    : [];
  const layout = pureV2 !== undefined ? "v2" : entries.includes("unified") ? "hybrid" : "v1";
  const refuse = (why: string, hint: string): never => {
    throw new SingletError(`Cannot apply resource limits (${flags}): ${why}`, { hint });
  };
  if (layout !== "v2") {
    if (!options.root) {
      refuse(
        `this host has a cgroup ${layout} layout, where cgroups are not delegated to ` +
          "unprivileged users",
        "run without the limits, run as root, or use a host with cgroup v2 and systemd " +
          "delegation (Delegate=yes)",
      );
    }
    const missing = wanted.filter((controller) => !entries.includes(controller));
    if (missing.length) {
      refuse(
        `this host has no cgroup v1 ${missing.join(", ")} controller mounted`,
        `mount the controller under ${mountPoint}, or run without the limits`,
      );
    }
    return { layout, cgroupsPath: undefined };
  }
  if (options.root) {
    const available = pureV2!.trim().split(/\s+/);
    const missing = wanted.filter((c) => !available.includes(c));
    if (missing.length) {
      refuse(
        `the cgroup v2 controllers ${missing.join(", ")} are not enabled on this host`,
        "enable them in the root cgroup's cgroup.subtree_control, or run without the limits",
      );
    }
    return { layout, cgroupsPath: undefined };
  }
  const own = await options.ownCgroup?.();
  const dir = own === undefined ? undefined : `${mountPoint}${own === "/" ? "" : own}`;
  const owner = dir === undefined ? undefined : await hostRead(["stat", "-c", "%u", dir]);
  if (!dir || owner?.trim() !== String(options.uid)) {
    return refuse(
      `your cgroup${own ? ` (${own})` : ""} is not delegated to you`,
      "start singlet from a delegated cgroup (e.g. systemd-run --user --scope -p " +
        "Delegate=yes singlet ...), or run without the limits",
    );
  }
  const available = ((await hostRead(["cat", `${dir}/cgroup.controllers`])) ?? "").trim()
    .split(/\s+/);
  const missing = wanted.filter((c) => !available.includes(c));
  if (missing.length) {
    refuse(
      `the controllers ${missing.join(", ")} are not delegated to your cgroup ${own}`,
      "ask for them in the delegation (systemd: Delegate=cpu memory pids), or run without " +
        "the limits",
    );
  }
  return { layout, cgroupsPath: `${own === "/" ? "" : own}/${options.name}` };
}

/**
 * Run a small reader (`cat`, `ls`, `stat`) on the host through `unshare` with no new
 * namespace: Deno itself may not read /proc or /sys/fs/cgroup.
 */
async function hostRead(argv: string[]): Promise<string | undefined> {
  const output = await runCommand(["unshare", "--", ...argv]).catch(() => undefined);
  if (!output || output.code !== 0) return undefined;
  return new TextDecoder().decode(output.stdout);
}

const FLAG_OF: Record<string, string> = {
  cpu: "--cpus",
  memory: "--memory",
  pids: "--pids-limit",
};

/**
 * Write the limits into `config.json`: `linux.resources`, the cgroup path when one was
 * delegated, and a read-only cgroup mount on `/sys/fs/cgroup` so the process can see its
 * limits (as SingularityCE's OCI mode mounts it).
 *
 * @param config The generated runtime config (changed in place).
 * @param limits The limits.
 * @param plan From {@linkcode checkCgroups}.
 * @param mountCgroupFs Add the `/sys/fs/cgroup` mount (not with `--no-mount sys`).
 */
export function applyResources(
  config: OciConfig,
  limits: ResourceLimits,
  plan: CgroupPlan,
  mountCgroupFs: boolean,
): void {
  config.linux.resources = { ...config.linux.resources, ...ociResources(limits) };
  if (plan.cgroupsPath) config.linux.cgroupsPath = plan.cgroupsPath;
  if (mountCgroupFs) {
    const sys = config.mounts.findIndex((m) => m.destination === "/sys");
    config.mounts.splice(sys + 1, 0, {
      destination: "/sys/fs/cgroup",
      type: "cgroup",
      source: "cgroup",
      options: ["nosuid", "noexec", "nodev", "relatime", "ro"],
    });
  }
}

/**
 * The caller's cgroup v2 path, from `/proc/self/cgroup` (read by `cat` under `unshare`
 * with no new namespace: Deno itself may not read /proc).
 *
 * @returns The path of the `0::` line, or undefined.
 */
export async function ownCgroup(): Promise<string | undefined> {
  const text = await hostRead(["cat", "/proc/self/cgroup"]);
  return text?.split("\n").find((l) => l.startsWith("0::"))?.slice(3);
}
