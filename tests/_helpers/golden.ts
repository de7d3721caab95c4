/**
 * Golden files: compare output with a committed file; `UPDATE_GOLDEN=1` rewrites it.
 *
 * @module
 */
import assert from "node:assert/strict";

/**
 * Assert that `actual` equals the golden file at `url` (text or bytes).
 *
 * @param url The golden file, e.g. `new URL("./testdata/help.golden", import.meta.url)`.
 * @param actual The produced output.
 */
export async function assertGolden(url: URL, actual: string | Uint8Array): Promise<void> {
  const bytes = typeof actual === "string" ? new TextEncoder().encode(actual) : actual;
  if (Deno.env.get("UPDATE_GOLDEN") === "1") {
    await Deno.mkdir(new URL(".", url), { recursive: true });
    await Deno.writeFile(url, bytes);
    return;
  }
  let expected: Uint8Array;
  try {
    expected = await Deno.readFile(url);
  } catch (error) {
    throw new Error(`golden file ${url.pathname} is missing: run with UPDATE_GOLDEN=1`, {
      cause: error,
    });
  }
  if (typeof actual === "string") {
    assert.equal(actual, new TextDecoder().decode(expected), `golden ${url.pathname} differs`);
  } else {
    assert.deepEqual(bytes, expected, `golden ${url.pathname} differs`);
  }
}
