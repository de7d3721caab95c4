/**
 * The committed WebAssembly in wasm/gen/ must match its sources and its manifest; no Rust
 * toolchain needed. `deno task wasm:check` goes further and rebuilds byte for byte.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Buffer } from "node:buffer";

const WASM_DIR = new URL("./", import.meta.url);
const STALE = "wasm/gen is stale: run `deno task wasm:build`";

interface CrateEntry {
  source_sha256: string;
  wasm_sha256: string;
  wasm_bytes: number;
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of Deno.readDirSync(new URL(dir, WASM_DIR))) {
    const path = `${dir}/${entry.name}`;
    if (entry.name === "target") continue;
    if (entry.isDirectory) out.push(...filesUnder(path));
    else out.push(path);
  }
  return out;
}

/** The same digest as `source_hash` in wasm/build.sh. */
function sourceHash(crate: string): string {
  const files = ["Cargo.toml", "Cargo.lock", ".cargo/config.toml", "build.sh"];
  // build.sh sorts with LC_ALL=C, i.e. by bytes; ASCII paths compare the same as code units.
  files.push(...filesUnder(crate).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  const lines = files.map((f) => `${sha256(Deno.readFileSync(new URL(f, WASM_DIR)))}  ${f}\n`);
  return sha256(new TextEncoder().encode(lines.join("")));
}

const manifest = JSON.parse(
  Deno.readTextFileSync(new URL("gen/manifest.json", WASM_DIR)),
) as { crates: Record<string, CrateEntry> };

Deno.test("every crate in wasm/ has a generated module listed in the manifest", () => {
  const crates = [...Deno.readDirSync(WASM_DIR)]
    .filter((e) =>
      e.isDirectory && e.name !== "target" && e.name !== "gen" && !e.name.startsWith(".")
    )
    .filter((e) => {
      try {
        return Deno.statSync(new URL(`${e.name}/Cargo.toml`, WASM_DIR)).isFile;
      } catch {
        return false;
      }
    })
    .map((e) => e.name)
    .sort();
  assert.deepEqual(Object.keys(manifest.crates).sort(), crates, STALE);
});

for (const [crate, entry] of Object.entries(manifest.crates)) {
  Deno.test(`the committed ${crate}.wasm was built from the current sources`, () => {
    assert.equal(sourceHash(crate), entry.source_sha256, STALE);
  });

  Deno.test(`${crate}.wasm and its base64 module hold the bytes the manifest names`, async () => {
    const wasm = Deno.readFileSync(new URL(`gen/${crate}.wasm`, WASM_DIR));
    assert.equal(wasm.length, entry.wasm_bytes, STALE);
    assert.equal(sha256(wasm), entry.wasm_sha256, STALE);
    const module = await import(new URL(`gen/${crate}.wasm.ts`, WASM_DIR).href);
    const decoded = Buffer.from(module.default as string, "base64");
    assert.equal(sha256(decoded), entry.wasm_sha256, STALE);
    assert.ok(WebAssembly.validate(decoded), `${crate}.wasm is not a valid module`);
  });
}
