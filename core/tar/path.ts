/**
 * Normalisation of member paths from untrusted archives into image-root-relative byte
 * paths: leading "/" and "./" dropped, empty and "." components removed, ".." refused
 * (a layer has no business naming a parent; refusing is simpler to reason about than
 * clamping and matches GNU tar's refusal to extract such members).
 *
 * @module
 */
import { displayName } from "./header.ts";

/**
 * Normalise a member path.
 *
 * @param path Raw path bytes from the archive.
 * @returns The path relative to the root, components joined by "/"; empty for the root.
 * @throws {SyntaxError} When a component is "..".
 */
export function normalizeMemberPath(path: Uint8Array): Uint8Array {
  const out = new Uint8Array(path.length);
  let length = 0;
  let start = 0;
  for (let i = 0; i <= path.length; i++) {
    if (i < path.length && path[i] !== 0x2f) continue;
    const n = i - start;
    if (n === 0 || (n === 1 && path[start] === 0x2e)) {
      // empty or "."
    } else if (n === 2 && path[start] === 0x2e && path[start + 1] === 0x2e) {
      throw new SyntaxError(`path "${displayName(path)}" has a ".." component`);
    } else {
      if (length) out[length++] = 0x2f;
      // a byte loop: a subarray per component costs more than copying a short name
      for (let j = start; j < i; j++) out[length++] = path[j]!;
    }
    start = i + 1;
  }
  return out.slice(0, length);
}
