/**
 * The edit-rebuild loop of issue 7: a `Bootstrap: localimage` recipe that changes only
 * `%runscript` and `%labels` of an image, against rebuilding that image with the full
 * pipeline (bootstrap from the base tree, `%post`, metadata, SIF). Target: below 0.3x.
 *
 * Input: the SquashFS issue's 120 MB debootstrap tree when present
 * (`SINGLET_BENCH_TREE`, default `/tmp/singlet-bench/debian-minbase`), else the busybox
 * fixture's root filesystem (and the figure is mostly start-up time).
 *
 * Run: `scripts/bench.sh rebuild` (BENCH_RUNS, default 5).
 *
 * @module
 */
import { compare } from "./_harness.ts";
import { busyboxRootfs } from "../tests/_helpers/fixtures.ts";

const root = new URL("..", import.meta.url).pathname;
const singlet = `${root}bin/singlet`;
const wanted = Deno.env.get("SINGLET_BENCH_TREE") ?? "/tmp/singlet-bench/debian-minbase";
const tree = (await Deno.stat(wanted).catch(() => undefined))?.isDirectory
  ? wanted
  : await busyboxRootfs();
const work = await Deno.makeTempDir({ prefix: "singlet-rebuild-bench-" });
const runs = Number(Deno.env.get("BENCH_RUNS") ?? 5);

try {
  await Deno.writeTextFile(
    `${work}/full.def`,
    `Bootstrap: localimage\nFrom: ${tree}\n\n%post\n    echo built > /built.txt\n\n` +
      `%runscript\n    echo v1\n\n%labels\n    Version 1\n`,
  );
  await Deno.writeTextFile(
    `${work}/edit.def`,
    `Bootstrap: localimage\nFrom: ${work}/base.sif\n\n%runscript\n    echo v2\n\n%labels\n    Version 2\n`,
  );
  const base = await new Deno.Command(singlet, {
    args: ["build", "--force", `${work}/base.sif`, `${work}/full.def`],
    stdout: "null",
    stderr: "inherit",
  }).output();
  if (!base.success) throw new Error("building the base image failed");
  await compare(
    "rebuild_metadata_only",
    {
      name: "singlet build (full pipeline)",
      argv: [singlet, "build", "--force", `${work}/full.sif`, `${work}/full.def`],
    },
    {
      name: "singlet build (localimage, %runscript/%labels only)",
      argv: [singlet, "build", "--force", `${work}/edit.sif`, `${work}/edit.def`],
    },
    {
      runs,
      extra: async () => ({
        tree,
        fullBytes: (await Deno.stat(`${work}/full.sif`)).size,
        editBytes: (await Deno.stat(`${work}/edit.sif`)).size,
      }),
    },
  );
} finally {
  await Deno.remove(work, { recursive: true });
}
