import assert from "node:assert/strict";
import { normalizeMemberPath } from "./path.ts";

const enc = new TextEncoder();
const norm = (s: string) => new TextDecoder().decode(normalizeMemberPath(enc.encode(s)));

Deno.test("normalizeMemberPath strips leading ./ and /, empty and . components", () => {
  assert.equal(norm("./a/b"), "a/b");
  assert.equal(norm("/abs//x/./y/"), "abs/x/y");
  assert.equal(norm("./"), "");
  assert.equal(norm("."), "");
  assert.equal(norm("..."), "...");
  assert.equal(norm(".wh..wh..opq"), ".wh..wh..opq");
});

Deno.test("normalizeMemberPath refuses .. anywhere", () => {
  for (const bad of ["..", "../etc/passwd", "a/../../b", "/..", "a/.."]) {
    assert.throws(() => norm(bad), /has a "\.\." component/, bad);
  }
});

Deno.test("normalizeMemberPath keeps non-UTF-8 bytes as they are", () => {
  const raw = new Uint8Array([0x2e, 0x2f, 0xff, 0x2f, 0xfe]);
  assert.deepEqual(normalizeMemberPath(raw), new Uint8Array([0xff, 0x2f, 0xfe]));
});
