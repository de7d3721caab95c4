/**
 * `%pre` and `%setup` run on the host through the product's permission set (bin/singlet), and
 * `%appfiles` lines land under `/scif/apps/<app>`: regressions found by a parallel suite.
 */
import assert from "node:assert/strict";
import { testWithTools } from "../_helpers/tools.ts";
import { runSinglet, SINGLET_BIN } from "../_helpers/singlet.ts";
import { busyboxOciArchive } from "../_helpers/fixtures.ts";

testWithTools(
  "%pre and %setup run on the host, and %appfiles and %appinstall fill the app's root",
  ["siftool", "runc", "unshare", "squashfuse_ll"],
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "singlet-build-host-" });
    const env = { SINGLET_CACHEDIR: `${dir}/cache` };
    try {
      await Deno.writeTextFile(`${dir}/tool.txt`, "tool data\n");
      await Deno.writeTextFile(
        `${dir}/apps.def`,
        `Bootstrap: oci-archive\nFrom: ${await busyboxOciArchive()}\n\n` +
          `%pre\n    echo pre-ran > "${dir}/pre.marker"\n\n` +
          `%setup\n    echo setup-ran > "$SINGULARITY_ROOTFS/setup.txt"\n\n` +
          `%appfiles hello\n    tool.txt\n\n` +
          `%appinstall hello\n    echo installed > bin/installed\n    cp tool.txt bin/copied.txt\n\n` +
          `%apprun hello\n    echo "app $(cat /scif/apps/hello/bin/installed)"\n`,
      );
      const r = await runSinglet(["build", `${dir}/apps.sif`, `${dir}/apps.def`], {
        env,
        cwd: dir,
      });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await Deno.readTextFile(`${dir}/pre.marker`), "pre-ran\n");
      const cat = await runSinglet([
        "exec",
        `${dir}/apps.sif`,
        "cat",
        "/setup.txt",
        "/scif/apps/hello/tool.txt",
        "/scif/apps/hello/bin/copied.txt",
      ], { env });
      assert.equal(cat.stdout, "setup-ran\ntool data\ntool data\n", cat.stderr);
      const app = await runSinglet(
        ["exec", `${dir}/apps.sif`, "/bin/sh", "/scif/apps/hello/scif/runscript"],
        { env },
      );
      assert.equal(app.stdout, "app installed\n", app.stderr);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

/** Command lines of host processes that mention `needle` (pgrep; Deno may not read /proc). */
async function processesWith(needle: string): Promise<string> {
  const out = await new Deno.Command("pgrep", { args: ["-a", "-f", needle] }).output();
  return new TextDecoder().decode(out.stdout).trim();
}

for (const section of ["pre", "setup"]) {
  testWithTools(
    `SIGTERM during %${section} as root ends what the section started, in the foreground or not`,
    ["siftool", "runc", "unshare", "squashfuse_ll", "pgrep"],
    async () => {
      const dir = await Deno.makeTempDir({ prefix: "singlet-build-host-" });
      // copies of sleep under names no other process has, to find them on the host
      const tag = `singlet-sleeper-${crypto.randomUUID().slice(0, 8)}`;
      try {
        await Deno.writeTextFile(
          `${dir}/slow.def`,
          `Bootstrap: oci-archive\nFrom: ${await busyboxOciArchive()}\n\n` +
            `%${section}\n    cp /bin/sleep "${dir}/${tag}-bg"; cp /bin/sleep "${dir}/${tag}-fg"\n` +
            `    "${dir}/${tag}-bg" 300 &\n    touch "${dir}/started"\n` +
            `    "${dir}/${tag}-fg" 300\n`,
        );
        const child = new Deno.Command(SINGLET_BIN, {
          args: ["build", "slow.sif", "slow.def"],
          cwd: dir,
          env: { SINGLET_CACHEDIR: `${dir}/cache` },
          stdout: "null",
          stderr: "null",
        }).spawn();
        const deadline = Date.now() + 20_000;
        while (Date.now() < deadline && !(await processesWith(`${tag}-fg`))) {
          await new Promise((r) => setTimeout(r, 100));
        }
        assert.match(await processesWith(tag), /-bg 300[\s\S]*-fg 300|-fg 300[\s\S]*-bg 300/);
        child.kill("SIGTERM");
        assert.equal((await child.status).code, 143);
        // the kernel takes a moment to empty a PID namespace
        let left = await processesWith(tag);
        for (let i = 0; i < 20 && left; i++) {
          await new Promise((r) => setTimeout(r, 100));
          left = await processesWith(tag);
        }
        assert.equal(left, "", "processes the section started outlived the build");
        await assert.rejects(Deno.lstat(`${dir}/slow.sif`));
      } finally {
        await new Deno.Command("pkill", { args: ["-f", tag] }).output();
        await Deno.remove(dir, { recursive: true });
      }
    },
  );
}
