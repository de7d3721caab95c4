/**
 * Benchmark: readTar (plus decompress) over a tar, against GNU tar reading every member's
 * data (`tar -xOf`), measured in the same run. Usage:
 *   deno run -A bench/tar_read.ts TAR [TAR.gz|TAR.zst ...]
 * Prints MB/s of uncompressed tar bytes and the ratio to GNU tar (lower time is better).
 *
 * @module
 */
import { decompress } from "../core/codec/decompress.ts";
import { readFileChunks } from "../core/codec/file_chunks.ts";
import { readTar } from "../core/tar/reader.ts";

async function ours(path: string): Promise<{ seconds: number; bytes: number; entries: number }> {
  const start = performance.now();
  let bytes = 0;
  let entries = 0;
  for await (const entry of readTar(decompress(readFileChunks(path)))) {
    entries++;
    for await (const chunk of entry.data) bytes += chunk.length;
  }
  return { seconds: (performance.now() - start) / 1000, bytes, entries };
}

async function gnuTar(path: string): Promise<number> {
  const start = performance.now();
  const args = ["-xOf", path];
  if (path.endsWith(".zst")) args.unshift("--zstd");
  const out = await new Deno.Command("tar", { args, stdout: "null", stderr: "null" }).output();
  if (!out.success) throw new Error(`tar ${args.join(" ")} failed`);
  return (performance.now() - start) / 1000;
}

for (const path of Deno.args) {
  const size = (await Deno.stat(path)).size;
  const mine = await ours(path);
  const theirs = await gnuTar(path);
  const tarBytes = path.endsWith(".tar") ? size : NaN;
  // deno-lint-ignore no-console
  console.log(
    `${path}: ${mine.entries} entries, ${(mine.bytes / 1e6).toFixed(0)} MB file data; ` +
      `readTar ${mine.seconds.toFixed(2)} s` +
      (Number.isNaN(tarBytes) ? "" : ` (${(tarBytes / 1e6 / mine.seconds).toFixed(0)} MB/s)`) +
      `, GNU tar -xO ${theirs.toFixed(2)} s, ratio ${(mine.seconds / theirs).toFixed(2)}x`,
  );
}
