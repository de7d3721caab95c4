import assert from "node:assert/strict";
import { boundDeviceRules, DEFAULT_DEVICE_RULES, withDeviceRules } from "./device_rules.ts";

Deno.test("the default rules deny every device first, then allow runc's standard ones", () => {
  assert.deepEqual(DEFAULT_DEVICE_RULES[0], { allow: false, access: "rwm" });
  const allowed = DEFAULT_DEVICE_RULES.filter((r) => r.allow && r.access === "rwm")
    .map((r) => `${r.type} ${r.major}:${r.minor ?? "*"}`);
  for (const node of ["c 1:3", "c 1:5", "c 1:7", "c 1:8", "c 1:9", "c 5:0", "c 5:2", "c 136:*"]) {
    assert.ok(allowed.includes(node), node);
  }
  assert.ok(!DEFAULT_DEVICE_RULES.some((r) => r.allow && r.type === undefined), "no allow-all");
});

Deno.test("bound host device nodes get allow rules; nodev binds and plain files do not", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/file`, "");
  const rules = await boundDeviceRules([
    { destination: "/dev/nvidia0", type: "bind", source: "/dev/fuse", options: ["rbind"] },
    { destination: "/dev/x", type: "bind", source: "/dev/fuse", options: ["rbind"] },
    { destination: "/dev/y", type: "bind", source: "/dev/null", options: ["rbind", "nodev"] },
    { destination: "/f", type: "bind", source: `${dir}/file`, options: ["rbind"] },
    { destination: "/gone", type: "bind", source: `${dir}/missing`, options: ["rbind"] },
    { destination: "/proc", type: "proc", source: "proc" },
  ]);
  assert.deepEqual(rules, [{ allow: true, type: "c", major: 10, minor: 229, access: "rwm" }]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("rules already in the config (CDI) come after the deny-all", async () => {
  const cdi = { allow: true, type: "c", major: 1, minor: 11, access: "rw" };
  const resources = await withDeviceRules({ pids: { limit: 5 }, devices: [cdi] }, []);
  assert.deepEqual(resources.pids, { limit: 5 });
  assert.deepEqual(resources.devices?.[0], { allow: false, access: "rwm" });
  assert.deepEqual(resources.devices?.at(-1), cdi);
});
