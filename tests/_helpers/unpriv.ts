/**
 * Unprivileged test users, for testing singlet's rootless paths from root-run tests.
 *
 * - `singlet-test`: has `/etc/subuid` and `/etc/subgid` ranges (200000:65536, or the next
 *   free range of 65536 if that one is taken), like a user on an ordinary cluster node;
 * - `singlet-nosub`: has none (singlet must fall back to a single-id mapping or explain).
 *
 * Setup is idempotent and serialised across test processes by a lock file. It also does
 * what an ordinary host has: `/dev/fuse` mode 0666, a login runtime dir
 * `/run/user/<uid>` (0700, the user's, exported as XDG_RUNTIME_DIR), and `o+rx` on every
 * directory from `/` down to this repository and the Deno binary, so the user can run
 * `bin/singlet`. {@linkcode runAs} points DENO_DIR at the shared module cache, which Deno
 * reads fine without write access (left unset, bin/singlet would use a per-user cache and
 * download npm packages into it).
 *
 * @module
 */
import { REPO_ROOT } from "./singlet.ts";

/** An unprivileged test user. */
export interface TestUser {
  /** Login name. */
  name: string;
  /** User id. */
  uid: number;
  /** Primary group id. */
  gid: number;
  /** Home directory (exists, owned by the user). */
  home: string;
}

/** Options of {@linkcode testUser}. */
export interface TestUserOptions {
  /** With subordinate id ranges (`singlet-test`, default) or without (`singlet-nosub`). */
  subids?: boolean;
}

/** Options of {@linkcode runAs}. */
export interface RunAsOptions {
  /**
   * Extra environment variables (on top of PATH, HOME, USER, LOGNAME, XDG_RUNTIME_DIR and
   * DENO_DIR).
   */
  env?: Record<string, string>;
  /** Working directory; default the user's home. */
  cwd?: string;
  /** Text or bytes fed to stdin (default: no stdin). */
  stdin?: string | Uint8Array;
  /** Default variables to leave out, e.g. ["XDG_RUNTIME_DIR"] to test without one. */
  unset?: string[];
  /** Kill the command (SIGKILL) after this many milliseconds; the result then has code 137. */
  timeoutMs?: number;
}

/** What a command run as a test user produced. */
export interface RunAsResult {
  /** Exit code (128 + signal number when killed by a signal). */
  code: number;
  /** Standard output, decoded. */
  stdout: string;
  /** Standard error, decoded. */
  stderr: string;
}

/** Name of the test user with subordinate ids. */
export const SUBID_USER = "singlet-test";
/** Name of the test user without subordinate ids. */
export const NOSUB_USER = "singlet-nosub";
/** Size of the subordinate id range. */
export const SUBID_COUNT = 65536;
/** Preferred first subordinate id. */
export const SUBID_START = 200000;
/** PATH given to commands run as a test user. */
export const USER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The module cache `bin/singlet` uses as root; the test user reads it without writing. */
export const SHARED_DENO_DIR = `${REPO_ROOT}/.tools/deno-dir`;

const LOCK_FILE = "/tmp/singlet-test-users.lock";
const decoder = new TextDecoder();
const users = new Map<string, Promise<TestUser>>();

async function run(program: string, args: string[]): Promise<string> {
  const output = await new Deno.Command(program, { args, stdout: "piped", stderr: "piped" })
    .output();
  if (!output.success) {
    throw new Error(`${program} ${args.join(" ")} failed: ${decoder.decode(output.stderr)}`);
  }
  return decoder.decode(output.stdout);
}

async function lookup(name: string): Promise<TestUser | undefined> {
  const output = await new Deno.Command("getent", {
    args: ["passwd", name],
    stdout: "piped",
    stderr: "null",
  }).output();
  if (!output.success) return undefined;
  const fields = decoder.decode(output.stdout).trim().split(":");
  return { name, uid: Number(fields[2]), gid: Number(fields[3]), home: fields[5] ?? "" };
}

/**
 * Make `name` own exactly one range in an /etc/subuid-style file (or none).
 *
 * @returns Whether the file changed.
 */
async function ensureRange(file: string, name: string, wanted: boolean): Promise<void> {
  let text = "";
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const lines = text.split("\n").filter((line) => line.trim() !== "");
  const mine = lines.filter((line) => line.split(":")[0] === name);
  const others = lines.filter((line) => line.split(":")[0] !== name);
  if (wanted ? mine.length === 1 : mine.length === 0) return;
  if (wanted) {
    let start = SUBID_START;
    const taken = others.map((line) => line.split(":").slice(1).map(Number) as [number, number]);
    while (taken.some(([first, count]) => start < first + count && first < start + SUBID_COUNT)) {
      start = Math.max(...taken.map(([first, count]) => first + count), start + SUBID_COUNT);
    }
    others.push(`${name}:${start}:${SUBID_COUNT}`);
  }
  const temporary = `${file}.singlet-${crypto.randomUUID()}`;
  await Deno.writeTextFile(temporary, others.join("\n") + "\n", { mode: 0o644 });
  await Deno.chmod(temporary, 0o644);
  await Deno.rename(temporary, file);
}

/** Give others o+x on every directory above `path` and o+r(x) on `path` itself. */
async function openPath(path: string): Promise<void> {
  const parts = path.split("/").filter(Boolean);
  for (let i = 0; i <= parts.length; i++) {
    const current = "/" + parts.slice(0, i).join("/");
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(current);
    } catch {
      return;
    }
    const mode = info.mode ?? 0;
    const wanted = info.isDirectory
      ? mode | (i === parts.length ? 0o005 : 0o001)
      : mode | 0o004 | ((mode & 0o100) ? 0o001 : 0);
    if ((wanted & 0o7777) !== (mode & 0o7777)) await Deno.chmod(current, wanted & 0o7777);
  }
}

/** The host preparation every test user needs, done under the lock. */
async function prepareHost(): Promise<void> {
  try {
    const fuse = await Deno.stat("/dev/fuse");
    if (((fuse.mode ?? 0) & 0o666) !== 0o666) await Deno.chmod("/dev/fuse", 0o666);
  } catch {
    // no FUSE device here: tests that need it skip with their own reason
  }
  // The repository, the Deno binary and the shared module cache must be readable.
  await openPath(REPO_ROOT);
  for (const path of [`${REPO_ROOT}/.tools/bin/deno`, SHARED_DENO_DIR]) {
    const real = await Deno.realPath(path).catch(() => undefined);
    if (real) await openPath(real);
  }
}

async function createUser(name: string, subids: boolean): Promise<TestUser> {
  if (Deno.uid() !== 0) {
    const existing = await lookup(name);
    if (existing) return existing;
    throw new Error(`cannot create test user "${name}": tests must run as root`);
  }
  await using lock = await Deno.open(LOCK_FILE, { create: true, write: true });
  await lock.lock(true);
  if (!(await lookup(name))) {
    // No automatic subordinate ids: we manage the ranges ourselves below.
    await run("useradd", [
      "--create-home",
      "--user-group",
      "--shell",
      "/bin/sh",
      "--comment",
      "singlet test user",
      "-K",
      "SUB_UID_COUNT=0",
      "-K",
      "SUB_GID_COUNT=0",
      name,
    ]);
  }
  await ensureRange("/etc/subuid", name, subids);
  await ensureRange("/etc/subgid", name, subids);
  await prepareHost();
  const user = (await lookup(name))!;
  const runtimeDir = `/run/user/${user.uid}`;
  await Deno.mkdir(runtimeDir, { recursive: true, mode: 0o700 });
  await Deno.chown(runtimeDir, user.uid, user.gid);
  await Deno.chmod(runtimeDir, 0o700);
  await lock.unlock();
  return user;
}

/**
 * The unprivileged test user, created on first use (idempotent, safe across processes).
 *
 * @param options `subids: false` gives the user without /etc/subuid and /etc/subgid ranges.
 * @returns Name, uid, gid and home.
 */
export function testUser(options: TestUserOptions = {}): Promise<TestUser> {
  const subids = options.subids ?? true;
  const name = subids ? SUBID_USER : NOSUB_USER;
  let promise = users.get(name);
  if (!promise) {
    promise = createUser(name, subids);
    users.set(name, promise);
    promise.catch(() => users.delete(name));
  }
  return promise;
}

/**
 * Run a command as a test user (setpriv: real and effective ids, supplementary groups
 * from /etc/group, no capabilities) with a clean environment: PATH, HOME, USER, LOGNAME,
 * XDG_RUNTIME_DIR, DENO_DIR (the shared module cache, read-only to the user: `bin/singlet`
 * then runs without downloading anything), plus `options.env`.
 *
 * @param user From {@linkcode testUser}.
 * @param argv Program and arguments (the program is looked up on {@linkcode USER_PATH}).
 * @param options Extra or unset environment, working directory, stdin, timeout.
 * @returns Exit code and decoded output.
 */
export async function runAs(
  user: TestUser,
  argv: readonly string[],
  options: RunAsOptions = {},
): Promise<RunAsResult> {
  if (argv.length === 0) throw new TypeError("runAs needs a program to run");
  const env: Record<string, string> = {
    PATH: USER_PATH,
    HOME: user.home,
    USER: user.name,
    LOGNAME: user.name,
    XDG_RUNTIME_DIR: `/run/user/${user.uid}`,
    DENO_DIR: SHARED_DENO_DIR,
    ...options.env,
  };
  for (const name of options.unset ?? []) delete env[name];
  const command = new Deno.Command("/usr/bin/setpriv", {
    args: [
      `--reuid=${user.uid}`,
      `--regid=${user.gid}`,
      "--init-groups",
      "--",
      ...argv,
    ],
    clearEnv: true,
    env,
    cwd: options.cwd ?? user.home,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  });
  const child = command.spawn();
  const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // already exited
    }
  }, options.timeoutMs);
  try {
    if (options.stdin !== undefined) {
      const writer = child.stdin.getWriter();
      await writer.write(
        typeof options.stdin === "string" ? new TextEncoder().encode(options.stdin) : options.stdin,
      );
      await writer.close();
    }
  } catch {
    // the command exited without reading all of stdin: its status tells the rest
  }
  const output = await child.output();
  clearTimeout(timer);
  return {
    code: output.signal ? 128 + signalNumber(output.signal) : output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

function signalNumber(signal: Deno.Signal): number {
  const numbers: Partial<Record<Deno.Signal, number>> = {
    SIGHUP: 1,
    SIGINT: 2,
    SIGQUIT: 3,
    SIGABRT: 6,
    SIGKILL: 9,
    SIGSEGV: 11,
    SIGPIPE: 13,
    SIGALRM: 14,
    SIGTERM: 15,
  };
  return numbers[signal] ?? 0;
}
