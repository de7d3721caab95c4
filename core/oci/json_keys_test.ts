import assert from "node:assert/strict";
import { duplicateKey } from "./json_keys.ts";

Deno.test("duplicate and case-variant keys are found; annotations may vary in case", () => {
  assert.equal(duplicateKey('{"layers":[],"config":{},"layers":[]}'), "layers");
  assert.equal(duplicateKey('{"layers":[],"Layers":[]}'), "Layers");
  assert.equal(duplicateKey('{"manifests":[{"digest":"a","Digest":"b"}]}'), "Digest");
  assert.equal(duplicateKey('{"a":{"annotations":{"K":"1","k":"2"}}}'), undefined);
  assert.equal(duplicateKey('{"annotations":{"k":"1","k":"2"}}'), "k");
  assert.equal(duplicateKey('{"x":"\\"y\\":1,","y":[{"a":1},{"a":2}]}'), undefined);
  assert.equal(
    duplicateKey('{"l":[{"annotations":{"A":1,"a":2}},{"annotations":{"A":1}}]}'),
    undefined,
  );
});
