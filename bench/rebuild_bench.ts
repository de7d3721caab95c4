/**
 * The edit-rebuild loop: a `Bootstrap: localimage` recipe that only changes `%runscript`
 * and `%labels`, rebuilt on a SIF of the debootstrap tree (`/tmp/singlet-bench/debian-minbase`,
 * made by `bench/pack_bench.ts`), with the fast path (the base SquashFS passed through,
 * stored data blocks copied) against the full pipeline (`--full-rebuild`: extract the base
 * into a sandbox, add the metadata, pack it again), both through `bin/singlet build`.
 *
 * Usage: scripts/bench.sh rebuild   (BENCH_RUNS=N, default 1 here: the machine is shared)
 *
 * @module
 */
import { compare } from "./_harness.ts";

const root = new URL("..", import.meta.url).pathname;
const TREE = Deno.env.get("BENCH_TREE") ?? "/tmp/singlet-bench/debian-minbase";
const runs = Number(Deno.env.get("BENCH_RUNS") ?? 1);
const singlet = `${root}bin/singlet`;
const say = (t: string) => Deno.stderr.writeSync(new TextEncoder().encode(t + "\n"));

if (!(await Deno.stat(TREE).catch(() => undefined))?.isDirectory) {
  say(`skipped: ${TREE} is missing (run scripts/bench.sh pack first)`);
  Deno.exit(0);
}
const dir = await Deno.makeTempDir({ prefix: "singlet-rebuild-bench-" });
try {
  say("building the base SIF (untimed)");
  const base = await new Deno.Command(singlet, {
    args: ["build", `${dir}/base.sif`, TREE],
    stdout: "null",
    stderr: "inherit",
  }).output();
  if (!base.success) throw new Error("base build failed");
  await Deno.writeTextFile(
    `${dir}/edit.def`,
    `Bootstrap: localimage
From: base.sif

%labels
    Revision 2

%runscript
    echo "edited runscript" "$@"
`,
  );
  const before = () => Deno.remove(`${dir}/out.sif`).catch(() => {});
  const result = await compare(
    "rebuild",
    {
      name: "full pipeline (--full-rebuild)",
      argv: [singlet, "build", "--full-rebuild", `${dir}/out.sif`, `${dir}/edit.def`],
      before,
    },
    {
      name: "singlet build (base passed through)",
      argv: [singlet, "build", `${dir}/out.sif`, `${dir}/edit.def`],
      before,
    },
    {
      runs,
      extra: async () => ({
        baseBytes: (await Deno.stat(`${dir}/base.sif`)).size,
        outBytes: (await Deno.stat(`${dir}/out.sif`)).size,
      }),
    },
  );
  say(`ratio ${result.ratio.toFixed(3)}x`);
} finally {
  await Deno.remove(dir, { recursive: true });
}
