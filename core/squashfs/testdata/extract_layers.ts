/**
 * Apply layer tars to a directory with mergeLayers + DirectorySink and print the sink's
 * report as JSON: lets a test run the extraction as an unprivileged user.
 * Usage: deno run --allow-read --allow-write --allow-sys=uid extract_layers.ts TARGET LAYER...
 *
 * @module
 */
import { readFileChunks } from "../../codec/file_chunks.ts";
import { DirectorySink } from "../directory_sink.ts";
import { mergeLayers } from "../layers.ts";

const [target, ...layers] = Deno.args;
const sink = new DirectorySink(target!);
await mergeLayers(layers.map((path) => ({ name: path, open: () => readFileChunks(path) })), sink);
const report = await sink.finish();
await Deno.stdout.write(new TextEncoder().encode(JSON.stringify(report) + "\n"));
