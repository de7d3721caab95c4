/**
 * `--device` and `--cdi-dirs`: Container Device Interface (CDI) devices, as SingularityCE
 * and Apptainer accept them. A device is named `vendor.com/class=name` (or
 * `vendor.com/class=all` for every device of that kind); spec files (`*.json`, `*.yaml`,
 * `*.yml`) are read from `/etc/cdi` and `/var/run/cdi` (a later directory wins a name both
 * define) or from the `--cdi-dirs` list.
 *
 * A requested device's spec-level and device-level `containerEdits` become part of the
 * container: `env` entries, `deviceNodes` (created with `mknod` by the runtime when the
 * caller is root; bind-mounted from the host inside a user namespace, where `mknod` is
 * not allowed, as SingularityCE does), `mounts`, `hooks` (written into `config.json`: runc
 * and crun run OCI hooks) and `additionalGids`.
 *
 * Any problem (an unknown device, a malformed name, a spec file that does not parse or
 * does not follow the spec) is one `SingletError` naming the device or file, before
 * anything is started.
 *
 * @module
 */
import { SingletError } from "../core/errors.ts";
import type { OciConfig, OciMount } from "./bundle.ts";
import { statHost } from "./host_devices.ts";

/** The directories searched when `--cdi-dirs` is not given, lowest priority first. */
export const DEFAULT_CDI_DIRS: readonly string[] = ["/etc/cdi", "/var/run/cdi"];

/** The OCI hook points a CDI spec may name (runc and crun implement all of them). */
export const HOOK_NAMES: readonly string[] = [
  "prestart",
  "createRuntime",
  "createContainer",
  "startContainer",
  "poststart",
  "poststop",
];

/** A device node edit (CDI `deviceNodes` entry). */
export interface CdiDeviceNode {
  /** Path inside the container. */
  path: string;
  /** Path on the host (default: `path`). */
  hostPath?: string;
  /** "c", "b" or "p" (default: the host node's). */
  type?: string;
  /** Major number (default: the host node's). */
  major?: number;
  /** Minor number (default: the host node's). */
  minor?: number;
  /** File mode of the node. */
  fileMode?: number;
  /** Cgroup access ("rwm" by default). */
  permissions?: string;
  /** Owner inside the container. */
  uid?: number;
  /** Group inside the container. */
  gid?: number;
}

/** A mount edit (CDI `mounts` entry). */
export interface CdiMount {
  /** Host path. */
  hostPath: string;
  /** Container path. */
  containerPath: string;
  /** Filesystem type (default bind). */
  type?: string;
  /** Mount options. */
  options?: string[];
}

/** A hook edit (CDI `hooks` entry). */
export interface CdiHook {
  /** OCI hook point, one of {@linkcode HOOK_NAMES}. */
  hookName: string;
  /** Absolute path of the program. */
  path: string;
  /** argv (including argv[0]). */
  args?: string[];
  /** Environment, `KEY=VALUE`. */
  env?: string[];
  /** Seconds. */
  timeout?: number;
}

/** CDI `containerEdits`. */
export interface CdiContainerEdits {
  /** `KEY=VALUE` entries. */
  env?: string[];
  /** Device nodes. */
  deviceNodes?: CdiDeviceNode[];
  /** Mounts. */
  mounts?: CdiMount[];
  /** Hooks. */
  hooks?: CdiHook[];
  /** Extra supplementary groups. */
  additionalGids?: number[];
  /** Edits the spec has that singlet cannot apply (`netDevices`, `intelRdt`). */
  unsupported?: string[];
}

/** One device of a spec. */
export interface CdiDevice {
  /** Name (the part after `=`). */
  name: string;
  /** Its edits. */
  containerEdits: CdiContainerEdits;
}

/** A parsed spec file. */
export interface CdiSpec {
  /** The file it came from. */
  file: string;
  /** `cdiVersion`. */
  cdiVersion: string;
  /** `vendor/class`. */
  kind: string;
  /** Its devices. */
  devices: CdiDevice[];
  /** Edits applied once when any of its devices is requested. */
  containerEdits: CdiContainerEdits;
}

/** One OCI `linux.devices` entry. */
export interface OciLinuxDevice {
  /** Path inside the container. */
  path: string;
  /** "c", "b" or "p". */
  type: string;
  /** Major number. */
  major: number;
  /** Minor number. */
  minor: number;
  /** Mode bits. */
  fileMode?: number;
  /** Owner. */
  uid?: number;
  /** Group. */
  gid?: number;
}

/** One OCI `linux.resources.devices` (device cgroup) rule. */
export interface OciDeviceRule {
  /** Allow or deny. */
  allow: boolean;
  /** "c", "b" or "a". */
  type: string;
  /** Major number. */
  major: number;
  /** Minor number. */
  minor: number;
  /** "r", "w", "m" combination. */
  access: string;
}

/** One OCI hook. */
export interface OciHook {
  /** Program. */
  path: string;
  /** argv. */
  args?: string[];
  /** Environment. */
  env?: string[];
  /** Seconds. */
  timeout?: number;
}

/** What the requested devices add to the container. */
export interface CdiEdits {
  /** Environment variables, in spec order (later entries win). */
  env: [string, string][];
  /** Mounts (binds, and device-node binds inside a user namespace). */
  mounts: OciMount[];
  /** Device nodes the runtime creates (root only). */
  devices: OciLinuxDevice[];
  /** Device cgroup rules for those nodes (root only). */
  deviceRules: OciDeviceRule[];
  /** Hooks by hook point. */
  hooks: Record<string, OciHook[]>;
  /** Extra supplementary groups. */
  additionalGids: number[];
  /** The fully qualified names applied. */
  applied: string[];
}

const KIND_VENDOR = /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/;
const KIND_CLASS = /^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$/;
const DEVICE_NAME = /^[A-Za-z0-9]([A-Za-z0-9_.:-]*[A-Za-z0-9])?$/;

/**
 * Split a fully qualified CDI device name.
 *
 * @param qualified `vendor.com/class=name`.
 * @returns Kind (`vendor.com/class`) and name.
 * @throws {SingletError} When the name is not fully qualified.
 */
export function parseDeviceName(qualified: string): { kind: string; name: string } {
  const eq = qualified.indexOf("=");
  const kind = eq < 0 ? qualified : qualified.slice(0, eq);
  const name = eq < 0 ? "" : qualified.slice(eq + 1);
  const [vendor, cls, ...rest] = kind.split("/");
  if (
    eq < 0 || rest.length || !vendor || !cls || !KIND_VENDOR.test(vendor) ||
    !KIND_CLASS.test(cls) || !DEVICE_NAME.test(name)
  ) {
    throw new SingletError(
      `Cannot use device "${qualified}": not a fully qualified CDI device name`,
      { hint: "name devices as vendor.com/class=name, or vendor.com/class=all" },
    );
  }
  return { kind, name };
}

/**
 * Read and check one CDI spec file.
 *
 * @param file Path of a `.json`, `.yaml` or `.yml` file.
 * @param text Its content.
 * @param parseYaml The YAML parser (the npm `yaml` package's `parse`; loaded by
 *   {@linkcode loadCdiSpecs} only when a YAML file is read, so JSON-only launches and
 *   launches without `--device` never load it).
 * @returns The spec.
 * @throws {SingletError} Naming the file when it does not parse or breaks the spec.
 */
export function parseCdiSpec(
  file: string,
  text: string,
  parseYaml: (text: string) => unknown = yamlUnavailable,
): CdiSpec {
  const bad = (what: string): never => {
    throw new SingletError(`Cannot read CDI spec "${file}": ${what}`, {
      hint: "fix or remove the spec file (see the CDI specification), or choose other " +
        "directories with --cdi-dirs",
    });
  };
  let doc: unknown;
  try {
    doc = file.endsWith(".json") ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    bad(`not valid ${file.endsWith(".json") ? "JSON" : "YAML"}: ${firstLine(error)}`);
  }
  if (!isObject(doc)) return bad("not an object");
  const { cdiVersion, kind, devices } = doc;
  if (typeof cdiVersion !== "string" || !/^\d+\.\d+\.\d+$/.test(cdiVersion)) {
    bad('"cdiVersion" must be a version such as "0.6.0"');
  }
  if (typeof kind !== "string") return bad('"kind" is missing');
  const [vendor, cls, ...rest] = kind.split("/");
  if (rest.length || !vendor || !cls || !KIND_VENDOR.test(vendor) || !KIND_CLASS.test(cls)) {
    bad(`"kind" "${kind}" is not vendor.com/class`);
  }
  if (!Array.isArray(devices) || devices.length === 0) {
    return bad('"devices" must list at least one device');
  }
  const seen = new Set<string>();
  const parsed = devices.map((device, i): CdiDevice => {
    if (!isObject(device) || typeof device.name !== "string" || !DEVICE_NAME.test(device.name)) {
      return bad(`device ${i} has no valid "name"`);
    }
    if (seen.has(device.name)) bad(`device "${device.name}" is defined twice`);
    seen.add(device.name);
    return {
      name: device.name,
      containerEdits: parseEdits(device.containerEdits, `device "${device.name}"`, bad),
    };
  });
  return {
    file,
    cdiVersion: cdiVersion as string,
    kind,
    devices: parsed,
    containerEdits: parseEdits(doc.containerEdits, "the spec", bad),
  };
}

function parseEdits(
  value: unknown,
  where: string,
  bad: (what: string) => never,
): CdiContainerEdits {
  if (value === undefined || value === null) return {};
  if (!isObject(value)) return bad(`${where}: "containerEdits" is not an object`);
  const edits: CdiContainerEdits = {};
  // newer spec versions' edits singlet has no way to apply: refused when the device is
  // asked for, rather than silently left out
  const unsupported = ["netDevices", "intelRdt"].filter((key) =>
    value[key] !== undefined && value[key] !== null
  );
  if (unsupported.length) edits.unsupported = unsupported;
  const list = (key: string): unknown[] | undefined => {
    const v = value[key];
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v)) return bad(`${where}: "${key}" is not a list`);
    return v;
  };
  const env = list("env");
  if (env) {
    edits.env = env.map((entry) => {
      if (typeof entry !== "string" || entry.indexOf("=") <= 0) {
        return bad(`${where}: env entry ${JSON.stringify(entry)} is not KEY=VALUE`);
      }
      return entry;
    });
  }
  const nodes = list("deviceNodes");
  if (nodes) {
    edits.deviceNodes = nodes.map((node) => {
      if (!isObject(node) || typeof node.path !== "string" || !node.path.startsWith("/")) {
        return bad(`${where}: a device node has no absolute "path"`);
      }
      const out: CdiDeviceNode = { path: node.path };
      if (node.hostPath !== undefined) {
        if (typeof node.hostPath !== "string" || !node.hostPath.startsWith("/")) {
          bad(`${where}: device node "${node.path}": "hostPath" must be absolute`);
        }
        out.hostPath = node.hostPath as string;
      }
      if (node.type !== undefined) {
        if (!["c", "b", "u", "p"].includes(node.type as string)) {
          bad(`${where}: device node "${node.path}": "type" must be c, b, u or p`);
        }
        out.type = node.type === "u" ? "c" : node.type as string;
      }
      for (const key of ["major", "minor", "fileMode", "uid", "gid"] as const) {
        const v = node[key];
        if (v === undefined) continue;
        if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
          bad(`${where}: device node "${node.path}": "${key}" must be a non-negative integer`);
        }
        out[key] = v as number;
      }
      if (node.permissions !== undefined) {
        if (typeof node.permissions !== "string" || !/^[rwm]+$/.test(node.permissions)) {
          bad(`${where}: device node "${node.path}": "permissions" must be made of r, w, m`);
        }
        out.permissions = node.permissions as string;
      }
      return out;
    });
  }
  const mounts = list("mounts");
  if (mounts) {
    edits.mounts = mounts.map((mount) => {
      if (
        !isObject(mount) || typeof mount.hostPath !== "string" ||
        typeof mount.containerPath !== "string" || !mount.containerPath.startsWith("/")
      ) {
        return bad(`${where}: a mount needs "hostPath" and an absolute "containerPath"`);
      }
      const out: CdiMount = { hostPath: mount.hostPath, containerPath: mount.containerPath };
      if (mount.type !== undefined) {
        if (typeof mount.type !== "string") bad(`${where}: mount "type" is not a string`);
        out.type = mount.type as string;
      }
      if (mount.options !== undefined) {
        if (!Array.isArray(mount.options) || mount.options.some((o) => typeof o !== "string")) {
          bad(`${where}: mount "options" must be a list of strings`);
        }
        out.options = mount.options as string[];
      }
      return out;
    });
  }
  const hooks = list("hooks");
  if (hooks) {
    edits.hooks = hooks.map((hook) => {
      if (!isObject(hook) || typeof hook.hookName !== "string") {
        return bad(`${where}: a hook has no "hookName"`);
      }
      if (!HOOK_NAMES.includes(hook.hookName)) {
        bad(
          `${where}: hook "${hook.hookName}" is not one the OCI runtime runs ` +
            `(${HOOK_NAMES.join(", ")})`,
        );
      }
      if (typeof hook.path !== "string" || !hook.path.startsWith("/")) {
        bad(`${where}: a ${hook.hookName} hook has no absolute "path"`);
      }
      const out: CdiHook = { hookName: hook.hookName, path: hook.path as string };
      for (const key of ["args", "env"] as const) {
        const v = hook[key];
        if (v === undefined) continue;
        if (!Array.isArray(v) || v.some((s) => typeof s !== "string")) {
          bad(`${where}: hook "${key}" must be a list of strings`);
        }
        out[key] = v as string[];
      }
      if (hook.timeout !== undefined) {
        if (typeof hook.timeout !== "number" || hook.timeout <= 0) {
          bad(`${where}: hook "timeout" must be a positive number of seconds`);
        }
        out.timeout = hook.timeout as number;
      }
      return out;
    });
  }
  const gids = list("additionalGids");
  if (gids) {
    edits.additionalGids = gids.map((gid) => {
      if (typeof gid !== "number" || !Number.isInteger(gid) || gid < 0) {
        return bad(`${where}: "additionalGids" must be non-negative integers`);
      }
      return gid;
    });
  }
  return edits;
}

/**
 * Read every spec file in the given directories (missing directories are skipped).
 *
 * @param dirs Directories, lowest priority first.
 * @returns The specs, in priority order (lowest first).
 * @throws {SingletError} Naming a spec file that cannot be read or parsed.
 */
export async function loadCdiSpecs(dirs: readonly string[]): Promise<CdiSpec[]> {
  const specs: CdiSpec[] = [];
  for (const dir of dirs) {
    let names: string[];
    try {
      names = (await Array.fromAsync(Deno.readDir(dir)))
        .filter((e) => !e.isDirectory && /\.(json|ya?ml)$/.test(e.name))
        .map((e) => e.name)
        .sort();
    } catch (error) {
      if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
        continue;
      }
      throw new SingletError(`Cannot read CDI directory "${dir}": ${firstLine(error)}`, {
        hint: "check the directories given to --cdi-dirs",
        cause: error,
      });
    }
    for (const name of names) {
      const file = `${dir.replace(/\/+$/, "")}/${name}`;
      let text: string;
      try {
        text = await Deno.readTextFile(file);
      } catch (error) {
        throw new SingletError(`Cannot read CDI spec "${file}": ${firstLine(error)}`, {
          hint: "check the file's permissions",
          cause: error,
        });
      }
      const yaml = file.endsWith(".json") ? undefined : (await import("yaml")).parse;
      specs.push(parseCdiSpec(file, text, yaml));
    }
  }
  return specs;
}

/** How device nodes reach the container. */
export interface CdiApplyOptions {
  /**
   * The caller is real root: the runtime creates device nodes and allows them in the
   * device cgroup. Otherwise (a user namespace, where mknod is refused) the host nodes are
   * bind-mounted.
   */
  root: boolean;
}

/**
 * Resolve the requested devices against the specs and collect their edits.
 *
 * @param requested Fully qualified names (`vendor.com/class=name` or `=all`).
 * @param specs Specs from {@linkcode loadCdiSpecs}, lowest priority first.
 * @param options Root or user namespace.
 * @returns The edits to apply.
 * @throws {SingletError} For an unknown device or an unusable device node.
 */
export async function resolveCdiDevices(
  requested: readonly string[],
  specs: readonly CdiSpec[],
  options: CdiApplyOptions,
): Promise<CdiEdits> {
  // a device defined by several files: the one from the later (higher priority) file wins
  const byName = new Map<string, { spec: CdiSpec; device: CdiDevice }>();
  for (const spec of specs) {
    for (const device of spec.devices) byName.set(`${spec.kind}=${device.name}`, { spec, device });
  }
  const chosen: { spec: CdiSpec; device: CdiDevice }[] = [];
  for (const qualified of requested) {
    const { kind, name } = parseDeviceName(qualified);
    const found = name === "all"
      ? [...byName.entries()].filter(([key]) => key.startsWith(`${kind}=`)).map(([, v]) => v)
      : [byName.get(qualified)].filter((v) => v !== undefined);
    if (!found.length) {
      throw new SingletError(
        `Cannot use device "${qualified}": no CDI spec defines it`,
        {
          hint: specs.some((s) => s.kind === kind)
            ? `known devices of ${kind}: ${
              specs.filter((s) => s.kind === kind).flatMap((s) => s.devices.map((d) => d.name))
                .join(", ")
            }`
            : "check the name, or point --cdi-dirs at the directory holding its spec " +
              "(default /etc/cdi,/var/run/cdi)",
        },
      );
    }
    for (const item of found) if (!chosen.includes(item)) chosen.push(item);
  }
  const edits: CdiEdits = {
    env: [],
    mounts: [],
    devices: [],
    deviceRules: [],
    hooks: {},
    additionalGids: [],
    applied: chosen.map(({ spec, device }) => `${spec.kind}=${device.name}`),
  };
  const specsUsed = [...new Set(chosen.map((c) => c.spec))];
  for (const spec of specsUsed) {
    await addEdits(edits, spec.containerEdits, spec.file, `${spec.kind}=*`, options);
  }
  for (const { spec, device } of chosen) {
    await addEdits(edits, device.containerEdits, spec.file, `${spec.kind}=${device.name}`, options);
  }
  return edits;
}

async function addEdits(
  out: CdiEdits,
  edits: CdiContainerEdits,
  file: string,
  name: string,
  options: CdiApplyOptions,
): Promise<void> {
  if (edits.unsupported?.length) {
    throw new SingletError(
      `Cannot use CDI device "${name}" from "${file}": singlet cannot apply its ` +
        `${edits.unsupported.join(" and ")} edits`,
      { hint: "use a runtime with full CDI support (e.g. podman) for this device" },
    );
  }
  for (const entry of edits.env ?? []) {
    const eq = entry.indexOf("=");
    out.env.push([entry.slice(0, eq), entry.slice(eq + 1)]);
  }
  for (const node of edits.deviceNodes ?? []) {
    const hostPath = node.hostPath ?? node.path;
    const host = await hostNode(hostPath);
    const type = node.type ?? host?.type;
    const major = node.major ?? host?.major;
    const minor = node.minor ?? host?.minor;
    if (!options.root) {
      if (!host) {
        throw new SingletError(
          `Cannot use CDI device node "${node.path}" from "${file}": ` +
            `"${hostPath}" is not a device node on this host`,
          {
            hint: "without root the device node is bound from the host (a user namespace " +
              "cannot create device nodes); the device must exist on the host",
          },
        );
      }
      // no nodev: the node must stay usable
      out.mounts.push({
        destination: node.path,
        type: "bind",
        source: hostPath,
        options: ["bind", "nosuid"],
      });
      continue;
    }
    if (type === undefined || major === undefined || minor === undefined) {
      throw new SingletError(
        `Cannot use CDI device node "${node.path}" from "${file}": ` +
          `"${hostPath}" does not exist and the spec gives no type, major and minor`,
        { hint: "install the device's driver, or fix the spec" },
      );
    }
    const device: OciLinuxDevice = { path: node.path, type, major, minor };
    const mode = node.fileMode ?? host?.mode;
    if (mode !== undefined) device.fileMode = mode;
    if (node.uid !== undefined) device.uid = node.uid;
    if (node.gid !== undefined) device.gid = node.gid;
    out.devices.push(device);
    if (type !== "p") {
      out.deviceRules.push({
        allow: true,
        type,
        major,
        minor,
        access: node.permissions ?? "rwm",
      });
    }
  }
  for (const mount of edits.mounts ?? []) {
    const type = mount.type ?? "bind";
    const given = mount.options ?? [];
    const options = type === "bind" && !given.includes("bind") && !given.includes("rbind")
      ? ["rbind", ...given]
      : [...given];
    // never setuid files or device files from a host directory (device nodes come through
    // deviceNodes)
    for (const flag of ["nosuid", "nodev"]) if (!options.includes(flag)) options.push(flag);
    out.mounts.push({
      destination: mount.containerPath,
      type,
      source: mount.hostPath,
      options,
    });
  }
  for (const hook of edits.hooks ?? []) {
    const entry: OciHook = { path: hook.path };
    if (hook.args) entry.args = hook.args;
    if (hook.env) entry.env = hook.env;
    if (hook.timeout !== undefined) entry.timeout = hook.timeout;
    (out.hooks[hook.hookName] ??= []).push(entry);
  }
  for (const gid of edits.additionalGids ?? []) {
    if (!out.additionalGids.includes(gid)) out.additionalGids.push(gid);
  }
}

interface HostNode {
  type: "c" | "b";
  major: number;
  minor: number;
  mode: number;
}

async function hostNode(path: string): Promise<HostNode | undefined> {
  // Deno may not stat most of /dev itself: statHost asks `stat` then
  const entry = (await statHost([path])).get(path);
  if (entry?.kind !== "c" && entry?.kind !== "b") return undefined;
  return { type: entry.kind, major: entry.major, minor: entry.minor, mode: entry.mode & 0o777 };
}

function yamlUnavailable(): never {
  throw new Error("no YAML parser given");
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0]!;
}

/**
 * Write the edits that live in `config.json` itself (device nodes, device cgroup rules,
 * hooks, extra groups); mounts and environment go through the launch's own lists.
 *
 * @param config The generated runtime config (changed in place).
 * @param edits From {@linkcode resolveCdiDevices}.
 */
export function applyCdiToConfig(config: OciConfig, edits: CdiEdits): void {
  if (edits.devices.length) {
    config.linux.devices = [...config.linux.devices ?? [], ...edits.devices];
    const resources = config.linux.resources ??= {};
    resources.devices = [...resources.devices ?? [], ...edits.deviceRules];
  }
  for (const [point, hooks] of Object.entries(edits.hooks)) {
    const all = config.hooks ??= {};
    all[point] = [...all[point] ?? [], ...hooks];
  }
  if (edits.additionalGids.length) {
    const user = config.process.user;
    const groups = new Set([...user.additionalGids ?? [], ...edits.additionalGids]);
    groups.delete(user.gid);
    if (groups.size) user.additionalGids = [...groups];
  }
}
