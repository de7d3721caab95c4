/**
 * One launch's private world: a per-user state directory holding the session's bundle
 * directory, and a *namespace holder* process whose namespaces every later step joins.
 *
 * The holder is `unshare [user-ns args] --mount --pid --fork --mount-proc -- cat`, with
 * `cat`'s stdin a pipe from singlet. `cat` is PID 1 of a new PID namespace, so when it
 * exits every process that joined that namespace (squashfuse, fuse-overlayfs, the OCI
 * runtime and the container, whose own PID namespace is nested inside) is killed by the
 * kernel, and the private mount namespace with all its mounts goes away with them. It
 * exits when singlet closes the pipe, and also when singlet dies in any way, SIGKILL
 * included. What can survive a SIGKILL is only the session directory on disk, which the
 * next launch removes ({@linkcode removeStaleSessions}).
 *
 * @module
 */
import { afterDelay, runCommand, spawnCommand } from "./_command.ts";
import { CommandFailedError } from "./_command.ts";
import { SingletError } from "../core/errors.ts";
import type { NamespacePlan } from "./userns.ts";

/** The socket a live session listens on (connections are refused once its singlet is gone). */
const OWNER_FILE = "owner";

/**
 * The per-user state directory: `$XDG_RUNTIME_DIR/singlet`, `/run/user/<uid>/singlet`,
 * or `$TMPDIR/singlet-<uid>`; `/run/singlet` for root.
 *
 * @param uid The caller's uid.
 * @returns The directory (created, mode 0700).
 */
export async function stateDirectory(uid: number): Promise<string> {
  const override = Deno.env.get("SINGLET_STATEDIR");
  const candidates = override ? [override] : [];
  if (uid === 0) candidates.push("/run/singlet");
  const runtimeDir = Deno.env.get("XDG_RUNTIME_DIR");
  if (runtimeDir) candidates.push(`${runtimeDir}/singlet`);
  candidates.push(`/run/user/${uid}/singlet`);
  candidates.push(`${Deno.env.get("TMPDIR") || "/tmp"}/singlet-${uid}`);
  for (const dir of candidates) {
    try {
      await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
      const info = await Deno.stat(dir);
      if (info.uid !== uid || ((info.mode ?? 0) & 0o022) !== 0) continue;
      await Deno.mkdir(`${dir}/sessions`, { recursive: true, mode: 0o700 });
      return dir;
    } catch {
      // not usable: try the next one
    }
  }
  throw new SingletError(`Cannot create a state directory for uid ${uid}`, {
    hint: "set SINGLET_STATEDIR to a directory you own that others cannot write",
  });
}

/**
 * A new session id (also the container id): unique per launch.
 *
 * @returns The id.
 */
export function newSessionId(): string {
  return `singlet-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
}

/**
 * Where a session's directory is (for paths the bundle needs before the session opens).
 *
 * @param stateDir The per-user state directory.
 * @param id The session id.
 * @returns The session directory.
 */
export function sessionDirectory(stateDir: string, id: string): string {
  return `${stateDir}/sessions/${id}`;
}

/** What the holder's set-up script (see {@linkcode Session.open}) printed, and its status. */
export interface SetupResult {
  /** Exit status of the script. */
  code: number;
  /** Its standard output. */
  stdout: string;
  /** Its standard error. */
  stderr: string;
}

/** Lines the holder prints around its set-up script (see {@linkcode holderScript}). */
const NS_READY = "@singlet-namespaces";
const SETUP_DONE = "@singlet-setup ";
const SETUP_END = "@singlet-setup-end";

/**
 * The holder's program: say the namespaces are complete, run the set-up script (stdin
 * closed; its status, stdout and stderr come back between marker lines), then read one line
 * from singlet, a file to read ahead in the background (see {@linkcode Session.readAhead}),
 * and become `cat`, PID 1 of the session's PID namespace until its stdin closes.
 *
 * @param setup Shell commands run as a function body (`return` ends them early).
 * @returns The `sh -c` script.
 */
function holderScript(setup: string): string {
  return [
    `echo ${NS_READY}`,
    "setup() {",
    ":",
    setup,
    "}",
    "setup </dev/null",
    `echo "${SETUP_DONE}$?"`,
    `echo ${SETUP_END} >&2`,
    `IFS= read -r file && [ -n "$file" ] && { cat -- "$file" >/dev/null 2>&1 </dev/null & }`,
    "exec cat",
  ].join("\n");
}

/** A running session: its directory and its namespace holder. */
export class Session {
  /** Session id (also the container id). */
  readonly id: string;
  /** The session directory on the host filesystem. */
  readonly dir: string;
  /** The namespace plan the holder was built with. */
  readonly plan: NamespacePlan;
  /**
   * The set-up script's outcome, once it has run in the session's namespaces; rejects
   * when the namespaces could not be created.
   */
  readonly setup: Promise<SetupResult>;
  #holder: Deno.ChildProcess | undefined;
  #holderPid = 0;
  #stdin: WritableStreamDefaultWriter<Uint8Array> | undefined;
  #listener: Deno.Listener | undefined;
  #namespaces: Promise<void>;
  #closed = false;
  #readAhead = false;
  #settle: { resolve(result: SetupResult): void; reject(error: unknown): void; ns(): void };

  /**
   * @param id Session id.
   * @param dir Session directory.
   * @param plan User namespace plan.
   */
  private constructor(id: string, dir: string, plan: NamespacePlan) {
    this.id = id;
    this.dir = dir;
    this.plan = plan;
    const setup = Promise.withResolvers<SetupResult>();
    const namespaces = Promise.withResolvers<void>();
    this.setup = setup.promise;
    this.#namespaces = namespaces.promise;
    // awaited later, or never when the launch fails first
    this.setup.catch(() => {});
    this.#namespaces.catch(() => {});
    this.#settle = {
      resolve: setup.resolve,
      reject: (error) => {
        setup.reject(error);
        namespaces.reject(error);
      },
      ns: () => namespaces.resolve(),
    };
  }

  /**
   * Create the session directory and start the namespace holder, which runs a set-up
   * script inside the new namespaces before it settles down to hold them (the mounts:
   * one process start fewer than an `nsenter` after the holder is up, and the mounts no
   * longer wait for singlet's main thread). Returns as soon as the holder is started;
   * {@linkcode Session.setup} settles once the script has run.
   *
   * @param stateDir The per-user state directory.
   * @param plan How the user namespace is built.
   * @param setup Builds the set-up script (shell commands, a function body: `return N`
   *   fails it), given the session; called once its directory exists.
   * @param id The session id (default a new one; see {@linkcode newSessionId}).
   * @returns The session, holder starting.
   */
  static async open(
    stateDir: string,
    plan: NamespacePlan,
    setup?: (session: Session) => string,
    id: string = newSessionId(),
  ): Promise<Session> {
    const dir = sessionDirectory(stateDir, id);
    // A live session answers on a socket; a stale one (its singlet was SIGKILLed) refuses
    // connections. The directory gets its final name only once the socket listens.
    // Synchronous up to the holder's start, so the holder is already starting when the
    // caller goes on with other work (launch loads the image reader meanwhile).
    const draft = `${stateDir}/sessions/.${id}`;
    Deno.mkdirSync(draft, { mode: 0o700 });
    const listener = Deno.listen({ transport: "unix", path: `${draft}/${OWNER_FILE}` });
    Deno.renameSync(draft, dir);
    const session = new Session(id, dir, plan);
    session.#listener = listener;
    try {
      session.#startHolder(setup?.(session) ?? "");
    } catch (error) {
      await session.close();
      throw error;
    }
    return session;
  }

  #startHolder(setup: string): void {
    const argv = [
      "unshare",
      ...this.plan.unshareArgs,
      "--mount",
      "--propagation=private",
      "--pid",
      "--fork",
      "--mount-proc",
      // the set-up runs as namespace root, as nsenter makes later steps (subordinate-ID
      // mode maps the caller to themselves); a single-ID namespace denies setgroups, and
      // the caller is root there already
      ...(this.plan.mode === "subid" ? ["--setuid=0", "--setgid=0"] : []),
      "--",
      "sh",
      "-c",
      holderScript(setup),
    ];
    const holder = spawnCommand(argv, { stdin: "piped", stdout: "piped", stderr: "piped" });
    this.#holder = holder;
    this.#holderPid = holder.pid;
    this.#stdin = holder.stdin.getWriter();
    const cancelTimer = afterDelay(30_000, () => holder.kill("SIGKILL"));
    void this.#watchHolder(holder, argv).catch((error) => this.#settle.reject(error))
      .finally(cancelTimer);
  }

  /** Follow the holder's marker lines; settle the namespace and set-up promises. */
  async #watchHolder(holder: Deno.ChildProcess, argv: string[]): Promise<void> {
    const stdout = lines(holder.stdout);
    const stderr = lines(holder.stderr);
    // stderr is read alongside stdout (a full pipe would stall the script), up to the end
    // marker, or to the end when the holder dies first
    const errors = (async () => {
      const err: string[] = [];
      for (let next = await nextLine(stderr); next !== undefined; next = await nextLine(stderr)) {
        if (next === SETUP_END) break;
        err.push(next);
      }
      return err.join("\n");
    })();
    const out: string[] = [];
    let ns = false;
    let code: number | undefined;
    for (let next = await nextLine(stdout); next !== undefined; next = await nextLine(stdout)) {
      if (!ns && next === NS_READY) {
        ns = true;
        this.#settle.ns();
      } else if (ns && next.startsWith(SETUP_DONE)) {
        code = Number(next.slice(SETUP_DONE.length));
        break;
      } else out.push(next);
    }
    const err = await errors;
    // nobody reads the holder's output again: drain it to the end, never closing the pipes
    void drain(stdout);
    void drain(stderr);
    if (code !== undefined) {
      this.#settle.resolve({ code, stdout: out.join("\n"), stderr: err });
      return;
    }
    const status = await holder.status;
    this.#settle.reject(
      new SingletError(
        `Cannot create the container namespaces: ${
          new CommandFailedError([...argv.slice(0, -1), "<holder>"], status.code, err).message
        }`,
        {
          hint: this.plan.mode === "subid"
            ? "check /etc/subuid and /etc/subgid and that newuidmap/newgidmap are setuid"
            : "unprivileged user namespaces must be enabled (singlet check tells more)",
        },
      ),
    );
  }

  /**
   * Have the holder read a file through the session's mounts once, in the background,
   * after the set-up script (e.g. the image's /bin/sh: a fresh squashfuse mount has a cold
   * page cache, and demand-paging the container's shell through FUSE stalls its start).
   * Only the first call counts; the reader dies with the session.
   *
   * @param path The file, as the session's mount namespace sees it.
   */
  readAhead(path: string): void {
    if (this.#readAhead || this.#closed || path.includes("\n")) return;
    this.#readAhead = true;
    this.#stdin?.write(new TextEncoder().encode(`${path}\n`)).catch(() => {});
  }

  /** The PID of the holder's `unshare` process. */
  get holderPid(): number {
    return this.#holderPid;
  }

  /**
   * The command prefix that runs a program inside the session's namespaces.
   *
   * @returns `nsenter` and its arguments, ending with `--`.
   */
  enterArgs(): string[] {
    // The holder's unshare process is in the new user and mount namespaces; the PID
    // namespace is the one it made for its child (nsenter, not singlet, opens the file).
    return [
      "nsenter",
      `--target=${this.#holderPid}`,
      ...(this.plan.joinUserNamespace ? ["--user"] : []),
      // the caller is already root in a single-ID namespace, whose setgroups is denied
      ...(this.plan.mode === "single" ? ["--preserve-credentials"] : []),
      "--mount",
      `--pid=/proc/${this.#holderPid}/ns/pid_for_children`,
      "--",
    ];
  }

  /**
   * Run a program to completion inside the session's namespaces; fail on non-zero exit.
   *
   * @param argv Program and arguments.
   * @returns Captured stdout.
   * @throws {CommandFailedError} On failure.
   */
  async run(argv: string[]): Promise<string> {
    await this.#namespaces;
    const full = [...this.enterArgs(), ...argv];
    const output = await runCommand(full);
    if (output.code !== 0) {
      throw new CommandFailedError(argv, output.code, new TextDecoder().decode(output.stderr));
    }
    return new TextDecoder().decode(output.stdout);
  }

  /**
   * End the session: the holder exits (killing everything in its namespaces and dropping
   * every mount), then the session directory is removed. Safe to call twice.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const holder = this.#holder;
    this.#listener?.close();
    // The directory goes while the holder exits: on the host it holds only singlet's files
    // and empty mount points (the mounts exist in the session's namespace alone).
    await Promise.all([
      holder && this.#endHolder(holder),
      Deno.remove(this.dir, { recursive: true }).catch(() => {}),
    ]);
  }

  async #endHolder(holder: Deno.ChildProcess): Promise<void> {
    try {
      await this.#stdin?.close();
    } catch {
      // already closed
    }
    const cancelTimer = afterDelay(5000, () => {
      try {
        holder.kill("SIGKILL");
      } catch {
        // gone
      }
    });
    await holder.status;
    cancelTimer();
  }
}

/** The lines of a stream (without their newlines). */
async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let rest = "";
  for await (const chunk of stream) {
    rest += decoder.decode(chunk, { stream: true });
    let at: number;
    while ((at = rest.indexOf("\n")) >= 0) {
      yield rest.slice(0, at);
      rest = rest.slice(at + 1);
    }
  }
  rest += decoder.decode();
  if (rest) yield rest;
}

/** The next line, or undefined at the end (without closing the generator, unlike a break). */
async function nextLine(source: AsyncGenerator<string>): Promise<string | undefined> {
  const next = await source.next();
  return next.done ? undefined : next.value;
}

async function drain(source: AsyncGenerator<string>): Promise<void> {
  try {
    while (await nextLine(source) !== undefined) {
      // discarded
    }
  } catch {
    // the holder is gone
  }
}

/**
 * Remove session directories whose singlet process is gone (it was SIGKILLed, or the
 * machine rebooted). Their mounts and processes already died with their holder.
 *
 * @param stateDir The per-user state directory.
 * @returns The ids removed.
 */
export async function removeStaleSessions(stateDir: string): Promise<string[]> {
  const removed: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(`${stateDir}/sessions`));
  } catch {
    return removed;
  }
  for (const entry of entries) {
    const dir = `${stateDir}/sessions/${entry.name}`;
    if (entry.name.startsWith(".")) {
      // a session being created: debris only once it is old
      const info = await Deno.lstat(dir).catch(() => undefined);
      if (!info?.mtime || Date.now() - info.mtime.getTime() < 60_000) continue;
    } else if (await answers(`${dir}/${OWNER_FILE}`)) continue;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    removed.push(entry.name);
  }
  if (removed.length > 0 && Deno.uid() === 0) await removeCgroupsOf(removed);
  return removed;
}

/**
 * As root, runc puts each container in cgroups named after its id (the session id, one
 * directory per controller); a SIGKILLed singlet leaves them empty but present, and runc
 * never removes them. Remove those of the stale sessions (and of their runtime probes).
 * Deno may not read /sys, hence the short script; rmdir refuses a cgroup that still holds
 * processes.
 */
async function removeCgroupsOf(ids: readonly string[]): Promise<void> {
  const script = `for id; do
      for d in /sys/fs/cgroup/*/"$id" /sys/fs/cgroup/*/"$id-probe" /sys/fs/cgroup/"$id"; do
        [ -d "$d" ] && rmdir "$d" 2>/dev/null
      done
    done
    true`;
  await runCommand(["sh", "-c", script, "sh", ...ids]).catch(() => {});
}

async function answers(socket: string): Promise<boolean> {
  try {
    const connection = await Deno.connect({ transport: "unix", path: socket });
    connection.close();
    return true;
  } catch {
    return false;
  }
}
