import assert from "node:assert/strict";
import { DeffileSyntaxError, parseDeffile } from "./deffile.ts";
import { definitionToJSON, parseDeffileJSON, toSingularityJSON } from "./deffile_json.ts";
import { toDeffileText } from "./deffile_text.ts";
import { applyBuildArgs } from "./build_args.ts";

const dir = new URL("./testdata/good/", import.meta.url);
const seeds = [...Deno.readDirSync(dir)]
  .filter((e) => e.name.endsWith(".def"))
  .sort((a, b) => (a.name < b.name ? -1 : 1))
  .map((e) => Deno.readTextFileSync(new URL(e.name, dir)));

/** Deterministic PRNG (mulberry32), so a failure reproduces. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = [
  "%",
  "%files from ",
  "%apprun ",
  "Bootstrap:",
  "Bootstrap: docker\n",
  "Stage: x\n",
  ":",
  "\\",
  "\\n\\",
  "#",
  '"',
  "'",
  "{{ A }}",
  "{{",
  "\r",
  "\n",
  "\t",
  " ",
  "%post -c",
  "\u00e9",
  "\0",
];

function mutate(text: string, random: () => number): string {
  let out = text;
  const edits = 1 + Math.floor(random() * 4);
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(random() * (out.length + 1));
    const choice = random();
    if (choice < 0.4) {
      out = out.slice(0, at) + PIECES[Math.floor(random() * PIECES.length)] + out.slice(at);
    } else if (choice < 0.7) {
      out = out.slice(0, at) + out.slice(at + 1 + Math.floor(random() * 20));
    } else {
      const lines = out.split("\n");
      const line = Math.floor(random() * lines.length);
      lines.splice(line, 0, lines[Math.floor(random() * lines.length)]!);
      out = lines.join("\n");
    }
  }
  return out;
}

function content(text: string) {
  const def = parseDeffile(text, "m.def");
  return JSON.stringify(
    definitionToJSON(def),
    (k, v) => k === "line" || k === "file" || k === "warnings" ? undefined : v,
  );
}

Deno.test("mutated recipes either parse (and round-trip) or fail with a DeffileSyntaxError", () => {
  const random = prng(20261123);
  let parsed = 0;
  let refused = 0;
  for (let i = 0; i < 3000; i++) {
    const text = mutate(seeds[i % seeds.length]!, random);
    try {
      const def = parseDeffile(text, "m.def");
      parsed++;
      assert.equal(content(toDeffileText(def)), content(text), `round trip of:\n${text}`);
      try {
        applyBuildArgs(def, { A: "a", SRC: "s" });
      } catch (error) {
        if (!(error instanceof DeffileSyntaxError)) throw error;
      }
    } catch (error) {
      if (!(error instanceof DeffileSyntaxError)) {
        throw new Error(`unexpected ${error} for:\n${JSON.stringify(text)}`, { cause: error });
      }
      assert.match(error.message, /^m\.def:\d+:\d+: .+; expected .+/s);
      refused++;
    }
  }
  // Both outcomes must be exercised for the test to mean anything.
  assert.ok(parsed > 300 && refused > 300, `parsed ${parsed}, refused ${refused}`);
});

Deno.test("mutated build --json documents either load or fail with a DeffileSyntaxError", () => {
  const random = prng(7);
  const docs = seeds.map((text) => JSON.stringify(toSingularityJSON(parseDeffile(text, "s"))));
  let loaded = 0;
  let refused = 0;
  for (let i = 0; i < 3000; i++) {
    let doc = docs[i % docs.length]!;
    // Structural edits: swap a value for another JSON type, or cut the text.
    const at = Math.floor(random() * doc.length);
    const pick = random();
    if (pick < 0.5) {
      const replacement = ["null", "1", "[]", "{}", '"x"', "true"][Math.floor(random() * 6)]!;
      doc = doc.replace(
        /"[^"]*"(?=[,}\]])|\[\]|\{\}|null/g,
        (m, offset: number) => offset >= at && offset < at + 40 ? replacement : m,
      );
    } else {
      doc = mutate(doc, random);
    }
    try {
      parseDeffileJSON(doc, "m.json");
      loaded++;
    } catch (error) {
      if (!(error instanceof DeffileSyntaxError)) {
        throw new Error(`unexpected ${error} for:\n${doc}`, { cause: error });
      }
      refused++;
    }
  }
  assert.ok(loaded > 300 && refused > 300, `loaded ${loaded}, refused ${refused}`);
});
