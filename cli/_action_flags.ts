/**
 * The flags `run`, `exec`, `shell` and `test` share, their `SINGULARITY_*`/`APPTAINER_*`/
 * `SINGLET_*` environment equivalents (§2.1: the command line wins; SINGLET_ beats
 * APPTAINER_ beats SINGULARITY_), and the one action that turns them into a launch.
 *
 * Options stop at the image: `singlet exec -B /data img ls -la` passes `-la` to `ls`.
 *
 * @module
 */
import { action, type Command, Option } from "./_command.ts";
import { log } from "./_output.ts";
import { UsageError } from "../core/errors.ts";
import type { Action } from "../runtime/action_script.ts";
import { type BindSpec, launch, type LaunchOptions } from "../runtime/launch.ts";
import { parseResourceFlags } from "../runtime/resources.ts";

type Kind = "bool" | "string" | "list";

/** Image arguments that name a source to pull rather than a local path. */
const URI = /^(docker:\/\/|oci:|oci-archive:|docker-archive:|docker-daemon:|https?:\/\/)/;

interface FlagSpec {
  /** Commander flags text. */
  flags: string;
  /** Help text (Singularity's wording where it has one). */
  help: string;
  /** Environment keys after the prefix, in lookup order. */
  env: string[];
  /** How the value is read. */
  kind: Kind;
  /** Only on these actions. */
  only?: Action[];
  /** Hidden synonym. */
  hidden?: boolean;
}

/** The shared flag table, in help order. */
const FLAGS: FlagSpec[] = [
  {
    flags: "-B, --bind <spec>",
    help: "a user-bind path specification: src[:dest[:opts]] with opts ro or rw; " +
      "comma-separated list, repeatable",
    env: ["BIND", "BINDPATH"],
    kind: "list",
  },
  {
    flags: "--mount <spec>",
    help: "a mount specification: type=bind,source=/opt,destination=/opt[,ro]; repeatable",
    env: ["MOUNT"],
    kind: "list",
  },
  { flags: "--no-home", help: "do NOT mount users home directory", env: ["NO_HOME"], kind: "bool" },
  {
    flags: "-H, --home <spec>",
    help: "a home directory specification: src[:dest]",
    env: ["HOME"],
    kind: "string",
  },
  {
    flags: "--cwd <dir>",
    help: "initial working directory for payload process inside the container",
    env: ["CWD", "TARGET_CWD"],
    kind: "string",
  },
  {
    flags: "--pwd <dir>",
    help: "synonym of --cwd",
    env: ["PWD", "TARGET_PWD"],
    kind: "string",
    hidden: true,
  },
  {
    flags: "-c, --contain",
    help: "use minimal /dev and empty other directories (e.g. /tmp and $HOME) " +
      "instead of sharing filesystems from your host",
    env: ["CONTAIN"],
    kind: "bool",
  },
  {
    flags: "-C, --containall",
    help: "contain not only file systems, but also PID, IPC, and environment",
    env: ["CONTAINALL"],
    kind: "bool",
  },
  {
    flags: "-e, --cleanenv",
    help: "clean environment before running container",
    env: ["CLEANENV"],
    kind: "bool",
  },
  {
    flags: "--env <pairs>",
    help: "pass environment variable to contained process: KEY=VALUE[,KEY=VALUE]; repeatable",
    env: [],
    kind: "list",
  },
  {
    flags: "--env-file <files>",
    help: "pass environment variables from file(s) (KEY=VALUE lines); repeatable",
    env: ["ENV_FILE"],
    kind: "list",
  },
  {
    flags: "--no-eval",
    help: "do not shell evaluate env vars or OCI container CMD/ENTRYPOINT/ARGS",
    env: ["NO_EVAL"],
    kind: "bool",
  },
  {
    flags: "--writable-tmpfs",
    help: "makes the file system accessible as read-write with non persistent data " +
      "(with overlay support only)",
    env: ["WRITABLE_TMPFS"],
    kind: "bool",
  },
  {
    flags: "--writable-tmpfs-size <size>",
    help: "size of the --writable-tmpfs layer and session tmpfs, e.g. 512M or 2G " +
      "(default 64M)",
    env: ["WRITABLE_TMPFS_SIZE"],
    kind: "string",
  },
  {
    flags: "-w, --writable",
    help: "by default all Singularity containers are available as read only; this option " +
      "makes a sandbox directory writable",
    env: ["WRITABLE"],
    kind: "bool",
  },
  {
    flags: "-o, --overlay <path>",
    help: "use an overlayFS image for persistent data storage or as read-only layer of " +
      "container: a directory, or a SquashFS image (read-only); path[:ro], repeatable",
    env: ["OVERLAY", "OVERLAYIMAGE"],
    kind: "list",
  },
  {
    flags: "-S, --scratch <dir>",
    help: "include a scratch directory within the container that is linked to a temporary " +
      "dir (use -W to force location); repeatable",
    env: ["SCRATCH", "SCRATCHDIR"],
    kind: "list",
  },
  {
    flags: "-W, --workdir <dir>",
    help: "working directory to be used for /tmp, /var/tmp and $HOME (if -c/--contain was " +
      "also used)",
    env: ["WORKDIR"],
    kind: "string",
  },
  {
    flags: "-f, --fakeroot",
    help: "run container in new user namespace as uid 0",
    env: ["FAKEROOT"],
    kind: "bool",
  },
  {
    flags: "--hostname <name>",
    help: "set container hostname (implies --uts)",
    env: ["HOSTNAME"],
    kind: "string",
  },
  {
    flags: "-i, --ipc",
    help: "run container in a new IPC namespace",
    env: ["IPC", "UNSHARE_IPC"],
    kind: "bool",
  },
  {
    flags: "-p, --pid",
    help: "run container in a new PID namespace (always the case under singlet)",
    env: ["PID", "UNSHARE_PID"],
    kind: "bool",
  },
  {
    flags: "--uts",
    help: "run container in a new UTS namespace",
    env: ["UTS", "UNSHARE_UTS"],
    kind: "bool",
  },
  {
    flags: "-n, --net",
    help: "run container in a new network namespace (loopback only)",
    env: ["NET", "UNSHARE_NET"],
    kind: "bool",
  },
  {
    flags: "--network <type>",
    help: "network type for --net: none (loopback only, the one type singlet provides)",
    env: ["NETWORK"],
    kind: "string",
  },
  {
    flags: "--dns <servers>",
    help: "list of DNS server separated by commas to add in resolv.conf",
    env: ["DNS"],
    kind: "list",
  },
  {
    flags: "--no-privs",
    help: "drop all privileges from root user in container",
    env: ["NO_PRIVS"],
    kind: "bool",
  },
  {
    flags: "--keep-privs",
    help: "let root user keep privileges in container (root only)",
    env: ["KEEP_PRIVS"],
    kind: "bool",
  },
  {
    flags: "--add-caps <caps>",
    help: "a comma separated capability list to add",
    env: ["ADD_CAPS"],
    kind: "list",
  },
  {
    flags: "--drop-caps <caps>",
    help: "a comma separated capability list to drop",
    env: ["DROP_CAPS"],
    kind: "list",
  },
  {
    flags: "--no-mount <list>",
    help: "disable one or more mount xxx options set in singularity.conf and/or specify " +
      "absolute destination path to disable a bind path entry: proc, sys, dev, devpts, " +
      "tmp, home, cwd, bind-paths, /etc/resolv.conf, /etc/hosts",
    env: ["NO_MOUNT"],
    kind: "list",
  },
  {
    flags: "--compat",
    help: "apply settings for increased OCI/Docker compatibility; infers --containall, " +
      "--no-eval, --writable-tmpfs",
    env: ["COMPAT"],
    kind: "bool",
  },
  { flags: "--nv", help: "enable Nvidia support", env: ["NV"], kind: "bool" },
  { flags: "--rocm", help: "enable experimental Rocm support", env: ["ROCM"], kind: "bool" },
  {
    flags: "--device <names>",
    help: "fully-qualified CDI device name(s): <VENDOR>/<CLASS>=<NAME> (e.g. " +
      "vendor.com/device=mydevice, or =all); comma-separated list, repeatable",
    env: [],
    kind: "list",
  },
  {
    flags: "--cdi-dirs <dirs>",
    help: "comma-separated list of directories in which CDI should look for device " +
      "definition JSON and YAML files (default /etc/cdi,/var/run/cdi)",
    env: [],
    kind: "list",
  },
  {
    flags: "--cpus <n>",
    help: "number of CPUs available to container, e.g. 1.5 (cgroup limit: root, or a " +
      "delegated cgroup v2)",
    env: ["CPUS"],
    kind: "string",
  },
  {
    flags: "--memory <bytes>",
    help: "memory limit in bytes; suffix with k, m, g (cgroup limit: root, or a delegated " +
      "cgroup v2)",
    env: ["MEMORY"],
    kind: "string",
  },
  {
    flags: "--pids-limit <n>",
    help: "limit number of container PIDs (cgroup limit: root, or a delegated cgroup v2)",
    env: ["PIDS_LIMIT"],
    kind: "string",
  },
  {
    flags: "--oci",
    help: "OCI mode for images pulled or built from OCI sources: run as the image's USER " +
      "and start in its WORKDIR (a USER other than root needs root, or subuid/subgid " +
      "ranges); other behaviour stays Singularity's",
    env: ["OCI"],
    kind: "bool",
  },
  {
    flags: "--runtime <name>",
    help: "OCI runtime to use: crun or runc (default: crun where it works, else runc)",
    env: ["RUNTIME"],
    kind: "string",
  },
  {
    flags: "--app <name>",
    help: "set an application to run inside a container",
    env: ["APP", "APPNAME"],
    kind: "string",
  },
  {
    flags: "-s, --shell <path>",
    help: "path to program to use for interactive shell",
    env: ["SHELL"],
    kind: "string",
    only: ["shell"],
  },
];

/** Parsed values, keyed by commander's attribute name. */
type Values = Record<string, string | boolean | string[] | undefined>;

function attributeName(flags: string): string {
  const long = /--([a-z-]+)/.exec(flags)![1]!;
  return long.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/**
 * Register one action verb (`run`, `exec`, `shell` or `test`) with the shared flags.
 *
 * @param program The root program.
 * @param verb The action.
 * @param description One line of help.
 * @param usage The argument part of the usage line.
 * @returns The new command.
 */
export function registerAction(
  program: Command,
  verb: Action,
  description: string,
  usage: string,
): Command {
  const command = program
    .command(verb)
    .description(description)
    .usage(`[${verb} options...] ${usage}`)
    .argument("<image>", "path to a SIF, SquashFS image or sandbox directory")
    .argument(verb === "exec" ? "<command...>" : "[args...]", "arguments for the container")
    .passThroughOptions()
    .allowExcessArguments(true);
  for (const flag of FLAGS) {
    if (flag.only && !flag.only.includes(verb)) continue;
    const option = new Option(flag.flags, flag.help);
    if (flag.kind === "list") {
      option.argParser((value: string, previous: string[] | undefined) => [
        ...(previous ?? []),
        value,
      ]);
    }
    // "--no-home" is a flag of its own here, not commander's negation of "--home"
    if (option.long?.startsWith("--no-")) option.negate = false;
    if (flag.hidden) option.hideHelp();
    command.addOption(option);
  }
  command.action(action(async (image: string, args: string[] | undefined) => {
    const values = withEnvironment(command);
    const options = toLaunchOptions(verb, image, args ?? [], values);
    if (!URI.test(image)) return await launch(options);
    // docker://, oci:, oci-archive:, docker-archive:, docker-daemon:, http(s)://: pulled and
    // converted through the cache (a second run is a cache hit), run from a temporary SIF
    const dir = await Deno.makeTempDir({ prefix: "singlet-run-" });
    try {
      const output = `${dir}/image.sif`;
      log.info(`Converting ${image} to a SIF through the cache`);
      // loaded only here: the pull and conversion code is most of singlet's module graph
      const [{ pullImage }, { parseImageReference }, { wantedPlatform }] = await Promise.all([
        import("../core/oci/pull.ts"),
        import("../core/oci/reference.ts"),
        import("../core/oci/manifest.ts"),
      ]);
      await pullImage(parseImageReference(image), {
        output,
        platform: wantedPlatform({}),
        uri: image,
        onWarning: (message) => log.warning(message),
      });
      return await launch({ ...options, image: output });
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }));
  return command;
}

/** The option values, with environment equivalents filled in where the CLI is silent. */
function withEnvironment(command: Command): Values {
  const values = command.opts<Values>();
  for (const flag of FLAGS) {
    const name = attributeName(flag.flags);
    if (command.getOptionValueSource(name) === "cli") continue;
    for (const prefix of ["SINGLET_", "APPTAINER_", "SINGULARITY_"]) {
      const found = flag.env.map((key) => Deno.env.get(prefix + key)).find((v) => v !== undefined);
      if (found === undefined) continue;
      if (flag.kind === "bool") values[name] = /^(1|true|yes|on)$/i.test(found.trim());
      else if (flag.kind === "list") values[name] = [found];
      else values[name] = found;
      break;
    }
  }
  return values;
}

function splitList(values: string[] | undefined): string[] {
  return (values ?? []).flatMap((value) => value.split(",")).map((v) => v.trim()).filter(
    Boolean,
  );
}

/**
 * Parse `-B` specifications: `src[:dest[:opts]]`, comma-separated.
 *
 * @param specs The flag values.
 * @returns The binds.
 */
export function parseBinds(specs: string[]): BindSpec[] {
  return splitList(specs).map((spec) => {
    const [source, dest, opts, ...rest] = spec.split(":");
    if (!source || rest.length) throw new UsageError(`Cannot parse bind "${spec}"`);
    const destination = dest || source;
    if (!destination.startsWith("/")) {
      throw new UsageError(`Cannot bind to "${destination}": the destination must be absolute`);
    }
    const readonly = (opts ?? "").split(",").includes("ro");
    if (opts && !["ro", "rw"].includes(opts)) {
      throw new UsageError(`Cannot parse bind "${spec}": unknown option "${opts}"`, "use ro or rw");
    }
    return { source, destination, readonly };
  });
}

/**
 * Parse `--mount` specifications (docker-style CSV; only `type=bind`).
 *
 * @param specs The flag values.
 * @returns The binds.
 */
export function parseMounts(specs: string[]): BindSpec[] {
  return specs.map((spec) => {
    let type = "bind";
    let source: string | undefined;
    let destination: string | undefined;
    let readonly = false;
    for (const field of spec.split(",")) {
      const [key, value] = field.split("=", 2) as [string, string | undefined];
      switch (key.trim()) {
        case "type":
          type = value ?? "";
          break;
        case "source":
        case "src":
          source = value;
          break;
        case "destination":
        case "dst":
        case "target":
          destination = value;
          break;
        case "ro":
        case "readonly":
          readonly = value === undefined || value === "true";
          break;
        default:
          throw new UsageError(`Cannot parse mount "${spec}": unknown field "${key}"`);
      }
    }
    if (type !== "bind") {
      throw new UsageError(`Cannot parse mount "${spec}": only type=bind is supported`);
    }
    if (!source || !destination?.startsWith("/")) {
      throw new UsageError(
        `Cannot parse mount "${spec}": it needs source= and an absolute destination=`,
      );
    }
    return { source, destination, readonly };
  });
}

/**
 * Parse a size such as `512M`, `2G` or `100` (MiB).
 *
 * @param text The size.
 * @returns MiB.
 */
export function parseSizeMiB(text: string): number {
  const match = /^(\d+)\s*([kmgt]?)i?b?$/i.exec(text.trim());
  if (!match) throw new UsageError(`Cannot parse size "${text}"`, "use e.g. 512M or 2G");
  const n = Number(match[1]);
  const unit = match[2]!.toLowerCase();
  const mib = unit === "k"
    ? Math.ceil(n / 1024)
    : unit === "g"
    ? n * 1024
    : unit === "t"
    ? n * 1024 * 1024
    : n;
  if (mib < 1) throw new UsageError(`Cannot use size "${text}": too small`);
  return mib;
}

function toLaunchOptions(verb: Action, image: string, args: string[], v: Values): LaunchOptions {
  const compat = !!v.compat;
  const env: [string, string][] = splitList(v.env as string[] | undefined).map((pair) => {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new UsageError(`Cannot parse --env "${pair}": expected KEY=VALUE`);
    return [pair.slice(0, eq), pair.slice(eq + 1)];
  });
  const network = v.network as string | undefined;
  if (network !== undefined && network !== "none") {
    throw new UsageError(
      `Cannot use network "${network}": singlet provides only --network none`,
      "use --net --network none for a loopback-only network, or leave out --net",
    );
  }
  const runtime = v.runtime as string | undefined;
  if (runtime !== undefined && runtime !== "runc" && runtime !== "crun") {
    throw new UsageError(`Cannot use runtime "${runtime}"`, "use --runtime crun or --runtime runc");
  }
  if (v.writable && (v.writableTmpfs || compat)) {
    throw new UsageError("--writable and --writable-tmpfs cannot be used together");
  }
  return {
    image,
    action: verb,
    args,
    app: v.app as string | undefined,
    binds: [
      ...parseBinds(v.bind as string[] | undefined ?? []),
      ...parseMounts(v.mount as string[] | undefined ?? []),
    ],
    noHome: !!v.noHome,
    home: v.home as string | undefined,
    cwd: (v.cwd ?? v.pwd) as string | undefined,
    contain: !!v.contain,
    containall: !!v.containall || compat,
    cleanenv: !!v.cleanenv,
    env,
    envFiles: splitList(v.envFile as string[] | undefined),
    noEval: !!v.noEval || compat,
    writableTmpfs: !!v.writableTmpfs || compat,
    tmpfsSizeMiB: v.writableTmpfsSize ? parseSizeMiB(v.writableTmpfsSize as string) : undefined,
    writable: !!v.writable,
    fakeroot: !!v.fakeroot,
    hostname: v.hostname as string | undefined,
    ipc: !!v.ipc,
    pid: !!v.pid,
    uts: !!v.uts,
    net: !!v.net || network === "none",
    noPrivs: !!v.noPrivs,
    keepPrivs: !!v.keepPrivs,
    addCaps: splitList(v.addCaps as string[] | undefined),
    dropCaps: splitList(v.dropCaps as string[] | undefined),
    noMount: splitList(v.noMount as string[] | undefined),
    overlays: splitList(v.overlay as string[] | undefined),
    scratch: splitList(v.scratch as string[] | undefined),
    workdir: v.workdir as string | undefined,
    runtime: runtime as "runc" | "crun" | undefined,
    dns: splitList(v.dns as string[] | undefined),
    nv: !!v.nv,
    rocm: !!v.rocm,
    shell: v.shell as string | undefined,
    devices: splitList(v.device as string[] | undefined),
    cdiDirs: splitList(v.cdiDirs as string[] | undefined),
    resources: parseResourceFlags({
      cpus: v.cpus as string | undefined,
      memory: v.memory as string | undefined,
      pidsLimit: v.pidsLimit as string | undefined,
    }),
    oci: !!v.oci,
    logger: {
      warning: (message) => log.warning(message),
      info: (message) => log.info(message),
      debug: (message) => log.debug(message),
    },
  };
}
