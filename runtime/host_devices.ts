/**
 * Looking at the host's device nodes (`/dev/nvidia0`, `/dev/dri`, CDI `hostPath`s).
 *
 * Deno refuses every path under `/dev` but a few (`/dev/null`, ...) without
 * `--allow-all`, which singlet never asks for: a `stat` or `readDir` there fails with
 * `NotCapable` even as root. Where Deno refuses, the same question goes to `stat`/`ls`
 * started through `unshare` with no new namespace (as `resources.ts` reads `/proc`); paths
 * Deno may read are answered directly, without starting anything.
 *
 * @module
 */
import { runCommand } from "./_command.ts";

/** What a host path is. */
export interface HostEntry {
  /** "c" (character device), "b" (block device), "d" (directory) or "-" (anything else). */
  kind: "c" | "b" | "d" | "-";
  /** Major number (device nodes; 0 otherwise). */
  major: number;
  /** Minor number (device nodes; 0 otherwise). */
  minor: number;
  /** Permission bits. */
  mode: number;
}

/**
 * `stat` (symlinks followed) of host paths, through Deno where it may, else through the
 * `stat` program.
 *
 * @param paths Absolute host paths.
 * @returns The entries found, by path; paths that do not exist are left out.
 */
export async function statHost(paths: readonly string[]): Promise<Map<string, HostEntry>> {
  const found = new Map<string, HostEntry>();
  const refused: string[] = [];
  for (const path of paths) {
    try {
      found.set(path, fromFileInfo(await Deno.stat(path)));
    } catch (error) {
      if (error instanceof Deno.errors.NotCapable) refused.push(path);
    }
  }
  if (!refused.length) return found;
  // one line per existing path: type, major and minor in hex, mode in octal, then the name
  // (last, so a tab in it does not matter); missing paths only complain on stderr
  const output = await runCommand([
    "unshare",
    "--",
    "stat",
    "-L",
    "--printf",
    "%F\\t%t\\t%T\\t%a\\t%n\\n",
    "--",
    ...refused,
  ]).catch(() => undefined);
  if (!output) return found;
  for (const line of new TextDecoder().decode(output.stdout).split("\n")) {
    const fields = line.split("\t");
    if (fields.length < 5) continue;
    const [type, major, minor, mode] = fields;
    const name = fields.slice(4).join("\t");
    found.set(name, {
      kind: type === "character special file"
        ? "c"
        : type === "block special file"
        ? "b"
        : type === "directory"
        ? "d"
        : "-",
      major: parseInt(major!, 16),
      minor: parseInt(minor!, 16),
      mode: parseInt(mode!, 8),
    });
  }
  return found;
}

/**
 * The names in a host directory, through Deno where it may, else through `ls`.
 *
 * @param dir Absolute host path.
 * @returns The names (sorted), or undefined when the directory cannot be listed.
 */
export async function listHostDir(dir: string): Promise<string[] | undefined> {
  try {
    return (await Array.fromAsync(Deno.readDir(dir))).map((entry) => entry.name).sort();
  } catch (error) {
    if (!(error instanceof Deno.errors.NotCapable)) return undefined;
  }
  const output = await runCommand(["unshare", "--", "ls", "-1A", "--", dir]).catch(() => undefined);
  if (!output || output.code !== 0) return undefined;
  return new TextDecoder().decode(output.stdout).split("\n").filter((name) => name !== "")
    .sort();
}

function fromFileInfo(info: Deno.FileInfo): HostEntry {
  const mode = (info.mode ?? 0) & 0o7777;
  if (info.isCharDevice || info.isBlockDevice) {
    const rdev = info.rdev ?? 0;
    // glibc's gnu_dev_major/minor (the high bits are past 32: no bitwise operators there)
    const major = ((rdev >>> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
    const minor = (rdev & 0xff) | ((rdev >>> 12) & ~0xff);
    return { kind: info.isCharDevice ? "c" : "b", major, minor, mode };
  }
  return { kind: info.isDirectory ? "d" : "-", major: 0, minor: 0, mode };
}
