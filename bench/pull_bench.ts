/**
 * `singlet pull docker://…` from the loopback registry against the pipeline SingularityCE
 * runs (`skopeo copy` + `umoci unpack --rootless` + `mksquashfs -comp gzip`), on the
 * debootstrap tree the pack benchmark builds (`/tmp/singlet-bench/debian-minbase`, made by
 * `bench/pack_bench.ts`), as a one-layer and a three-layer image; then a warm pull of an
 * already cached image, the cold fetch alone against `skopeo copy`, and singlet's peak RSS.
 *
 * Usage: scripts/bench.sh pull   (BENCH_RUNS=N, default 1 here: the machine is shared)
 *
 * `BENCH_BIG=1` adds the ~730 MB three-layer image of `bench/big_oci_layout.sh` (built there,
 * pushed to the registry with `skopeo copy`; about 1.5 minutes a round), `BENCH_BIG=only`
 * runs that case alone. Every cold run is timed through `/usr/bin/time` as well: CPU seconds
 * (user+sys, children included) and peak RSS are reported for both contenders.
 *
 * @module
 */
import { gzipSync } from "node:zlib";
import { compare } from "./_harness.ts";
import { startTestRegistry } from "../tests/_helpers/test_registry.ts";
import { type Blob, digestOf, pushImage, type TinyImage } from "../tests/_helpers/tiny_image.ts";

const root = new URL("..", import.meta.url).pathname;
const TREE = Deno.env.get("BENCH_TREE") ?? "/tmp/singlet-bench/debian-minbase";
const runs = Number(Deno.env.get("BENCH_RUNS") ?? 1);
const decoder = new TextDecoder();
const say = (t: string) => Deno.stderr.writeSync(new TextEncoder().encode(t + "\n"));

async function tarOf(paths: string[]): Promise<Uint8Array> {
  const out = await new Deno.Command("tar", {
    args: ["--numeric-owner", "--sort=name", "-C", TREE, "-cf", "-", ...paths],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(decoder.decode(out.stderr));
  return out.stdout;
}

function blob(mediaType: string, bytes: Uint8Array): Blob {
  return { mediaType, digest: digestOf(bytes), size: bytes.length, bytes };
}

async function image(groups: string[][]): Promise<TinyImage> {
  const tars = [];
  for (const g of groups) tars.push(await tarOf(g));
  const layers = tars.map((t) => blob("application/vnd.oci.image.layer.v1.tar+gzip", gzipSync(t)));
  const config = blob(
    "application/vnd.oci.image.config.v1+json",
    new TextEncoder().encode(JSON.stringify({
      architecture: "amd64",
      os: "linux",
      config: { Env: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], Cmd: ["/bin/bash"] },
      rootfs: { type: "layers", diff_ids: tars.map(digestOf) },
    })),
  );
  const manifest = blob(
    "application/vnd.oci.image.manifest.v1+json",
    new TextEncoder().encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    })),
  );
  return { blobs: [...layers, config, manifest], top: manifest };
}

async function peakRss(argv: string[], env: Record<string, string>): Promise<number> {
  const out = await new Deno.Command("/usr/bin/time", {
    args: ["-f", "%M", ...argv],
    env,
    stdout: "null",
    stderr: "piped",
  }).output();
  const lines = decoder.decode(out.stderr).trim().split("\n");
  return Number(lines.at(-1)) / 1024;
}

try {
  await Deno.stat(`${TREE}/usr`);
} catch {
  say(`no tree at ${TREE}: run bench/pack_bench.ts first (it builds it with debootstrap)`);
  Deno.exit(0);
}
const BIG_LAYOUT = "/tmp/singlet-bench/big-oci";
const big = Deno.env.get("BENCH_BIG") ?? "";
const names = big === "only" ? ["big"] : big ? ["one", "three", "big"] : ["one", "three"];
if (names.includes("big")) {
  try {
    await Deno.stat(`${BIG_LAYOUT}/index.json`);
  } catch {
    say(`no OCI layout at ${BIG_LAYOUT}: run bench/big_oci_layout.sh first`);
    Deno.exit(0);
  }
}

/** The `/usr/bin/time` figures of every run, appended to one file per contender. */
interface TimeFigures {
  cpuSeconds: number[];
  maxRssMiB: number;
}

function timed(file: string, argv: string[]): string[] {
  return ["/usr/bin/time", "-a", "-o", file, "-f", "%e %U %S %M", ...argv];
}

async function figures(file: string): Promise<TimeFigures> {
  const lines = (await Deno.readTextFile(file)).trim().split("\n")
    .map((l) => l.trim().split(/\s+/).map(Number)).filter((f) => f.length === 4);
  return {
    cpuSeconds: lines.map(([, user, sys]) => Number((user! + sys!).toFixed(2))),
    maxRssMiB: Math.round(Math.max(...lines.map((f) => f[3]!)) / 1024),
  };
}

const top = [...Deno.readDirSync(TREE)].map((e) => e.name).sort();
const registry = await startTestRegistry();
const work = await Deno.makeTempDir({ prefix: "singlet-pull-bench-" });
try {
  say("building and pushing the bench images ...");
  if (names.includes("one")) await pushImage(registry.url, "bench/one", "v1", await image([top]));
  if (names.includes("three")) {
    await pushImage(
      registry.url,
      "bench/three",
      "v1",
      await image([
        top.filter((n) => n === "usr"),
        top.filter((n) => n === "var" || n === "etc"),
        top.filter((n) => !["usr", "var", "etc"].includes(n)),
      ]),
    );
  }
  if (names.includes("big")) {
    const out = await new Deno.Command("skopeo", {
      args: [
        "copy",
        "-q",
        "--dest-tls-verify=false",
        `oci:${BIG_LAYOUT}:latest`,
        `docker://${registry.host}/bench/big:v1`,
      ],
      stderr: "piped",
    }).output();
    if (!out.success) throw new Error(`skopeo copy: ${decoder.decode(out.stderr)}`);
  }
  for (const name of names) {
    const uri = `docker://${registry.host}/bench/${name}:v1`;
    const peerTimes = `${work}/peer-${name}.time`;
    const singletTimes = `${work}/singlet-${name}.time`;
    const peerScript = [
      `rm -rf ${work}/oci ${work}/bundle ${work}/peer.sqfs`,
      `skopeo copy -q --src-tls-verify=false ${uri} oci:${work}/oci:v1`,
      `umoci unpack --rootless --image ${work}/oci:v1 ${work}/bundle >/dev/null`,
      `mksquashfs ${work}/bundle/rootfs ${work}/peer.sqfs -noappend -comp gzip -quiet -no-progress`,
    ].join(" && ");
    const env = { SINGLET_CACHEDIR: `${work}/cache` };
    const bench = name === "big"
      ? "pull_cold_730mb_three_layers"
      : `pull_cold_${name}_layer${name === "one" ? "" : "s"}`;
    const result = await compare(
      bench,
      {
        name: "skopeo copy + umoci unpack --rootless + mksquashfs -comp gzip",
        argv: timed(peerTimes, ["sh", "-c", peerScript]),
      },
      {
        name: "singlet pull",
        argv: timed(singletTimes, [
          `${root}bin/singlet`,
          "-q",
          "pull",
          "--force",
          "--no-https",
          `${work}/s.sif`,
          uri,
        ]),
        env,
        before: () => Deno.remove(`${work}/cache`, { recursive: true }).catch(() => {}),
      },
      {
        runs,
        extra: async () => ({
          peerSquashfsBytes: (await Deno.stat(`${work}/peer.sqfs`)).size,
          singletSifBytes: (await Deno.stat(`${work}/s.sif`)).size,
          peer: await figures(peerTimes),
          singlet: await figures(singletTimes),
          loadavg: decoder.decode(
            (await new Deno.Command("cat", { args: ["/proc/loadavg"], stdout: "piped" }).output())
              .stdout,
          ).trim(),
        }),
      },
    );
    say(
      `size ratio ${
        (Number(result.extra.singletSifBytes) / Number(result.extra.peerSquashfsBytes)).toFixed(3)
      }`,
    );
    if (name === "big") {
      await compare(
        "pull_warm_730mb",
        { name: "bin/singlet version (start-up floor)", argv: [`${root}bin/singlet`, "version"] },
        {
          name: "singlet pull (cached)",
          argv: [`${root}bin/singlet`, "-q", "pull", "--force", "--no-https", `${work}/w.sif`, uri],
          env,
        },
        { runs: Math.max(runs, 3) },
      );
    }
    if (name === "three") {
      // Warm: the image is cached (blobs and SIF); the tag is still resolved on the registry.
      await compare(
        "pull_warm_three_layers",
        { name: "bin/singlet version (start-up floor)", argv: [`${root}bin/singlet`, "version"] },
        {
          name: "singlet pull (cached)",
          argv: [`${root}bin/singlet`, "-q", "pull", "--force", "--no-https", `${work}/w.sif`, uri],
          env,
        },
        { runs: Math.max(runs, 3) },
      );
      const rss = await peakRss(
        [
          `${root}bin/singlet`,
          "-q",
          "pull",
          "--force",
          "--disable-cache",
          "--no-https",
          `${work}/r.sif`,
          uri,
        ],
        env,
      );
      say(`singlet pull peak RSS (cold, --disable-cache): ${rss.toFixed(0)} MiB`);
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
          env,
          before: () => Deno.remove(`${work}/cache`, { recursive: true }).catch(() => {}),
        },
        { runs },
      );
    }
  }
} finally {
  await registry.stop();
  await Deno.remove(work, { recursive: true });
}
