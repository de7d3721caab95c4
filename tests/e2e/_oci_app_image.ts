/**
 * An OCI-origin test image for `--oci`: busybox plus a layer with an `app` user (uid and
 * gid 1234, member of `data` 2345; root is a member of `other` 3456), `/home/app` and
 * `/srv/app` owned by it, and the given config fields (User, WorkingDir); pulled from an
 * OCI layout into a SIF as users pull images.
 *
 * @module
 */
import assert from "node:assert/strict";
import { runSinglet } from "../_helpers/singlet.ts";
import { BUSYBOX_CONFIG, busyboxLayerTar } from "../_helpers/fixtures.ts";
import { buildImage, type ImageRunConfig, writeOciLayout } from "../_helpers/oci_writer.ts";
import { writeTar } from "../_helpers/tar_writer.ts";

const PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1234:1234:App user:/home/app:/bin/sh\n";
const GROUP = "root:x:0:\napp:x:1234:\ndata:x:2345:app\nother:x:3456:root\n";

/**
 * Build the image and pull it into a SIF under `dir`.
 *
 * @param dir A directory for the layout, the cache and the SIF (world-readable).
 * @param config Image config fields on top of busybox's (e.g. User, WorkingDir).
 * @returns The SIF path (mode 0644).
 */
export async function appImageSif(dir: string, config: Record<string, unknown>): Promise<string> {
  const base = await Deno.readFile(await busyboxLayerTar());
  const app = writeTar([
    { name: "etc/passwd", type: "file", content: PASSWD },
    { name: "etc/group", type: "file", content: GROUP },
    { name: "home", type: "directory" },
    { name: "home/app", type: "directory", uid: 1234, gid: 1234 },
    { name: "srv", type: "directory" },
    { name: "srv/app", type: "directory", uid: 1234, gid: 1234 },
  ]);
  const image = buildImage({
    layers: [base, app],
    config: { ...BUSYBOX_CONFIG, ...config } as ImageRunConfig,
  });
  const layout = `${dir}/layout-${crypto.randomUUID().slice(0, 8)}`;
  await writeOciLayout(layout, image, "app");
  const sif = `${layout}.sif`;
  const pull = await runSinglet(["pull", sif, `oci:${layout}:app`], {
    env: { SINGULARITY_CACHEDIR: `${dir}/cache` },
  });
  assert.equal(pull.code, 0, pull.stderr);
  await Deno.chmod(sif, 0o644);
  return sif;
}
