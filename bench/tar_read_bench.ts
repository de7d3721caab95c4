/**
 * The tar reader (with decompression) against GNU tar reading every member's data
 * (`tar -xOf`), on a tar of /usr/lib/x86_64-linux-gnu made here (cached under /tmp) and its
 * gzip and zstd forms. Usage: scripts/bench.sh tar_read (BENCH_RUNS=1 for one run each).
 *
 * @module
 */
import { compare } from "./_harness.ts";

const CACHE = "/tmp/singlet-bench-tar";
const DENO = new URL("../.tools/bin/deno", import.meta.url).pathname;
const CLI = new URL("./_tar_read_cli.ts", import.meta.url).pathname;

async function sh(script: string): Promise<void> {
  const out = await new Deno.Command("sh", { args: ["-ec", script] }).output();
  if (!out.success) throw new Error(`${script} failed`);
}

await Deno.mkdir(CACHE, { recursive: true });
const tar = `${CACHE}/usr-lib.tar`;
try {
  await Deno.stat(`${tar}.zst`);
} catch {
  await sh(`tar -cf ${tar} -C / usr/lib/x86_64-linux-gnu 2>/dev/null || true`);
  await sh(`gzip -6 -k -f ${tar} && zstd -q -f -T2 ${tar}`);
}
const size = (await Deno.stat(tar)).size;
for (
  const [name, file, flags] of [
    ["tar_read plain", tar, []],
    ["tar_read gzip", `${tar}.gz`, ["-z"]],
    ["tar_read zstd", `${tar}.zst`, ["--zstd"]],
  ] as const
) {
  await compare(
    name.replace(" ", "_"),
    {
      name: `tar ${flags.join(" ")} -xOf`,
      argv: ["sh", "-c", `tar ${flags.join(" ")} -xOf ${file} >/dev/null`],
    },
    { name: "singlet readTar", argv: [DENO, "run", "--allow-read", "--allow-env", CLI, file] },
    { extra: () => Promise.resolve({ tarBytes: size }) },
  );
}
