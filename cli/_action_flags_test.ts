import assert from "node:assert/strict";
import { parseBinds, parseMounts, parseSizeMiB } from "./_action_flags.ts";

Deno.test("bind specs: src, src:dst, src:dst:ro, comma lists", () => {
  assert.deepEqual(parseBinds(["/a,/b:/c", "/d:/e:ro"]), [
    { source: "/a", destination: "/a", readonly: false },
    { source: "/b", destination: "/c", readonly: false },
    { source: "/d", destination: "/e", readonly: true },
  ]);
  assert.throws(() => parseBinds(["/a:rel"]), /must be absolute/);
  assert.throws(() => parseBinds(["/a:/b:bogus"]), /unknown option/);
});

Deno.test("--mount specs are docker-style CSV, bind only", () => {
  assert.deepEqual(parseMounts(["type=bind,source=/s,destination=/d,ro"]), [
    { source: "/s", destination: "/d", readonly: true },
  ]);
  assert.throws(() => parseMounts(["type=tmpfs,destination=/d"]), /only type=bind/);
});

Deno.test("sizes take M, G and plain MiB", () => {
  assert.equal(parseSizeMiB("512M"), 512);
  assert.equal(parseSizeMiB("2G"), 2048);
  assert.equal(parseSizeMiB("100"), 100);
  assert.throws(() => parseSizeMiB("lots"), /Cannot parse size/);
});
