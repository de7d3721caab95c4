/**
 * The OCI runtime bundle's `config.json`: the container process (arguments, environment,
 * working directory, user, capabilities, no_new_privs), its mounts (Singularity's
 * defaults plus the user's binds), namespaces and ID mappings; and the generated
 * `/etc/passwd` and `/etc/group` that carry the user's entries.
 *
 * Everything here is pure data transformation; `launch.ts` decides the inputs.
 *
 * @module
 */
import type { OciHook, OciLinuxDevice } from "./cdi.ts";
import type { OciResources } from "./resources.ts";
import type { IdMapping, UserIdentity } from "./userns.ts";

/** One OCI mount. */
export interface OciMount {
  /** Path inside the container. */
  destination: string;
  /** Filesystem type ("bind", "tmpfs", "proc", ...). */
  type: string;
  /** Source path or device name. */
  source: string;
  /** Mount options. */
  options?: string[];
}

/** The OCI runtime configuration singlet writes (a subset of runtime-spec 1.0.2). */
export interface OciConfig {
  /** runtime-spec version. */
  ociVersion: string;
  /** The container process. */
  process: {
    terminal: boolean;
    user: { uid: number; gid: number; additionalGids?: number[]; umask?: number };
    args: string[];
    env: string[];
    cwd: string;
    capabilities: {
      bounding: string[];
      effective: string[];
      inheritable: string[];
      permitted: string[];
      ambient: string[];
    };
    noNewPrivileges: boolean;
  };
  /** The root filesystem. */
  root: { path: string; readonly: boolean };
  /** Hostname (with a UTS namespace). */
  hostname?: string;
  /** Mounts, in order. */
  mounts: OciMount[];
  /** OCI hooks by hook point (CDI specs). */
  hooks?: Record<string, OciHook[]>;
  /** Linux specifics. */
  linux: {
    namespaces: { type: string }[];
    uidMappings?: IdMapping[];
    gidMappings?: IdMapping[];
    maskedPaths: string[];
    readonlyPaths: string[];
    /** Device nodes the runtime creates (CDI, as root). */
    devices?: OciLinuxDevice[];
    /** cgroup limits and device rules. */
    resources?: OciResources;
    /** The container's cgroup (delegated cgroup v2). */
    cgroupsPath?: string;
  };
}

/** The capability set an OCI runtime gives container root by default. */
export const DEFAULT_CAPS: readonly string[] = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_MKNOD",
  "CAP_NET_RAW",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
];

/** Every capability the kernel knows (for --keep-privs and name checks). */
export const ALL_CAPS: readonly string[] = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST",
  "CAP_NET_ADMIN",
  "CAP_NET_RAW",
  "CAP_IPC_LOCK",
  "CAP_IPC_OWNER",
  "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO",
  "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT",
  "CAP_SYS_NICE",
  "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG",
  "CAP_MKNOD",
  "CAP_LEASE",
  "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP",
  "CAP_MAC_OVERRIDE",
  "CAP_MAC_ADMIN",
  "CAP_SYSLOG",
  "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND",
  "CAP_AUDIT_READ",
  "CAP_PERFMON",
  "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE",
];

/** Inputs of {@linkcode buildConfig}. */
export interface ConfigInput {
  /** Root filesystem path (in the runtime's mount namespace). */
  rootfs: string;
  /** Mount the root filesystem read-only. */
  readonlyRootfs: boolean;
  /**
   * Paths made read-only after the mounts (keeping nosuid and nodev, which the runtime's
   * read-only remount of "/" would drop).
   */
  readonlyPaths?: string[];
  /** Process arguments. */
  args: string[];
  /** Process environment (`KEY=VALUE`). */
  env: string[];
  /** Working directory inside the container. */
  cwd: string;
  /** Process uid/gid/groups, in the runtime's coordinates. */
  uid: number;
  /** See uid. */
  gid: number;
  /** Supplementary groups. */
  groups: number[];
  /** Allocate a terminal. */
  terminal: boolean;
  /** Effective/permitted/bounding capabilities of the process. */
  capabilities: string[];
  /** Set no_new_privs. */
  noNewPrivileges: boolean;
  /** Namespaces to create. */
  namespaces: { pid: boolean; ipc: boolean; uts: boolean; net: boolean };
  /** Hostname (implies a UTS namespace). */
  hostname: string | undefined;
  /** Inner user namespace mappings (single-ID mode), or none. */
  uidMappings: IdMapping[] | undefined;
  /** See uidMappings. */
  gidMappings: IdMapping[] | undefined;
  /** Mounts after the system ones, in order. */
  mounts: OciMount[];
}

/**
 * Assemble the runtime configuration.
 *
 * @param input The decided process, mounts and namespaces.
 * @returns The config object, ready for `JSON.stringify`.
 */
export function buildConfig(input: ConfigInput): OciConfig {
  const namespaces = [{ type: "mount" }];
  if (input.namespaces.pid) namespaces.push({ type: "pid" });
  if (input.namespaces.ipc) namespaces.push({ type: "ipc" });
  if (input.namespaces.uts || input.hostname !== undefined) namespaces.push({ type: "uts" });
  if (input.namespaces.net) namespaces.push({ type: "network" });
  if (input.uidMappings) namespaces.push({ type: "user" });
  const caps = [...input.capabilities];
  const config: OciConfig = {
    ociVersion: "1.0.2",
    process: {
      terminal: input.terminal,
      user: {
        uid: input.uid,
        gid: input.gid,
        ...(input.groups.length ? { additionalGids: input.groups } : {}),
      },
      args: input.args,
      env: input.env,
      cwd: input.cwd,
      capabilities: {
        bounding: caps,
        effective: caps,
        // a non-root process keeps added capabilities only as ambient ones, which must also
        // be inheritable
        inheritable: input.uid === 0 ? [] : caps,
        permitted: caps,
        ambient: input.uid === 0 ? [] : caps,
      },
      noNewPrivileges: input.noNewPrivileges,
    },
    root: { path: input.rootfs, readonly: input.readonlyRootfs },
    ...(input.hostname !== undefined ? { hostname: input.hostname } : {}),
    mounts: input.mounts,
    linux: {
      namespaces,
      ...(input.uidMappings ? { uidMappings: input.uidMappings } : {}),
      ...(input.gidMappings ? { gidMappings: input.gidMappings } : {}),
      maskedPaths: [
        "/proc/acpi",
        "/proc/asound",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/sys/firmware",
        "/proc/scsi",
      ],
      readonlyPaths: [
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sysrq-trigger",
        ...input.readonlyPaths ?? [],
      ],
    },
  };
  return config;
}

/** Which system mounts to make (`--no-mount` turns some off). */
export interface SystemMountOptions {
  /** Running as real root (sysfs can be mounted fresh). */
  root: boolean;
  /** A new IPC namespace (then /dev/shm and /dev/mqueue are private). */
  ipc: boolean;
  /** A new network namespace. */
  net: boolean;
  /** gid of the tty group inside, when mapped. */
  ttyGid: number | undefined;
  /** Names from --no-mount: proc, sys, dev, devpts, tmp, home, cwd, ... */
  skip: ReadonlySet<string>;
}

/**
 * The mounts every container gets: /proc, /sys, a minimal /dev with /dev/pts and
 * /dev/shm.
 *
 * @param options Which and how.
 * @returns The mounts, in order.
 */
export function systemMounts(options: SystemMountOptions): OciMount[] {
  const mounts: OciMount[] = [];
  if (!options.skip.has("proc")) {
    mounts.push({
      destination: "/proc",
      type: "proc",
      source: "proc",
      options: ["nosuid", "noexec", "nodev"],
    });
  }
  if (!options.skip.has("sys")) {
    mounts.push(
      options.root || options.net
        ? {
          destination: "/sys",
          type: "sysfs",
          source: "sysfs",
          options: ["nosuid", "noexec", "nodev", "ro"],
        }
        : {
          destination: "/sys",
          type: "bind",
          source: "/sys",
          options: ["rbind", "nosuid", "noexec", "nodev", "ro"],
        },
    );
  }
  if (!options.skip.has("dev")) {
    mounts.push({
      destination: "/dev",
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
    });
    if (!options.skip.has("devpts")) {
      mounts.push({
        destination: "/dev/pts",
        type: "devpts",
        source: "devpts",
        options: [
          "nosuid",
          "noexec",
          "newinstance",
          "ptmxmode=0666",
          "mode=0620",
          ...(options.ttyGid !== undefined ? [`gid=${options.ttyGid}`] : []),
        ],
      });
    }
    mounts.push(
      options.ipc
        ? {
          destination: "/dev/shm",
          type: "tmpfs",
          source: "shm",
          options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        }
        : {
          // MPI and friends share memory through the host's /dev/shm, as under Singularity
          destination: "/dev/shm",
          type: "bind",
          source: "/dev/shm",
          options: ["rbind", "nosuid", "nodev"],
        },
    );
    if (options.ipc) {
      mounts.push({
        destination: "/dev/mqueue",
        type: "mqueue",
        source: "mqueue",
        options: ["nosuid", "noexec", "nodev"],
      });
    }
  }
  return mounts;
}

/**
 * A bind mount with singlet's safety options (never setuid or device files from the host).
 *
 * @param source Host path.
 * @param destination Container path.
 * @param readonly Read-only.
 * @returns The mount.
 */
export function bindMount(source: string, destination: string, readonly = false): OciMount {
  return {
    destination,
    type: "bind",
    source,
    options: ["rbind", "nosuid", "nodev", ...(readonly ? ["ro"] : [])],
  };
}

/**
 * A tmpfs mount.
 *
 * @param destination Container path.
 * @param options Extra options (mode, size, uid, gid).
 * @returns The mount.
 */
export function tmpfsMount(destination: string, options: string[] = []): OciMount {
  return { destination, type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", ...options] };
}

/**
 * `/etc/passwd` for the container: the image's, with the user's entry added (or
 * replaced) so `id`, `whoami` and `~` work.
 *
 * @param image The image's /etc/passwd content ("" when absent).
 * @param user The user.
 * @param home The home directory inside.
 * @returns The new content.
 */
export function passwdWithUser(image: string, user: UserIdentity, home: string): string {
  const lines = image.split("\n").filter((line) => line.trim() !== "");
  if (user.uid === 0) {
    return (lines.some((line) => line.split(":")[2] === "0")
      ? lines
      : ["root:x:0:0:root:/root:/bin/sh", ...lines]).join("\n") + "\n";
  }
  const kept = lines.filter((line) => {
    const fields = line.split(":");
    return fields[0] !== user.name && fields[2] !== String(user.uid);
  });
  if (!lines.some((line) => line.split(":")[2] === "0")) {
    kept.unshift("root:x:0:0:root:/root:/bin/sh");
  }
  if (user.uid !== 0) {
    kept.push([user.name, "x", user.uid, user.gid, user.gecos, home, user.shell].join(":"));
  }
  return kept.join("\n") + "\n";
}

/**
 * `/etc/group` for the container: the image's, with the user's groups added.
 *
 * @param image The image's /etc/group content ("" when absent).
 * @param user The user.
 * @returns The new content.
 */
export function groupWithUser(image: string, user: UserIdentity): string {
  const lines = image.split("\n").filter((line) => line.trim() !== "");
  if (!lines.some((line) => line.split(":")[2] === "0")) lines.unshift("root:x:0:");
  if (user.gid !== 0 && !lines.some((line) => line.split(":")[2] === String(user.gid))) {
    lines.push(`${user.groupName}:x:${user.gid}:${user.name}`);
  }
  return lines.join("\n") + "\n";
}

/**
 * Add the host's entries for the user's supplementary groups to a container `/etc/group`
 * (those whose gid it does not name yet), with the user as a member, so `id` names them.
 *
 * @param group The container's /etc/group content.
 * @param host The host's /etc/group content.
 * @param user The user (its `groups`).
 * @returns The new content.
 */
export function withHostGroups(group: string, host: string, user: UserIdentity): string {
  const lines = group.split("\n").filter((line) => line.trim() !== "");
  const named = new Set(lines.map((line) => line.split(":")[2]));
  for (const line of host.split("\n")) {
    const fields = line.split(":");
    if (fields.length < 4 || named.has(fields[2]) || !user.groups.includes(Number(fields[2]))) {
      continue;
    }
    named.add(fields[2]);
    lines.push(`${fields[0]}:x:${fields[2]}:${user.name}`);
  }
  return lines.join("\n") + "\n";
}
