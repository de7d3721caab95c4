/**
 * Extended attributes of a directory tree for packing: Deno has no `getxattr`/`listxattr`,
 * so one `getfattr` process (Debian's `attr`) dumps the whole tree, symlinks not followed,
 * names and values byte-exact (`core/squashfs/xattr_dump.ts` parses it). The provider is
 * what `DirectorySource` accepts as its `xattrs` option.
 *
 * Without `getfattr`: a warning (once per provider) and no xattrs, or an error when the
 * user asked for xattrs explicitly. A file system without xattr support simply has none
 * (getfattr reports nothing for it). Only root sees `trusted.*`, as the kernel decides.
 *
 * @module
 */
import type { XattrProvider } from "../core/squashfs/directory_source.ts";
import { parseGetfattrDump, type XattrTable } from "../core/squashfs/xattr_dump.ts";
import { SingletError } from "../core/errors.ts";
import { type CommandOutput, findExecutable, runCommand } from "./_command.ts";

/** Options of {@linkcode hostXattrReader}. */
export interface HostXattrReaderOptions {
  /** Fail instead of warning when the attributes cannot be read (the user asked for them). */
  required?: boolean;
  /** Receives the warning when they cannot be read. */
  onWarning?: (message: string) => void;
}

const HINT = "install the 'attr' package (getfattr), or pack with --no-xattrs";

/** An absolute path without trailing slashes (getfattr would print "root//name"). */
function absolute(dir: string): string {
  const abs = dir.startsWith("/") ? dir : `${Deno.cwd()}/${dir}`;
  return abs.replace(/\/+$/, "") || "/";
}

/**
 * An {@linkcode XattrProvider} that runs
 * `getfattr -R -h -P -d -m - -e hex --absolute-names DIR` once per tree.
 *
 * @param options Whether a failure is an error or a warning.
 * @returns The provider.
 */
export function hostXattrReader(options: HostXattrReaderOptions = {}): XattrProvider {
  let warned = false;
  const giveUp = (dir: string, reason: string, cause?: unknown): XattrTable => {
    const message = `Cannot read the extended attributes of "${dir}": ${reason}`;
    if (options.required) throw new SingletError(message, { hint: HINT, cause });
    if (!warned) options.onWarning?.(`${message}; packing without them (${HINT})`);
    warned = true;
    return new Map();
  };
  return async (dir) => {
    if (findExecutable("getfattr") === undefined) {
      return giveUp(dir, "getfattr is not installed");
    }
    const root = absolute(dir);
    let output: CommandOutput;
    try {
      output = await runCommand(
        [
          "getfattr",
          "-R",
          "-h",
          "-P",
          "-d",
          "-m",
          "-",
          "-e",
          "hex",
          "--absolute-names",
          "--",
          root,
        ],
        { stdin: "null", stdout: "piped", stderr: "piped" },
      );
    } catch (error) {
      return giveUp(dir, `getfattr did not run: ${(error as Error).message}`, error);
    }
    let table: XattrTable;
    try {
      table = parseGetfattrDump(output.stdout, root);
    } catch (error) {
      return giveUp(dir, (error as Error).message, error);
    }
    if (output.code !== 0) {
      // getfattr goes on past unreadable files and exits 1: keep what it read, say so
      // (or fail, when required).
      const first = new TextDecoder().decode(output.stderr).trim().split("\n")[0] ?? "";
      giveUp(dir, `getfattr failed for some entries: ${first}`);
    }
    return table;
  };
}
