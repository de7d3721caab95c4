import assert from "node:assert/strict";
import { parseGetfattrDump } from "./xattr_dump.ts";
import { pathKey } from "./fstree.ts";

const enc = new TextEncoder();

function bytes(...parts: (string | number[])[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) out.push(...(typeof p === "string" ? enc.encode(p) : p));
  return new Uint8Array(out);
}

Deno.test("a getfattr hex dump gives each path's attributes, byte for byte", () => {
  const dump = bytes(
    "# file: /src\nuser.d=0x646972\n\n",
    "# file: /src/nl\\012x\nuser.nl=0x0a00ff\n\n",
    '# file: /src/a b\ntrusted.t=0x32\nuser.empty=0x\nuser.quoted=""\n\n',
    "# file: /src/eq=x\nuser.we\\075ird name=0x34\n\n",
    "# file: /src/back\\134slash\nsecurity.capability=0x0100000200200000\n\n",
    "# file: /src/caf",
    [0xe9],
    "/deep\nuser.c=0x31\n\n",
  );
  const table = parseGetfattrDump(dump, "/src/");
  const get = (rel: Uint8Array) => {
    const m = table.get(pathKey(rel));
    assert.ok(m, `no entry for ${rel}`);
    return Object.fromEntries([...m].map(([k, v]) => [k, [...v]]));
  };
  assert.equal(table.size, 6);
  assert.deepEqual(get(bytes("")), { "user.d": [0x64, 0x69, 0x72] });
  assert.deepEqual(get(bytes("nl\nx")), { "user.nl": [0x0a, 0x00, 0xff] });
  assert.deepEqual(get(bytes("a b")), { "trusted.t": [0x32], "user.empty": [], "user.quoted": [] });
  assert.deepEqual(get(bytes("eq=x")), { "user.we=ird name": [0x34] });
  assert.deepEqual(get(bytes("back\\slash")), {
    "security.capability": [1, 0, 0, 2, 0, 0x20, 0, 0],
  });
  assert.deepEqual(get(bytes("caf", [0xe9], "/deep")), { "user.c": [0x31] });
});

Deno.test("a getfattr dump naming a path outside the root, or malformed, is refused", () => {
  assert.throws(
    () => parseGetfattrDump(bytes("# file: /srcother/x\nuser.a=0x31\n"), "/src"),
    /"# file: \/srcother\/x" is not below "\/src"/,
  );
  assert.throws(() => parseGetfattrDump(bytes("user.a=0x31\n"), "/src"), /before any "# file:"/);
  assert.throws(
    () => parseGetfattrDump(bytes("# file: /src/a\nuser.a=hello\n"), "/src"),
    /is not hex/,
  );
  assert.throws(() => parseGetfattrDump(bytes("# file: /src/a\nuser.a\n"), "/src"), /no value/);
  assert.equal(parseGetfattrDump(new Uint8Array(0), "/src").size, 0);
});
