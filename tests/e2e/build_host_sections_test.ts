/**
 * `%pre` and `%setup` run on the host through the product's permission set (bin/singlet), and
 * `%appfiles` lines land under `/scif/apps/<app>`: regressions found by a parallel suite.
 */
import assert from "node:assert/strict";
import { testWithTools } from "../_helpers/tools.ts";
import { runSinglet } from "../_helpers/singlet.ts";
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
