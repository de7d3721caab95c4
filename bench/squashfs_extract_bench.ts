/**
 * Reader benchmark: extracting a realistic SquashFS image with `singlet squashfs extract`
 * against `unsquashfs -d` (multi-threaded, native), same image, same run, alternately.
 * Target (issue 4): singlet's extraction throughput at least 0.5x of unsquashfs, i.e. a
 * time ratio of at most 2.0.
 *
 * Input: a gzip image (mksquashfs defaults) of `SINGLET_BENCH_TREE` (default /usr/share:
 * about 670 MB in 46k files, symlinks and 3k directories, the shape of a root
 * filesystem), built once and cached under /tmp/singlet-bench-cache. The pack bench's
 * debootstrap tree works too: `SINGLET_BENCH_TREE=/tmp/singlet-bench/debian-minbase`.
 *
 * Each run extracts into a fresh directory and the previous output is only renamed away,
 * then deleted at the end: ext4 makes inode allocation next to many recently deleted
 * inodes several times slower, which would otherwise punish whichever tool runs right
 * after a deletion.
 *
 * @module
 */
import { compare } from "./_harness.ts";

const tree = Deno.env.get("SINGLET_BENCH_TREE") ?? "/usr/share";
const cache = "/tmp/singlet-bench-cache";
const key = tree.replaceAll("/", "_");
const image = `${cache}/reader${key}.sqfs`;
const bin = new URL("../bin/singlet", import.meta.url).pathname;

await Deno.mkdir(cache, { recursive: true });
try {
  await Deno.stat(image);
} catch {
  Deno.stderr.writeSync(new TextEncoder().encode(`building ${image} from ${tree} (once)...\n`));
  const out = await new Deno.Command("mksquashfs", {
    args: [tree, `${image}.tmp`, "-noappend", "-quiet", "-comp", "gzip"],
    stdout: "null",
  }).output();
  if (!out.success) throw new Error("mksquashfs failed");
  await Deno.rename(`${image}.tmp`, image);
}

const work = await Deno.makeTempDir({ prefix: "singlet-bench-extract-" });
let n = 0;
const fresh = (who: string) => () => {
  // Move the last output aside (rename is cheap); delete everything at the end.
  try {
    Deno.renameSync(`${work}/${who}`, `${work}/old-${who}-${n++}`);
  } catch {
    // first run
  }
};

try {
  await compare(
    "squashfs-extract",
    {
      name: "unsquashfs -d",
      argv: ["unsquashfs", "-q", "-n", "-d", `${work}/peer`, image],
      before: fresh("peer"),
    },
    {
      name: "singlet squashfs extract",
      argv: [bin, "-q", "squashfs", "extract", image, `${work}/singlet`],
      before: fresh("singlet"),
    },
    {
      extra: async () => {
        const du = await new Deno.Command("du", { args: ["-sb", `${work}/singlet`] }).output();
        const bytes = Number(new TextDecoder().decode(du.stdout).split("\t")[0]);
        const files = await new Deno.Command("bash", {
          args: ["-c", `find "${work}/singlet" | wc -l`],
        }).output();
        return {
          tree,
          imageBytes: (await Deno.stat(image)).size,
          extractedBytes: bytes,
          entries: Number(new TextDecoder().decode(files.stdout).trim()),
          throughputNote:
            "ratio = singlet time / unsquashfs time; target <= 2.0 (>= 0.5x throughput)",
        };
      },
    },
  );
} finally {
  await Deno.remove(work, { recursive: true });
}
