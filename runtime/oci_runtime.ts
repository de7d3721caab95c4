/**
 * The OCI runtime that runs the container: crun first, runc as the fallback. Which one
 * works on a host is found by actually running a container once (crun refuses some
 * cgroup layouts, e.g. v1/v2 hybrid); the verdict is cached in the state directory
 * until crun or the kernel changes.
 *
 * @module
 */
import { findExecutable } from "./_command.ts";
import { SingletError } from "../core/errors.ts";
import { Crun } from "./crun.ts";
import { Runc } from "./runc.ts";

/** What singlet needs from an OCI runtime: command lines, run inside the session. */
export interface OciRuntime {
  /** "runc" or "crun". */
  readonly name: "runc" | "crun";
  /**
   * The command line that runs a container from a bundle.
   *
   * @param stateRoot The runtime's state directory.
   * @param bundle The bundle directory.
   * @param id The container id.
   * @returns The command line that creates, starts, waits for and deletes the container.
   */
  runArgs(stateRoot: string, bundle: string, id: string): string[];
  /**
   * The command line that prints the container's state as JSON (with the init's "pid").
   *
   * @param stateRoot The runtime's state directory.
   * @param id The container id.
   * @returns The `state` command line.
   */
  stateArgs(stateRoot: string, id: string): string[];
}

/**
 * The command line (run in the session's PID namespace) that sends a signal to the
 * container's payload the way a terminal does: to the process group of the container's
 * init (runc and crun make it a session leader), so the payload gets it even though the
 * action script is PID 1, which only ignores it. `runtime kill` would reach PID 1 alone.
 *
 * @param runtime The runtime that runs the container.
 * @param stateRoot The runtime's state directory.
 * @param id The container id.
 * @param signal A signal name such as "SIGTERM".
 * @returns An `sh -c` command line.
 */
export function signalPayloadArgs(
  runtime: OciRuntime,
  stateRoot: string,
  id: string,
  signal: string,
): string[] {
  const name = signal.replace(/^SIG/, "");
  return [
    "sh",
    "-c",
    `pid=$("$@" | sed -n 's/.*"pid" *: *\\([0-9][0-9]*\\).*/\\1/p' | head -n 1)
[ -n "$pid" ] || exit 1
kill -s ${name} -- "-$pid" 2>/dev/null || kill -s ${name} "$pid"`,
    "sh",
    ...runtime.stateArgs(stateRoot, id),
  ];
}

/** How a runtime probe went. */
export type ProbeVerdict = "works" | "refused" | "unknown";

/** Cached probe verdicts, keyed by what invalidates them. */
interface VerdictCache {
  key: string;
  crun: ProbeVerdict;
  detail: string;
}

/** Options of {@linkcode chooseRuntime}. */
export interface ChooseOptions {
  /** `--runtime`: use this one, no fallback. */
  requested?: "runc" | "crun" | undefined;
  /** Where the verdict is cached. */
  stateDir: string;
  /** Run a trivial container with crun and report what happened. */
  probeCrun: (runtime: OciRuntime) => Promise<{ verdict: ProbeVerdict; detail: string }>;
  /** Report the fallback to the user (once: when the probe ran). */
  note: (message: string) => void;
  /** Report the fallback again on later runs (debug level). */
  debug?: (message: string) => void;
}

/**
 * Pick the runtime: the requested one, else crun when it works here, else runc.
 *
 * @param options Request, cache location, probe and reporter.
 * @returns The runtime.
 * @throws {SingletError} When no usable runtime is installed.
 */
export async function chooseRuntime(options: ChooseOptions): Promise<OciRuntime> {
  const crunPath = findExecutable("crun");
  const runcPath = findExecutable("runc");
  if (options.requested) {
    const path = options.requested === "crun" ? crunPath : runcPath;
    if (!path) {
      throw new SingletError(`Cannot use runtime "${options.requested}": not installed`, {
        hint: `install ${options.requested}, or leave out --runtime`,
      });
    }
    return options.requested === "crun" ? new Crun() : new Runc();
  }
  if (crunPath) {
    const key = await cacheKey(crunPath);
    const file = `${options.stateDir}/runtime-verdict.json`;
    let cached: VerdictCache | undefined;
    try {
      cached = JSON.parse(await Deno.readTextFile(file)) as VerdictCache;
      if (cached.key !== key) cached = undefined;
    } catch {
      cached = undefined;
    }
    let fresh = false;
    if (!cached) {
      fresh = true;
      const result = await options.probeCrun(new Crun());
      cached = { key, crun: result.verdict, detail: result.detail };
      if (result.verdict !== "unknown") {
        const temp = `${file}.${Deno.pid}.tmp`;
        await Deno.writeTextFile(temp, JSON.stringify(cached));
        await Deno.rename(temp, file);
      }
    }
    if (cached.crun === "works") return new Crun();
    if (runcPath) {
      const message = `crun cannot run containers here (${cached.detail}); using runc`;
      if (fresh) options.note(message);
      else options.debug?.(message);
      return new Runc();
    }
    throw new SingletError(`Cannot run containers: crun refuses this host (${cached.detail})`, {
      hint: "install runc, which works with this cgroup layout",
    });
  }
  if (runcPath) return new Runc();
  throw new SingletError("Cannot run containers: neither crun nor runc is installed", {
    hint: "install crun or runc (Debian: apt-get install crun runc)",
  });
}

async function cacheKey(crunPath: string): Promise<string> {
  const info = await Deno.stat(crunPath).catch(() => undefined);
  // the kernel release, not /proc's boot id: Deno refuses to read /proc without
  // --allow-all, so that read always failed (an exception for nothing on every launch)
  let kernel = "";
  try {
    kernel = Deno.osRelease();
  } catch {
    // not allowed: the key has the binary alone
  }
  return `${crunPath}:${info?.mtime?.getTime() ?? 0}:${info?.size ?? 0}:${kernel}`;
}
