/**
 * Shared pieces of the core/sif tests.
 *
 * @module
 */

/**
 * Deterministic filler bytes.
 *
 * @param n Length.
 * @param seed Varies the pattern.
 * @returns The bytes.
 */
export function pattern(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

/**
 * Run `fn` in a fresh temporary directory, removed afterwards.
 *
 * @param fn The body; gets the directory.
 * @returns What `fn` returned.
 */
export async function inTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "singlet-sif-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * The names in a directory, sorted (to check that no temporary file was left).
 *
 * @param dir The directory.
 * @returns Entry names.
 */
export function entries(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

/**
 * Run with `SOURCE_DATE_EPOCH` set (or unset) for the duration of `fn`.
 *
 * @param value The value, or undefined to unset it.
 * @param fn The body.
 * @returns What `fn` returned.
 */
export async function withEpoch<T>(value: string | undefined, fn: () => Promise<T>): Promise<T> {
  const saved = Deno.env.get("SOURCE_DATE_EPOCH");
  if (value === undefined) Deno.env.delete("SOURCE_DATE_EPOCH");
  else Deno.env.set("SOURCE_DATE_EPOCH", value);
  try {
    return await fn();
  } finally {
    if (saved === undefined) Deno.env.delete("SOURCE_DATE_EPOCH");
    else Deno.env.set("SOURCE_DATE_EPOCH", saved);
  }
}
