import assert from "node:assert/strict";
import { runSinglet } from "../tests/_helpers/singlet.ts";
import { testWithTools } from "../tests/_helpers/tools.ts";
import type { HostReport } from "./host_check.ts";
import { subordinateRanges } from "./host_check.ts";

testWithTools(
  "singlet check reports every feature and picks a runtime that really runs containers",
  ["runc", "unshare"],
  async () => {
    const result = await runSinglet(["check", "--json"]);
    const report = JSON.parse(result.stdout) as HostReport;
    const features = report.findings.map((f) => f.feature.split(" ")[0]);
    assert.deepEqual(features, [
      "user",
      "subuid/subgid",
      "crun",
      "runc",
      "squashfuse",
      "fuse-overlayfs",
      "kernel",
      "cgroups",
    ]);
    assert.equal(report.user.uid, Deno.uid());
    assert.ok(report.runtime, "a runtime is chosen where runc is installed");
    assert.equal(result.code, report.usable ? 0 : 255);
    const chosen = report.findings.find((f) => f.feature.startsWith(report.runtime!));
    assert.equal(chosen?.status, "ok");
  },
);

testWithTools(
  "singlet check says honestly when crun refuses the host and names runc instead",
  ["runc", "crun"],
  async () => {
    const json = JSON.parse((await runSinglet(["check", "--json"])).stdout) as HostReport;
    const crun = json.findings.find((f) => f.feature.startsWith("crun"))!;
    const text = await runSinglet(["check"]);
    if (crun.status === "ok") {
      assert.equal(json.runtime, "crun");
      assert.match(text.stdout, /^OCI runtime: crun$/m);
      return;
    }
    // This project's VMs have a hybrid cgroup layout that crun 1.8 refuses.
    assert.equal(crun.status, "fail");
    assert.match(crun.detail, /^refuses this host: /);
    assert.equal(json.runtime, "runc");
    assert.equal(crun.hint, "singlet falls back to runc");
    assert.match(text.stdout, /^\[FAIL {3}\] crun .*refuses this host: /m);
    assert.match(text.stdout, /^OCI runtime: runc \(crun refuses this host\)$/m);
  },
);

Deno.test("subordinateRanges() reads ranges by name or uid and ignores other users", async () => {
  const file = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(file, "alice:100000:65536\nbob:200000:1000\n1001:300000:10\n");
    assert.deepEqual(await subordinateRanges(file, "alice", 1000), [
      { start: 100000, count: 65536 },
    ]);
    assert.deepEqual(await subordinateRanges(file, "carol", 1001), [{ start: 300000, count: 10 }]);
    assert.deepEqual(await subordinateRanges(file, "dave", 1002), []);
    assert.deepEqual(await subordinateRanges("/nonexistent", "alice", 1000), []);
  } finally {
    await Deno.remove(file);
  }
});
