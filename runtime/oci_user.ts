/**
 * `--oci`: the parts of SingularityCE's OCI mode that concern OCI-origin images: the
 * image's `USER` (a name or `uid[:gid]`, resolved in the image's own `/etc/passwd` and
 * `/etc/group`) becomes the container process's identity, and its `WORKDIR` the working
 * directory. Pulled and converted images record both in the SIF's `oci-config.json`
 * object (as SingularityCE writes it); images without one keep Singularity's defaults.
 *
 * An identity other than the caller's needs IDs mapped into the user namespace: root has
 * them all, a user with `/etc/subuid`/`/etc/subgid` ranges has the range (with or without
 * `--fakeroot`); a user without ranges has only root, and an image USER other than root is
 * then refused with a clear error.
 *
 * @module
 */
import { SingletError } from "../core/errors.ts";
import { openSif } from "../core/sif/load.ts";
import type { ImageSource } from "./image.ts";
import type { NamespacePlan } from "./userns.ts";

/** The `oci-config.json` fields `--oci` uses. */
export interface OciImageUserConfig {
  /** USER, as written in the image config ("" when unset). */
  user: string;
  /** WORKDIR ("" when unset). */
  workingDir: string;
}

/** A resolved image user. */
export interface ImageUser {
  /** Name from the image's /etc/passwd (the uid as text when it has no entry). */
  name: string;
  /** uid. */
  uid: number;
  /** Primary gid. */
  gid: number;
  /** Supplementary groups from the image's /etc/group. */
  groups: number[];
  /** Home directory from the image's /etc/passwd ("/" when it has no entry). */
  home: string;
}

/**
 * Read USER and WORKDIR from a SIF's `oci-config.json` object.
 *
 * @param image The opened image.
 * @returns Them, or undefined when the image records no OCI config (sandboxes, bare
 *   SquashFS files, images built from definition files without an OCI base).
 */
export async function readOciImageConfig(
  image: ImageSource,
): Promise<OciImageUserConfig | undefined> {
  if (image.kind !== "sif") return undefined;
  const sif = await openSif(image.path);
  try {
    const [descriptor] = sif.select({ name: "oci-config.json" });
    if (!descriptor) return undefined;
    const text = new TextDecoder().decode(await sif.readObject(descriptor));
    let config: Record<string, unknown>;
    try {
      config = JSON.parse(text);
    } catch (error) {
      throw new SingletError(
        `Cannot read the OCI config of image "${image.path}": ${String(error)}`,
        { hint: "pull or build the image again", cause: error },
      );
    }
    return {
      user: typeof config.User === "string" ? config.User.trim() : "",
      workingDir: typeof config.WorkingDir === "string" ? config.WorkingDir : "",
    };
  } finally {
    sif.close();
  }
}

/**
 * Resolve an image USER as an OCI runtime does: `name`, `uid`, `name:group`, `uid:gid`
 * (names looked up in the image's files; a numeric uid without an entry keeps gid 0).
 *
 * @param spec The USER value.
 * @param passwd The image's /etc/passwd ("" when absent).
 * @param group The image's /etc/group ("" when absent).
 * @param image For messages.
 * @returns The user.
 * @throws {SingletError} When a name is not in the image's files.
 */
export function resolveImageUser(
  spec: string,
  passwd: string,
  group: string,
  image: string,
): ImageUser {
  const [userPart, groupPart] = spec.split(":", 2) as [string, string | undefined];
  const users = rows(passwd, 7);
  const groups = rows(group, 4);
  const numeric = /^\d+$/.test(userPart);
  const entry = users.find((f) => numeric ? f[2] === userPart : f[0] === userPart);
  if (!numeric && !entry) {
    throw new SingletError(
      `Cannot run image "${image}" as its USER "${spec}": no user "${userPart}" in the ` +
        "image's /etc/passwd",
      { hint: "leave out --oci to run as yourself" },
    );
  }
  const uid = numeric ? Number(userPart) : Number(entry![2]);
  const name = entry?.[0] ?? String(uid);
  let gid = entry ? Number(entry[3]) : 0;
  if (groupPart !== undefined && groupPart !== "") {
    if (/^\d+$/.test(groupPart)) gid = Number(groupPart);
    else {
      const g = groups.find((f) => f[0] === groupPart);
      if (!g) {
        throw new SingletError(
          `Cannot run image "${image}" as its USER "${spec}": no group "${groupPart}" in ` +
            "the image's /etc/group",
          { hint: "leave out --oci to run as yourself" },
        );
      }
      gid = Number(g[2]);
    }
  }
  const supplementary = groupPart === undefined && entry
    ? groups.filter((f) => f[3]!.split(",").includes(name)).map((f) => Number(f[2]))
      .filter((id) => id !== gid)
    : [];
  return { name, uid, gid, groups: [...new Set(supplementary)], home: entry?.[5] || "/" };
}

/**
 * The IDs mapped into the launch's user namespace (container coordinates), as
 * `[first, count]` ranges, read back from the plan's `unshare` arguments.
 *
 * @param plan The namespace plan.
 * @param kind "user" or "group".
 * @returns The ranges; undefined means every ID (root, no user namespace).
 */
export function mappedRanges(
  plan: NamespacePlan,
  kind: "user" | "group",
): [number, number][] | undefined {
  if (plan.mode === "root") return undefined;
  const ranges: [number, number][] = [];
  for (const arg of plan.unshareArgs) {
    const single = new RegExp(`^--map-${kind}=(\\d+)$`).exec(arg);
    if (single) ranges.push([Number(single[1]), 1]);
    const range = new RegExp(`^--map-${kind}s=(\\d+),(\\d+),(\\d+)$`).exec(arg);
    if (range) ranges.push([Number(range[2]), Number(range[3])]);
    if (arg === "--map-root-user") ranges.push([0, 1]);
  }
  return ranges;
}

/**
 * Refuse an image user the user namespace cannot represent.
 *
 * @param user The resolved image user.
 * @param plan The namespace plan.
 * @param image For messages.
 * @returns The supplementary groups that are mapped (others are left out).
 * @throws {SingletError} When the uid or gid is not mapped.
 */
export function checkImageUserMapped(
  user: ImageUser,
  plan: NamespacePlan,
  image: string,
): number[] {
  const uids = mappedRanges(plan, "user");
  const gids = mappedRanges(plan, "group");
  const within = (ranges: [number, number][] | undefined, id: number) =>
    ranges === undefined || ranges.some(([first, count]) => id >= first && id < first + count);
  if (!within(uids, user.uid) || !within(gids, user.gid)) {
    throw new SingletError(
      `Cannot run image "${image}" as its USER (uid ${user.uid}, gid ${user.gid}): ` +
        (plan.mode === "single"
          ? "you have no /etc/subuid and /etc/subgid ranges, so only root can be mapped"
          : "that ID is outside your /etc/subuid or /etc/subgid range"),
      {
        hint: plan.mode === "single"
          ? "ask your admin for subordinate ID ranges, or leave out --oci"
          : "leave out --oci to run as yourself",
      },
    );
  }
  return user.groups.filter((gid) => within(gids, gid));
}

function rows(text: string, fields: number): string[][] {
  return text.split("\n").filter((line) => line && !line.startsWith("#")).map((line) =>
    line.split(":")
  ).filter((f) => f.length >= fields);
}
