/**
 * `--cpus`, `--memory`, `--pids-limit` (and their environment forms): as root the limits
 * are applied and visible inside through /sys/fs/cgroup; as an unprivileged user on a host
 * whose cgroups are not delegated (this VM: a hybrid v1/v2 layout) the launch stops with
 * one clear error, exit 255.
 */
import assert from "node:assert/strict";
import { runSinglet, SINGLET_BIN } from "../_helpers/singlet.ts";
import { runAs, testUser } from "../_helpers/unpriv.ts";
import { testWithTools } from "../_helpers/tools.ts";
import { execImages } from "./_exec_images.ts";

const TOOLS = ["runc", "unshare", "nsenter", "squashfuse_ll", "mksquashfs", "siftool"];

/** Reads the limits inside on cgroup v1 (this VM) or v2. */
const SHOW = [
  "if [ -d /sys/fs/cgroup/memory ]; then",
  "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max;",
  "echo $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us);",
  "else cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max /sys/fs/cgroup/cpu.max; fi",
].join(" ");

async function hostCgroupFs(): Promise<string> {
  const output = await new Deno.Command("stat", {
    args: ["-f", "-c", "%T", "/sys/fs/cgroup"],
    stdout: "piped",
  }).output();
  return new TextDecoder().decode(output.stdout).trim();
}

testWithTools(
  "as root, --cpus, --memory and --pids-limit are applied and visible inside",
  TOOLS,
  async () => {
    const { sif } = await execImages();
    const expected = "67108864\n50\n50000 100000\n";
    const flags = await runSinglet(
      ["exec", "--memory", "64M", "--cpus", "0.5", "--pids-limit", "50", sif, "sh", "-c", SHOW],
      { cwd: "/tmp" },
    );
    assert.equal(flags.code, 0, flags.stderr);
    assert.equal(flags.stdout, expected);
    // the environment forms, SINGLET_ beating SINGULARITY_
    const env = await runSinglet(["exec", sif, "sh", "-c", SHOW], {
      cwd: "/tmp",
      env: {
        SINGULARITY_MEMORY: "32M",
        SINGLET_MEMORY: "64M",
        APPTAINER_CPUS: "0.5",
        SINGULARITY_PIDS_LIMIT: "50",
      },
    });
    assert.equal(env.code, 0, env.stderr);
    assert.equal(env.stdout, expected);
    // the limit is enforced: 60 processes do not fit under --pids-limit 20
    const fork = await runSinglet(
      ["exec", "--pids-limit", "20", sif, "sh", "-c", "for i in $(seq 60); do sleep 5 & done"],
      { cwd: "/tmp" },
    );
    assert.notEqual(fork.code, 0);
    assert.match(fork.stderr, /can't fork|Resource temporarily unavailable|fork/i);
  },
);

testWithTools(
  "an unprivileged user without a delegated cgroup gets one clear error and exit 255",
  TOOLS,
  async (t) => {
    const { sif } = await execImages();
    const fs = await hostCgroupFs();
    if (fs === "cgroup2fs") {
      await t.step({
        name: `skipped: /sys/fs/cgroup is pure cgroup v2 here (${fs}); delegation decides`,
        ignore: true,
        fn: () => {},
      });
      return;
    }
    const user = await testUser({ subids: true });
    const marker = `/tmp/singlet-resources-${crypto.randomUUID()}`;
    const result = await runAs(
      user,
      [SINGLET_BIN, "exec", "--memory", "64M", "--pids-limit", "10", sif, "touch", marker],
      { cwd: "/tmp" },
    );
    assert.equal(result.code, 255, result.stderr);
    assert.match(
      result.stderr,
      /^FATAL: +Cannot apply resource limits \(--memory, --pids-limit\): this host has a cgroup (hybrid|v1) layout, where cgroups are not delegated to unprivileged users$/m,
    );
    assert.match(result.stderr, /^hint: .*run as root/m);
    await assert.rejects(Deno.stat(marker), Deno.errors.NotFound);
    // without limits the same user runs fine
    const plain = await runAs(user, [SINGLET_BIN, "exec", sif, "true"], { cwd: "/tmp" });
    assert.equal(plain.code, 0, plain.stderr);
  },
);

testWithTools("malformed limits are usage errors (exit 254)", TOOLS, async () => {
  const { sif } = await execImages();
  for (
    const [flag, value] of [["--cpus", "lots"], ["--memory", "12Q"], ["--pids-limit", "-1"]]
  ) {
    const result = await runSinglet(["exec", `${flag}=${value}`, sif, "true"], { cwd: "/tmp" });
    assert.equal(result.code, 254, `${flag} ${value}: ${result.stderr}`);
    assert.match(result.stderr, new RegExp(`Cannot use ${flag} "${value}"`));
  }
});
