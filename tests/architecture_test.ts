/**
 * Layering rules from README.md, checked on the source text so a violation fails CI:
 * core/ never imports runtime/ or cli/ and never starts a process; runtime/ never imports
 * cli/; only runtime/_command.ts constructs Deno.Command in product code.
 */
import assert from "node:assert/strict";
import { REPO_ROOT } from "./_helpers/singlet.ts";

async function productFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  async function walk(path: string) {
    for await (const entry of Deno.readDir(`${REPO_ROOT}/${path}`)) {
      const child = `${path}/${entry.name}`;
      if (entry.isDirectory && entry.name !== "testdata") await walk(child);
      // Test files and test-only helpers (`*_test.ts`, `_tree_test_helpers.ts`) are exempt.
      else if (entry.isFile && child.endsWith(".ts") && !entry.name.includes("_test")) {
        files.push(child);
      }
    }
  }
  await walk(dir);
  return files.sort();
}

function imports(source: string): string[] {
  return [...source.matchAll(/(?:from|import)\s*\(?\s*["']([^"']+)["']/g)].map((m) => m[1]!);
}

async function violations(dir: string, rule: (file: string, source: string) => string[]) {
  const found: string[] = [];
  for (const file of await productFiles(dir)) {
    found.push(...rule(file, await Deno.readTextFile(`${REPO_ROOT}/${file}`)));
  }
  return found;
}

Deno.test("core/ imports neither runtime/ nor cli/ and starts no process", async () => {
  const found = await violations("core", (file, source) => [
    ...imports(source).filter((spec) => /(^|\/)(runtime|cli)\//.test(spec)).map((spec) =>
      `${file} imports ${spec}`
    ),
    ...(/Deno\.(Command|run)\b|node:child_process/.test(source)
      ? [`${file} starts a process`]
      : []),
  ]);
  assert.deepEqual(found, []);
});

Deno.test("runtime/ does not import cli/", async () => {
  const found = await violations(
    "runtime",
    (file, source) =>
      imports(source).filter((spec) => /(^|\/)cli\//.test(spec)).map((spec) =>
        `${file} imports ${spec}`
      ),
  );
  assert.deepEqual(found, []);
});

Deno.test("only runtime/_command.ts starts processes in product code", async () => {
  const found: string[] = [];
  for (const dir of ["cli", "core", "runtime"]) {
    found.push(
      ...await violations(
        dir,
        (file, source) =>
          file !== "runtime/_command.ts" && /new Deno\.Command\b|node:child_process/.test(source)
            ? [file]
            : [],
      ),
    );
  }
  assert.deepEqual(found, []);
});

Deno.test("cli/ never imports the library façade mod.ts: each verb loads only what it uses", async () => {
  const found = await violations(
    "cli",
    (file, source) =>
      imports(source).filter((spec) => /(^|\/)\.\.\/mod\.ts$|^\.\.\/\.\.\/mod\.ts$/.test(spec)).map(
        (
          spec,
        ) => `${file} imports ${spec}`,
      ),
  );
  assert.deepEqual(found, []);
});
