/**
 * `singlet exec image.sif /bin/true` against (a) the floor: `runc run` of a prepared
 * bundle on an already-mounted image (squashfuse_ll of the same SIF partition), and
 * (b) charliecloud's `ch-run` on the same SquashFS, when installed. Run as root (the
 * floor's bundle and mount are prepared as root too); targets from issue 6: at most
 * the floor + 80 ms, at most 2x ch-run. The test image has no `/etc/hosts` and the bench
 * runs from this repository's directory, so that run has an overlay; a second run against
 * the floor uses the same image with the empty `/etc/hosts` and `/etc/resolv.conf` of
 * singlet's builds, from `$HOME`: no overlay. `EXEC_SOAK=1` adds 100 sequential execs (time
 * growth and leftovers).
 *
 * Tree read (issue 6: at least as fast as a bare mount): `find` + `tar c` of the whole
 * 120 MB Debian minbase tree of `pack_bench.ts` (`/tmp/singlet-bench/debian-minbase`;
 * skipped with a note when absent), packed once with `mksquashfs -comp gzip` plus the empty
 * `/etc/hosts` singlet's builds and pulls add, read through `chroot` on a fresh bare
 * `squashfuse_ll` mount of the file (with its default options, and with the options singlet
 * mounts images with) and inside `singlet exec image.sqfs` in two cases:
 * (a) from a working directory inside `$HOME` (the image has every mount point: no overlay)
 * and (b) from one the image has nothing for (this repository: an overlay, so the runtime
 * can make the mount point), with the image's own GNU find and tar everywhere. Each run
 * times the read itself (inside, with `date +%s%N`), the whole command, and the CPU time
 * of everything the command started (`BENCH_TREE_RUNS` runs each, default 5); the driver
 * each singlet run used is checked.
 *
 * @module
 */
import { compare } from "./_harness.ts";
import { execImages } from "../tests/e2e/_exec_images.ts";
import { siftoolNativeSif } from "../tests/_helpers/siftool.ts";

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

/**
 * Run argv as a child subreaper and print `@cpu S @wall MS` on stderr: the user+sys seconds
 * of every process it started (GNU time counts only what its child waited for; the
 * daemonised squashfuse_ll of the bare mount comes back to a subreaper), and the time until
 * argv itself exited. A FUSE daemon killed with singlet's session PID namespace (singlet
 * never unmounts: the namespace's end drops the mounts) is reaped by the kernel there and
 * its time reaches no parent: it is sampled from /proc every 20 ms while it runs (it is
 * idle after the read) and added.
 */
const CPU_OF_TREE = `
import ctypes, os, resource, sys, threading, time
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
me = os.getpid()
tick = os.sysconf("SC_CLK_TCK")
daemons = {}  # pid -> (start time, self cpu seconds)
reaped = set()
stop = False

def stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    rest = text[text.rindex(")") + 2:].split()
    name = text[text.index("(") + 1:text.rindex(")")]
    return name, int(rest[1]), (int(rest[11]) + int(rest[12])) / tick, rest[19]

def descends(pid):
    for _ in range(64):
        try:
            pid = stat(pid)[1]
        except (OSError, ValueError):
            return False
        if pid == me:
            return True
        if pid <= 1:
            return False
    return False

def poll():
    # look for new FUSE daemons every 100 ms; sample the known ones every 20 ms
    last_scan = 0.0
    while not stop:
        if time.monotonic() - last_scan > 0.1:
            last_scan = time.monotonic()
            for entry in os.listdir("/proc"):
                if entry.isdigit() and int(entry) not in daemons:
                    try:
                        name, _, cpu, start = stat(int(entry))
                    except (OSError, ValueError):
                        continue
                    if name in ("squashfuse_ll", "fuse-overlayfs") and descends(int(entry)):
                        daemons[int(entry)] = (start, cpu)
        for pid, (start, _) in list(daemons.items()):
            try:
                _, _, cpu, now = stat(pid)
            except (OSError, ValueError):
                continue
            if now == start:
                daemons[pid] = (start, cpu)
        time.sleep(0.02)

threading.Thread(target=poll, daemon=True).start()
began = time.monotonic()
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
status = 0
wall = 0.0
while True:
    try:
        done, st = os.wait()
    except ChildProcessError:
        break
    reaped.add(done)
    if done == pid:
        status = st
        wall = time.monotonic() - began
stop = True
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
# daemons killed with their PID namespace are reaped there, and their time is lost to rusage
lost = sum(cpu for p, (_, cpu) in daemons.items() if p not in reaped)
print(f"@cpu {usage.ru_utime + usage.ru_stime + lost:.3f} @wall {wall * 1000:.1f}", file=sys.stderr)
sys.exit(os.waitstatus_to_exitcode(status))
`;

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
  // the same image with every mount point a container needs (the empty /etc/hosts and
  // /etc/resolv.conf singlet's builds add), from a working directory in $HOME: no overlay
  const full = `${dir}/full.sif`;
  await sh(["cp", "-a", images.sandbox, `${dir}/full`]);
  for (const file of ["etc/hosts", "etc/resolv.conf"]) {
    await Deno.writeTextFile(`${dir}/full/${file}`, "");
  }
  await sh(["mksquashfs", `${dir}/full`, `${dir}/full.sqfs`, "-noappend", "-quiet"]);
  await siftoolNativeSif(full, `${dir}/full.sqfs`);
  const vsFloorImage = await compare("exec_true_no_overlay_vs_runc_floor", floor, {
    name: "singlet exec full.sif /bin/true (cwd in $HOME: no overlay)",
    argv: [singlet, "exec", full, "/bin/true"],
    cwd: Deno.env.get("HOME") ?? "/root",
  }, { runs });
  const report = [
    `  singlet - floor: ${(vsFloor.singlet.median - vsFloor.peer.median).toFixed(1)} ms ` +
    `(target <= 80 ms; cwd ${root}: not in the image, overlay)`,
    `  singlet - floor: ${(vsFloorImage.singlet.median - vsFloorImage.peer.median).toFixed(1)} ` +
    "ms (target <= 80 ms; every mount point in the image, cwd in $HOME: no overlay)",
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
  // the tree plus the empty /etc/hosts that `singlet build` and `pull` add to every image
  // (SingularityCE's base layout; debootstrap's minbase has none), so that it has every
  // mount point a container needs
  const image = "/tmp/singlet-bench-cache/exec-tree-hosts.sqfs";
  try {
    Deno.statSync(image);
  } catch {
    await Deno.mkdir("/tmp/singlet-bench-cache", { recursive: true });
    await sh([
      "mksquashfs",
      tree,
      `${image}.tmp`,
      ...["-comp", "gzip", "-noappend", "-quiet", "-p", "etc/hosts f 644 0 0 true"],
    ]);
    await Deno.rename(`${image}.tmp`, image);
  }
  const mnt = `${dir}/tree-mnt`;
  await Deno.mkdir(mnt);
  // the bare mount: fresh each run, as singlet's is
  const bareWith = (options: string) => ({
    argv: [
      "sh",
      "-c",
      `squashfuse_ll ${options} ${image} ${mnt} && chroot ${mnt} /bin/sh -c '${READ_TREE}'; ` +
      `s=$?; fusermount3 -u ${mnt}; exit $s`,
    ],
    cwd: root,
  });
  const bare = bareWith("");
  // the options singlet mounts the image with (mounts.ts), to tell their effect from the rest
  const bareOpts = bareWith("-o ro,allow_other,default_permissions,nosuid,nodev");
  const mine = [singlet, "--debug", "exec", image, "/bin/sh", "-c", READ_TREE];
  // (a) the working directory inside $HOME (bound from the host, like $HOME itself): every
  // mount point is in the image, the root is the squashfuse_ll mount itself;
  // (b) the working directory somewhere the image has nothing (this repository's path):
  // the runtime must create the mount point, the root is an overlay over the mount
  const home = Deno.env.get("HOME") ?? "/root";
  const inHome = { argv: mine, cwd: home, driver: "none" };
  const outside = { argv: mine, cwd: root, driver: "kernel" };
  const timed = async (run: { argv: string[]; cwd: string; driver?: string }) => {
    const out = await new Deno.Command("python3", {
      args: ["-c", CPU_OF_TREE, ...run.argv],
      cwd: run.cwd,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    const read = /read-ms (\d+)/.exec(text);
    if (!out.success || !read) throw new Error(`${run.argv.join(" ")} failed: ${text}`);
    const err = new TextDecoder().decode(out.stderr);
    const driver = /\(overlay: ([\w-]+)/.exec(err)?.[1];
    if (run.driver && driver !== run.driver) {
      throw new Error(`in ${run.cwd}: overlay ${driver}, expected ${run.driver}`);
    }
    const measured = /@cpu ([\d.]+) @wall ([\d.]+)/.exec(err);
    return { wall: Number(measured?.[2]), read: Number(read[1]), cpu: Number(measured?.[1]) };
  };
  const treeRuns = Number(Deno.env.get("BENCH_TREE_RUNS") ?? Math.min(runs, 5));
  const results = {
    bare: [] as Timing[],
    bareOpts: [] as Timing[],
    home: [] as Timing[],
    outside: [] as Timing[],
  };
  const order = [
    ["bare", bare],
    ["bareOpts", bareOpts],
    ["home", inHome],
    ["outside", outside],
  ] as const;
  for (let i = 0; i < treeRuns; i++) {
    for (const [key, run] of order) {
      results[key].push(await timed(run));
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const summary = (key: keyof typeof results) => ({
    wall: median(results[key].map((r) => r.wall)),
    read: median(results[key].map((r) => r.read)),
    cpuSeconds: median(results[key].map((r) => r.cpu)),
  });
  const p = summary("bare");
  const o = summary("bareOpts");
  const a = summary("home");
  const b = summary("outside");
  const result = {
    bench: "exec_tree_read",
    runs: treeRuns,
    bare: p,
    bareWithSingletOptions: o,
    inHome: a,
    outside: b,
  };
  const resultsDir = new URL("./results/", import.meta.url);
  await Deno.mkdir(resultsDir, { recursive: true });
  await Deno.writeTextFile(new URL("exec_tree_read.json", resultsDir), JSON.stringify(result));
  const line = (name: string, t: ReturnType<typeof summary>) =>
    `  ${name} read ${t.read} ms, whole command ${t.wall.toFixed(0)} ms, ` +
    `CPU ${t.cpuSeconds.toFixed(2)} s`;
  return [
    `## exec_tree_read (find + tar c of the 120 MB minbase tree, ${treeRuns} runs each, ` +
    "alternating, medians; CPU: user+sys of the command and every process it started)",
    line("bare squashfuse_ll mount + chroot:          ", p),
    line("the same, singlet's squashfuse_ll options:  ", o),
    line("(a) singlet exec, cwd in $HOME (no overlay):", a),
    line("(b) singlet exec, cwd not in image (overlay):", b),
    `  read ratio (a)/bare: ${(a.read / p.read).toFixed(2)} (target <= 1)`,
    `  read ratio (b)/bare: ${(b.read / p.read).toFixed(2)}`,
    `  read ratio (a)/bare with singlet's options: ${(a.read / o.read).toFixed(2)}`,
  ];
}

interface Timing {
  wall: number;
  read: number;
  cpu: number;
}
