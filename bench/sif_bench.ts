/**
 * `singlet sif` against `siftool` (Debian, sylabs/sif 2.8):
 * - `sif list` of an image with 1,000 descriptors (startup-dominated);
 * - `sif dump` of a large partition to /dev/null (throughput). The partition is 256 MiB by
 *   default to spare the shared CPU; `SIF_BENCH_DUMP_MIB=1024` gives the 1 GiB case.
 *
 * @module
 */
import { compare } from "./_harness.ts";
import { createSif, DataType, FsType, PartType } from "../core/sif/mod.ts";

const root = new URL("..", import.meta.url).pathname;
const singlet = `${root}bin/singlet`;
const dir = await Deno.makeTempDir({ prefix: "sif-bench-" });
try {
  const many = `${dir}/many.sif`;
  await createSif(
    many,
    Array.from({ length: 1000 }, (_, i) => ({
      dataType: i % 2 ? DataType.Labels : DataType.GenericJSON,
      data: `{"i":${i}}`,
      groupId: 1 + (i % 7),
    })),
    { descriptorCapacity: 1000 },
  );
  await compare(
    "sif_list_1000",
    { name: "siftool list", argv: ["siftool", "list", many] },
    { name: "singlet sif list", argv: [singlet, "sif", "list", many] },
    { extra: async () => ({ imageBytes: (await Deno.stat(many)).size, descriptors: 1000 }) },
  );

  const mib = Number(Deno.env.get("SIF_BENCH_DUMP_MIB") ?? 256);
  const big = `${dir}/big.sif`;
  const chunk = new Uint8Array(1 << 20).map((_, i) => (i * 131) & 0xff);
  await createSif(big, [{
    dataType: DataType.Partition,
    data: (async function* () {
      for (let i = 0; i < mib; i++) yield chunk;
    })(),
    partition: { fsType: FsType.Squash, partType: PartType.PrimSys, arch: "amd64" },
  }]);
  const result = await compare(
    `sif_dump_${mib}mib`,
    { name: "siftool dump", argv: ["siftool", "dump", "1", big] },
    { name: "singlet sif dump", argv: [singlet, "sif", "dump", "1", big] },
    { runs: Number(Deno.env.get("BENCH_RUNS") ?? 3), extra: () => Promise.resolve({ mib }) },
  );
  const rate = (ms: number) => `${(mib / (ms / 1000)).toFixed(0)} MiB/s`;
  Deno.stdout.writeSync(
    new TextEncoder().encode(
      `  throughput: siftool ${rate(result.peer.median)}, singlet ${rate(result.singlet.median)}\n`,
    ),
  );
} finally {
  await Deno.remove(dir, { recursive: true });
}
