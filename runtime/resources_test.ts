import assert from "node:assert/strict";
import { UsageError } from "../core/errors.ts";
import { ociResources, parseBytes, parseResourceFlags } from "./resources.ts";

Deno.test("resource flags become a CFS quota, a memory limit and a PID limit", () => {
  const limits = parseResourceFlags({ cpus: "1.5", memory: "512m", pidsLimit: "100" })!;
  assert.deepEqual(ociResources(limits), {
    cpu: { quota: 150000, period: 100000 },
    memory: { limit: 512 * 1024 * 1024 },
    pids: { limit: 100 },
  });
  assert.equal(parseResourceFlags({}), undefined);
});

Deno.test("memory sizes take Docker's suffixes; nonsense is a usage error", () => {
  assert.equal(parseBytes("1G"), 1024 ** 3);
  assert.equal(parseBytes("67108864"), 64 * 1024 * 1024);
  assert.equal(parseBytes("64MiB"), 64 * 1024 * 1024);
  for (const bad of ["", "12Q", "-5M", "1k"]) assert.throws(() => parseBytes(bad), UsageError, bad);
  for (const cpus of ["0", "abc", "-1", "0.001"]) {
    assert.throws(() => parseResourceFlags({ cpus }), UsageError, cpus);
  }
  for (const pidsLimit of ["0", "-1", "x"]) {
    assert.throws(() => parseResourceFlags({ pidsLimit }), UsageError, pidsLimit);
  }
});
