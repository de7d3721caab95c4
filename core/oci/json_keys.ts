/**
 * Duplicate-key detection for JSON documents that decide what gets pulled (manifests and
 * indexes). `JSON.parse` keeps the last of two equal keys; Go's `encoding/json` matches field
 * names case-insensitively. A document with `"layers"` twice, or `"layers"` and `"Layers"`,
 * means different images to different clients (CVE-2021-41190 class), so it is refused.
 *
 * @module
 */

/**
 * Find a duplicated key: exact duplicates anywhere, and keys equal but for case outside
 * `annotations` maps (whose keys are free-form).
 *
 * @param text The JSON text (assumed to be valid JSON).
 * @returns The first offending key, or undefined.
 */
export function duplicateKey(text: string): string | undefined {
  // One frame per open object or array: keys seen and the key it is the value of.
  const stack: { keys: Set<string> | undefined; caseFree: boolean; parentKey: string }[] = [];
  let lastString = "";
  let lastKey = "";
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"') {
      let j = i + 1;
      let value = "";
      while (j < text.length && text[j] !== '"') {
        if (text[j] === "\\") {
          value += text.slice(j, j + 2);
          j += 2;
        } else {
          value += text[j];
          j++;
        }
      }
      lastString = value;
      i = j + 1;
      // A string followed by ':' inside an object is a key.
      let k = i;
      while (k < text.length && /\s/.test(text[k]!)) k++;
      const frame = stack.at(-1);
      if (text[k] === ":" && frame?.keys) {
        let key: string;
        try {
          key = JSON.parse(`"${lastString}"`);
        } catch {
          key = lastString;
        }
        const norm = frame.caseFree ? key : key.toLowerCase();
        if (frame.keys.has(norm)) return key;
        frame.keys.add(norm);
        lastKey = key;
      }
      continue;
    }
    if (c === "{") {
      const parentKey = lastKey;
      stack.push({ keys: new Set(), caseFree: parentKey === "annotations", parentKey });
      lastKey = "";
    } else if (c === "[") {
      stack.push({ keys: undefined, caseFree: true, parentKey: lastKey });
    } else if (c === "}" || c === "]") {
      const frame = stack.pop();
      lastKey = frame?.parentKey ?? "";
    } else if (c === ",") {
      // The next value in an array keeps the array's parent key for nested objects.
      const frame = stack.at(-1);
      if (frame && !frame.keys) lastKey = frame.parentKey;
    }
    i++;
  }
  return undefined;
}
