/**
 * Seeded mutation test: thousands of random byte flips, field overwrites and truncations of
 * valid SIF images must end in a clean result (a valid image whose every object reads back)
 * or a clean error (SingletError, RangeError or SyntaxError with a message), never another
 * exception, a hang, or an allocation sized by an unchecked field.
 */
import assert from "node:assert/strict";
import { SingletError } from "../errors.ts";
import {
  descriptorToJson,
  formatHeader,
  formatInfo,
  formatList,
  headerToJson,
  openSifSync,
} from "./mod.ts";

const SEED = Number(Deno.env.get("SIF_MUTATION_SEED") ?? 20261123);
const ITERATIONS = Number(Deno.env.get("SIF_MUTATION_ITERATIONS") ?? 20000);

/** mulberry32: a small seeded PRNG, so a failure can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const BASES = [
  "create_sif/empty.golden",
  "create_sif/native_image.golden",
  "create_sif/capacity_and_alignment.golden",
  "create_sif/every_type.golden",
  "add_objects/deterministic.golden",
  "set_primary_partition/promote.golden",
].map((name) => Deno.readFileSync(new URL(`./testdata/${name}`, import.meta.url)));

/** Int64 values most likely to break a careless parser. */
const INTERESTING = [
  0n,
  1n,
  -1n,
  127n,
  128n,
  585n,
  4096n,
  32176n,
  (1n << 31n) - 1n,
  1n << 31n,
  1n << 32n,
  (1n << 53n) - 1n,
  1n << 53n,
  1n << 62n,
  (1n << 63n) - 1n,
  -(1n << 63n),
];

function mutate(base: Uint8Array, random: () => number): Uint8Array {
  const pick = (n: number) => Math.floor(random() * n);
  let bytes = base.slice();
  const view = new DataView(bytes.buffer);
  const dataOffset = Number(view.getBigInt64(112, true));
  // Most interesting bytes are in the header and descriptor table.
  const structured = () => (random() < 0.3 ? pick(128) : pick(Math.min(dataOffset, bytes.length)));
  const rounds = 1 + pick(4);
  for (let r = 0; r < rounds; r++) {
    switch (pick(5)) {
      case 0: // flip random bits
        for (let i = 1 + pick(8); i > 0; i--) bytes[structured()]! ^= 1 << pick(8);
        break;
      case 1: // random byte values
        for (let i = 1 + pick(8); i > 0; i--) bytes[structured()] = pick(256);
        break;
      case 2: { // overwrite an aligned int64 field of the header or a descriptor
        const inHeader = random() < 0.5;
        const at = inHeader ? 64 + 8 * pick(8) : 4096 + 585 * pick(12) + 17 + 8 * pick(7);
        if (at + 8 <= bytes.length) {
          let value = INTERESTING[pick(INTERESTING.length)]!;
          if (random() < 0.3) value += BigInt(bytes.length) - BigInt(pick(3));
          if (value >= -(1n << 63n) && value < 1n << 63n) view.setBigInt64(at, value, true);
        }
        break;
      }
      case 3: { // overwrite a uint32 (id, group, link) of a descriptor
        const at = 4096 + 585 * pick(12) + [0, 5, 9, 13][pick(4)]!;
        if (at + 4 <= bytes.length) {
          view.setUint32(
            at,
            [0, 1, 2, 0xf0000000, 0xf0000001, 0xffffffff, pick(2 ** 32)][pick(7)]!,
            true,
          );
        }
        break;
      }
      case 4: // truncate
        bytes = bytes.slice(0, pick(bytes.length));
        return bytes;
    }
  }
  return bytes;
}

function isCleanError(error: unknown): boolean {
  return (error instanceof SingletError || error instanceof RangeError ||
    error instanceof SyntaxError) &&
    error.message.length > 0 &&
    !/allocation failed|Invalid typed array length|Maximum call stack/.test(error.message);
}

async function exercise(bytes: Uint8Array): Promise<"opened" | "refused"> {
  let image;
  try {
    image = openSifSync(bytes, { name: "mutant.sif" });
  } catch (error) {
    if (!isCleanError(error)) throw error;
    return "refused";
  }
  // A mutant that opens must be fully usable.
  formatHeader(image.header);
  formatList(image.descriptors);
  JSON.stringify(headerToJson(image.header));
  for (const d of image.descriptors) {
    JSON.stringify(descriptorToJson(d));
    try {
      formatInfo(d);
    } catch (error) {
      if (!(error instanceof RangeError)) throw error; // unknown hash type, as siftool
    }
    const data = await image.readObject(d);
    assert.equal(data.length, d.size);
    for await (const chunk of image.objectStream(d, { chunkSize: 4096 })) {
      assert.ok(chunk.length <= 4096);
    }
  }
  try {
    image.primaryPartition();
  } catch (error) {
    if (!(error instanceof SingletError)) throw error;
  }
  return "opened";
}

Deno.test(`openSif() fails cleanly on ${ITERATIONS} seeded mutations of valid images (seed ${SEED})`, async () => {
  const random = prng(SEED);
  const counts = { opened: 0, refused: 0 };
  const started = performance.now();
  for (let i = 0; i < ITERATIONS; i++) {
    const base = BASES[Math.floor(random() * BASES.length)]!;
    const mutant = mutate(base, random);
    try {
      counts[await exercise(mutant)]++;
    } catch (error) {
      throw new Error(
        `mutation ${i} (seed ${SEED}) raised ${(error as Error).name}: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }
  const seconds = (performance.now() - started) / 1000;
  // Both outcomes must occur, or the mutations are not reaching the parser.
  assert.ok(counts.opened > ITERATIONS / 20, `only ${counts.opened} mutants opened`);
  assert.ok(counts.refused > ITERATIONS / 5, `only ${counts.refused} mutants refused`);
  assert.ok(seconds < 20, `took ${seconds.toFixed(1)}s`);
});
