/**
 * The only place singlet's product code starts other programs. Every program named here
 * must also be listed in `--allow-run=` in `cli/permissions.args`.
 *
 * @module
 */

/** How one stream of a child process is connected. */
export type StdioMode = "inherit" | "piped" | "null";

/** Options of {@linkcode runCommand}. */
export interface RunCommandOptions {
  /** Environment variables to set (added to the inherited ones unless `clearEnv`). */
  env?: Record<string, string>;
  /** Start from an empty environment. */
  clearEnv?: boolean;
  /** Working directory. */
  cwd?: string;
  /** Standard input: inherited, closed, or these bytes. */
  stdin?: "inherit" | "null" | Uint8Array;
  /** Standard output (default "piped"). */
  stdout?: StdioMode;
  /** Standard error (default "piped"). */
  stderr?: StdioMode;
  /** Kill the child with SIGKILL after this many milliseconds. */
  timeoutMs?: number;
}

/**
 * Call `fn` after `ms` milliseconds unless cancelled first. Through `AbortSignal.timeout`
 * rather than `setTimeout`: Deno's global `setTimeout` loads its Node timers module on first
 * use, about 5 ms of CPU at the start of every `singlet exec`. The timer does not keep the
 * process alive (callers await the child it guards).
 *
 * @param ms Delay in milliseconds.
 * @param fn What to do then.
 * @returns A function that cancels the call.
 */
export function afterDelay(ms: number, fn: () => void): () => void {
  const signal = AbortSignal.timeout(ms);
  signal.addEventListener("abort", fn, { once: true });
  return () => signal.removeEventListener("abort", fn);
}

/** What a finished child produced. */
export interface CommandOutput {
  /** Exit code (128+n when killed by signal n, as shells report it). */
  code: number;
  /** The terminating signal, if any. */
  signal: Deno.Signal | null;
  /** Captured stdout (empty unless piped). */
  stdout: Uint8Array;
  /** Captured stderr (empty unless piped). */
  stderr: Uint8Array;
}

/** A program exited non-zero where success was required. */
export class CommandFailedError extends Error {
  /** The command line that failed. */
  readonly argv: readonly string[];
  /** Its exit code. */
  readonly code: number;
  /** The last lines of its stderr. */
  readonly stderrTail: string;

  /**
   * Describe a failed command.
   *
   * @param argv The command line.
   * @param code The exit code.
   * @param stderr Its captured stderr.
   */
  constructor(argv: readonly string[], code: number, stderr: string) {
    const tail = stderr.trim().split("\n").slice(-3).join(" | ");
    super(`${argv.join(" ")}: exit ${code}${tail ? `: ${tail}` : ""}`);
    this.name = "CommandFailedError";
    this.argv = argv;
    this.code = code;
    this.stderrTail = tail;
  }
}

/**
 * Find an executable on PATH, also looking in the sbin directories.
 *
 * @param name The program name.
 * @returns Its absolute path, or undefined when absent.
 */
export function findExecutable(name: string): string | undefined {
  if (name.includes("/")) return isExecutable(name) ? name : undefined;
  const path = Deno.env.get("PATH") ?? "/usr/local/bin:/usr/bin:/bin";
  // Every directory without the program costs a NotFound error; without stack traces they
  // are cheap (with them, ~0.1 ms each: ~2 ms of every exec with a long PATH).
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    for (const dir of [...path.split(":"), "/usr/local/sbin", "/usr/sbin", "/sbin"]) {
      if (dir && isExecutable(`${dir}/${name}`)) return `${dir}/${name}`;
    }
    return undefined;
  } finally {
    Error.stackTraceLimit = limit;
  }
}

function isExecutable(path: string): boolean {
  try {
    const info = Deno.statSync(path);
    return info.isFile && ((info.mode ?? 0) & 0o111) !== 0;
  } catch {
    return false;
  }
}

/**
 * Run a program to completion.
 *
 * @param argv Program and arguments.
 * @param options Environment, directory and stdio.
 * @returns Exit code, signal and captured output; never throws for a non-zero exit.
 * @throws {Deno.errors.NotFound} When the program does not exist.
 */
export async function runCommand(
  argv: readonly string[],
  options: RunCommandOptions = {},
): Promise<CommandOutput> {
  const [program, ...args] = argv;
  if (!program) throw new TypeError("Cannot run a command: the command line is empty");
  const stdinBytes = options.stdin instanceof Uint8Array ? options.stdin : undefined;
  const child = new Deno.Command(program, {
    args,
    ...(options.env ? { env: options.env } : {}),
    ...(options.clearEnv ? { clearEnv: true } : {}),
    ...(options.cwd ? { cwd: options.cwd } : {}),
    stdin: stdinBytes ? "piped" : (options.stdin as "inherit" | "null" | undefined) ?? "null",
    stdout: options.stdout ?? "piped",
    stderr: options.stderr ?? "piped",
  }).spawn();
  const cancelTimer = options.timeoutMs === undefined ? undefined : afterDelay(
    options.timeoutMs,
    () => {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    },
  );
  try {
    if (stdinBytes) {
      const writer = child.stdin.getWriter();
      await writer.write(stdinBytes);
      await writer.close();
    }
    // Collect whichever streams are piped; child.output() insists on both.
    const collect = (mode: StdioMode | undefined, stream: () => ReadableStream<Uint8Array>) =>
      (mode ?? "piped") === "piped"
        ? new Response(stream()).bytes()
        : Promise.resolve(new Uint8Array());
    const [stdout, stderr, status] = await Promise.all([
      collect(options.stdout, () => child.stdout),
      collect(options.stderr, () => child.stderr),
      child.status,
    ]);
    const output = { ...status, stdout, stderr };
    const code = output.signal ? 128 + signalNumber(output.signal) : output.code;
    return { code, signal: output.signal, stdout: output.stdout, stderr: output.stderr };
  } finally {
    cancelTimer?.();
  }
}

/**
 * Run a program and require success.
 *
 * @param argv Program and arguments.
 * @param options As for {@linkcode runCommand}.
 * @returns The decoded stdout.
 * @throws {CommandFailedError} On a non-zero exit.
 */
export async function runChecked(
  argv: readonly string[],
  options: RunCommandOptions = {},
): Promise<string> {
  const output = await runCommand(argv, options);
  const decoder = new TextDecoder();
  if (output.code !== 0) {
    throw new CommandFailedError(argv, output.code, decoder.decode(output.stderr));
  }
  return decoder.decode(output.stdout);
}

const SIGNAL_NUMBERS: Partial<Record<Deno.Signal, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
};

/**
 * The Linux number of a signal name.
 *
 * @param signal A signal name such as "SIGTERM".
 * @returns Its number (x86-64 Linux numbering), or 0 when unknown.
 */
export function signalNumber(signal: Deno.Signal): number {
  return SIGNAL_NUMBERS[signal] ?? 0;
}

/** Options of {@linkcode spawnCommand}. */
export interface SpawnCommandOptions {
  /** Environment variables to set (added to the inherited ones unless `clearEnv`). */
  env?: Record<string, string>;
  /** Start from an empty environment. */
  clearEnv?: boolean;
  /** Working directory. */
  cwd?: string;
  /** Standard input (default "null"); "piped" gives the caller a writer it must close. */
  stdin?: StdioMode;
  /** Standard output (default "inherit"). */
  stdout?: StdioMode;
  /** Standard error (default "inherit"). */
  stderr?: StdioMode;
}

/**
 * Start a long-lived program and return its handle, for children the caller watches and
 * signals itself (a namespace holder, the OCI runtime running a container).
 *
 * @param argv Program and arguments.
 * @param options Environment, directory and stdio.
 * @returns The running child.
 * @throws {Deno.errors.NotFound} When the program does not exist.
 */
export function spawnCommand(
  argv: readonly string[],
  options: SpawnCommandOptions = {},
): Deno.ChildProcess {
  const [program, ...args] = argv;
  if (!program) throw new TypeError("Cannot run a command: the command line is empty");
  return new Deno.Command(program, {
    args,
    ...(options.env ? { env: options.env } : {}),
    ...(options.clearEnv ? { clearEnv: true } : {}),
    ...(options.cwd ? { cwd: options.cwd } : {}),
    stdin: options.stdin ?? "null",
    stdout: options.stdout ?? "inherit",
    stderr: options.stderr ?? "inherit",
  }).spawn();
}
