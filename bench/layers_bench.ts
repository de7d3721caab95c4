/**
 * OCI layers to SquashFS, what users feel: `singlet squashfs pack` on an image's layer blobs
 * (one streaming pass, whiteouts applied in memory) against Singularity's pipeline,
 * `umoci unpack --rootless` then `mksquashfs -comp gzip` (level 9), each at its defaults,
 * in the same run. The image is made here from a debootstrap tree (cached under /tmp; the
 * pack bench builds /tmp/singlet-bench/debian-minbase, or pass --tree DIR) in two shapes:
 * one layer, and three layers (everything but /usr; /usr; a top layer that whites out
 * /usr/share/doc and rewrites /etc).
 *
 * Usage: scripts/bench.sh layers (BENCH_RUNS=1 for one run each).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { compare } from "./_harness.ts";
import { buildImage, writeOciLayout } from "../tests/_helpers/oci_writer.ts";

const args = parseArgs({ options: { tree: { type: "string" } } }).values;
const TREE = args.tree ?? "/tmp/singlet-bench/debian-minbase";
const WORK = "/tmp/singlet-bench-layers";
const SINGLET = new URL("../bin/singlet", import.meta.url).pathname;

async function sh(script: string): Promise<Uint8Array> {
  const out = await new Deno.Command("sh", { args: ["-ec", script], stdout: "piped" }).output();
  if (!out.success) throw new Error(`${script} failed`);
  return out.stdout;
}

try {
  await Deno.stat(`${TREE}/etc`);
} catch {
  throw new Error(`no tree at ${TREE}: run scripts/bench.sh pack first, or pass --tree DIR`);
}
await Deno.mkdir(WORK, { recursive: true });

const tar = (args: string) => sh(`tar --numeric-owner --format=pax -C '${TREE}' -cf - ${args}`);
const shapes: Record<string, () => Promise<Uint8Array[]>> = {
  "1 layer": async () => [await tar(".")],
  "3 layers": async () => [
    await tar("--exclude=./usr ."),
    await tar("./usr"),
    await sh(
      `d=$(mktemp -d) && mkdir -p $d/usr/share && touch $d/usr/share/.wh.doc && ` +
        `cp -a '${TREE}/etc' $d/etc && tar --numeric-owner --format=pax -C $d -cf - . && rm -rf $d`,
    ),
  ],
};

for (const [shape, make] of Object.entries(shapes)) {
  const layout = `${WORK}/${shape.replace(" ", "-")}`;
  try {
    await Deno.stat(`${layout}/index.json`);
  } catch {
    const image = buildImage({ layers: await make(), config: { Cmd: ["/bin/sh"] } });
    await writeOciLayout(layout, image, "t");
  }
  const index = JSON.parse(await Deno.readTextFile(`${layout}/index.json`));
  const blob = (d: string) => `${layout}/blobs/${d.replace(":", "/")}`;
  const manifest = JSON.parse(await Deno.readTextFile(blob(index.manifests[0].digest)));
  const blobs: string[] = manifest.layers.map((l: { digest: string }) => blob(l.digest));
  const theirs = `${WORK}/umoci.sqfs`;
  const ours = `${WORK}/singlet.sqfs`;
  await compare(
    `layers_${shape.replace(" ", "_")}`,
    {
      name: "umoci unpack --rootless + mksquashfs -comp gzip",
      argv: [
        "sh",
        "-c",
        `rm -rf ${WORK}/bundle ${theirs} && umoci unpack --rootless --image ${layout}:t ${WORK}/bundle >/dev/null && mksquashfs ${WORK}/bundle/rootfs ${theirs} -comp gzip -noappend -quiet -no-progress && rm -rf ${WORK}/bundle`,
      ],
    },
    {
      name: "singlet squashfs pack (defaults)",
      argv: [SINGLET, "squashfs", "pack", ...blobs, ours],
      before: () => Deno.remove(ours).catch(() => {}),
    },
    {
      extra: async () => ({
        layers: blobs.length,
        peerBytes: (await Deno.stat(theirs)).size,
        singletBytes: (await Deno.stat(ours)).size,
        sizeRatio: Number(
          ((await Deno.stat(ours)).size / (await Deno.stat(theirs)).size).toFixed(4),
        ),
      }),
    },
  );
}
