/**
 * `http://` and `https://` sources: download a file (normally a SIF) with the same HTTP rules
 * as the registry client, into a temp file beside the destination, renamed into place only
 * when complete. A SIF is kept exactly as downloaded.
 *
 * @module
 */
import { SingletError } from "../errors.ts";
import { EXIT_REMOTE, type HttpClient, redactUrl } from "./http.ts";

/** Whether bytes start like a SIF (magic "SIF_MAGIC" at offset 32). */
export function looksLikeSif(head: Uint8Array): boolean {
  const magic = new TextEncoder().encode("SIF_MAGIC");
  if (head.length < 32 + magic.length) return false;
  return magic.every((b, i) => head[32 + i] === b);
}

/**
 * Download a URL to a file.
 *
 * @param http The HTTP client.
 * @param url The URL.
 * @param out Where to write (its directory must exist).
 * @param onProgress Bytes so far and total if known.
 * @returns Size in bytes and whether it is a SIF.
 */
export async function downloadUrl(
  http: HttpClient,
  url: string,
  out: string,
  onProgress?: (bytes: number, total: number | undefined) => void,
): Promise<{ size: number; sif: boolean }> {
  const response = await http.request(url);
  if (!response.ok) {
    await response.body?.cancel().catch(() => {});
    throw new SingletError(`Cannot download "${redactUrl(url)}": HTTP ${response.status}`, {
      hint: response.status === 404 ? "check the URL" : "try again later",
      exitCode: response.status === 404 ? 5 : EXIT_REMOTE,
    });
  }
  const declared = response.headers.get("content-length");
  const total = declared && /^\d+$/.test(declared) ? Number(declared) : undefined;
  let size = 0;
  let head = new Uint8Array(0);
  using file = await Deno.open(out, { write: true, create: true, truncate: true, mode: 0o644 });
  for await (const chunk of http.body(response)) {
    if (head.length < 64) {
      const merged = new Uint8Array(Math.min(64, head.length + chunk.length));
      merged.set(head);
      merged.set(chunk.subarray(0, merged.length - head.length), head.length);
      head = merged;
    }
    let written = 0;
    while (written < chunk.length) written += await file.write(chunk.subarray(written));
    size += chunk.length;
    onProgress?.(size, total);
  }
  if (total !== undefined && size !== total) {
    throw new SingletError(
      `Cannot download "${redactUrl(url)}": got ${size} of ${total} bytes`,
      { hint: "the connection ended early; try again", exitCode: EXIT_REMOTE },
    );
  }
  await file.sync();
  return { size, sif: looksLikeSif(head) };
}
