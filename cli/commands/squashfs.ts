/**
 * `singlet squashfs`: work with SquashFS images without squashfs-tools. This module creates
 * the command group ({@linkcode squashfsGroup}, reused by the other `squashfs` verbs) and
 * the `pack` verb.
 *
 * @module
 */
import { action, type Command, Option } from "../_command.ts";
import { log, Progress } from "../_output.ts";
import { SingletError, UsageError } from "../../core/errors.ts";
import { DirectorySource, type XattrProvider } from "../../core/squashfs/directory_source.ts";
import type { XattrTable } from "../../core/squashfs/xattr_dump.ts";
import { hostXattrReader } from "../../runtime/xattr_reader.ts";
import {
  DEFAULT_GZIP_LEVEL,
  type SquashfsCompressor,
  SquashfsWriter,
} from "../../core/squashfs/writer.ts";
import type { FsSink } from "../../core/squashfs/fstree.ts";
import { type LayerSource, mergeLayers } from "../../core/squashfs/layers.ts";
import { decompressedSizeHint, detectCompression } from "../../core/codec/decompress.ts";
import { readFileChunks } from "../../core/codec/file_chunks.ts";
import { checksumOk } from "../../core/tar/header.ts";

/**
 * The `squashfs` command group, created on first use so every `squashfs` verb module can
 * add its verb to the same group.
 *
 * @param program The root program.
 * @returns The `squashfs` group command.
 */
export function squashfsGroup(program: Command): Command {
  const existing = program.commands.find((c) => c.name() === "squashfs");
  if (existing) return existing;
  return program
    .command("squashfs")
    .description("Create, list and extract SquashFS images without squashfs-tools");
}

interface PackOptions {
  comp: SquashfsCompressor;
  level?: string;
  blockSize: string;
  allRoot?: boolean;
  mtime?: string;
  fragments: boolean;
  xattrs?: boolean;
  processors?: string;
}

function integer(value: string, flag: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) {
    throw new UsageError(`Invalid ${flag} "${value}": expected an integer from ${min} to ${max}`);
  }
  return n;
}

/** Parse --block-size: bytes, or with a K/M suffix (as mksquashfs -b). */
function blockSize(value: string): number {
  const m = /^(\d+)([kKmM]?)$/.exec(value);
  const n = m ? Number(m[1]) * (m[2] === "" ? 1 : /k/i.test(m[2]!) ? 1024 : 1 << 20) : NaN;
  if (!(n >= 4096 && n <= 1 << 20 && (n & (n - 1)) === 0)) {
    throw new UsageError(
      `Invalid --block-size "${value}": expected a power of two from 4K to 1M (e.g. 131072, 128K, 1M)`,
    );
  }
  return n;
}

/** Parse --mtime: seconds since the epoch, or an ISO 8601 date. */
function mtime(value: string): number {
  if (/^\d+$/.test(value)) return integer(value, "--mtime", 0, 0xffffffff);
  const ms = Date.parse(value);
  if (Number.isNaN(ms) || ms < 0) {
    throw new UsageError(
      `Invalid --mtime "${value}": expected seconds since the epoch or an ISO 8601 date`,
    );
  }
  return Math.floor(ms / 1000);
}

/** A scanned input: how big it is and how to feed it to the writer. */
interface PackSource {
  totalBytes: number;
  emit(sink: FsSink): Promise<void>;
}

/**
 * The single dispatch point from SRC arguments to the producers that read them. Directories
 * are walked by {@linkcode DirectorySource}; tar layers (plain, gzip or zstd) next to each
 * other are applied in order with OCI layer semantics (whiteouts, opaque directories) by
 * {@linkcode mergeLayers}, in one streaming pass.
 */
function openSources(
  srcs: string[],
  warn: (message: string) => void,
  xattrs?: XattrProvider,
): PackSource[] {
  const sources: PackSource[] = [];
  let layers: { path: string; size: number }[] = [];
  const flushLayers = () => {
    if (!layers.length) return;
    const run = layers;
    layers = [];
    sources.push({
      totalBytes: run.reduce((n, l) => n + l.size, 0),
      emit: async (sink) => {
        const layerSources: LayerSource[] = run.map(({ path }) => ({
          name: path,
          path,
          open: () => readFileChunks(path),
        }));
        try {
          await mergeLayers(layerSources, sink);
        } catch (error) {
          if (!(error instanceof SyntaxError)) throw error;
          throw new SingletError(error.message, {
            cause: error,
            hint: "the layer is damaged or holds content singlet refuses; check it with 'tar -tvf'",
          });
        }
      },
    });
  };
  for (const src of srcs) {
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(src);
    } catch (error) {
      const what = error instanceof Deno.errors.NotFound
        ? "it does not exist"
        : (error as Error).message;
      throw new SingletError(`Cannot pack "${src}": ${what}`, {
        hint: "check the path of the directory or tar layer to pack",
      });
    }
    if (info.isDirectory) {
      flushLayers();
      // With a progress bar to draw, the tree is scanned first for its total; otherwise the
      // walk feeds the writer as it goes, overlapping the compression (same bytes).
      const options = { onWarning: warn, ...(xattrs ? { xattrs } : {}) };
      sources.push(
        Deno.stderr.isTerminal() ? DirectorySource.scan(src, options) : {
          totalBytes: 0,
          emit: (sink) => DirectorySource.walkInto(src, sink, options),
        },
      );
    } else if (info.isFile && looksLikeLayer(src)) {
      layers.push({ path: src, size: layerSizeHint(src, info.size) });
    } else {
      throw new SingletError(`Cannot pack "${src}": not a directory or a tar layer`, {
        hint: "give directories or tar archives (plain, gzip or zstd)",
      });
    }
  }
  flushLayers();
  return sources;
}

/**
 * Call `provider` for every directory among `srcs` at once (each call starts a process that
 * walks the tree); the provider returned hands those results out, once each, and calls
 * `provider` itself for anything else.
 */
function startedEarly(provider: XattrProvider, srcs: string[]): XattrProvider {
  const started = new Map<string, Promise<XattrTable>>();
  for (const src of srcs) {
    let directory = false;
    try {
      directory = Deno.statSync(src).isDirectory;
    } catch {
      // openSources reports it
    }
    if (!directory || started.has(src)) continue;
    const table = provider(src);
    table.catch(() => {}); // its error reaches the walk that awaits it
    started.set(src, table);
  }
  return (dir) => {
    const table = started.get(dir);
    started.delete(dir);
    return table ?? provider(dir);
  };
}

/** The uncompressed size of a layer file, or an estimate (for the progress bar). */
function layerSizeHint(path: string, size: number): number {
  const file = Deno.openSync(path);
  try {
    const head = new Uint8Array(32);
    const tail = new Uint8Array(4);
    file.readSync(head);
    if (size >= 8) {
      file.seekSync(size - 4, Deno.SeekMode.Start);
      file.readSync(tail);
    }
    return decompressedSizeHint(head, tail, size);
  } finally {
    file.close();
  }
}

/** Whether a file starts like a gzip or zstd stream or a tar header (checksum valid). */
function looksLikeLayer(path: string): boolean {
  const file = Deno.openSync(path);
  try {
    const head = new Uint8Array(512);
    let n = 0;
    while (n < head.length) {
      const got = file.readSync(head.subarray(n));
      if (got === null) break;
      n += got;
    }
    const format = detectCompression(head.subarray(0, n));
    if (format !== "none") return format === "gzip" || format === "zstd";
    return n === 512 && checksumOk(head);
  } finally {
    file.close();
  }
}

/**
 * Register `singlet squashfs pack`.
 *
 * @param program The root program.
 */
export function registerSquashfsPack(program: Command): void {
  squashfsGroup(program)
    .command("pack")
    .description(
      "Pack directories or OCI layer tars (plain, gzip, zstd) into a SquashFS image; several SRCs are merged in order",
    )
    .argument(
      "<src...>",
      "source directories or layer tars (applied in order, with OCI whiteouts); the last argument is the output image",
    )
    .addOption(
      new Option("--comp <compressor>", "compressor").choices(["gzip", "zstd", "xz", "lz4"])
        .default(
          "gzip",
        ),
    )
    .option(
      "--level <n>",
      `compression level (gzip 1-9, default ${DEFAULT_GZIP_LEVEL}; zstd 1-22, default 3; xz preset 0-9, default 6; lz4 none)`,
    )
    .option("--block-size <bytes>", "data block size, 4K to 1M", "131072")
    .option("--all-root", "make every file owned by root (uid and gid 0)")
    .option("--mtime <time>", "set every modification time (seconds since the epoch or a date)")
    .option("--no-fragments", "do not pack file tails into shared fragment blocks")
    .option(
      "--xattrs",
      "store extended attributes and fail if a directory's cannot be read (default: store them, warn if they cannot be read)",
    )
    .option("--no-xattrs", "do not store extended attributes")
    .option("--processors <n>", "blocks compressed in parallel (default: number of CPUs)")
    .addHelpText(
      "after",
      "\nExamples:\n  singlet squashfs pack rootfs/ image.sqfs\n" +
        "  singlet squashfs pack --comp zstd --level 19 --all-root rootfs/ image.sqfs\n" +
        "  singlet squashfs pack base.tar.gz app.tar.zst image.sqfs\n",
    )
    .action(action(async (args: string[], opts: PackOptions) => {
      if (args.length < 2) {
        throw new UsageError(
          "Cannot pack: give at least one SRC and the OUT image",
          "singlet squashfs pack SRC... OUT",
        );
      }
      const out = args[args.length - 1]!;
      const srcs = args.slice(0, -1);
      if (opts.comp === "lz4" && opts.level !== undefined) {
        throw new UsageError("Cannot use --level with --comp lz4: lz4 has no levels");
      }
      const [minLevel, maxLevel] = opts.comp === "gzip"
        ? [1, 9]
        : opts.comp === "xz"
        ? [0, 9]
        : [1, 22];
      const level = opts.level === undefined
        ? undefined
        : integer(opts.level, "--level", minLevel, maxLevel);
      // Directories' xattrs come from one getfattr run per tree (Deno cannot read them),
      // started now: they walk the trees while the writer's workers start.
      const xattrs = opts.xattrs === false ? undefined : startedEarly(
        hostXattrReader({ required: opts.xattrs === true, onWarning: (m) => log.warning(m) }),
        srcs,
      );
      let bar: Progress | undefined;
      const options = {
        compressor: opts.comp,
        ...(level === undefined ? {} : { level }),
        blockSize: blockSize(opts.blockSize),
        ...(opts.allRoot ? { allRoot: true } : {}),
        ...(opts.mtime === undefined ? {} : { mtime: mtime(opts.mtime) }),
        noFragments: !opts.fragments,
        noXattrs: opts.xattrs === false,
        ...(opts.processors === undefined
          ? {}
          : { parallelism: integer(opts.processors, "--processors", 1, 1024) }),
        onProgress: (n: number) => bar?.update(n),
      };
      // Ctrl-C leaves nothing behind: the temporary image is removed, exit code 130. The
      // listener is in place before the temporary file exists.
      let writer: SquashfsWriter | undefined;
      let signalled = false;
      let interrupted: Promise<void> | undefined;
      const onSignal = () => {
        signalled = true;
        if (writer) interrupted ??= writer.abort().finally(() => Deno.exit(130));
      };
      Deno.addSignalListener("SIGINT", onSignal);
      try {
        // The writer (and its compression workers, which take a while to load) first: they
        // start up while this thread scans the sources.
        writer = await SquashfsWriter.create(out, options);
        if (signalled) {
          await writer.abort();
          return 130;
        }
        const sources = openSources(srcs, (m) => log.warning(m), xattrs);
        const total = sources.reduce((n, s) => n + s.totalBytes, 0);
        bar = new Progress(`Packing ${out}`, total);
        for (const source of sources) await source.emit(writer);
        const stats = await writer.finish();
        bar.update(total);
        bar.done();
        log.info(
          `Created ${out}: ${stats.entries} inodes, ${stats.bytes} bytes` +
            (stats.duplicates ? `, ${stats.duplicates} duplicate files stored once` : ""),
        );
      } catch (error) {
        if (interrupted) {
          await interrupted;
          return 130;
        }
        await writer?.abort();
        throw error;
      } finally {
        Deno.removeSignalListener("SIGINT", onSignal);
      }
    }));
}
