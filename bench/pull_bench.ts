/**
 * Cold fetch of an image from the loopback registry: `singlet pull --fetch-only` (manifest,
 * config and layers downloaded concurrently, each verified into the blob cache) against
 * `skopeo copy docker://… oci:DIR` (the download step of Singularity's pull pipeline). The
 * image has three gzip layers of ~40 MB each, part random and part text, built in memory.
 * When conversion to SIF is merged this grows the full pipeline comparison (skopeo + umoci
 * unpack --rootless + mksquashfs -comp gzip) and the warm pull.
 *
 * @module
 */
import { compare } from "./_harness.ts";
import { startTestRegistry } from "../tests/_helpers/test_registry.ts";
import { pushImage, type TarEntry, tinyImage } from "../tests/_helpers/tiny_image.ts";

const root = new URL("..", import.meta.url).pathname;

function layer(seed: number, mb: number): TarEntry[] {
  const entries: TarEntry[] = [{ path: `l${seed}` }];
  for (let i = 0; i < mb; i++) {
    const bytes = new Uint8Array(1 << 20);
    // Half random (incompressible), half repetitive text, like binaries plus docs.
    crypto.getRandomValues(bytes.subarray(0, 65536));
    for (let j = 65536; j < bytes.length; j += 65536) {
      if (j < bytes.length / 2) crypto.getRandomValues(bytes.subarray(j, j + 65536));
      else {bytes.set(
          new TextEncoder().encode(`line ${seed} ${i} ${j}\n`.repeat(2000)).subarray(0, 65536),
          j,
        );}
    }
    entries.push({ path: `l${seed}/f${i}`, content: bytes });
  }
  return entries;
}

const image = tinyImage([layer(1, 40), layer(2, 40), layer(3, 40)]);
const registry = await startTestRegistry();
const work = await Deno.makeTempDir({ prefix: "singlet-pull-bench-" });
try {
  await pushImage(registry.url, "bench/img", "v1", image);
  const uri = `docker://${registry.host}/bench/img:v1`;
  const compressed = image.blobs.reduce((n, b) => n + b.size, 0);
  await compare(
    "pull_fetch_cold",
    {
      name: "skopeo copy docker:// oci:",
      argv: ["skopeo", "copy", "-q", "--src-tls-verify=false", uri, `oci:${work}/skopeo:v1`],
      before: () => Deno.remove(`${work}/skopeo`, { recursive: true }).catch(() => {}),
    },
    {
      name: "singlet pull --fetch-only",
      argv: [`${root}bin/singlet`, "-q", "pull", "--fetch-only", "--no-https", uri],
      env: { SINGLET_CACHEDIR: `${work}/cache` },
      before: () => Deno.remove(`${work}/cache`, { recursive: true }).catch(() => {}),
    },
    { extra: () => Promise.resolve({ compressedBytes: compressed, layers: 3 }) },
  );
} finally {
  await registry.stop();
  await Deno.remove(work, { recursive: true });
}
