/**
 * The benchmark harness: time singlet and the peer tool a user would otherwise run on the
 * same input in the same run, N times each, and report median, min, max and the ratio
 * (singlet median / peer median). Results go to bench/results/ (git-ignored);
 * bench/README.md keeps the latest summary by hand.
 *
 * @module
 */

/** One command to time. */
export interface Contender {
  /** Display name, e.g. "mksquashfs -comp gzip". */
  name: string;
  /** The command line. */
  argv: string[];
  /** Run before each timed run (not timed), e.g. to delete the previous output. */
  before?: () => Promise<void> | void;
  /** Environment additions. */
  env?: Record<string, string>;
  /** Working directory (default: the harness's). */
  cwd?: string;
}

/** Timings of one contender, in milliseconds. */
export interface Timing {
  /** The contender's name. */
  name: string;
  /** Every run, in order. */
  runs: number[];
  /** Median of the runs. */
  median: number;
  /** Fastest run. */
  min: number;
  /** Slowest run. */
  max: number;
}

/** The outcome of one comparison. */
export interface Comparison {
  /** Benchmark name. */
  bench: string;
  /** The peer (baseline). */
  peer: Timing;
  /** singlet. */
  singlet: Timing;
  /** singlet median / peer median: below 1 means singlet is faster. */
  ratio: number;
  /** Free-form facts to record (sizes, RSS). */
  extra: Record<string, unknown>;
}

function summarise(name: string, runs: number[]): Timing {
  const sorted = [...runs].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  return { name, runs, median, min: sorted[0]!, max: sorted.at(-1)! };
}

async function timeOnce(contender: Contender): Promise<number> {
  await contender.before?.();
  const [program, ...args] = contender.argv;
  const start = performance.now();
  const output = await new Deno.Command(program!, {
    args,
    ...(contender.env ? { env: contender.env } : {}),
    ...(contender.cwd ? { cwd: contender.cwd } : {}),
    stdout: "null",
    stderr: "piped",
  }).output();
  const elapsed = performance.now() - start;
  if (!output.success) {
    throw new Error(
      `${contender.argv.join(" ")} failed (exit ${output.code}): ` +
        new TextDecoder().decode(output.stderr).slice(-500),
    );
  }
  return elapsed;
}

/**
 * Time a peer and singlet alternately (so drift affects both) and report the ratio.
 *
 * @param bench Benchmark name, used for the results file.
 * @param peer The tool a user would otherwise run.
 * @param singlet singlet doing the same job.
 * @param options Number of runs (default 5) and extra facts to record.
 * @returns The comparison, also printed and written to bench/results/<bench>.json.
 */
export async function compare(
  bench: string,
  peer: Contender,
  singlet: Contender,
  options: { runs?: number; extra?: () => Promise<Record<string, unknown>> } = {},
): Promise<Comparison> {
  const runs = options.runs ?? Number(Deno.env.get("BENCH_RUNS") ?? 5);
  const peerRuns: number[] = [];
  const singletRuns: number[] = [];
  for (let i = 0; i < runs; i++) {
    peerRuns.push(await timeOnce(peer));
    singletRuns.push(await timeOnce(singlet));
  }
  const result: Comparison = {
    bench,
    peer: summarise(peer.name, peerRuns),
    singlet: summarise(singlet.name, singletRuns),
    ratio: 0,
    extra: (await options.extra?.()) ?? {},
  };
  result.ratio = result.singlet.median / result.peer.median;
  const fmt = (t: Timing) =>
    `${t.name}: median ${t.median.toFixed(1)} ms (min ${t.min.toFixed(1)}, max ${
      t.max.toFixed(1)
    })`;
  const lines = [
    `## ${bench}`,
    `  peer    ${fmt(result.peer)}`,
    `  singlet ${fmt(result.singlet)}`,
    `  ratio   ${result.ratio.toFixed(2)}x`,
    ...Object.entries(result.extra).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`),
  ];
  const encoder = new TextEncoder();
  Deno.stdout.writeSync(encoder.encode(lines.join("\n") + "\n"));
  const dir = new URL("./results/", import.meta.url);
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(new URL(`${bench}.json`, dir), JSON.stringify(result, null, 2));
  return result;
}
