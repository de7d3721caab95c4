// Builds every fixture (in the cache SINGLET_FIXTURE_CACHE names) and prints their digests:
// run concurrently by fixtures_test.ts to check determinism and parallel safety.
import {
  busyboxDockerArchive,
  busyboxLayerTar,
  busyboxLayerTarGz,
  busyboxOciArchive,
  busyboxOciLayout,
  busyboxRootfs,
  whiteoutOciLayout,
} from "../fixtures.ts";
import { createHash } from "node:crypto";

const sha = async (path: string) =>
  createHash("sha256").update(await Deno.readFile(path)).digest("hex");
const [layout, whiteout] = await Promise.all([busyboxOciLayout(), whiteoutOciLayout()]);
const result = {
  layout: layout.manifestDigest,
  whiteout: whiteout.manifestDigest,
  tar: await sha(await busyboxLayerTar()),
  gz: await sha(await busyboxLayerTarGz()),
  ociArchive: await sha(await busyboxOciArchive()),
  dockerArchive: await sha(await busyboxDockerArchive()),
  rootfs: await busyboxRootfs(),
};
await Deno.stdout.write(new TextEncoder().encode(JSON.stringify(result) + "\n"));
