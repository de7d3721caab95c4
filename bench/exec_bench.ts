/**
 * `singlet exec image.sif /bin/true` against (a) the floor: `runc run` of a prepared
 * bundle on an already-mounted image (squashfuse_ll of the same SIF partition), and
 * (b) charliecloud's `ch-run` on the same SquashFS, when installed. Run as root (the
 * floor's bundle and mount are prepared as root too); targets from issue 6: at most
 * the floor + 80 ms, at most 2x ch-run. `EXEC_SOAK=1` adds 100 sequential execs (time
 * growth and leftovers).
 *
 * @module
 */
import { compare } from "./_harness.ts";
import { execImages } from "../tests/e2e/_exec_images.ts";

const root = new URL("..", import.meta.url).pathname;
const singlet = `${root}bin/singlet`;
const runs = Number(Deno.env.get("BENCH_RUNS") ?? 15);

async function sh(argv: string[]): Promise<string> {
  const out = await new Deno.Command(argv[0]!, { args: argv.slice(1), stdout: "piped" }).output();
  if (!out.success) throw new Error(`${argv.join(" ")} failed`);
  return new TextDecoder().decode(out.stdout);
}

const images = await execImages();
const dir = await Deno.makeTempDir({ prefix: "exec-bench-" });
const mnt = `${dir}/mnt`;
await Deno.mkdir(mnt);
await Deno.mkdir(`${dir}/bundle`);
// the SIF's partition offset, as siftool reports it
const offset = /\|(\d+)-\d+\s+\|FS/.exec(await sh(["siftool", "list", images.sif]))![1]!;
await sh(["squashfuse_ll", "-o", `offset=${offset}`, images.sif, mnt]);
try {
  await sh(["runc", "spec", "--bundle", `${dir}/bundle`]);
  const config = JSON.parse(await Deno.readTextFile(`${dir}/bundle/config.json`));
  config.root = { path: mnt, readonly: true };
  config.process.args = ["/bin/true"];
  config.process.terminal = false;
  await Deno.writeTextFile(`${dir}/bundle/config.json`, JSON.stringify(config));
  const floor = {
    name: "runc run (prepared bundle, mounted image)",
    argv: ["runc", "--root", `${dir}/state`, "run", "--bundle", `${dir}/bundle`, "floor"],
  };
  const mine = {
    name: "singlet exec image.sif /bin/true",
    argv: [singlet, "exec", images.sif, "/bin/true"],
  };
  const vsFloor = await compare("exec_true_vs_runc_floor", floor, mine, { runs });
  const report = [
    `  singlet - floor: ${(vsFloor.singlet.median - vsFloor.peer.median).toFixed(1)} ms ` +
    `(target <= 80 ms)`,
  ];
  const chRun = await new Deno.Command("sh", { args: ["-c", "command -v ch-run"], stdout: "piped" })
    .output();
  if (chRun.success) {
    await Deno.mkdir(`${dir}/chmnt`);
    const vsCh = await compare(
      "exec_true_vs_ch_run",
      {
        name: "ch-run -m MNT image.sqfs -- /bin/true",
        argv: ["ch-run", "-m", `${dir}/chmnt`, images.squashfs, "--", "/bin/true"],
        env: { USER: Deno.env.get("USER") ?? "root" },
      },
      {
        name: "singlet exec image.sqfs /bin/true",
        argv: [singlet, "exec", images.squashfs, "/bin/true"],
      },
      { runs },
    );
    report.push(`  singlet / ch-run: ${vsCh.ratio.toFixed(2)} (target <= 2)`);
  } else {
    report.push("  ch-run: not installed (apt-get install charliecloud-runtime)");
  }
  if (Deno.env.get("EXEC_SOAK") === "1") {
    // 100 sequential execs: time must not grow and nothing may pile up
    const state = `${dir}/soak-state`;
    const times: number[] = [];
    for (let i = 0; i < 100; i++) {
      const start = performance.now();
      const out = await new Deno.Command(singlet, {
        args: ["exec", images.sif, "/bin/true"],
        env: { SINGLET_STATEDIR: state },
        stdout: "null",
        stderr: "null",
      }).output();
      if (!out.success) throw new Error(`soak run ${i} failed`);
      times.push(performance.now() - start);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const left = [...Deno.readDirSync(`${state}/sessions`)].length;
    report.push(
      `  100 sequential execs: first 10 median ${median(times.slice(0, 10)).toFixed(1)} ms, ` +
        `last 10 median ${median(times.slice(-10)).toFixed(1)} ms, sessions left ${left}`,
    );
  }
  Deno.stdout.writeSync(new TextEncoder().encode(report.join("\n") + "\n"));
} finally {
  await new Deno.Command("fusermount3", { args: ["-u", mnt] }).output();
  await Deno.remove(dir, { recursive: true });
}
