/**
 * Read a (possibly compressed) tar with singlet's reader and discard the data: the singlet
 * side of bench/tar_read_bench.ts. Usage: deno run --allow-read bench/_tar_read_cli.ts TAR
 *
 * @module
 */
import { decompress } from "../core/codec/decompress.ts";
import { readFileChunks } from "../core/codec/file_chunks.ts";
import { readTar } from "../core/tar/reader.ts";

let bytes = 0;
for await (const entry of readTar(decompress(readFileChunks(Deno.args[0]!)))) {
  for await (const chunk of entry.data) bytes += chunk.length;
}
if (!bytes) Deno.exit(1);
