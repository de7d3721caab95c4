/**
 * Who runs the container and how the user namespace maps them: the calling user's
 * identity, their subordinate ID ranges, and the `unshare` arguments that build the
 * namespace the whole launch runs in.
 *
 * Three modes, chosen from the caller and their `/etc/subuid`/`/etc/subgid` entries:
 *
 * - `root`: the caller is root; no user namespace at all.
 * - `subid`: one namespace made by `unshare` + `newuidmap`/`newgidmap` that maps the
 *   subordinate range onto IDs 0..N-1 and punches a hole for the caller's own IDs, which map
 *   to themselves. Namespace root (a subordinate ID) owns the mounts and runs the OCI
 *   runtime; the container process keeps the caller's uid/gid, image files owned by root
 *   stay owned by root, and files the container writes on binds belong to the caller. With
 *   `--fakeroot` the caller maps to 0 and the range to 1..N instead.
 * - `single`: no subordinate ranges; the caller maps to namespace root only. OCI
 *   runtimes insist on mapping container root, and a single ID cannot be both root and the
 *   caller, so the container runs as root (which is the caller outside); a warning says so.
 *   Other IDs show as nobody.
 *
 * @module
 */
import { findExecutable } from "./_command.ts";
import { subordinateRanges } from "./host_check.ts";

/** A contiguous range of IDs. */
export interface IdRange {
  /** First ID. */
  start: number;
  /** Number of IDs. */
  count: number;
}

/** One line of an OCI `uidMappings`/`gidMappings` list. */
export interface IdMapping {
  /** First ID inside the container. */
  containerID: number;
  /** First ID in the namespace the runtime runs in. */
  hostID: number;
  /** Number of IDs. */
  size: number;
}

/** The calling user, as the container should see them. */
export interface UserIdentity {
  /** Login name. */
  name: string;
  /** Numeric user ID. */
  uid: number;
  /** Primary group ID. */
  gid: number;
  /** Primary group name. */
  groupName: string;
  /** Supplementary group IDs (without the primary one). */
  groups: number[];
  /** Home directory. */
  home: string;
  /** Login shell. */
  shell: string;
  /** GECOS field of the passwd entry. */
  gecos: string;
}

/** How the launch's user namespace is built and who the process is inside it. */
export interface NamespacePlan {
  /** See the module documentation. */
  mode: "root" | "subid" | "single";
  /** User-namespace arguments for `unshare` (empty as root). */
  unshareArgs: string[];
  /** Whether `nsenter` must join a user namespace. */
  joinUserNamespace: boolean;
  /** uid of the container process, in the coordinates the OCI runtime sees. */
  processUid: number;
  /** gid of the container process, in the runtime's coordinates. */
  processGid: number;
  /** Supplementary gids the process keeps, in the runtime's coordinates. */
  processGroups: number[];
  /** Inner user namespace the runtime must create (single-ID mode without --fakeroot). */
  innerUidMappings: IdMapping[] | undefined;
  /** Inner gid mappings, as above. */
  innerGidMappings: IdMapping[] | undefined;
  /** A warning for the user (e.g. no subordinate IDs). */
  warning: string | undefined;
}

/**
 * Read the calling user's identity from the host databases.
 *
 * @returns Name, IDs, groups, home and shell.
 */
export async function currentUser(): Promise<UserIdentity> {
  const uid = Deno.uid() ?? 0;
  const gid = Deno.gid() ?? 0;
  let name = String(uid);
  let home = Deno.env.get("HOME") ?? "/";
  let shell = "/bin/sh";
  let gecos = "";
  for (const line of await readLines("/etc/passwd")) {
    const fields = line.split(":");
    if (fields.length >= 7 && fields[2] === String(uid)) {
      name = fields[0]!;
      gecos = fields[4]!;
      home = fields[5] || home;
      shell = fields[6] || shell;
      break;
    }
  }
  let groupName = String(gid);
  const groups: number[] = [];
  for (const line of await readLines("/etc/group")) {
    const fields = line.split(":");
    if (fields.length < 4) continue;
    const id = Number(fields[2]);
    if (id === gid) groupName = fields[0]!;
    else if (fields[3]!.split(",").includes(name) && !groups.includes(id)) groups.push(id);
  }
  return { name, uid, gid, groupName, groups, home, shell, gecos };
}

async function readLines(path: string): Promise<string[]> {
  try {
    return (await Deno.readTextFile(path)).split("\n").filter((line) => line && line[0] !== "#");
  } catch {
    return [];
  }
}

/** Options of {@linkcode planNamespace}. */
export interface PlanOptions {
  /** Run as root inside (`--fakeroot`). */
  fakeroot?: boolean;
}

/**
 * Decide how the launch's user namespace is built for `user`.
 *
 * @param user The calling user.
 * @param options `fakeroot`.
 * @returns The plan.
 */
export async function planNamespace(
  user: UserIdentity,
  options: PlanOptions = {},
): Promise<NamespacePlan> {
  if (user.uid === 0) {
    return {
      mode: "root",
      unshareArgs: [],
      joinUserNamespace: false,
      processUid: 0,
      processGid: 0,
      processGroups: [],
      innerUidMappings: undefined,
      innerGidMappings: undefined,
      warning: undefined,
    };
  }
  const uids = await subordinateRanges("/etc/subuid", user.name, user.uid);
  const gids = await subordinateRanges("/etc/subgid", user.name, user.uid);
  const tools = !!findExecutable("newuidmap") && !!findExecutable("newgidmap");
  const subUid = uids[0];
  const subGid = gids[0];
  if (tools && subUid && subGid) {
    const unshareArgs = options.fakeroot
      ? [
        "--user",
        "--map-user=0",
        "--map-group=0",
        `--map-users=${subUid.start},1,${subUid.count}`,
        `--map-groups=${subGid.start},1,${subGid.count}`,
      ]
      : [
        "--user",
        `--map-user=${user.uid}`,
        `--map-group=${user.gid}`,
        `--map-users=${subUid.start},0,${subUid.count}`,
        `--map-groups=${subGid.start},0,${subGid.count}`,
      ];
    return {
      mode: "subid",
      unshareArgs,
      joinUserNamespace: true,
      processUid: options.fakeroot ? 0 : user.uid,
      processGid: options.fakeroot ? 0 : user.gid,
      processGroups: [],
      innerUidMappings: undefined,
      innerGidMappings: undefined,
      warning: undefined,
    };
  }
  const why = !tools
    ? "newuidmap/newgidmap are not installed"
    : `${user.name} has no ${subUid ? "" : "/etc/subuid "}${subGid ? "" : "/etc/subgid "}range`
      .replace(" range", " range").replace("  ", " ");
  return {
    mode: "single",
    unshareArgs: ["--user", "--map-root-user"],
    joinUserNamespace: true,
    // An OCI runtime insists on mapping container root, and one ID cannot be both root
    // and the caller: the process runs as root mapped to the caller's own uid.
    processUid: 0,
    processGid: 0,
    processGroups: [],
    innerUidMappings: undefined,
    innerGidMappings: undefined,
    warning: options.fakeroot ? `${why}: --fakeroot maps only your own uid to root` : `${why}: ` +
      `the container runs as root mapped to your own uid (ask your admin for /etc/subuid ` +
      `and /etc/subgid ranges to keep your uid inside)`,
  };
}
