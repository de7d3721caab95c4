/**
 * `singlet squashfs pack` against the packers a user would otherwise run, on a realistic
 * root filesystem built here with debootstrap (cached under /tmp), all in the same run:
 *
 * - what users feel: singlet at its defaults vs `mksquashfs -comp gzip -processors 2`
 *   (gzip level 9, SingularityCE's and Apptainer's packing step);
 * - fair fight: identical compressor, level and block size vs `mksquashfs` on the tree and
 *   `tar2sqfs` on a tar of it (singlet packing the same tar: a tar layer is one of its
 *   inputs), for gzip 9 and zstd 3; xz (preset 6, dictionary = block size) against
 *   `mksquashfs -comp xz`, time and size;
 * - scaling: 1 vs 2 blocks in flight; peak RSS of every run (GNU time).
 *
 * Usage: `scripts/bench.sh pack`, or deno run --allow-read --allow-write --allow-run
 *   --allow-env bench/pack_bench.ts [--tree DIR] [--runs N] [--json OUT] [--only RE]
 * (`--only xz`: only the cases whose name matches; ratios whose cases did not run are left out)
 * One run per case by default (BENCH_RUNS or --runs for more): the machine is shared and the
 * gzip-9 peers take several seconds each. JSON goes to bench/results/.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { DEFAULT_GZIP_LEVEL } from "../core/squashfs/writer.ts";

const decoder = new TextDecoder();
const encoder = new TextEncoder();
/** Progress notes on stderr. */
const say = (text: string) => Deno.stderr.writeSync(encoder.encode(text + "\n"));
/** The report on stdout. */
const print = (text: string) => Deno.stdout.writeSync(encoder.encode(text + "\n"));
const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const CACHE = "/tmp/singlet-bench";
const DEFAULT_LABEL = `singlet default (gzip-${DEFAULT_GZIP_LEVEL})`;
const MIRROR_FALLBACK = "http://deb.debian.org/debian";

interface Measure {
  seconds: number;
  /** User + system CPU seconds (less sensitive than wall time to a busy machine). */
  cpuSeconds: number;
  maxRssKiB: number;
  bytes: number;
}

async function run(
  argv: string[],
  opts: { stdin?: string } = {},
): Promise<Measure & { out: string }> {
  const timeFile = await Deno.makeTempFile();
  const shell = `/usr/bin/time -f '%e %M %U %S' -o ${timeFile} ${argv.map(quote).join(" ")}` +
    (opts.stdin ? ` < ${quote(opts.stdin)}` : "");
  const out = await new Deno.Command("sh", {
    args: ["-c", shell],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  if (!out.success) {
    throw new Error(`${argv.join(" ")} failed: ${decoder.decode(out.stderr)}`);
  }
  const [seconds, rss, user, sys] = (await Deno.readTextFile(timeFile)).trim().split(/\s+/)
    .slice(-4);
  await Deno.remove(timeFile);
  return {
    seconds: Number(seconds),
    cpuSeconds: Number(user) + Number(sys),
    maxRssKiB: Number(rss),
    bytes: 0,
    out: decoder.decode(out.stdout),
  };
}

function quote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

function mirror(): string {
  try {
    const text = Deno.readTextFileSync("/etc/apt/sources.list.d/debian.sources");
    const m = /^URIs:\s*(\S+)/m.exec(text);
    if (m) return m[1]!;
  } catch { /* fall through */ }
  try {
    const m = /^deb\s+(\S+)\s+bookworm/m.exec(Deno.readTextFileSync("/etc/apt/sources.list"));
    if (m) return m[1]!;
  } catch { /* fall through */ }
  return MIRROR_FALLBACK;
}

/** The ~120 MB minbase Debian tree, built once (as Docker's debian:bookworm is trimmed). */
async function debianTree(): Promise<string> {
  const dir = `${CACHE}/debian-minbase`;
  try {
    if (Deno.statSync(`${dir}/usr/bin`).isDirectory) return dir;
  } catch { /* build it */ }
  await Deno.mkdir(CACHE, { recursive: true });
  const tmp = `${dir}.tmp`;
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
  const url = mirror();
  say(`building ${dir} with debootstrap from ${url} ...`);
  const d = await new Deno.Command("debootstrap", {
    args: ["--variant=minbase", "bookworm", tmp, url],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!d.success) throw new Error(`debootstrap failed: ${decoder.decode(d.stderr).slice(-500)}`);
  for (const sub of ["var/cache/apt/archives", "var/lib/apt/lists", "dev"]) {
    await new Deno.Command("sh", { args: ["-c", `rm -rf ${tmp}/${sub}/* 2>/dev/null; true`] })
      .output();
  }
  await Deno.rename(tmp, dir);
  return dir;
}

async function loadavg(): Promise<string> {
  // Deno asks for --allow-all to read /proc files directly.
  const out = await new Deno.Command("cat", { args: ["/proc/loadavg"], stdout: "piped" }).output();
  return decoder.decode(out.stdout).trim();
}

async function treeSize(dir: string): Promise<number> {
  const out = await new Deno.Command("du", {
    args: ["-sb", "--apparent-size", dir],
    stdout: "piped",
  })
    .output();
  return Number(decoder.decode(out.stdout).split(/\s/)[0]);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      tree: { type: "string" },
      runs: { type: "string", default: Deno.env.get("BENCH_RUNS") ?? "1" },
      json: { type: "string" },
      only: { type: "string" },
    },
  });
  let tree = values.tree;
  let treeNote = "";
  if (!tree) {
    try {
      tree = await debianTree();
    } catch (error) {
      treeNote = `debootstrap could not build the tree (${
        (error as Error).message.slice(0, 200)
      }); using /usr`;
      say(treeNote);
      tree = "/usr";
    }
  }
  const runs = Number(values.runs);
  const work = await Deno.makeTempDir({ prefix: "singlet-pack-bench-" });
  const tar = `${CACHE}/${tree.replaceAll("/", "_")}.tar`;
  try {
    Deno.statSync(tar);
  } catch {
    await run(["tar", "-C", tree, "--numeric-owner", "--sort=name", "-cf", tar, "."]);
  }
  const singlet = `${REPO}/bin/singlet`;
  const out = `${work}/out.sqfs`;
  const cases: Record<string, string[] | { argv: string[]; stdin: string }> = {
    [DEFAULT_LABEL]: [singlet, "-q", "squashfs", "pack", tree, out],
    "mksquashfs gzip-9 -processors 2": [
      "mksquashfs",
      tree,
      out,
      "-comp",
      "gzip",
      "-noappend",
      "-processors",
      "2",
      "-quiet",
      "-no-progress",
    ],
    "singlet gzip-9": [singlet, "-q", "squashfs", "pack", "--level", "9", tree, out],
    "singlet gzip-9 (tar)": [singlet, "-q", "squashfs", "pack", "--level", "9", tar, out],
    "tar2sqfs gzip-9 -j 2": {
      argv: ["tar2sqfs", "-q", "-f", "-c", "gzip", "-j", "2", out],
      stdin: tar,
    },
    "singlet zstd-3": [
      singlet,
      "-q",
      "squashfs",
      "pack",
      "--comp",
      "zstd",
      "--level",
      "3",
      tree,
      out,
    ],
    "mksquashfs zstd-3 -processors 2": [
      "mksquashfs",
      tree,
      out,
      "-comp",
      "zstd",
      "-Xcompression-level",
      "3",
      "-noappend",
      "-processors",
      "2",
      "-quiet",
      "-no-progress",
    ],
    "singlet zstd-3 (tar)": [
      singlet,
      "-q",
      "squashfs",
      "pack",
      "--comp",
      "zstd",
      "--level",
      "3",
      tar,
      out,
    ],
    "tar2sqfs zstd-3 -j 2": {
      argv: ["tar2sqfs", "-q", "-f", "-c", "zstd", "-X", "level=3", "-j", "2", out],
      stdin: tar,
    },
    "singlet xz-6": [singlet, "-q", "squashfs", "pack", "--comp", "xz", tree, out],
    "mksquashfs xz -processors 2": [
      "mksquashfs",
      tree,
      out,
      "-comp",
      "xz",
      "-noappend",
      "-processors",
      "2",
      "-quiet",
      "-no-progress",
    ],
    "singlet default --processors 1": [
      singlet,
      "-q",
      "squashfs",
      "pack",
      "--processors",
      "1",
      tree,
      out,
    ],
    "singlet default --processors 2": [
      singlet,
      "-q",
      "squashfs",
      "pack",
      "--processors",
      "2",
      tree,
      out,
    ],
  };
  if (values.only) {
    const only = new RegExp(values.only);
    for (const name of Object.keys(cases)) if (!only.test(name)) delete cases[name];
  }
  const results: Record<string, Measure> = {};
  const loadBefore = await loadavg();
  // Rounds go through every case in turn, so drifting load on a shared machine hits all
  // of them alike; each case keeps its fastest run.
  for (let round = 0; round < runs; round++) {
    for (const [name, spec] of Object.entries(cases)) {
      await Deno.remove(out).catch(() => {});
      const m = Array.isArray(spec) ? await run(spec) : await run(spec.argv, { stdin: spec.stdin });
      m.bytes = Deno.statSync(out).size;
      const best = results[name];
      if (!best || m.seconds < best.seconds) results[name] = m;
      say(
        `${name}: ${m.seconds.toFixed(2)} s (${m.cpuSeconds.toFixed(2)} s CPU), ${
          (m.bytes / 1e6).toFixed(2)
        } MB, ${(m.maxRssKiB / 1024).toFixed(0)} MiB RSS`,
      );
    }
  }
  await Deno.remove(work, { recursive: true });
  // NaN when a case did not run (--only); those ratios are dropped below.
  const ratio = (key: "seconds" | "cpuSeconds" | "bytes", a: string, b: string) =>
    (results[a]?.[key] ?? NaN) / (results[b]?.[key] ?? NaN);
  const r = (a: string, b: string) => ratio("seconds", a, b);
  const c = (a: string, b: string) => ratio("cpuSeconds", a, b);
  const s = (a: string, b: string) => ratio("bytes", a, b);
  const ratios = {
    "users feel: time singlet default / mksquashfs gzip-9 (target <= 0.5)": r(
      DEFAULT_LABEL,
      "mksquashfs gzip-9 -processors 2",
    ),
    "users feel: size singlet default / mksquashfs gzip-9 (target <= 1.03)": s(
      DEFAULT_LABEL,
      "mksquashfs gzip-9 -processors 2",
    ),
    "fair gzip-9: singlet / mksquashfs (target <= 1.5)": r(
      "singlet gzip-9",
      "mksquashfs gzip-9 -processors 2",
    ),
    "fair gzip-9: singlet / tar2sqfs, both on the tar (target <= 1.5)": r(
      "singlet gzip-9 (tar)",
      "tar2sqfs gzip-9 -j 2",
    ),
    "gzip-9: singlet on the tree / tar2sqfs on the tar": r(
      "singlet gzip-9",
      "tar2sqfs gzip-9 -j 2",
    ),
    "fair zstd-3: singlet / mksquashfs (target <= 1.5)": r(
      "singlet zstd-3",
      "mksquashfs zstd-3 -processors 2",
    ),
    "fair zstd-3: singlet / tar2sqfs, both on the tar (target <= 1.5)": r(
      "singlet zstd-3 (tar)",
      "tar2sqfs zstd-3 -j 2",
    ),
    "zstd-3: singlet on the tree / tar2sqfs on the tar": r(
      "singlet zstd-3",
      "tar2sqfs zstd-3 -j 2",
    ),
    "xz-6: singlet / mksquashfs -comp xz": r("singlet xz-6", "mksquashfs xz -processors 2"),
    "xz-6: size singlet / mksquashfs -comp xz": s("singlet xz-6", "mksquashfs xz -processors 2"),
    "scaling: 1 / 2 processors (target >= 1.7)": r(
      "singlet default --processors 1",
      "singlet default --processors 2",
    ),
  };
  const cpuRatios = {
    "users feel: CPU singlet default / mksquashfs gzip-9": c(
      DEFAULT_LABEL,
      "mksquashfs gzip-9 -processors 2",
    ),
    "fair gzip-9: CPU singlet / mksquashfs": c(
      "singlet gzip-9",
      "mksquashfs gzip-9 -processors 2",
    ),
    "fair gzip-9: CPU singlet / tar2sqfs (both on the tar)": c(
      "singlet gzip-9 (tar)",
      "tar2sqfs gzip-9 -j 2",
    ),
    "fair zstd-3: CPU singlet / mksquashfs": c(
      "singlet zstd-3",
      "mksquashfs zstd-3 -processors 2",
    ),
    "fair zstd-3: CPU singlet / tar2sqfs (both on the tar)": c(
      "singlet zstd-3 (tar)",
      "tar2sqfs zstd-3 -j 2",
    ),
    "xz-6: CPU singlet / mksquashfs -comp xz": c("singlet xz-6", "mksquashfs xz -processors 2"),
  };
  for (const table of [ratios, cpuRatios]) {
    for (const [name, v] of Object.entries(table)) {
      if (Number.isNaN(v)) delete (table as Record<string, number>)[name];
    }
  }
  const report = {
    tree,
    treeNote,
    treeBytes: await treeSize(tree),
    loadavg: await loadavg(),
    loadBefore,
    results,
    ratios,
    cpuRatios,
  };
  const json = values.json ?? `${REPO}/bench/results/pack-${Date.now()}.json`;
  await Deno.mkdir(json.replace(/\/[^/]*$/, ""), { recursive: true });
  await Deno.writeTextFile(json, JSON.stringify(report, null, 2) + "\n");
  say(`results: ${json}`);
  print(
    `tree ${tree}: ${(report.treeBytes / 1e6).toFixed(1)} MB; ${runs} run(s) per case, fastest ` +
      `kept; loadavg before ${report.loadBefore}, after ${report.loadavg}\n`,
  );
  print("| case | seconds | CPU seconds | MB out | peak RSS MiB |\n|---|---|---|---|---|");
  for (const [name, m] of Object.entries(results)) {
    print(
      `| ${name} | ${m.seconds.toFixed(2)} | ${m.cpuSeconds.toFixed(2)} | ${
        (m.bytes / 1e6).toFixed(2)
      } | ${(m.maxRssKiB / 1024).toFixed(0)} |`,
    );
  }
  print("\n| ratio | value |\n|---|---|");
  for (const [name, v] of Object.entries(ratios)) print(`| ${name} | ${v.toFixed(2)} |`);
  for (const [name, v] of Object.entries(report.cpuRatios)) {
    print(`| ${name} | ${v.toFixed(2)} |`);
  }
}

if (import.meta.main) await main();
