/**
 * `%files` and `%appfiles`: copies from the host (or an earlier stage's root) into the
 * sandbox being built, as SingularityCE's `cp -fLr src dst` does: sources are globbed and
 * symlinks in the source are followed; destinations are resolved inside the sandbox with
 * every symlink clamped to the sandbox root (securejoin), so a link in the image such as
 * `/etc -> /host/etc` or `../../..` never makes the copy write outside it.
 *
 * @module
 */
import { SingletError } from "../errors.ts";
import type { FileTransfer } from "./deffile.ts";

const MAX_LINKS = 255;

/**
 * Resolve `path` inside `root` as if `root` were `/`: `..` and absolute symlink targets
 * never leave `root`.
 *
 * @param root The sandbox directory (host path).
 * @param path A path in the container.
 * @returns The host path, all of whose existing components are real directories inside root.
 */
export async function secureJoin(root: string, path: string): Promise<string> {
  const parts = path.split("/").filter((p) => p !== "" && p !== ".");
  const resolved: string[] = [];
  let links = 0;
  while (parts.length) {
    const part = parts.shift()!;
    if (part === "..") {
      resolved.pop();
      continue;
    }
    const host = `${root}/${[...resolved, part].join("/")}`;
    let info: Deno.FileInfo | undefined;
    try {
      info = await Deno.lstat(host);
    } catch {
      info = undefined;
    }
    if (info?.isSymlink) {
      if (++links > MAX_LINKS) {
        throw new SingletError(`Cannot resolve "${path}" in the container: too many links`);
      }
      const target = await Deno.readLink(host);
      if (target.startsWith("/")) resolved.length = 0;
      parts.unshift(...target.split("/").filter((p) => p !== "" && p !== "."));
      continue;
    }
    resolved.push(part);
  }
  return resolved.length ? `${root}/${resolved.join("/")}` : root;
}

function globRegExp(pattern: string): RegExp {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const end = pattern.indexOf("]", i + 2);
      if (end < 0) re += "\\[";
      else {
        let set = pattern.slice(i + 1, end);
        if (set.startsWith("!")) set = "^" + set.slice(1);
        re += `[${set.replace(/\\/g, "\\\\")}]`;
        i = end;
      }
    } else if (c === "\\" && i + 1 < pattern.length) {
      re += pattern[++i]!.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    } else re += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

const MAGIC = /[*?[]/;

/**
 * Expand a glob (`*`, `?`, `[...]` per component, as Go's `filepath.Glob`) under a root.
 *
 * @param root `""` for the host, or a stage's root directory (symlinks clamped to it).
 * @param pattern The source pattern (absolute, or relative to `cwd`).
 * @param cwd Directory relative host patterns start from.
 * @returns Matching host paths, sorted; the pattern itself when it has no wildcard.
 */
export async function expandGlob(root: string, pattern: string, cwd: string): Promise<string[]> {
  const absolute = pattern.startsWith("/") ? pattern : root ? `/${pattern}` : `${cwd}/${pattern}`;
  if (!MAGIC.test(absolute)) {
    return [root ? await secureJoin(root, absolute) : absolute];
  }
  let bases = [root ? root : ""];
  for (const part of absolute.split("/").filter((p) => p !== "")) {
    const next: string[] = [];
    for (const base of bases) {
      if (!MAGIC.test(part)) {
        next.push(
          root ? await secureJoin(root, `${base.slice(root.length)}/${part}`) : `${base}/${part}`,
        );
        continue;
      }
      const re = globRegExp(part);
      try {
        for await (const e of Deno.readDir(base || "/")) {
          if (e.name.startsWith(".") && !part.startsWith(".")) continue;
          if (!re.test(e.name)) continue;
          const p = `${base}/${e.name}`;
          next.push(root ? await secureJoin(root, p.slice(root.length)) : p);
        }
      } catch {
        // not a directory: no match
      }
    }
    bases = next;
  }
  return bases.sort();
}

async function statOrUndefined(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.stat(path);
  } catch {
    return undefined;
  }
}

/** A FIFO or device node to recreate (`cp -r` semantics). */
export interface SpecialNode {
  /** What it is. */
  kind: "fifo" | "chardev" | "blockdev";
  /** Permission bits. */
  mode: number;
  /** Device major number (0 for a FIFO). */
  major: number;
  /** Device minor number (0 for a FIFO). */
  minor: number;
}

/**
 * Creates what Deno cannot (a process is needed: `mknod`), supplied by the runner.
 *
 * @param path Where, on the host.
 * @param node What.
 * @returns `undefined` when created, else why it was skipped (shown as a warning).
 */
export type NodeMaker = (path: string, node: SpecialNode) => Promise<string | undefined>;

/** Options of {@linkcode copyFiles}. */
export interface CopyOptions {
  /** Recreates FIFOs and device nodes; without one they are skipped with a warning. */
  makeNode?: NodeMaker;
  /** Warnings (skipped nodes and sockets). */
  onWarning?: (message: string) => void;
}

/** Linux `dev_t` to major/minor (glibc's `gnu_dev_major`/`gnu_dev_minor`). */
function devNumbers(rdev: number): [number, number] {
  const dev = BigInt(rdev);
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return [Number(major), Number(minor)];
}

async function copySpecial(
  src: string,
  dst: string,
  info: Deno.FileInfo,
  existing: Deno.FileInfo | undefined,
  options: CopyOptions,
): Promise<void> {
  const warn = options.onWarning ?? (() => {});
  if (info.isSocket) {
    warn(`%files: skipped socket "${src}": sockets cannot be copied`);
    return;
  }
  const kind = info.isFifo ? "fifo" : info.isCharDevice ? "chardev" : "blockdev";
  const [major, minor] = kind === "fifo" ? [0, 0] : devNumbers(info.rdev ?? 0);
  const what = kind === "fifo"
    ? "FIFO"
    : `${kind === "chardev" ? "character" : "block"} device ${major}:${minor}`;
  if (!options.makeNode) {
    warn(`%files: skipped ${what} "${src}": nothing here can create it`);
    return;
  }
  if (existing) await Deno.remove(dst, { recursive: true });
  const skipped = await options.makeNode(dst, { kind, mode: info.mode! & 0o7777, major, minor });
  if (skipped) warn(`%files: skipped ${what} "${src}": ${skipped}`);
}

/**
 * Copy `src` to `dst` (a host path inside the sandbox). From the host, links are followed
 * (`cp -L`); inside a stage's tree they are copied as links, so a link in an image never
 * pulls a host file into the result. FIFOs and device nodes are recreated through
 * `options.makeNode` (as `cp -r` does), or skipped with a warning.
 */
async function copyTree(
  src: string,
  dst: string,
  followLinks: boolean,
  options: CopyOptions,
): Promise<void> {
  const info = followLinks ? await Deno.stat(src) : await Deno.lstat(src);
  const existing = await Deno.lstat(dst).catch(() => undefined);
  if (info.isSymlink) {
    if (existing) await Deno.remove(dst, { recursive: true });
    await Deno.symlink(await Deno.readLink(src), dst);
    return;
  }
  if (info.isDirectory) {
    if (existing && !existing.isDirectory) await Deno.remove(dst, { recursive: true });
    if (!existing?.isDirectory) await Deno.mkdir(dst, { mode: info.mode! & 0o7777 });
    for await (const e of Deno.readDir(src)) {
      await copyTree(`${src}/${e.name}`, `${dst}/${e.name}`, followLinks, options);
    }
    return;
  }
  if (!info.isFile) return await copySpecial(src, dst, info, existing, options);
  if (existing) await Deno.remove(dst, { recursive: true });
  // createNew never follows a link placed at dst meanwhile
  using out = await Deno.open(dst, { write: true, createNew: true, mode: info.mode! & 0o7777 });
  using input = await Deno.open(src, { read: true });
  await input.readable.pipeTo(out.writable, { preventClose: true });
  await Deno.chmod(dst, info.mode! & 0o7777);
}

/**
 * Copy `%files` transfers into the sandbox.
 *
 * @param rootfs The sandbox directory.
 * @param transfers The lines of the section.
 * @param from `""` for the host, or the root directory of the stage named by `from`.
 * @param cwd Directory relative host sources start from (the definition file's directory).
 * @param destBase Container directory relative destinations are joined to (`/` for
 *   `%files`, `/scif/apps/<app>` for `%appfiles`).
 * @param options How FIFOs and device nodes are made; where warnings go.
 * @throws {SingletError} When a source matches nothing.
 */
export async function copyFiles(
  rootfs: string,
  transfers: readonly FileTransfer[],
  from: string,
  cwd: string,
  destBase = "/",
  options: CopyOptions = {},
): Promise<void> {
  for (const t of transfers) {
    const sources = await expandGlob(from, t.src, cwd);
    const existing = [];
    for (const s of sources) if (await statOrUndefined(s)) existing.push(s);
    if (existing.length === 0) {
      throw new SingletError(
        `Cannot copy "${t.src}" (line ${t.line}): no such file or directory` +
          (from ? " in the source stage" : " on the host"),
        {
          hint:
            "check the %files source path (relative paths start at the definition file's directory)",
        },
      );
    }
    let dst = t.dst || t.src;
    // SingularityCE joins every destination to the base (apps.go: filepath.Join(appBase,
    // dst)): an %appfiles line with only a source, or an absolute destination, still lands
    // under /scif/apps/<app>.
    dst = `${destBase.replace(/\/$/, "")}/${dst.replace(/^\/+/, "")}`;
    if (MAGIC.test(dst) && !t.dst) {
      dst = "/" + dst.split("/").filter((p) => !MAGIC.test(p)).join("/");
    }
    const target = await secureJoin(rootfs, dst);
    const targetInfo = await statOrUndefined(target);
    const into = existing.length > 1 || t.dst.endsWith("/") || targetInfo?.isDirectory === true;
    if (into && !targetInfo) await Deno.mkdir(target, { recursive: true });
    for (const src of existing) {
      const name = src.slice(src.lastIndexOf("/") + 1);
      if (into) {
        await copyTree(
          src,
          await secureJoin(rootfs, `${target.slice(rootfs.length)}/${name}`),
          from === "",
          options,
        );
      } else {
        const parent = target.slice(0, target.lastIndexOf("/"));
        await Deno.mkdir(parent, { recursive: true });
        await copyTree(src, target, from === "", options);
      }
    }
  }
}
