/**
 * `singlet cache list|clean`: show and remove what pulls left in the cache, as
 * `singularity cache` does (types: blob, oci-tmp (alias oci), net, all).
 *
 * @module
 */
import { action, type Command } from "../_command.ts";
import { formatBytes, log, printJson, printOut } from "../_output.ts";
import { readLine } from "../_prompt.ts";
import { SingletError, UsageError } from "../../core/errors.ts";
import { openSifSync } from "../../core/sif/mod.ts";
import {
  CACHE_TYPES,
  type CacheEntry,
  type CacheType,
  checkCache,
  cleanCache,
  defaultCacheDir,
  listCache,
} from "../../core/oci/cache_dir.ts";

function parseTypes(values: string[] | undefined): CacheType[] {
  if (!values || values.length === 0) return [...CACHE_TYPES];
  const out = new Set<CacheType>();
  for (const value of values.flatMap((v) => v.split(","))) {
    if (value === "all") return [...CACHE_TYPES];
    const type = value === "oci" ? "oci-tmp" : value;
    if (!(CACHE_TYPES as readonly string[]).includes(type)) {
      throw new UsageError(
        `unknown cache type "${value}"`,
        `choose from ${CACHE_TYPES.join(", ")} or all`,
      );
    }
    out.add(type as CacheType);
  }
  return [...out];
}

function collect(values: string, previous: string[] = []): string[] {
  return [...previous, values];
}

function json(entries: CacheEntry[]) {
  return entries.map((e) => ({
    type: e.type,
    name: e.name,
    size: e.size,
    modified: e.mtime.toISOString(),
  }));
}

/**
 * Register `singlet cache`.
 *
 * @param program The root program.
 */
export function registerCache(program: Command): void {
  const cache = program.command("cache").description("Manage the local cache");

  cache
    .command("list")
    .description("List your local singlet cache")
    .option(
      "-T, --type <type>",
      "a list of cache types to display (blob, oci-tmp, net, all)",
      collect,
    )
    .option("-v, --verbose", "include cache entries in the output")
    .option("--json", "print the entries as JSON")
    .action(action(async (flags: { type?: string[]; verbose?: boolean; json?: boolean }) => {
      const entries = await listCache(defaultCacheDir(), parseTypes(flags.type));
      if (flags.json) {
        printJson(json(entries));
        return;
      }
      if (flags.verbose) {
        const width = Math.max(4, ...entries.map((e) => e.name.length)) + 2;
        printOut(`${"NAME".padEnd(width)}${"DATE CREATED".padEnd(22)}${"SIZE".padEnd(12)}TYPE\n`);
        for (const e of entries) {
          const date = e.mtime.toISOString().slice(0, 19).replace("T", " ");
          printOut(
            `${e.name.padEnd(width)}${date.padEnd(22)}${
              formatBytes(e.size, 2).padEnd(12)
            }${e.type}\n`,
          );
        }
        printOut("\n");
      }
      const containers = entries.filter((e) => e.type !== "blob");
      const blobs = entries.filter((e) => e.type === "blob");
      const sum = (list: CacheEntry[]) => list.reduce((n, e) => n + e.size, 0);
      printOut(
        `There are ${containers.length} container file(s) using ${
          formatBytes(sum(containers), 2)
        } and ` +
          `${blobs.length} oci blob file(s) using ${formatBytes(sum(blobs), 2)} of space\n` +
          `Total space used: ${formatBytes(sum(entries), 2)}\n`,
      );
    }));

  cache
    .command("clean")
    .description("Clean your local singlet cache")
    .option(
      "-T, --type <type>",
      "a list of cache types to clean (blob, oci-tmp, net, all)",
      collect,
    )
    .option("-D, --days <days>", "remove all cache entries older than this many days")
    .option("-n, --dry-run", "operate in dry run mode and remove nothing")
    .option("-f, --force", "suppress the confirmation prompt")
    .option("--json", "print what was removed as JSON")
    .action(action(async (
      flags: { type?: string[]; days?: string; dryRun?: boolean; force?: boolean; json?: boolean },
    ) => {
      const types = parseTypes(flags.type);
      let days: number | undefined;
      if (flags.days !== undefined) {
        days = Number(flags.days);
        if (!/^\d+$/.test(flags.days)) throw new UsageError(`invalid --days "${flags.days}"`);
      }
      if (!flags.force && !flags.dryRun) {
        Deno.stderr.writeSync(
          new TextEncoder().encode(
            "This will delete everything in your cache (containers from all sources and OCI blobs).\n" +
              "Hint: You can see exactly what would be deleted by canceling and using the " +
              "--dry-run option with the clean command.\n\nDo you want to continue? [y/N] ",
          ),
        );
        const answer = (await readLine()).trim().toLowerCase();
        if (answer !== "y" && answer !== "yes") {
          log.info("Cache cleanup aborted");
          return;
        }
      }
      const removed = await cleanCache(defaultCacheDir(), {
        types,
        ...(days !== undefined ? { days } : {}),
        ...(flags.dryRun ? { dryRun: true } : {}),
      });
      if (flags.json) {
        printJson(json(removed));
        return;
      }
      for (const e of removed) {
        if (flags.dryRun) printOut(`Would remove ${e.type} ${e.name}\n`);
        else log.verbose(`Removing ${e.type} ${e.name}`);
      }
      if (!flags.dryRun) {
        log.info(`Removed ${removed.length} cache entr${removed.length === 1 ? "y" : "ies"}`);
      }
    }));

  cache
    .command("check")
    .description("Verify every cached blob and SIF (digests, SIF structure)")
    .option("--fix", "remove broken entries (they are fetched again when needed)")
    .option("--json", "print the problems as JSON")
    .action(action(async (flags: { fix?: boolean; json?: boolean }) => {
      const problems = await checkCache(defaultCacheDir(), {
        ...(flags.fix ? { fix: true } : {}),
        validSif: (path) => {
          try {
            openSifSync(path).close();
            return Promise.resolve(undefined);
          } catch (error) {
            return Promise.resolve((error as Error).message);
          }
        },
      });
      if (flags.json) {
        printJson(
          problems.map((p) => ({ type: p.entry.type, name: p.entry.name, problem: p.problem })),
        );
      } else {
        for (const p of problems) log.error(`${p.entry.type} ${p.entry.name}: ${p.problem}`);
        if (!problems.length) log.info("The cache is consistent");
      }
      if (problems.length && !flags.fix) {
        throw new SingletError(
          `Cannot trust the cache: ${problems.length} broken entr${
            problems.length === 1 ? "y" : "ies"
          }`,
          {
            hint: "run 'singlet cache check --fix' to remove them",
            exitCode: 3,
          },
        );
      }
    }));
}
