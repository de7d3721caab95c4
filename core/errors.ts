/**
 * The one error type singlet's own code throws for conditions a user can act on.
 *
 * Built-in error classes (`TypeError`, `RangeError`, `SyntaxError`) stay the right choice for
 * malformed input inside libraries; `SingletError` adds what the CLI needs to print a
 * one-line message plus a `hint:` line and to choose an exit code.
 *
 * @module
 */

/** Options for {@linkcode SingletError}. */
export interface SingletErrorOptions {
  /** One short sentence telling the user what to do next. */
  hint?: string;
  /** The lower-level error this one wraps. */
  cause?: unknown;
  /** Process exit code when this error ends the program (default {@linkcode EXIT_FAILURE}). */
  exitCode?: number;
}

/** Exit code for singlet's own failures (as SingularityCE uses 255 for its own). */
export const EXIT_FAILURE = 255;
/** Exit code for command-line usage errors: unknown flag, missing argument. */
export const EXIT_USAGE = 254;

/**
 * An error with a message for the user, an optional hint and an exit code.
 *
 * @example Usage
 * ```ts
 * import { SingletError } from "./errors.ts";
 * throw new SingletError(`Cannot open image "x.sif": file does not exist`, {
 *   hint: "check the path, or pull the image first",
 * });
 * ```
 */
export class SingletError extends Error {
  /** What the user should do next, printed on its own `hint:` line. */
  readonly hint: string | undefined;
  /** Exit code the CLI ends with. */
  readonly exitCode: number;

  /**
   * Create an error for the user.
   *
   * @param message One line: action, quoted object, what went wrong.
   * @param options Hint, cause and exit code.
   */
  constructor(message: string, options: SingletErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "SingletError";
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? EXIT_FAILURE;
  }
}

/**
 * A command-line usage error (unknown flag, wrong arguments); exits with {@linkcode EXIT_USAGE}.
 */
export class UsageError extends SingletError {
  /**
   * Create a usage error.
   *
   * @param message What is wrong with the command line.
   * @param hint What to type instead; defaults to pointing at `--help`.
   */
  constructor(message: string, hint = "run 'singlet help' or add --help to the command") {
    super(message, { hint, exitCode: EXIT_USAGE });
    this.name = "UsageError";
  }
}
