/**
 * `singlet exec image.sif /bin/true` against (a) the floor: `runc run` of a prepared
 * bundle on an already-mounted image (squashfuse_ll of the same SIF partition), and
 * (b) charliecloud's `ch-run` on the same SquashFS, when installed. Run as root (the
 * floor's bundle and mount are prepared as root too); targets from issue 6: at most
 * the floor + 80 ms, at most 2x ch-run. `EXEC_SOAK=1` adds 100 sequential execs (time
 * growth and leftovers).
 *
 * Tree read (issue 6: at least as fast as a bare mount): `find` + `tar c` of the whole
 * 120 MB Debian minbase tree of `pack_bench.ts` (`/tmp/singlet-bench/debian-minbase`;
 * skipped with a note when absent), packed once with `mksquashfs -comp gzip`, read inside
 * `singlet exec image.sqfs` and through `chroot` on a fresh bare `squashfuse_ll` mount of
 * the same file, with the image's own GNU find and tar on both sides. Each run times the
 * read itself (inside, with `date +%s%N`) and the whole command.
 *
 * @module
 */
import { compare } from "./_harness.ts";
import { execImages } from "../tests/e2e/_exec_images.ts";

const root = new URL("..", import.meta.url).pathname;
const singlet = `${root}bin/singlet`;
const runs = Number(Deno.env.get("BENCH_RUNS") ?? 15);
/**
 * find + tar of the whole tree, timed inside; prints the milliseconds it took. No /dev/null:
 * the bare mount has an empty /dev.
 */
const READ_TREE = "s=$(date +%s%N); find / -xdev | wc -c; " +
  "tar -C / -c --one-file-system -f - . 2>&1 | wc -c; " +
  'e=$(date +%s%N); echo "read-ms $(( (e - s) / 1000000 ))"';

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
  report.push(...await treeRead(dir));
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

async function treeRead(dir: string): Promise<string[]> {
  const tree = "/tmp/singlet-bench/debian-minbase";
  try {
    Deno.statSync(`${tree}/usr/bin`);
  } catch {
    return [
      "  tree read: skipped (no /tmp/singlet-bench/debian-minbase; run scripts/bench.sh pack)",
    ];
  }
  const image = "/tmp/singlet-bench-cache/exec-tree.sqfs";
  try {
    Deno.statSync(image);
  } catch {
    await Deno.mkdir("/tmp/singlet-bench-cache", { recursive: true });
    await sh(["mksquashfs", tree, `${image}.tmp`, "-comp", "gzip", "-noappend", "-quiet"]);
    await Deno.rename(`${image}.tmp`, image);
  }
  const mnt = `${dir}/tree-mnt`;
  await Deno.mkdir(mnt);
  // the bare mount: fresh each run, as singlet's is
  const bare = [
    "sh",
    "-c",
    `squashfuse_ll ${image} ${mnt} && chroot ${mnt} /bin/sh -c '${READ_TREE}'; ` +
    `s=$?; fusermount3 -u ${mnt}; exit $s`,
  ];
  const mine = [singlet, "exec", image, "/bin/sh", "-c", READ_TREE];
  const timed = async (argv: string[]) => {
    const start = performance.now();
    const out = await new Deno.Command(argv[0]!, { args: argv.slice(1), stdout: "piped" })
      .output();
    const wall = performance.now() - start;
    const text = new TextDecoder().decode(out.stdout);
    const read = /read-ms (\d+)/.exec(text);
    if (!out.success || !read) throw new Error(`${argv.join(" ")} failed: ${text}`);
    return { wall, read: Number(read[1]) };
  };
  const treeRuns = Math.min(runs, 5);
  const peer: { wall: number; read: number }[] = [];
  const ours: { wall: number; read: number }[] = [];
  for (let i = 0; i < treeRuns; i++) {
    peer.push(await timed(bare));
    ours.push(await timed(mine));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const p = { wall: median(peer.map((r) => r.wall)), read: median(peer.map((r) => r.read)) };
  const m = { wall: median(ours.map((r) => r.wall)), read: median(ours.map((r) => r.read)) };
  const result = { bench: "exec_tree_read", runs: treeRuns, bare: p, singlet: m };
  const results = new URL("./results/", import.meta.url);
  await Deno.mkdir(results, { recursive: true });
  await Deno.writeTextFile(new URL("exec_tree_read.json", results), JSON.stringify(result));
  return [
    `## exec_tree_read (find + tar c of the 120 MB minbase tree, ${treeRuns} runs, medians)`,
    `  bare squashfuse_ll mount + chroot: read ${p.read} ms, whole command ${p.wall.toFixed(0)} ms`,
    `  singlet exec image.sqfs:           read ${m.read} ms, whole command ${m.wall.toFixed(0)} ms`,
    `  read ratio singlet/bare: ${(m.read / p.read).toFixed(2)} (target <= 1)`,
  ];
}
