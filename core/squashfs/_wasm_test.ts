import assert from "node:assert/strict";
import { SqfsInstance } from "./_wasm.ts";

Deno.test("the sqfs module loads and round-trips bytes through its memory", async () => {
  const wasm = await SqfsInstance.create(() => undefined);
  const ptr = wasm.put(new Uint8Array([1, 2, 3]));
  assert.deepEqual([...wasm.bytes().subarray(ptr, ptr + 3)], [1, 2, 3]);
  wasm.free(ptr, 3);
  assert.equal(wasm.check(5, "do nothing"), 5);
});
