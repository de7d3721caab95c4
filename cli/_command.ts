/**
 * What every `cli/commands/*.ts` module builds on: the commander types, the way an action
 * reports an exit code, and access to the global flags.
 *
 * @module
 */
import { Command } from "commander";

export { Command, Option } from "commander";

/** Registers one verb (and its sub-verbs) on the root program. */
export type CommandRegistrar = (program: Command) => void;

/** The global flags, given before the verb: `singlet -d exec ...`. */
export interface GlobalOptions {
  /** -d/--debug: debug messages and stack traces. */
  debug?: boolean;
  /** -q/--quiet: only warnings and errors. */
  quiet?: boolean;
  /** -s/--silent: only errors. */
  silent?: boolean;
  /** -v/--verbose: verbose messages. */
  verbose?: boolean;
  /** --nocolor: never colour stderr. */
  nocolor?: boolean;
}

const exitState = { code: 0 };

/**
 * Wrap a command action so its numeric result becomes singlet's exit code
 * (run/exec pass the container's status through this).
 *
 * @param fn The action; may return an exit code.
 * @returns A function commander can call as the action.
 */
export function action<A extends unknown[]>(
  fn: (...args: A) => Promise<number | void> | number | void,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const code = await fn(...args);
    if (typeof code === "number") exitState.code = code;
  };
}

/** @returns The exit code the last action asked for (0 if none). */
export function requestedExitCode(): number {
  return exitState.code;
}

/**
 * The global flags of the program a command belongs to.
 *
 * @param command Any command in the tree (usually `this` of the action, or the program).
 * @returns The root program's options.
 */
export function globalOptions(command: Command): GlobalOptions {
  let root = command;
  while (root.parent) root = root.parent;
  return root.opts<GlobalOptions>();
}
