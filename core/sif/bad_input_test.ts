import assert from "node:assert/strict";
import { runSinglet } from "../../tests/_helpers/singlet.ts";
import { SingletError } from "../errors.ts";
import { inTempDir } from "./_test_helpers.ts";
import { DESCRIPTOR_SIZE, openSifSync } from "./mod.ts";

const GOLDEN = new URL("./testdata/create_sif/every_type.golden", import.meta.url);
const valid = () => Deno.readFileSync(GOLDEN);

function setI64(bytes: Uint8Array, at: number, value: bigint): Uint8Array {
  new DataView(bytes.buffer, bytes.byteOffset).setBigInt64(at, value, true);
  return bytes;
}
function setU32(bytes: Uint8Array, at: number, value: number): Uint8Array {
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(at, value, true);
  return bytes;
}
/** Offset of field `field` of descriptor slot `slot` (0-based). */
const desc = (slot: number, field: number) => 4096 + slot * DESCRIPTOR_SIZE + field;

interface BadCase {
  name: string;
  bytes: () => Uint8Array;
  problem: RegExp;
}

const CASES: BadCase[] = [
  { name: "an empty file", bytes: () => new Uint8Array(), problem: /the file is empty/ },
  {
    name: "a file truncated inside the header",
    bytes: () => valid().slice(0, 100),
    problem: /truncated: 100 bytes/,
  },
  {
    name: "a file truncated inside the descriptor table",
    bytes: () => valid().slice(0, 5000),
    problem: /descriptor table .* beyond the end of the file .*truncated/,
  },
  {
    name: "a file truncated inside an object",
    bytes: () => valid().slice(0, 32779),
    problem: /object 5 .*beyond the end of the file/,
  },
  {
    name: "the wrong magic",
    bytes: () => valid().fill(0x58, 32, 36),
    problem: /not a SIF image/,
  },
  {
    name: "an unsupported version",
    bytes: () => valid().fill(0x32, 43, 44),
    problem: /unsupported SIF version "02"/,
  },
  {
    name: "a descriptor count far beyond the file",
    bytes: () => setI64(setI64(valid(), 88, 50_000n), 104, 50_000n * 585n),
    problem: /descriptor table \(50000 descriptors at offset 4096\) extends beyond the end/,
  },
  {
    name: "an absurd descriptor count in a file large enough to hold it",
    bytes: () => {
      const bytes = new Uint8Array(4096 + 200_001 * 585);
      bytes.set(valid().subarray(0, 128));
      return setI64(setI64(setI64(bytes, 88, 200_001n), 80, 200_001n), 104, 200_001n * 585n);
    },
    problem: /200001 descriptors \(singlet reads at most 100000\)/,
  },
  {
    name: "a negative descriptor count",
    bytes: () => setI64(valid(), 88, -1n),
    problem: /negative descriptor count/,
  },
  {
    name: "a descriptor table offset beyond the file",
    bytes: () => setI64(valid(), 96, 1n << 45n),
    problem: /descriptor table .* beyond the end of the file/,
  },
  {
    name: "an enormous (unrepresentable) object size",
    bytes: () => setI64(valid(), desc(3, 25), 1n << 62n),
    problem: /descriptor 4 is corrupt: size is out of range/,
  },
  {
    name: "an object size beyond the file",
    bytes: () => setI64(valid(), desc(3, 25), 1n << 50n),
    problem: /object 4 .*beyond the end of the file/,
  },
  {
    name: "a negative object size",
    bytes: () => setI64(valid(), desc(3, 25), -5n),
    problem: /object 4 has a negative offset or size/,
  },
  {
    name: "an object offset beyond the file",
    bytes: () => setI64(valid(), desc(0, 17), 1n << 40n),
    problem: /object 1 .*beyond the end of the file/,
  },
  {
    name: "overlapping objects",
    bytes: () => setI64(valid(), desc(1, 17), 32180n),
    problem: /objects 1 and 2 overlap/,
  },
  {
    name: "an object inside the descriptor table",
    bytes: () => setI64(valid(), desc(0, 17), 4100n),
    problem: /object 1 .*overlaps the header or descriptor table/,
  },
  {
    name: "object ID zero",
    bytes: () => setU32(valid(), desc(2, 5), 0),
    problem: /descriptor 3 has an invalid object ID 0/,
  },
  {
    name: "an object ID in the group range",
    bytes: () => setU32(valid(), desc(2, 5), 0xf0000003),
    problem: /invalid object ID 4026531843/,
  },
  {
    name: "a duplicate object ID",
    bytes: () => setU32(valid(), desc(2, 5), 1),
    problem: /object ID 1 is used twice/,
  },
  {
    name: "a name that is not UTF-8",
    bytes: () => {
      const bytes = valid();
      bytes.set([0x66, 0xff, 0xfe], desc(2, 73));
      return bytes;
    },
    problem: /object 3 has a name that is not valid UTF-8/,
  },
  {
    name: "a free count that disagrees with the table",
    bytes: () => setI64(valid(), 80, 40n),
    problem: /11 objects in use, but the header counts 8/,
  },
];

for (const c of CASES) {
  Deno.test(`openSif() refuses ${c.name} with a message naming the file and the problem`, () => {
    assert.throws(() => openSifSync(c.bytes(), { name: "bad.sif" }), (error: unknown) => {
      assert.ok(error instanceof SingletError, `got ${error}`);
      assert.match(error.message, /^Cannot load SIF image "bad\.sif": /);
      assert.match(error.message, c.problem);
      assert.doesNotMatch(error.message, /\n/);
      return true;
    });
  });
}

Deno.test("singlet sif prints one FATAL line naming the file and exits non-zero on bad images", async () => {
  await inTempDir(async (dir) => {
    const cases: [string, Uint8Array][] = [
      ["truncated.sif", valid().slice(0, 5000)],
      ["overlap.sif", setI64(valid(), desc(1, 17), 32180n)],
      ["huge.sif", setI64(valid(), 88, 1n << 40n)],
    ];
    for (const [name, bytes] of cases) {
      await Deno.writeFile(`${dir}/${name}`, bytes);
      for (const args of [["list"], ["header"], ["info", "1"], ["dump", "1"]]) {
        const result = await runSinglet(["sif", ...args, `${dir}/${name}`]);
        assert.equal(result.code, 255, `${args} ${name}: ${result.stderr}`);
        assert.equal(result.stdout, "");
        const fatal = result.stderr.split("\n").filter((l) => l.startsWith("FATAL"));
        assert.equal(fatal.length, 1, result.stderr);
        assert.match(fatal[0]!, new RegExp(`Cannot load SIF image ".*${name}": `));
        assert.doesNotMatch(result.stderr, /at .*\.ts:\d+/, "no stack trace");
      }
    }
    // Object IDs out of range are usage errors or clean lookups failures.
    await Deno.writeFile(`${dir}/ok.sif`, valid());
    const tooBig = await runSinglet(["sif", "info", "99999999999", `${dir}/ok.sif`]);
    assert.equal(tooBig.code, 254);
    assert.match(tooBig.stderr, /invalid object ID "99999999999"/);
    const zero = await runSinglet(["sif", "dump", "0", `${dir}/ok.sif`]);
    assert.equal(zero.code, 255);
    assert.match(zero.stderr, /Cannot find object 0 .*invalid ID/);
    const missing = await runSinglet(["sif", "del", "42", `${dir}/ok.sif`]);
    assert.equal(missing.code, 255);
    assert.match(missing.stderr, /Cannot delete object 42 .*no such object/);
    assert.deepEqual(await Deno.readFile(`${dir}/ok.sif`), valid());
  });
});
