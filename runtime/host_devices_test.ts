import assert from "node:assert/strict";
import { listHostDir, statHost } from "./host_devices.ts";

Deno.test("statHost answers for /dev nodes Deno refuses, and leaves out missing paths", async () => {
  const found = await statHost(["/dev/fuse", "/dev/null", "/tmp", "/dev/singlet-no-such-node"]);
  // /dev/fuse: Deno says NotCapable without --allow-all; `stat` answers instead
  assert.deepEqual(found.get("/dev/fuse"), { kind: "c", major: 10, minor: 229, mode: 0o666 });
  assert.equal(found.get("/dev/null")?.kind, "c");
  assert.deepEqual([found.get("/dev/null")?.major, found.get("/dev/null")?.minor], [1, 3]);
  assert.equal(found.get("/tmp")?.kind, "d");
  assert.equal(found.has("/dev/singlet-no-such-node"), false);
});

Deno.test("listHostDir lists /dev, which Deno itself may not read", async () => {
  const names = await listHostDir("/dev");
  assert.ok(names?.includes("fuse") && names.includes("null"), String(names));
  assert.equal(await listHostDir("/dev/singlet-no-such-dir"), undefined);
});
