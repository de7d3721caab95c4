import assert from "node:assert/strict";
import { keyToPath, pathKey } from "./fstree.ts";

Deno.test("path keys keep every byte value and long paths, and map back to the same bytes", () => {
  const every = Uint8Array.from({ length: 256 }, (_, i) => i);
  const long = Uint8Array.from({ length: 20000 }, (_, i) => (i * 37) & 0xff);
  for (const path of [every, long, new Uint8Array(0)]) {
    const key = pathKey(path);
    assert.equal(key.length, path.length);
    assert.deepEqual(keyToPath(key), path);
  }
  assert.notEqual(pathKey(Uint8Array.of(0xc3, 0xa9)), pathKey(new TextEncoder().encode("\u00e9x")));
});
