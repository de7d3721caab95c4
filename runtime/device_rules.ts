/**
 * Device cgroup rules for containers run as root (`linux.resources.devices`): deny every
 * device, then allow the ones an OCI runtime gives every container (runc's built-in
 * list: `/dev/null`, `zero`, `full`, `random`, `urandom`, `tty`, `ptmx`, `/dev/pts/*`,
 * `net/tun`, and `mknod` of any node without the right to open it), then the host device
 * nodes bound into the container (`--nv`, `--rocm`).
 *
 * Why spell them out: runc applies the same defaults on its own, but only runc; a runtime
 * that takes the spec's list as given (youki, or anything reading the copy of the config)
 * would otherwise leave every host device open to container root, which keeps
 * `CAP_MKNOD`. Binds of host device nodes need their own allow rules: under the deny-all a
 * bound `/dev/nvidia0` cannot be opened (EPERM), even by root.
 *
 * In a user namespace the runtime cannot manage the device cgroup and ignores these
 * rules; there the kernel refuses `mknod` and nodes on `nodev` mounts, so they are left
 * out.
 *
 * @module
 */
import type { OciMount } from "./bundle.ts";
import type { OciResources } from "./resources.ts";
import { listHostDir, statHost } from "./host_devices.ts";

/** One device cgroup rule (a missing type, major or minor is a wildcard). */
export type DeviceRule = NonNullable<OciResources["devices"]>[number];

/**
 * What `runc spec` writes (deny all), followed by the devices runc allows every container
 * (`AllowedDevices` in runc's libcontainer/specconv), in runc's order.
 */
export const DEFAULT_DEVICE_RULES: readonly DeviceRule[] = Object.freeze([
  { allow: false, access: "rwm" },
  // creating any node is allowed, opening it is not (runc's default)
  { allow: true, type: "c", access: "m" },
  { allow: true, type: "b", access: "m" },
  { allow: true, type: "c", major: 1, minor: 3, access: "rwm" }, // /dev/null
  { allow: true, type: "c", major: 1, minor: 8, access: "rwm" }, // /dev/random
  { allow: true, type: "c", major: 1, minor: 7, access: "rwm" }, // /dev/full
  { allow: true, type: "c", major: 5, minor: 0, access: "rwm" }, // /dev/tty
  { allow: true, type: "c", major: 1, minor: 5, access: "rwm" }, // /dev/zero
  { allow: true, type: "c", major: 1, minor: 9, access: "rwm" }, // /dev/urandom
  { allow: true, type: "c", major: 136, access: "rwm" }, // /dev/pts/*
  { allow: true, type: "c", major: 5, minor: 2, access: "rwm" }, // /dev/ptmx
  { allow: true, type: "c", major: 10, minor: 200, access: "rwm" }, // /dev/net/tun
]);

/**
 * Allow rules for the host device nodes a container gets through bind mounts without
 * `nodev` (GPU nodes; a bound directory such as `/dev/dri` counts with the nodes in it,
 * two levels down).
 *
 * @param mounts The container's mounts.
 * @returns One `rwm` rule per distinct node.
 */
export async function boundDeviceRules(mounts: readonly OciMount[]): Promise<DeviceRule[]> {
  const rules = new Map<string, DeviceRule>();
  const visit = async (paths: string[], depth: number) => {
    const entries = await statHost(paths);
    for (const [path, entry] of entries) {
      if (entry.kind === "c" || entry.kind === "b") {
        const { kind: type, major, minor } = entry;
        rules.set(`${type} ${major}:${minor}`, { allow: true, type, major, minor, access: "rwm" });
      } else if (entry.kind === "d" && depth > 0) {
        const names = await listHostDir(path) ?? [];
        if (names.length) await visit(names.map((name) => `${path}/${name}`), depth - 1);
      }
    }
  };
  const sources = mounts.filter((m) => m.type === "bind" && !m.options?.includes("nodev"))
    .map((m) => m.source);
  if (sources.length) await visit(sources, 2);
  return [...rules.values()];
}

/**
 * Put the default rules and the bound nodes' rules first in a root container's device
 * list (rules added later, e.g. by CDI, come after the deny-all and so still count).
 *
 * @param resources The config's `linux.resources` (or undefined).
 * @param mounts The container's mounts.
 * @returns The resources with the device rules.
 */
export async function withDeviceRules(
  resources: OciResources | undefined,
  mounts: readonly OciMount[],
): Promise<OciResources> {
  return {
    ...resources,
    devices: [
      ...DEFAULT_DEVICE_RULES.map((rule) => ({ ...rule })),
      ...await boundDeviceRules(mounts),
      ...resources?.devices ?? [],
    ],
  };
}
