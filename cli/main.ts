/**
 * The `singlet` entry point (also what `deno compile` builds): parse the global flags,
 * dispatch to a verb, and turn any failure into one FATAL line, a `hint:` line and an exit
 * code. Stack traces only with `--debug`.
 *
 * @module
 */
import { Command, CommanderError } from "commander";
import { registrarsFor } from "./commands/mod.ts";
import type { CommandRegistrar } from "./_command.ts";
import { type GlobalOptions, requestedExitCode } from "./_command.ts";
import { configureOutput, log, type LogLevel, printHint } from "./_output.ts";
import { EXIT_FAILURE, EXIT_USAGE, SingletError } from "../core/errors.ts";
import { VERSION } from "../core/version.ts";

/** Build the root program with the given verbs registered (not yet parsed). */
function buildProgram(registrars: readonly CommandRegistrar[]): Command {
  const program = new Command("singlet")
    .description(
      "Pull, build and run Singularity-compatible containers without root.\n" +
        "Global flags go before the command: singlet -d exec image.sif ls",
    )
    .version(`singlet version ${VERSION}`, "--version", "show the version and exit")
    .option("-d, --debug", "print debugging information (highest verbosity)")
    .option("-q, --quiet", "suppress normal output")
    .option("-s, --silent", "only print errors")
    .option("-v, --verbose", "print additional information")
    .option("--nocolor", "print without color output (default for non-TTY)")
    .enablePositionalOptions()
    .showSuggestionAfterError(true)
    .helpCommand("help [command]", "show help for a command")
    .configureHelp({ sortSubcommands: true, showGlobalOptions: false })
    .exitOverride()
    .configureOutput({
      writeOut: (text) => writeAll(Deno.stdout, text),
      writeErr: (text) => writeAll(Deno.stderr, text),
      // Errors are printed once, in house style, by main().
      outputError: () => {},
    })
    .hook("preAction", (root) => {
      configureOutput({
        level: levelFrom(root.opts<GlobalOptions>()),
        nocolor: !!root.opts().nocolor,
      });
    });
  for (const register of registrars) register(program);
  // Every verb inherits exit handling and output routing from the root.
  for (const command of allCommands(program)) {
    command.exitOverride().configureOutput({
      writeOut: (text) => writeAll(Deno.stdout, text),
      writeErr: (text) => writeAll(Deno.stderr, text),
      outputError: () => {},
    }).showSuggestionAfterError(true);
  }
  return program;
}

function allCommands(command: Command): Command[] {
  return command.commands.flatMap((sub) => [sub, ...allCommands(sub)]);
}

function writeAll(stream: { writeSync(p: Uint8Array): number }, text: string): void {
  const bytes = new TextEncoder().encode(text);
  let written = 0;
  while (written < bytes.length) written += stream.writeSync(bytes.subarray(written));
}

function levelFrom(options: GlobalOptions): LogLevel {
  if (options.debug) return "debug";
  if (options.silent) return "error";
  if (options.quiet) return "warning";
  if (options.verbose) return "verbose";
  return "info";
}

/**
 * Global flags scanned by hand (for the error path when commander itself fails) and the
 * verb after them (to load only that verb's module).
 */
function scanGlobalFlags(args: readonly string[]): GlobalOptions & { verb?: string } {
  const options: GlobalOptions & { verb?: string } = {};
  for (const arg of args) {
    if (!arg.startsWith("-")) {
      options.verb = arg;
      break;
    }
    if (arg === "-d" || arg === "--debug") options.debug = true;
    if (arg === "-q" || arg === "--quiet") options.quiet = true;
    if (arg === "-s" || arg === "--silent") options.silent = true;
    if (arg === "-v" || arg === "--verbose") options.verbose = true;
    if (arg === "--nocolor") options.nocolor = true;
  }
  return options;
}

/**
 * Run singlet with the given arguments and return its exit code.
 *
 * @param args The command line after the program name.
 * @returns The exit code: the container's own on run/exec, 254 for usage errors, 255 for
 *   singlet's own failures.
 */
export async function main(args: readonly string[]): Promise<number> {
  const globals = scanGlobalFlags(args);
  configureOutput({ level: levelFrom(globals), nocolor: !!globals.nocolor });
  const program = buildProgram(await registrarsFor(globals.verb));
  try {
    await program.parseAsync([...args], { from: "user" });
    return requestedExitCode();
  } catch (error) {
    return reportError(error, !!globals.debug);
  }
}

function reportError(error: unknown, debug: boolean): number {
  if (error instanceof CommanderError) {
    // --help and --version end with exit code 0 through the same path.
    if (error.exitCode === 0) return 0;
    // Bare `singlet` (or a group without its verb): commander has printed the help.
    if (error.code === "commander.help") return EXIT_USAGE;
    const message = error.message.replace(/^error: /, "");
    log.fatal(message);
    printHint("run 'singlet help' or add --help to the command");
    return EXIT_USAGE;
  }
  if (error instanceof SingletError) {
    log.fatal(error.message);
    if (error.hint) printHint(error.hint);
    if (debug) printCauseChain(error);
    return error.exitCode;
  }
  if (error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotCapable) {
    log.fatal(error.message);
    printHint("this is a bug in singlet's permission set (cli/permissions.args): please report it");
    if (debug) printCauseChain(error);
    return EXIT_FAILURE;
  }
  const message = error instanceof Error ? error.message : String(error);
  log.fatal(message);
  if (debug) printCauseChain(error);
  else printHint("run again with --debug for details");
  return EXIT_FAILURE;
}

function printCauseChain(error: unknown): void {
  let current: unknown = error;
  while (current instanceof Error) {
    log.debug(current.stack ?? current.message);
    current = current.cause;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
