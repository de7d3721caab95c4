/**
 * `singlet squashfs list` and `singlet squashfs extract`: read a SquashFS image, or the
 * root filesystem partition of a SIF, without mounting it.
 *
 * @module
 */
import { action, type Command } from "../_command.ts";
import { log, printJson, Progress } from "../_output.ts";
import type { SquashfsEntry, SquashfsReader } from "../../core/squashfs/reader.ts";
import { UsageError } from "../../core/errors.ts";
import { squashfsGroup } from "./squashfs.ts";

const TYPE_CHAR: Record<SquashfsEntry["type"], string> = {
  directory: "d",
  file: "-",
  symlink: "l",
  blockdev: "b",
  chardev: "c",
  fifo: "p",
  socket: "s",
};

/**
 * The `ls -l` style mode string, e.g. "drwxr-xr-x" or "-rwsr-xr-x".
 *
 * @param entry An image entry.
 * @returns Ten characters.
 */
export function modeString(entry: SquashfsEntry): string {
  const m = entry.mode;
  const rwx = (bits: number, special: boolean, ch: string) =>
    (bits & 4 ? "r" : "-") + (bits & 2 ? "w" : "-") +
    (special ? (bits & 1 ? ch : ch.toUpperCase()) : (bits & 1 ? "x" : "-"));
  return TYPE_CHAR[entry.type] + rwx(m >> 6, (m & 0o4000) !== 0, "s") +
    rwx(m >> 3, (m & 0o2000) !== 0, "s") + rwx(m, (m & 0o1000) !== 0, "t");
}

function pad(n: number): string {
  return String(n).padStart(2, "0");
}

/**
 * One listing line in `unsquashfs -lln` layout (numeric owners, local time), with the
 * image root shown as "/" instead of "squashfs-root".
 *
 * @param reader The image.
 * @param entry The entry.
 * @returns The line as bytes (names are bytes), newline included.
 */
export function listingLine(reader: SquashfsReader, entry: SquashfsEntry): Uint8Array {
  const owner = `${entry.uid}/${entry.gid}`;
  const width = Math.max(0, 25 - owner.length + 1);
  const size = entry.type === "blockdev" || entry.type === "chardev"
    ? `${String(entry.major).padStart(width - 4)},${String(entry.minor).padStart(3)}`
    : String(entry.size).padStart(width);
  const t = new Date(entry.mtime * 1000);
  const time = `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())} ` +
    `${pad(t.getHours())}:${pad(t.getMinutes())}`;
  const enc = new TextEncoder();
  const head = enc.encode(`${modeString(entry)} ${owner} ${size} ${time} /`);
  const path = reader.pathOf(entry);
  const tail = entry.type === "symlink" ? [enc.encode(" -> "), entry.linkTarget!] : [];
  const parts = [head, path, ...tail, enc.encode("\n")];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function bytesToJsonString(bytes: Uint8Array): { text: string; base64?: string } {
  try {
    return { text: utf8.decode(bytes) };
  } catch {
    let text = "";
    for (const b of bytes) {
      text += b >= 0x20 && b < 0x7f
        ? String.fromCharCode(b)
        : `\\x${b.toString(16).padStart(2, "0")}`;
    }
    let bin = "";
    for (const b of bytes) bin += String.fromCharCode(b);
    return { text, base64: btoa(bin) };
  }
}

function base64(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

/**
 * The JSON form of an entry for `list --json`.
 *
 * @param reader The image.
 * @param entry The entry.
 * @returns A plain object: path ("/" rooted; names that are not UTF-8 are escaped and
 *   given again exactly as `pathBase64`), type, mode (number), uid, gid, size, mtime,
 *   nlink, inode, and where they apply linkTarget, major/minor, hardlinkTo, xattrs (values
 *   base64).
 */
export function entryJson(reader: SquashfsReader, entry: SquashfsEntry): Record<string, unknown> {
  const path = reader.pathOf(entry);
  const full = new Uint8Array(path.length + 1);
  full[0] = 0x2f;
  full.set(path, 1);
  const p = bytesToJsonString(full);
  const out: Record<string, unknown> = { path: p.text };
  if (p.base64) out.pathBase64 = p.base64;
  Object.assign(out, {
    type: entry.type,
    mode: entry.mode,
    uid: entry.uid,
    gid: entry.gid,
    size: entry.size,
    mtime: entry.mtime,
    nlink: entry.nlink,
    inode: entry.inode,
  });
  if (entry.linkTarget) {
    const t = bytesToJsonString(entry.linkTarget);
    out.linkTarget = t.text;
    if (t.base64) out.linkTargetBase64 = t.base64;
  }
  if (entry.major !== undefined) {
    out.major = entry.major;
    out.minor = entry.minor;
  }
  if (entry.hardlinkOf !== undefined) {
    const origin = reader.list()[entry.hardlinkOf]!;
    out.hardlinkTo = bytesToJsonString(new Uint8Array([0x2f, ...reader.pathOf(origin)])).text;
  }
  const xattrs = reader.xattrs(entry);
  if (xattrs.size) out.xattrs = Object.fromEntries([...xattrs].map(([k, v]) => [k, base64(v)]));
  return out;
}

function writeStdout(bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += Deno.stdout.writeSync(bytes.subarray(off));
}

/**
 * Add `list` and `extract` to the `squashfs` command group.
 *
 * @param group The `singlet squashfs` command.
 */
export function registerSquashfsRead(group: Command): void {
  group
    .command("list")
    .description(
      "List the contents of a SquashFS image or of a SIF's root filesystem, like " +
        "'unsquashfs -lln'",
    )
    .argument("<image>", "SquashFS image or SIF file")
    .option("--json", "print a JSON array of entries instead")
    .option("--offset <bytes>", "byte offset of the SquashFS image inside the file")
    .action(action(async (image: string, opts: { json?: boolean; offset?: string }) => {
      const reader = await openReader(image, opts.offset);
      try {
        if (opts.json) {
          printJson(reader.list().map((e) => entryJson(reader, e)));
          return;
        }
        const chunks: Uint8Array[] = [];
        let size = 0;
        for (const entry of reader.list()) {
          const line = listingLine(reader, entry);
          chunks.push(line);
          size += line.length;
          if (size > 1 << 20) {
            writeStdout(concatAll(chunks, size));
            chunks.length = 0;
            size = 0;
          }
        }
        writeStdout(concatAll(chunks, size));
      } finally {
        reader.close();
      }
    }));

  group
    .command("extract")
    .description(
      "Extract a SquashFS image, or a SIF's root filesystem, into a directory without " +
        "mounting it (only the given paths, if any)",
    )
    .argument("<image>", "SquashFS image or SIF file")
    .argument("<dir>", "target directory (created if missing; nothing in it is overwritten)")
    .argument("[paths...]", "paths inside the image to extract, with everything below them")
    .option("--offset <bytes>", "byte offset of the SquashFS image inside the file")
    .addHelpText(
      "after",
      "\nExit status: 0 when every entry was extracted; 2 when some were skipped (each is " +
        "reported, e.g. devices when not root or names that are not UTF-8), as unsquashfs " +
        "exits 2 on such errors; 255 when extraction failed.\n",
    )
    .action(
      action(async (image: string, dir: string, paths: string[], opts: { offset?: string }) => {
        const reader = await openReader(image, opts.offset);
        try {
          let total = 0;
          for (const e of reader.list()) {
            if (e.type === "file" && e.hardlinkOf === undefined) total += e.size;
          }
          const bar = new Progress(`Extracting ${image}`, total);
          // Imported here: extract.ts loads node:fs (~20 ms), which `pack` and `list`
          // (registered with this verb) do not need.
          const [{ extractSquashfs }, { hostNodeMaker, hostXattrWriter }] = await Promise.all([
            import("../../core/squashfs/extract.ts"),
            import("../../runtime/fsnodes.ts"),
          ]);
          const report = await extractSquashfs(reader, dir, {
            paths,
            nodeMaker: hostNodeMaker(),
            xattrWriter: hostXattrWriter(),
            onSkip: (path, reason) => log.warning(`skipped /${path}: ${reason}`),
            onProgress: (done) => bar.update(done),
          });
          bar.done();
          log.info(
            `Extracted ${report.files} files, ${report.directories} directories, ` +
              `${report.symlinks} symlinks, ${report.hardlinks} hard links, ${report.nodes} ` +
              `special files (${report.bytes} bytes) into ${dir}` +
              (report.skipped.length ? `; ${report.skipped.length} skipped` : ""),
          );
          if (report.skipped.length) {
            // Like unsquashfs (exit 2 on non-fatal errors): an incomplete tree is not success.
            const n = report.skipped.length;
            log.warning(
              `${n} ${n === 1 ? "entry was" : "entries were"} not extracted (see above): ` +
                `${dir} is incomplete`,
            );
            return 2;
          }
        } finally {
          reader.close();
        }
      }),
    );
}

/**
 * Open the image. The reader (and the SIF loader under it) is imported here: `pack`, which
 * shares this verb group, does not need it at start-up.
 */
async function openReader(image: string, offset: string | undefined): Promise<SquashfsReader> {
  const { SquashfsReader } = await import("../../core/squashfs/reader.ts");
  return await SquashfsReader.open(image, openOptions(offset));
}

function openOptions(offset: string | undefined): { offset?: number } {
  if (offset === undefined) return {};
  const n = Number(offset);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new UsageError(`Invalid --offset "${offset}": expected a byte count`);
  }
  return { offset: n };
}

function concatAll(chunks: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * Register `list` and `extract` in the `singlet squashfs` group (shared with `pack`).
 *
 * @param program The root program.
 */
export function registerSquashfsReadVerbs(program: Command): void {
  registerSquashfsRead(squashfsGroup(program));
}
