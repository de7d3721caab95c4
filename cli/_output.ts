/**
 * singlet's stderr house style: Singularity-like levelled messages, colour only on a TTY,
 * progress bars only on a TTY (plain lines otherwise), and a `--json` writer for stdout.
 *
 * @module
 */

/** Message levels, most severe first. */
export type LogLevel = "fatal" | "error" | "warning" | "info" | "verbose" | "debug";

const LEVEL_RANK: Record<LogLevel, number> = {
  fatal: 0,
  error: 1,
  warning: 2,
  info: 3,
  verbose: 4,
  debug: 5,
};
const LEVEL_LABEL: Record<LogLevel, string> = {
  fatal: "FATAL:  ",
  error: "ERROR:  ",
  warning: "WARNING:",
  info: "INFO:   ",
  verbose: "VERBOSE:",
  debug: "DEBUG:  ",
};
const LEVEL_COLOR: Record<LogLevel, string> = {
  fatal: "\x1b[31m",
  error: "\x1b[31m",
  warning: "\x1b[33m",
  info: "\x1b[34m",
  verbose: "\x1b[36m",
  debug: "\x1b[90m",
};
const RESET = "\x1b[0m";
const encoder = new TextEncoder();

/** Settings of the process-wide logger, set once from the global flags. */
export interface OutputSettings {
  /** Most verbose level printed. */
  level: LogLevel;
  /** Whether ANSI colour may be used on stderr. */
  color: boolean;
}

const settings: OutputSettings = {
  level: "info",
  color: false,
};

/**
 * Configure the logger from the global flags (`-d`, `-v`, `-q`, `-s`, `--nocolor`).
 *
 * @param options The chosen level and whether colour is allowed at all.
 */
export function configureOutput(options: { level: LogLevel; nocolor: boolean }): void {
  settings.level = options.level;
  settings.color = !options.nocolor && Deno.env.get("NO_COLOR") === undefined &&
    Deno.stderr.isTerminal();
}

/** @returns The level the logger prints down to. */
export function logLevel(): LogLevel {
  return settings.level;
}

/**
 * Whether a level would be printed.
 *
 * @param level The level to test.
 * @returns True when messages at `level` reach stderr.
 */
export function enabled(level: LogLevel): boolean {
  return LEVEL_RANK[level] <= LEVEL_RANK[settings.level];
}

function write(level: LogLevel, message: string): void {
  if (!enabled(level)) return;
  const label = settings.color
    ? `${LEVEL_COLOR[level]}${LEVEL_LABEL[level]}${RESET}`
    : LEVEL_LABEL[level];
  Deno.stderr.writeSync(encoder.encode(`${label} ${message}\n`));
}

/** Levelled messages on stderr. */
export const log = {
  /** @param message printed with `FATAL:` */
  fatal: (message: string): void => write("fatal", message),
  /** @param message printed with `ERROR:` */
  error: (message: string): void => write("error", message),
  /** @param message printed with `WARNING:` */
  warning: (message: string): void => write("warning", message),
  /** @param message printed with `INFO:` */
  info: (message: string): void => write("info", message),
  /** @param message printed with `VERBOSE:` (with -v) */
  verbose: (message: string): void => write("verbose", message),
  /** @param message printed with `DEBUG:` (with -d) */
  debug: (message: string): void => write("debug", message),
};

/**
 * Print the `hint:` line that follows a fatal error.
 *
 * @param hint What the user should do next.
 */
export function printHint(hint: string): void {
  if (!enabled("error")) return;
  const label = settings.color ? `\x1b[32mhint:${RESET}   ` : "hint:   ";
  Deno.stderr.writeSync(encoder.encode(`${label} ${hint}\n`));
}

/**
 * Write a value as one JSON document on stdout (for `--json`).
 *
 * @param value Any JSON-serialisable value.
 */
export function printJson(value: unknown): void {
  Deno.stdout.writeSync(encoder.encode(JSON.stringify(value, null, 2) + "\n"));
}

/**
 * Write text to stdout as is.
 *
 * @param text The text; no newline is added.
 */
export function printOut(text: string): void {
  const bytes = encoder.encode(text);
  let written = 0;
  while (written < bytes.length) written += Deno.stdout.writeSync(bytes.subarray(written));
}

/**
 * A byte count in binary units, e.g. "1.5 MiB".
 *
 * @param n Bytes.
 * @param digits Decimals shown for units above bytes (default 1).
 * @returns The formatted size.
 */
export function formatBytes(n: number, digits = 1): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : digits)} ${units[unit]}`;
}

/**
 * A progress bar for long work: bytes, rate and ETA, redrawn in place on a TTY at most
 * ten times a second; without a TTY it prints a start and a done line at INFO level.
 *
 * @example Usage
 * ```ts
 * import { Progress } from "./_output.ts";
 * const bar = new Progress("Downloading layer", 1000);
 * bar.update(500);
 * bar.done();
 * ```
 */
export class Progress {
  #label: string;
  #total: number | undefined;
  #current = 0;
  #started = performance.now();
  #lastDraw = 0;
  #tty: boolean;

  /**
   * @param label What is being done, e.g. "Copying blob 3f2c…".
   * @param total Total bytes if known.
   */
  constructor(label: string, total?: number) {
    this.#label = label;
    this.#total = total;
    this.#tty = Deno.stderr.isTerminal() && enabled("info");
    if (!this.#tty) log.verbose(`${label}...`);
  }

  /** @param current Bytes done so far. */
  update(current: number): void {
    this.#current = current;
    if (!this.#tty) return;
    const now = performance.now();
    if (now - this.#lastDraw < 100) return;
    this.#lastDraw = now;
    this.#draw();
  }

  #draw(final = false): void {
    const seconds = Math.max((performance.now() - this.#started) / 1000, 1e-3);
    const rate = this.#current / seconds;
    let line = `${this.#label} ${formatBytes(this.#current)}`;
    if (this.#total) {
      const fraction = Math.min(this.#current / this.#total, 1);
      const width = 24;
      const filled = Math.round(fraction * width);
      const eta = rate > 0 ? Math.max(this.#total - this.#current, 0) / rate : 0;
      line = `${this.#label} [${"=".repeat(filled)}${" ".repeat(width - filled)}] ` +
        `${formatBytes(this.#current)}/${formatBytes(this.#total)} ${formatBytes(rate)}/s` +
        (final ? "" : ` ETA ${eta.toFixed(0)}s`);
    } else {
      line += ` ${formatBytes(rate)}/s`;
    }
    Deno.stderr.writeSync(encoder.encode(`\r\x1b[2K${line}${final ? "\n" : ""}`));
  }

  /** Finish the bar: a final redraw on a TTY, a summary line otherwise. */
  done(): void {
    if (this.#tty) {
      this.#draw(true);
    } else {
      const seconds = (performance.now() - this.#started) / 1000;
      log.verbose(`${this.#label}: ${formatBytes(this.#current)} in ${seconds.toFixed(1)}s`);
    }
  }
}
