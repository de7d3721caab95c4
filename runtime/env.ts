/**
 * The container's environment, with SingularityCE's rules (native mode, §2.3-§2.4 of
 * the reference):
 *
 * - the host environment passes through, except `HOME`, `PATH`, `LD_LIBRARY_PATH` and
 *   singlet's/Singularity's/Apptainer's own `SINGULARITY_*`-style variables;
 * - `--cleanenv` passes only `TERM` and the proxy variables, and sets `LANG=C`;
 * - `SINGULARITYENV_X`, `APPTAINERENV_X`, `SINGLETENV_X` and `SINGLET_ENV_X` set `X`
 *   inside (later prefixes win), then `--env-file` files (later files win), then `--env`;
 *   `PATH`, `PREPEND_PATH` and `APPEND_PATH` become `SING_USER_DEFINED_*` overrides;
 * - image variables (`/.singularity.d/env/*.sh`) override host ones, user ones override
 *   image ones.
 *
 * The last two rules need the image's environment scripts, so they are applied inside the
 * container by the action script (`action_script.ts`): host variables travel as a
 * snippet that re-exports each one the image did not set, and user variables as a
 * snippet evaluated right after `99-base.sh`.
 *
 * @module
 */
import { SingletError } from "../core/errors.ts";

/** The default PATH inside containers. */
export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Variables that always pass, even with `--cleanenv`. */
const ALWAYS_PASS = [
  "TERM",
  "http_proxy",
  "HTTP_PROXY",
  "https_proxy",
  "HTTPS_PROXY",
  "no_proxy",
  "NO_PROXY",
  "all_proxy",
  "ALL_PROXY",
  "ftp_proxy",
  "FTP_PROXY",
];
/** Host variables never passed through. */
const NEVER_PASS = new Set(["HOME", "PATH", "LD_LIBRARY_PATH", "PS1", "PWD", "OLDPWD", "SHLVL"]);
/** Host prefixes never passed through. */
const NEVER_PASS_PREFIXES = [
  "SINGULARITY_",
  "APPTAINER_",
  "SINGLET_",
  "SINGULARITYENV_",
  "APPTAINERENV_",
  "SINGLETENV_",
];
/** User-variable prefixes, lowest priority first. */
const USER_PREFIXES = ["SINGULARITYENV_", "APPTAINERENV_", "SINGLETENV_", "SINGLET_ENV_"];
/** SINGLET_ENV_FILE is the environment form of --env-file, not a container variable. */
const RESERVED = new Set(["SINGLET_ENV_FILE", "SINGLET_ENV_INJECT", "SINGLET_ENV_RESTORE"]);
const PATH_OVERRIDES: Record<string, string> = {
  PATH: "SING_USER_DEFINED_PATH",
  PREPEND_PATH: "SING_USER_DEFINED_PREPEND_PATH",
  APPEND_PATH: "SING_USER_DEFINED_APPEND_PATH",
};
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Options of {@linkcode buildEnvironment}. */
export interface EnvironmentOptions {
  /** `--cleanenv`. */
  cleanenv?: boolean;
  /** `--env` pairs, in command-line order. */
  env?: [string, string][];
  /** `--env-file` contents, already parsed, in command-line order. */
  envFiles?: [string, string][][];
  /** `--no-eval`: user values are taken literally, not shell-evaluated. */
  noEval?: boolean;
  /** HOME inside the container. */
  home: string;
  /** Runtime variables (`SINGULARITY_CONTAINER`, ...) set on the process. */
  runtime?: Record<string, string>;
}

/**
 * Compute the environment of the container process.
 *
 * @param host The host environment (singlet's own).
 * @param options Flags and runtime values.
 * @returns `KEY=VALUE` strings for the OCI config.
 */
export function buildEnvironment(
  host: Record<string, string>,
  options: EnvironmentOptions,
): string[] {
  const process = new Map<string, string>();
  process.set("PATH", DEFAULT_PATH);
  process.set("HOME", options.home);
  if (options.cleanenv) process.set("LANG", "C");

  // Host variables: re-exported inside only when the image leaves them unset.
  const restore: string[] = [];
  for (const [key, value] of Object.entries(host)) {
    const passes = ALWAYS_PASS.includes(key) ||
      (!options.cleanenv && !NEVER_PASS.has(key) &&
        !NEVER_PASS_PREFIXES.some((prefix) => key.startsWith(prefix)));
    if (!passes) continue;
    if (NAME.test(key)) restore.push(`[ -n "\${${key}+x}" ] || export ${key}=${quote(value)}`);
    // a name the shell cannot handle still reaches the process untouched
    else process.set(key, value);
  }

  // User variables, lowest priority first: prefixes, --env-file files, --env.
  const user = new Map<string, string>();
  for (const prefix of USER_PREFIXES) {
    for (const [key, value] of Object.entries(host)) {
      if (!key.startsWith(prefix) || RESERVED.has(key)) continue;
      const name = key.slice(prefix.length);
      if (name) user.set(name, value);
    }
  }
  for (const file of options.envFiles ?? []) for (const [k, v] of file) user.set(k, v);
  for (const [key, value] of options.env ?? []) user.set(key, value);

  const inject: string[] = [];
  for (const [key, value] of user) {
    if (!NAME.test(key)) {
      throw new SingletError(`Cannot set container variable "${key}": not a valid name`, {
        hint: "variable names are letters, digits and _, not starting with a digit",
      });
    }
    const override = PATH_OVERRIDES[key];
    if (override) {
      process.set(override, value);
      continue;
    }
    const finalValue = key === "LD_LIBRARY_PATH" ? `${value}:/.singularity.d/libs` : value;
    inject.push(
      `export ${key}=${options.noEval ? quote(finalValue) : doubleQuote(finalValue)}`,
    );
  }
  if (options.noEval) process.set("SINGULARITY_NO_EVAL", "1");
  for (const [key, value] of Object.entries(options.runtime ?? {})) process.set(key, value);
  process.set("SINGLET_ENV_INJECT", inject.join("\n"));
  process.set("SINGLET_ENV_RESTORE", restore.join("\n"));
  return [...process].map(([key, value]) => `${key}=${value}`);
}

/**
 * Parse an `--env-file`: `KEY=VALUE` lines, optional `export `, `#` comments, values
 * optionally in single or double quotes.
 *
 * @param text The file's content.
 * @param path The file's name, for errors.
 * @returns The pairs in file order.
 * @throws {SingletError} On a line that is not an assignment.
 */
export function parseEnvFile(text: string, path: string): [string, string][] {
  const pairs: [string, string][] = [];
  for (const [index, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!match) {
      throw new SingletError(
        `Cannot read env file "${path}": line ${index + 1} is not KEY=VALUE`,
        { hint: "each line must be KEY=VALUE (optionally with 'export ')" },
      );
    }
    let value = match[2]!;
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.at(-1) === value[0]) {
      value = value.slice(1, -1);
    }
    pairs.push([match[1]!, value]);
  }
  return pairs;
}

/**
 * Quote a string for POSIX sh so it is taken literally.
 *
 * @param value Any text.
 * @returns The single-quoted form.
 */
export function quote(value: string): string {
  return `'${value.replaceAll("'", `'"'"'`)}'`;
}

/** Double quotes: `$VAR`, `$(...)` and backslash escapes are evaluated, as in Singularity. */
function doubleQuote(value: string): string {
  return `"${value.replaceAll('"', '\\"')}"`;
}
