import assert from "node:assert/strict";

import { testWithTools } from "../tests/_helpers/tools.ts";
import type { HostReport } from "./host_check.ts";
import { subordinateRanges } from "./host_check.ts";
import { runAs, testUser } from "../tests/_helpers/unpriv.ts";
import { runSinglet, SINGLET_BIN } from "../tests/_helpers/singlet.ts";

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

testWithTools(
  "singlet check as an unprivileged user with subuid ranges finds its ranges and a rootless runtime",
  ["runc", "setpriv"],
  async () => {
    const user = await testUser({ subids: true });
    const result = await runAs(user, [SINGLET_BIN, "check", "--json"]);
    const report = JSON.parse(result.stdout) as HostReport;
    assert.equal(report.user.uid, user.uid);
    assert.notEqual(report.user.uid, Deno.uid());
    const subids = report.findings.find((f) => f.feature === "subuid/subgid")!;
    assert.equal(subids.status, "ok");
    assert.equal(subids.detail, `65536 subordinate uids, 65536 gids for ${user.name}`);
    assert.ok(report.runtime, `a rootless runtime works: ${result.stdout}`);
    assert.equal(result.code, 0, result.stderr);
  },
);

testWithTools(
  "singlet check as a user without subuid ranges says so and what an admin must run",
  ["runc", "setpriv"],
  async () => {
    const user = await testUser({ subids: false });
    const result = await runAs(user, [SINGLET_BIN, "check"]);
    assert.match(
      result.stdout,
      new RegExp(
        `^\\[FAIL {3}\\] subuid/subgid +no /etc/subuid /etc/subgid entry for ${user.name}$`,
        "m",
      ),
    );
    assert.match(result.stdout, new RegExp(`usermod --add-subuids .* ${user.name}$`, "m"));
    // Containers still run with a single-ID mapping, so the host stays usable.
    assert.equal(result.code, 0, result.stderr);
  },
);
