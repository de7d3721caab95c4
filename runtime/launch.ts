/**
 * `run`, `exec`, `shell` and `test`: from an image path and flags to a finished container
 * and its exit status. See README.md in this folder for the process tree.
 *
 * @module
 */
import { spawnCommand } from "./_command.ts";
import { SingletError, UsageError } from "../core/errors.ts";
import { type Action, ACTION_SCRIPT } from "./action_script.ts";
import {
  ALL_CAPS,
  bindMount,
  buildConfig,
  DEFAULT_CAPS,
  groupWithUser,
  type OciMount,
  passwdWithUser,
  systemMounts,
  tmpfsMount,
  withHostGroups,
} from "./bundle.ts";
import { buildEnvironment, parseEnvFile } from "./env.ts";
import { gpuBinds } from "./gpu.ts";
import { openImage } from "./image.ts";
import {
  mountPoints,
  type OverlayLayer,
  prepareRootfs,
  rootfsPaths,
  type RootfsSetup,
} from "./mounts.ts";
import { chooseRuntime, type OciRuntime, signalPayloadArgs } from "./oci_runtime.ts";
import { applyResources, checkCgroups, ownCgroup, type ResourceLimits } from "./resources.ts";
import { withDeviceRules } from "./device_rules.ts";
import {
  newSessionId,
  removeStaleSessions,
  Session,
  sessionDirectory,
  stateDirectory,
} from "./session.ts";
import { appVariables } from "./scif_app.ts";
import { currentUser, planNamespace } from "./userns.ts";

/** Messages the runtime wants shown; the CLI routes them to its logger. */
export interface LaunchLogger {
  /** A warning the user should see. */
  warning(message: string): void;
  /** Information (e.g. a runtime fallback). */
  info(message: string): void;
  /** Details for --debug. */
  debug(message: string): void;
}

/** One `-B/--bind` or `--mount` item. */
export interface BindSpec {
  /** Host path. */
  source: string;
  /** Container path. */
  destination: string;
  /** Read-only. */
  readonly: boolean;
}

/** Everything `run`/`exec`/`shell`/`test` accept. */
export interface LaunchOptions {
  /** Image path. */
  image: string;
  /** The action. */
  action: Action;
  /** Arguments: the command for exec, runscript arguments for run. */
  args: string[];
  /** --app: the SCIF app to run (`scif_app.ts`). */
  app?: string | undefined;
  /** -B/--bind and --mount. */
  binds?: BindSpec[];
  /** --no-home. */
  noHome?: boolean;
  /** -H/--home src[:dst]. */
  home?: string | undefined;
  /** --cwd/--pwd. */
  cwd?: string | undefined;
  /** -c/--contain. */
  contain?: boolean;
  /** -C/--containall. */
  containall?: boolean;
  /** -e/--cleanenv. */
  cleanenv?: boolean;
  /** --env KEY=VALUE pairs. */
  env?: [string, string][];
  /** --env-file paths. */
  envFiles?: string[];
  /** --no-eval. */
  noEval?: boolean;
  /** --writable-tmpfs. */
  writableTmpfs?: boolean;
  /** Size of the session tmpfs in MiB (--writable-tmpfs-size). */
  tmpfsSizeMiB?: number | undefined;
  /** -w/--writable (sandboxes). */
  writable?: boolean;
  /** -f/--fakeroot. */
  fakeroot?: boolean;
  /** --hostname. */
  hostname?: string | undefined;
  /** -i/--ipc. */
  ipc?: boolean;
  /** -p/--pid. */
  pid?: boolean;
  /** --uts. */
  uts?: boolean;
  /** -n/--net (network "none"). */
  net?: boolean;
  /** --no-privs. */
  noPrivs?: boolean;
  /** --keep-privs. */
  keepPrivs?: boolean;
  /** --add-caps. */
  addCaps?: string[];
  /** --drop-caps. */
  dropCaps?: string[];
  /** --no-mount names. */
  noMount?: string[];
  /** -o/--overlay items (`path[:ro]`). */
  overlays?: string[];
  /** -S/--scratch directories. */
  scratch?: string[];
  /** -W/--workdir. */
  workdir?: string | undefined;
  /** --runtime. */
  runtime?: "runc" | "crun" | undefined;
  /** --nv. */
  nv?: boolean;
  /** --rocm. */
  rocm?: boolean;
  /** --dns servers. */
  dns?: string[];
  /** -s/--shell (shell action). */
  shell?: string | undefined;
  /** --device: fully qualified CDI device names. */
  devices?: string[];
  /** --cdi-dirs (default /etc/cdi, /var/run/cdi). */
  cdiDirs?: string[];
  /** --cpus, --memory, --pids-limit. */
  resources?: ResourceLimits | undefined;
  /** --oci: honour the image's USER and WORKDIR. */
  oci?: boolean;
  /** Where messages go. */
  logger: LaunchLogger;
}

const SIGNALS: Deno.Signal[] = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"];
const SIGNAL_NUMBER: Partial<Record<Deno.Signal, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGTERM: 15,
};
/** Host paths whose binding over the image would hide the image's own system. */
const SYSTEM_DIRS = ["/", "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/opt"]
  .concat(["/proc", "/run", "/sbin", "/srv", "/sys", "/usr", "/var", "/root"]);

/**
 * Run a container and wait for it.
 *
 * @param options Image, action, arguments and flags.
 * @returns The container's exit status (128+n when it died of signal n).
 */
export async function launch(options: LaunchOptions): Promise<number> {
  const log = options.logger;
  const contain = !!(options.contain || options.containall);
  // the image's header is read while the host databases are (both only read files)
  const imageOpening = settle(openImage(options.image));
  const user = await currentUser();
  const plan = await planNamespace(user, { fakeroot: !!options.fakeroot });
  if (plan.warning) log.warning(plan.warning);
  const opened = await imageOpening;
  if ("error" in opened) throw opened.error;
  const image = opened.value;
  if (options.writable && image.kind !== "sandbox") {
    throw new SingletError(
      `Cannot open image "${options.image}" for writing: SquashFS images are read-only`,
      { hint: "use --writable-tmpfs for throw-away changes, or build a sandbox directory" },
    );
  }
  // checked before anything starts: a bad CDI spec or unusable limits start nothing
  // loaded only when asked for: every other launch starts without them
  const cdiModule = options.devices?.length ? await import("./cdi.ts") : undefined;
  const cdi = cdiModule && options.devices
    ? await cdiModule.resolveCdiDevices(
      options.devices,
      await cdiModule.loadCdiSpecs(
        options.cdiDirs?.length ? options.cdiDirs : cdiModule.DEFAULT_CDI_DIRS,
      ),
      { root: plan.mode === "root" },
    )
    : undefined;
  if (cdi) log.debug(`CDI devices: ${cdi.applied.join(", ")}`);
  const cgroups = options.resources
    ? await checkCgroups(options.resources, {
      root: plan.mode === "root",
      uid: user.uid,
      ownCgroup,
      name: `singlet-${crypto.randomUUID()}`,
    })
    : undefined;
  const ociUser = options.oci ? await import("./oci_user.ts") : undefined;
  const ociImage = ociUser ? await ociUser.readOciImageConfig(image) : undefined;
  const stateDir = await stateDirectory(user.uid);
  const overlays = (options.overlays ?? []).map(parseOverlay);
  const sessionId = newSessionId();
  const etc = `${sessionDirectory(stateDir, sessionId)}/etc`;

  // The mounts, decided before the session starts: its set-up script checks that the image
  // has their mount points (then it needs no overlay). Synchronous file system calls: the
  // holder is not started yet, and each await would delay it.
  const skip = new Set(options.noMount ?? []);
  // --oci with an image USER: resolved in the image's own /etc/passwd once it is read
  const wantsImageUser = !!(ociUser && ociImage?.user);
  const mounts: OciMount[] = systemMounts({
    root: plan.mode === "root",
    ipc: !!(options.ipc || options.containall),
    net: !!options.net,
    ttyGid: plan.mode === "single" ? undefined : 5,
    skip,
  });

  // $HOME (undefined: the image user's, known once the image's /etc/passwd is read)
  const homeDest: string | undefined = options.home
    ? (options.home.split(":")[1] || options.home.split(":")[0]!)
    : wantsImageUser
    ? undefined
    : options.fakeroot
    ? "/root"
    : user.home;
  if (options.home) {
    const source = options.home.split(":")[0]!;
    mounts.push(bindMount(hostPath(source, "home directory"), homeDest!));
  } else if (!options.noHome && !skip.has("home") && homeDest !== undefined) {
    if (contain) mounts.push(await scratchOrWorkdir(options.workdir, "home", homeDest, plan));
    else if (isDirectory(user.home)) mounts.push(bindMount(user.home, homeDest));
  }
  // /tmp and /var/tmp
  if (!skip.has("tmp")) {
    if (contain) {
      mounts.push(await scratchOrWorkdir(options.workdir, "tmp", "/tmp", plan));
      mounts.push(await scratchOrWorkdir(options.workdir, "var_tmp", "/var/tmp", plan));
    } else {
      mounts.push(bindMount("/tmp", "/tmp"));
      if (isDirectory("/var/tmp")) mounts.push(bindMount("/var/tmp", "/var/tmp"));
    }
  }
  // the current directory
  const hostCwd = Deno.cwd();
  let cwd = options.cwd ?? (ociImage?.workingDir || undefined);
  // a system directory of the host: the working directory only when the image has it
  let cwdIfInImage: string | undefined;
  if (!contain && !skip.has("cwd") && !cwd) {
    const covered = mounts.some((m) => m.type === "bind" && within(hostCwd, m.destination));
    const system = SYSTEM_DIRS.some((dir) => within(hostCwd, dir) && dir !== "/") ||
      hostCwd === "/";
    if (!covered && !system) mounts.push(bindMount(hostCwd, hostCwd));
    if (covered || !system) cwd = hostCwd;
    else cwdIfInImage = hostCwd;
  }
  // --scratch
  for (const dir of options.scratch ?? []) {
    if (!dir.startsWith("/")) throw new UsageError(`--scratch "${dir}" must be absolute`);
    mounts.push(
      await scratchOrWorkdir(options.workdir, `scratch/${dir.replaceAll("/", "_")}`, dir, plan),
    );
  }
  // user binds
  const binds = options.binds ?? [];
  if (!skip.has("bind-paths")) {
    for (const bind of binds) {
      mounts.push(
        bindMount(hostPath(bind.source, "bind source"), bind.destination, bind.readonly),
      );
    }
  }
  // GPU driver files
  for (
    const vendor of [
      options.nv ? "nv" as const : undefined,
      options.rocm ? "rocm" as const : undefined,
    ]
  ) {
    if (!vendor) continue;
    const gpu = await gpuBinds(vendor);
    if (!gpu.found.libraries && !gpu.found.devices) {
      log.warning(
        `--${vendor}: could not find any ${
          vendor === "nv" ? "NVIDIA" : "ROCm"
        } driver files on this host`,
      );
    }
    log.debug(`--${vendor}: ${JSON.stringify(gpu.found)}`);
    mounts.push(...gpu.mounts);
  }
  // CDI mounts and device-node binds
  if (cdi) mounts.push(...cdi.mounts);
  // /etc files (written into the session directory once it exists)
  if ((plan.processUid !== 0 || plan.mode === "root") && !wantsImageUser) {
    mounts.push(bindMount(`${etc}/passwd`, "/etc/passwd", true));
    mounts.push(bindMount(`${etc}/group`, "/etc/group", true));
  }
  if (options.dns?.length) {
    mounts.push(bindMount(`${etc}/resolv.conf`, "/etc/resolv.conf", true));
  } else if (!skip.has("/etc/resolv.conf") && exists("/etc/resolv.conf")) {
    mounts.push(bindMount(Deno.realPathSync("/etc/resolv.conf"), "/etc/resolv.conf", true));
  }
  if (!skip.has("/etc/hosts") && exists("/etc/hosts")) {
    mounts.push(bindMount("/etc/hosts", "/etc/hosts", true));
  }
  const writableLayer = !!(options.writableTmpfs || options.writable ||
    overlays.some((o) => o.writable));
  // what the image must have for its mount to be the root, with no overlay; the working
  // directory is the host's, or the home directory (the image user's: not known yet)
  const needed = writableLayer ? undefined : mountPoints(
    mounts,
    cwd ?? cwdIfInImage ?? homeDest,
    new Map([
      ...["passwd", "group", "resolv.conf"].map((name) => [`${etc}/${name}`, false] as const),
      // system mounts' sources, which Deno may not even stat
      ["/sys", true],
      ["/dev/shm", true],
    ]),
  );
  // independent steps, in parallel: starting this session's namespaces and mounting the
  // image in them (the holder's own set-up), reading the image's metadata (its SquashFS
  // reader loads meanwhile: it is imported here, not up front), sweeping stale sessions.
  // The mounts are awaited only before the runtime starts.
  let rootfsSetup: RootfsSetup | undefined;
  const sessionOpening = Session.open(stateDir, plan, (session) => {
    rootfsSetup = prepareRootfs(session, image, {
      writable: !!options.writable,
      ...(options.tmpfsSizeMiB ? { tmpfsSizeMiB: options.tmpfsSizeMiB } : {}),
      overlays,
      forceFuseOverlay: Deno.env.get("SINGLET_OVERLAY_DRIVER") === "fuse-overlayfs",
      mountPoints: needed,
    });
    return rootfsSetup.script;
  }, sessionId);
  const rootfsReady = settle(
    sessionOpening.then(async (session) => rootfsSetup!.finish(await session.setup)),
  );
  const [filesResult, staleResult, sessionResult] = await Promise.allSettled([
    import("../core/image/image_files.ts").then((m) => m.openImageFiles(options.image)),
    removeStaleSessions(stateDir),
    sessionOpening,
  ]);
  if (filesResult.status === "rejected" || sessionResult.status === "rejected") {
    if (filesResult.status === "fulfilled") filesResult.value.close();
    if (sessionResult.status === "fulfilled") await sessionResult.value.close();
    throw filesResult.status === "rejected"
      ? filesResult.reason
      : (sessionResult as PromiseRejectedResult).reason;
  }
  const files = filesResult.value;
  const session = sessionResult.value;
  const stale = staleResult.status === "fulfilled" ? staleResult.value : [];
  // The container starts with the image's /bin/sh, and a new squashfuse mount starts with
  // a cold page cache: demand-paging it through FUSE would stall the container's start
  // (about 20 ms for a 2 MB busybox). The holder reads it once after the mounts, on
  // another core, while the bundle is written and the runtime sets up.
  const shell = files.filePath?.("/bin/sh");
  if (shell) session.readAhead(`${session.dir}/image/${shell}`);
  if (stale.length) log.debug(`removed stale sessions: ${stale.join(", ")}`);

  // Signals that arrive before the container runs end the launch; afterwards they are
  // forwarded to the container.
  let pending: Deno.Signal | undefined;
  let forward: ((signal: Deno.Signal) => void) | undefined;
  const handlers = SIGNALS.map((signal) => {
    const handler = () => {
      if (forward) forward(signal);
      else pending ??= signal;
    };
    Deno.addSignalListener(signal, handler);
    return [signal, handler] as const;
  });
  try {
    log.debug(`session ${session.id}: holder pid ${session.holderPid}, mode ${plan.mode}`);
    const layout = rootfsPaths(session.dir);
    const stateRoot = `${layout.tmp}/state`;
    // chosen while the bundle is computed (a cached verdict: a few file reads); a probe,
    // when one is needed, waits for the mounts
    const runtimeChoice = settle(chooseRuntime({
      requested: options.runtime,
      stateDir,
      probeCrun: async (crun) => {
        const mounted = await rootfsReady;
        if ("error" in mounted) throw mounted.error;
        return await probeRuntime(session, crun, layout.rootfs, stateRoot);
      },
      note: (message) => log.info(message),
      debug: (message) => log.debug(message),
    }));

    // --oci: the image's USER (resolved in its own /etc/passwd and /etc/group)
    const imageUser = ociUser && ociImage?.user
      ? ociUser.resolveImageUser(
        ociImage.user,
        await files.readText("/etc/passwd") ?? "",
        await files.readText("/etc/group") ?? "",
        options.image,
      )
      : undefined;
    const imageGroups = ociUser && imageUser
      ? ociUser.checkImageUserMapped(imageUser, plan, options.image)
      : [];
    const home = homeDest ?? imageUser?.home ?? user.home;
    if (!cwd && cwdIfInImage && await files.listDir(cwdIfInImage) !== undefined) {
      cwd = cwdIfInImage;
    }
    cwd ??= home;
    // /etc files
    await Deno.mkdir(etc);
    const passwd = passwdWithUser(await files.readText("/etc/passwd") ?? "", user, home);
    let group = groupWithUser(await files.readText("/etc/group") ?? "", user);
    // root keeps its supplementary groups: name them inside too
    if (plan.mode === "root" && user.groups.length) {
      group = withHostGroups(group, await Deno.readTextFile("/etc/group").catch(() => ""), user);
    }
    await Deno.writeTextFile(`${etc}/passwd`, passwd);
    await Deno.writeTextFile(`${etc}/group`, group);
    if (options.dns?.length) {
      await Deno.writeTextFile(
        `${etc}/resolv.conf`,
        options.dns.map((server) => `nameserver ${server}\n`).join(""),
      );
    }

    // the process
    const hostEnv = Deno.env.toObject();
    const envFiles = await Promise.all(
      (options.envFiles ?? []).map(async (path) => {
        const text = await Deno.readTextFile(path).catch((error) => {
          throw new SingletError(`Cannot read env file "${path}": ${String(error)}`, {
            hint: "check the path given to --env-file",
            cause: error,
          });
        });
        return parseEnvFile(text, path);
      }),
    );
    const imagePath = image.kind === "sandbox"
      ? await Deno.realPath(image.path)
      : await Deno.realPath(image.path);
    const name = imagePath.split("/").pop() ?? imagePath;
    const runtimeVars: Record<string, string> = {
      SINGULARITY_CONTAINER: imagePath,
      SINGULARITY_NAME: name,
      APPTAINER_CONTAINER: imagePath,
      APPTAINER_NAME: name,
      SINGULARITY_COMMAND: options.action,
      SINGULARITY_ENVIRONMENT: "/.singularity.d/env/91-environment.sh",
      USER_PATH: hostEnv.PATH ?? "",
    };
    if (binds.length) {
      runtimeVars.SINGULARITY_BIND = binds.map((b) =>
        `${b.source}:${b.destination}${b.readonly ? ":ro" : ""}`
      ).join(",");
    }
    if (options.shell) runtimeVars.SINGULARITY_SHELL = options.shell;
    if (options.app) {
      Object.assign(runtimeVars, await appVariables(files, options.app, options.image));
    }
    if (options.nv || options.rocm) runtimeVars.LD_LIBRARY_PATH = "/.singularity.d/libs";
    const env = buildEnvironment(hostEnv, {
      cleanenv: !!(options.cleanenv || options.containall),
      env: [...cdi?.env ?? [], ...options.env ?? []],
      envFiles,
      noEval: !!options.noEval,
      home,
      runtime: runtimeVars,
    });
    const hasShell = (await files.listDir("/bin"))?.includes("sh") ?? false;
    let args: string[];
    if (hasShell) {
      args = ["/bin/sh", "-c", ACTION_SCRIPT, options.action, ...options.args];
    } else if (options.action === "exec") {
      log.warning("the image has no /bin/sh: its environment scripts are not sourced");
      args = [...options.args];
    } else {
      throw new SingletError(
        `Cannot ${options.action} "${options.image}": the image has no /bin/sh`,
        { hint: `use 'singlet exec ${options.image} COMMAND' instead` },
      );
    }
    if (options.action === "exec" && !options.args.length) {
      throw new UsageError("exec needs a command to run inside the container");
    }

    const processUid = imageUser?.uid ?? plan.processUid;
    let capabilities = computeCaps(processUid, options, plan.mode === "root");
    if (options.keepPrivs || options.addCaps?.length) {
      // the runtime fails on a capability outside the bounding set (some hosts drop a few)
      const status = await session.run(["grep", "^CapBnd:", "/proc/self/status"]);
      const bounding = BigInt(`0x${status.split(/\s+/)[1] ?? "0"}`);
      const kept = capabilities.filter((cap) => (bounding >> BigInt(ALL_CAPS.indexOf(cap))) & 1n);
      const lost = capabilities.filter((cap) => !kept.includes(cap));
      if (lost.length) log.debug(`not in this host's bounding set: ${lost.join(", ")}`);
      capabilities = kept;
    }
    const config = buildConfig({
      rootfs: layout.rootfs,
      // runc's read-only remount of "/" would clear nosuid/nodev: make each top-level
      // entry read-only instead (its readonlyPaths keep them), "/" itself being root's
      readonlyRootfs: false,
      readonlyPaths: options.writableTmpfs || options.writable || overlays.some((o) => o.writable)
        ? []
        : await topLevel(files, mounts),
      args,
      env,
      cwd,
      uid: processUid,
      gid: imageUser?.gid ?? plan.processGid,
      // root's supplementary groups are kept; in a user namespace they cannot be (README)
      groups: imageUser ? imageGroups : plan.mode === "root" ? user.groups : plan.processGroups,
      terminal: options.action === "shell" && Deno.stdin.isTerminal() &&
        Deno.stdout.isTerminal(),
      capabilities,
      noNewPrivileges: !!options.noPrivs || processUid !== 0,
      namespaces: {
        // always (as SingularityCE's OCI mode): when PID 1 exits, whatever the payload left
        // running dies with it. Signals reach the payload through its process group
        // (signalPayloadArgs), PID 1 being the action script.
        pid: true,
        ipc: !!(options.ipc || options.containall),
        uts: !!options.uts,
        net: !!options.net,
      },
      hostname: options.hostname,
      uidMappings: plan.innerUidMappings,
      gidMappings: plan.innerGidMappings,
      mounts,
    });
    // root: deny every device but the standard ones and the bound GPU nodes (device_rules.ts)
    if (plan.mode === "root") {
      config.linux.resources = await withDeviceRules(config.linux.resources, mounts);
    }
    if (cdiModule && cdi) cdiModule.applyCdiToConfig(config, cdi);
    if (options.resources && cgroups) {
      // a user sees its delegated cgroup through the /sys bind already
      applyResources(config, options.resources, cgroups, !skip.has("sys") && plan.mode === "root");
    }
    const configText = JSON.stringify(config, null, 1);
    await Deno.writeTextFile(`${session.dir}/config.json`, configText);
    // a copy for debugging and the schema tests (tests/e2e/config_schema_test.ts)
    const copy = Deno.env.get("SINGLET_CONFIG_COPY");
    if (copy) await Deno.writeTextFile(copy, configText);

    const mounted = await rootfsReady;
    if ("error" in mounted) throw mounted.error;
    log.debug(
      `rootfs ${layout.rootfs} (overlay: ${mounted.value.overlay}${
        mounted.value.overlay === "none" && image.kind !== "sandbox"
          ? ", the image mount itself"
          : ""
      })`,
    );
    if (pending) return 128 + (SIGNAL_NUMBER[pending] ?? 0);

    const chosen = await runtimeChoice;
    if ("error" in chosen) throw chosen.error;
    const runtime = chosen.value;
    log.debug(`runtime ${runtime.name}`);
    if (pending) return 128 + (SIGNAL_NUMBER[pending] ?? 0);

    // Ctrl-C on a terminal signals singlet's whole foreground process group. nsenter
    // (which waits for the runtime) has no handler and would die, ending the session
    // before the payload could act; started with SIGINT ignored it lives on, and the
    // runtime's Go signal handling takes SIGINT back (Go does so for SIGINT and SIGHUP
    // only, so nothing else may be ignored here: the container would inherit it).
    // singlet forwards the signal (below): the container runs in a session of its own.
    const child = spawnCommand(
      [
        "sh",
        "-c",
        'trap "" INT; exec "$@"',
        "sh",
        ...session.enterArgs(),
        ...runtime.runArgs(stateRoot, session.dir, session.id),
      ],
      { stdin: "inherit", stdout: "inherit", stderr: "inherit" },
    );
    forward = (signal) => {
      void session.run(signalPayloadArgs(runtime, stateRoot, session.id, signal)).catch(
        () => {},
      );
    };
    const status = await child.status;
    forward = undefined;
    if (status.signal) return 128 + (SIGNAL_NUMBER[status.signal] ?? 0);
    return status.code;
  } catch (error) {
    // a failed mount is reported first, as when the mounts were made before the bundle
    const mounted = await rootfsReady;
    if ("error" in mounted) throw mounted.error;
    throw error;
  } finally {
    for (const [signal, handler] of handlers) Deno.removeSignalListener(signal, handler);
    await session.close();
    files.close();
  }
}

type Settled<T> = { value: T } | { error: unknown };

/** A promise that never rejects (so it may be awaited late without an unhandled rejection). */
function settle<T>(promise: Promise<T>): Promise<Settled<T>> {
  return promise.then((value) => ({ value }), (error) => ({ error }));
}

/** Run a do-nothing container with crun to learn whether it works on this host. */
async function probeRuntime(
  session: Session,
  runtime: OciRuntime,
  rootfs: string,
  stateRoot: string,
): Promise<{ verdict: "works" | "refused" | "unknown"; detail: string }> {
  const bundle = `${session.dir}/probe`;
  await Deno.mkdir(bundle);
  const config = buildConfig({
    rootfs,
    readonlyRootfs: true,
    args: ["/singlet-runtime-probe-does-not-exist"],
    env: [],
    cwd: "/",
    uid: 0,
    gid: 0,
    groups: [],
    terminal: false,
    capabilities: [],
    noNewPrivileges: true,
    namespaces: { pid: true, ipc: false, uts: false, net: false },
    hostname: undefined,
    uidMappings: session.plan.innerUidMappings && [{ containerID: 0, hostID: 0, size: 1 }],
    gidMappings: session.plan.innerGidMappings && [{ containerID: 0, hostID: 0, size: 1 }],
    // the runtime makes its device nodes in /dev: a tmpfs, as the root may be the read-only
    // image itself
    mounts: [tmpfsMount("/dev", ["mode=0755"])],
  });
  await Deno.writeTextFile(`${bundle}/config.json`, JSON.stringify(config));
  try {
    await session.run(runtime.runArgs(stateRoot, bundle, `${session.id}-probe`));
    return { verdict: "works", detail: "" };
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    // It got as far as trying to start the (missing) program: the runtime works.
    if (/singlet-runtime-probe-does-not-exist/.test(text)) return { verdict: "works", detail: "" };
    const line = text.split(" | ").find((part) => /cgroup/i.test(part));
    if (line) return { verdict: "refused", detail: line.replace(/^.*?: /, "").trim() };
    return { verdict: "unknown", detail: text.slice(-200) };
  }
}

/** Top-level entries of the image that no mount replaces. */
async function topLevel(
  files: { listDir(path: string): Promise<string[] | undefined> },
  mounts: OciMount[],
): Promise<string[]> {
  const replaced = new Set(mounts.map((m) => m.destination));
  return ((await files.listDir("/")) ?? []).map((name) => `/${name}`).filter((path) =>
    !replaced.has(path)
  );
}

function computeCaps(uid: number, options: LaunchOptions, realRoot: boolean): string[] {
  let caps = new Set<string>(uid === 0 ? DEFAULT_CAPS : []);
  if (options.keepPrivs && realRoot) caps = new Set(ALL_CAPS);
  for (const name of options.addCaps ?? []) {
    for (const cap of capNames(name)) caps.add(cap);
  }
  for (const name of options.dropCaps ?? []) {
    for (const cap of capNames(name)) caps.delete(cap);
  }
  if (options.noPrivs) caps.clear();
  return [...caps];
}

function capNames(name: string): string[] {
  const upper = name.trim().toUpperCase();
  if (upper === "ALL") return [...ALL_CAPS];
  const full = upper.startsWith("CAP_") ? upper : `CAP_${upper}`;
  if (!ALL_CAPS.includes(full)) {
    throw new UsageError(
      `Cannot use capability "${name}": unknown capability`,
      "capability names look like CAP_NET_RAW or net_raw, or 'all'",
    );
  }
  return [full];
}

function parseOverlay(spec: string): OverlayLayer {
  const readonly = spec.endsWith(":ro");
  const path = readonly ? spec.slice(0, -3) : spec;
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch {
    throw new SingletError(`Cannot use overlay "${path}": no such file or directory`, {
      hint: "give an existing directory or SquashFS image to --overlay",
    });
  }
  if (info.isDirectory) return { path, writable: !readonly, kind: "dir" };
  return { path, writable: false, kind: "squashfs" };
}

async function scratchOrWorkdir(
  workdir: string | undefined,
  name: string,
  destination: string,
  plan: { processUid: number; processGid: number },
): Promise<OciMount> {
  if (workdir) {
    const dir = `${hostPath(workdir, "workdir")}/${name}`;
    await Deno.mkdir(dir, { recursive: true, mode: name === "tmp" ? 0o1777 : 0o755 });
    return bindMount(dir, destination);
  }
  return tmpfsMount(destination, [
    name.includes("tmp") ? "mode=1777" : "mode=0755",
    `uid=${plan.processUid}`,
    `gid=${plan.processGid}`,
  ]);
}

function hostPath(path: string, what: string): string {
  try {
    return Deno.realPathSync(path);
  } catch {
    throw new SingletError(`Cannot mount ${what} "${path}": no such file or directory`, {
      hint: "check the path; bind sources must exist on the host",
    });
  }
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

function isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

function within(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith("/") ? dir : `${dir}/`);
}
