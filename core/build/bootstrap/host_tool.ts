/**
 * Finding the host programs that distribution bootstrap agents run (`debootstrap`, `dnf`,
 * `zypper`, `pacstrap`), and the one-line error when one is missing. `core/` starts no
 * processes: the search only looks at the file system.
 *
 * @module
 */
import { SingletError } from "../../errors.ts";
import type { SectionRunner } from "../section_runner.ts";

/** Where administrators' tools live even when an ordinary user's PATH leaves them out. */
const SBIN_DIRS = ["/usr/local/sbin", "/usr/sbin", "/sbin"];

/**
 * The PATH a bootstrap tool runs with: the caller's, with the sbin directories appended when
 * missing (debootstrap calls `chroot`, dpkg calls `ldconfig` and `start-stop-daemon`).
 *
 * @returns A colon-separated search path.
 */
export function toolPath(): string {
  const dirs = (Deno.env.get("PATH") ?? "/usr/local/bin:/usr/bin:/bin").split(":")
    .filter((d) => d);
  for (const d of SBIN_DIRS) if (!dirs.includes(d)) dirs.push(d);
  return dirs.join(":");
}

/**
 * The absolute path of an executable on {@linkcode toolPath}.
 *
 * @param name A program name.
 * @returns Its path, or undefined when no executable file of that name is found.
 */
export function findHostTool(name: string): string | undefined {
  for (const dir of toolPath().split(":")) {
    const path = `${dir}/${name}`;
    try {
      const info = Deno.statSync(path);
      if (info.isFile && ((info.mode ?? 0o111) & 0o111)) return path;
    } catch {
      // not there
    }
  }
  return undefined;
}

/**
 * The first of `names` found on the host, or the error a build stops with.
 *
 * @param agent The bootstrap agent (for the message).
 * @param names Programs that can do the job, preferred first.
 * @param install What to install to get one (e.g. "the dnf package").
 * @returns The program's name and path.
 * @throws {SingletError} When none is installed (exit 255, one line plus a hint).
 */
export function requireHostTool(
  agent: string,
  names: readonly string[],
  install: string,
): { name: string; path: string } {
  for (const name of names) {
    const path = findHostTool(name);
    if (path) return { name, path };
  }
  const what = names.length === 1 ? `"${names[0]}"` : names.map((n) => `"${n}"`).join(" or ");
  throw new SingletError(
    `Cannot bootstrap "${agent}": ${what} is not installed on this host (not on PATH)`,
    {
      hint: `install ${install}, or bootstrap from an OCI image of the distribution ` +
        "('Bootstrap: docker') and install packages in %post",
    },
  );
}

/**
 * Packages a header lists in `Include:` (spaces or commas between names).
 *
 * @param header The stage header.
 * @returns The package names.
 */
export function includeList(header: ReadonlyMap<string, string>): string[] {
  return (header.get("include") ?? "").split(/[\s,]+/).filter((p) => p);
}

/**
 * Run a distribution tool as (fake) root through the runner, turning a failure into an error
 * naming the agent.
 *
 * @param runner The build's runner (must offer `runHostAsRoot` for unprivileged builds).
 * @param agent The bootstrap agent (for messages).
 * @param argv The program and its arguments.
 * @param env Variables added to the environment.
 * @param ok Exit statuses that count as success (default just 0).
 * @param devices The tree whose `/dev` gets the host's basic devices while the tool runs
 *   unprivileged (see `SectionRunner.runHostAsRoot`).
 * @returns The exit status.
 * @throws {SingletError} When it cannot run or fails.
 */
export async function runToolAsRoot(
  runner: RunsAsRoot | undefined,
  agent: string,
  argv: string[],
  env: Record<string, string> = {},
  ok: readonly number[] = [0],
  devices?: string,
): Promise<number> {
  if (!runner) {
    throw new SingletError(`Cannot bootstrap "${agent}": no runtime to run ${argv[0]}`, {
      hint: "run the build with the singlet command line",
    });
  }
  const withPath = { PATH: toolPath(), ...env };
  let code: number;
  if (runner.runHostAsRoot) {
    code = await runner.runHostAsRoot(argv, withPath, devices ? { devices } : {});
  } else if (Deno.uid() === 0) code = await runner.runHost(argv, withPath);
  else {
    throw new SingletError(
      `Cannot bootstrap "${agent}" as an unprivileged user: this runtime cannot run ` +
        `${argv[0]} as root in a user namespace`,
      { hint: "build as root, or with the singlet command line" },
    );
  }
  if (!ok.includes(code)) {
    throw new SingletError(
      `Cannot bootstrap "${agent}": ${argv[0]} exited with status ${code}`,
      { hint: `see ${argv[0]}'s output above` },
    );
  }
  return code;
}

/** The part of the build's runner distribution tools need. */
export type RunsAsRoot = Pick<SectionRunner, "runHost" | "runHostAsRoot">;
