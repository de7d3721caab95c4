/**
 * Start singlet as a background process (root or the test user with subids) and watch
 * what it leaves on the host: the processes, sessions and mounts of the cleanup suites.
 */
import { SINGLET_BIN } from "../_helpers/singlet.ts";
import { SHARED_DENO_DIR, testUser, USER_PATH } from "../_helpers/unpriv.ts";

/** A singlet started in the background. */
export interface Spawned {
  child: Deno.ChildProcess;
  stateDir: string;
}

/**
 * Start singlet as root or as the test user, with its own state directory.
 *
 * @param asUser Run as the test user with subids.
 * @param args singlet's arguments.
 * @param reuse A state directory from an earlier spawn.
 * @returns The child and its state directory.
 */
export async function spawnSinglet(
  asUser: boolean,
  args: string[],
  reuse?: string,
): Promise<Spawned> {
  const stateDir = reuse ?? await Deno.makeTempDir({ prefix: "singlet-state-" });
  let argv = [SINGLET_BIN, ...args];
  const env: Record<string, string> = {
    PATH: USER_PATH,
    DENO_DIR: SHARED_DENO_DIR,
    NO_COLOR: "1",
    SINGLET_STATEDIR: reuse ?? `${stateDir}/s`,
  };
  if (asUser) {
    const user = await testUser({ subids: true });
    if (!reuse) await Deno.chown(stateDir, user.uid, user.gid);
    argv = ["setpriv", `--reuid=${user.uid}`, `--regid=${user.gid}`, "--init-groups", ...argv];
    Object.assign(env, { HOME: user.home, USER: user.name });
  } else {
    env.HOME = "/root";
  }
  const child = new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    clearEnv: true,
    env,
    cwd: "/tmp",
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  return { child, stateDir: reuse ?? `${stateDir}/s` };
}

/** Host processes whose command line is `marker`, or contains it with `partial`. */
export async function processesWith(marker: string, partial = false): Promise<string[]> {
  const out = await new Deno.Command("ps", { args: ["-eo", "args"], stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout).split("\n").filter((line) =>
    partial ? line.includes(marker) && !line.startsWith("ps ") : line.trim() === marker
  );
}

/** Poll `check` until it holds; throw after `ms`. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  ms = 15_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The session directories left in a state directory. */
export async function sessions(stateDir: string): Promise<string[]> {
  try {
    return (await Array.fromAsync(Deno.readDir(`${stateDir}/sessions`))).map((e) => e.name);
  } catch {
    return [];
  }
}

/** The host's mount table. */
export async function hostMountinfo(): Promise<string> {
  const out = await new Deno.Command("cat", { args: ["/proc/self/mountinfo"], stdout: "piped" })
    .output();
  return new TextDecoder().decode(out.stdout);
}
