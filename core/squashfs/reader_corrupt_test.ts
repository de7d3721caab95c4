/**
 * Corrupt and hostile SquashFS images: each defect unsquashfs checks for (bad superblock,
 * table offsets out of range, index overflow, bad names, unsorted or duplicate entries,
 * reference loops) gives one clean error, a seeded mutation run gives only clean errors,
 * and extraction of hostile images writes nothing outside the target.
 *
 * Images are made by `mksquashfs` with uncompressed metadata (-noI -noX), so
 * directory entries and inodes can be patched in place.
 *
 * @module
 */
import assert from "node:assert/strict";
import { testWithTools } from "../../tests/_helpers/tools.ts";
import { runSinglet } from "../../tests/_helpers/singlet.ts";
import { SingletError } from "../errors.ts";
import { SquashfsReader } from "./reader.ts";
import { extractSquashfs } from "./extract.ts";

const enc = new TextEncoder();

async function sh(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) throw new Error(`${cmd} failed: ${new TextDecoder().decode(out.stderr)}`);
}

/** A small image: fragments, a multi-block file, symlinks, hard links, xattrs, subdirs. */
async function smallImage(dir: string, extra: string[] = []): Promise<Uint8Array> {
  const src = `${dir}/src`;
  await Deno.mkdir(`${src}/sub/deeper`, { recursive: true });
  await Deno.writeTextFile(`${src}/aaa1`, "first\n");
  await Deno.writeTextFile(`${src}/aaa2`, "second\n");
  await Deno.writeTextFile(`${src}/ab`, "ab\n");
  await Deno.writeTextFile(`${src}/q`, "q\n");
  await Deno.writeTextFile(`${src}/xy`, "xy\n");
  await Deno.writeFile(`${src}/sub/big`, new Uint8Array(300_000).map((_, i) => (i * 7) & 0xff));
  await Deno.writeTextFile(`${src}/sub/deeper/leaf`, "leaf\n");
  await Deno.symlink("big", `${src}/sub/link`);
  await Deno.link(`${src}/aaa1`, `${src}/sub/hard`);
  await sh("setfattr", ["-n", "user.k", "-v", "v", `${src}/aaa2`]);
  const image = `${dir}/small.sqfs`;
  // fixed times: the cases find names like "q" in the tables, and a timestamp whose bytes
  // spell one (every 2^16 s, for 256 s) made them fail
  await sh("mksquashfs", [
    src,
    image,
    "-noappend",
    "-quiet",
    "-noI",
    "-noX",
    "-all-time",
    "0",
    "-mkfs-time",
    "0",
    ...extra,
  ]);
  return Deno.readFileSync(image);
}

function find(hay: Uint8Array, needle: Uint8Array, from = 0): number {
  outer: for (let i = from; i <= hay.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** Find `text` in the metadata tables (from the inode table on), where it must be unique. */
function findUnique(hay: Uint8Array, text: string): number {
  const needle = enc.encode(text);
  const at = find(hay, needle, Number(view(hay).getBigUint64(64, true)));
  assert.ok(at >= 0, `${text} not found`);
  assert.equal(find(hay, needle, at + 1), -1, `${text} is not unique`);
  return at;
}

/** Open `bytes` as an image and read everything; resolves to the error, if any. */
async function readAll(path: string, bytes: Uint8Array): Promise<unknown> {
  Deno.writeFileSync(path, bytes);
  let reader: SquashfsReader | undefined;
  try {
    reader = await SquashfsReader.open(path);
    for (const e of reader.list()) {
      reader.pathOf(e);
      reader.xattrs(e);
      if (e.type === "file" && e.size < 1 << 24) {
        for (const _ of reader.fileChunks(e)) {
          /* read */
        }
      }
    }
    return undefined;
  } catch (error) {
    return error;
  } finally {
    reader?.close();
  }
}

/**
 * The same through a reader opened `light` (gzip through the crate's inflater), reading
 * every file with readFile; resolves to the error, if any, or to the digest of what it read.
 */
async function readAllLight(path: string, bytes: Uint8Array): Promise<unknown> {
  Deno.writeFileSync(path, bytes);
  let reader: SquashfsReader | undefined;
  try {
    reader = await SquashfsReader.open(path, { light: true });
    let total = 0;
    for (const e of reader.list()) {
      reader.xattrs(e);
      if (e.type === "file" && e.size < 1 << 24) {
        const data = await new Response(reader.readFile(reader.pathOf(e))).bytes();
        for (const b of data) total = (total * 31 + b) >>> 0;
      }
    }
    return total;
  } catch (error) {
    return error;
  } finally {
    reader?.close();
  }
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

type Patch = (img: Uint8Array) => void;

/** Each case: how to break the image, and the message the reader must give. */
const CASES: [string, Patch, RegExp][] = [
  ["bad magic", (b) => b.set(enc.encode("hsqt"), 0), /bad magic 0x74717368/],
  [
    "a truncated image",
    (b) => view(b).setBigUint64(40, BigInt(b.length + 4096), true),
    /bytes are used but the image has/,
  ],
  [
    "an unsupported version",
    (b) => view(b).setUint16(28, 3, true),
    /SquashFS version 3\.0 \(only 4\.0/,
  ],
  [
    "a block size that disagrees with its log",
    (b) => view(b).setUint16(22, 16, true),
    /does not match block log/,
  ],
  ["an unknown compressor", (b) => view(b).setUint16(20, 9, true), /unknown compressor id 9/],
  ["an lzo image", (b) => view(b).setUint16(20, 3, true), /compressor lzo is not supported/],
  [
    "an inode table beyond the end",
    (b) => view(b).setBigUint64(64, 1n << 40n, true),
    /inode table start \d+ lies outside the image/,
  ],
  ["a directory table before the inode table", (b) => {
    const v = view(b);
    v.setBigUint64(72, v.getBigUint64(64, true) - 1n, true);
  }, /is not before directory table start/],
  [
    "an id table offset past the end",
    (b) => view(b).setBigUint64(48, BigInt(b.length), true),
    /id table start \d+ lies outside/,
  ],
  [
    "a fragment index overflow",
    (b) => view(b).setUint32(16, 0xffff_ffff, true),
    /fragment table index .* runs past the image end/,
  ],
  [
    "an id index overflow",
    (b) => view(b).setUint16(26, 0xffff, true),
    /id table index .* runs past the image end|id table index entry/,
  ],
  ["an inode count of zero", (b) => view(b).setUint32(4, 0, true), /inode count is 0/],
  [
    "a root inode outside the inode table",
    (b) => view(b).setBigUint64(32, 0xffff_0000n, true),
    /root inode reference .* points outside the inode table/,
  ],
  ["a directory header announcing too many entries", (b) => {
    const at = findUnique(b, "aaa1") - 8 - 12;
    view(b).setUint32(at, 400, true);
  }, /header announces 401 entries \(at most 256\)/],
  [
    "unsorted directory entries",
    (b) => b.set(enc.encode("aaa3"), findUnique(b, "aaa1")),
    /entries are not sorted: "aaa3" then "aaa2"/,
  ],
  [
    "duplicate directory entries",
    (b) => b.set(enc.encode("aaa1"), findUnique(b, "aaa2")),
    /entries are duplicated: "aaa1" then "aaa1"/,
  ],
  [
    "an entry named ..",
    (b) => b.set(enc.encode(".."), findUnique(b, "ab")),
    /name "\.\." is "\." or "\.\."/,
  ],
  [
    "an entry named .",
    (b) => b.set(enc.encode("."), findUnique(b, "q")),
    /name "\." is "\." or "\.\."/,
  ],
  [
    "an entry name with a slash",
    (b) => b.set(enc.encode("x/"), findUnique(b, "xy")),
    /name "x\/" contains '\/'/,
  ],
  ["an inode reference outside its block", (b) => {
    const at = findUnique(b, "deeper") - 8;
    view(b).setUint16(at, 8191, true);
  }, /past the table end|exceeds|truncated|invalid type/],
  ["a subdirectory that points back to the root (a loop)", (b) => {
    const root = view(b).getBigUint64(32, true);
    const at = findUnique(b, "deeper") - 8;
    // The header before "deeper" names the inode block; the root is in the same (only) block.
    view(b).setUint16(at, Number(root & 0xffffn), true);
  }, /directory inode \d+ is reached twice/],
];

for (const [what, patch, message] of CASES) {
  testWithTools(
    `rejects ${what} with a clean error`,
    ["mksquashfs", "setfattr"],
    async () => {
      const dir = await Deno.makeTempDir({ prefix: "singlet-sqfs-bad-" });
      try {
        const bytes = await smallImage(dir);
        assert.equal(
          await readAll(`${dir}/ok.sqfs`, bytes),
          undefined,
          "the unpatched image reads",
        );
        patch(bytes);
        const error = await readAll(`${dir}/bad.sqfs`, bytes);
        assert.ok(error instanceof SingletError, `expected a SingletError, got ${error}`);
        assert.match(error.message, /^Cannot read SquashFS image ".*bad\.sqfs": /);
        assert.match(error.message, message);
        const cli = await runSinglet(["squashfs", "list", `${dir}/bad.sqfs`]);
        assert.equal(cli.code, 255);
        assert.match(cli.stderr, /^FATAL: +Cannot read SquashFS image/);
        assert.doesNotMatch(cli.stderr, /^\s+at /m);
        assert.equal(cli.stdout, "");
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  );
}

testWithTools(
  "rejects an empty and a tiny file",
  [],
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "singlet-sqfs-bad-" });
    try {
      for (const size of [0, 50]) {
        const error = await readAll(`${dir}/tiny`, new Uint8Array(size));
        assert.ok(error instanceof SingletError);
        assert.match(error.message, /smaller than a SquashFS superblock/);
      }
      const missing = await readAll(`${dir}/dir-is-not-an-image`, new Uint8Array(200));
      assert.match((missing as Error).message, /bad magic 0x00000000/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

/** mulberry32: a small seeded PRNG, so failures reproduce. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

for (const comp of ["gzip", "zstd", "lz4"]) {
  testWithTools(
    `random byte flips in a ${comp} image give clean errors or valid reads, never a crash`,
    ["mksquashfs", "setfattr"],
    async () => {
      const dir = await Deno.makeTempDir({ prefix: "singlet-sqfs-fuzz-" });
      try {
        // Compressed metadata this time: the flips must also pass through the inflater.
        const clean = await smallImage(dir, ["-comp", comp]);
        const metaStart = Number(view(clean).getBigUint64(64, true));
        const random = prng({ gzip: 0x5eed, zstd: 0xc0ffee, lz4: 0x1a4 }[comp]!);
        const outcomes = { ok: 0, error: 0, lightOk: 0 };
        const started = performance.now();
        for (let round = 0; round < 3000; round++) {
          const bytes = clean.slice();
          const flips = 1 + Math.floor(random() * 4);
          for (let f = 0; f < flips; f++) {
            // Three in four flips hit the metadata tables, the rest anywhere.
            const lo = random() < 0.75 ? metaStart : 0;
            const at = lo + Math.floor(random() * (bytes.length - lo));
            bytes[at]! ^= 1 << Math.floor(random() * 8);
          }
          const error = await readAll(`${dir}/m.sqfs`, bytes);
          if (error === undefined) outcomes.ok++;
          else if (error instanceof SingletError) outcomes.error++;
          else throw new Error(`round ${round}: not a clean error: ${(error as Error)?.stack}`);
          if (comp === "gzip") {
            // the light reader (the crate's inflater instead of node:zlib) is as strict
            const light = await readAllLight(`${dir}/m.sqfs`, bytes);
            if (typeof light === "number") {
              assert.equal(error, undefined, `round ${round}: only the light reader accepts it`);
              outcomes.lightOk++;
            } else if (light instanceof SingletError) {
              assert.ok(error, `round ${round}: only the light reader refuses it: ${light}`);
            } else {
              throw new Error(
                `round ${round}: light: not a clean error: ${(light as Error)?.stack}`,
              );
            }
          }
        }
        if (comp === "gzip") assert.equal(outcomes.lightOk, outcomes.ok);
        assert.ok(outcomes.error > 100, `most flips are detected (${JSON.stringify(outcomes)})`);
        assert.ok(performance.now() - started < 60_000, "no mutation makes reading slow");
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  );
}

/** Hash every path under a directory: name, type, size and content. */
function snapshot(root: string): string {
  const lines: string[] = [];
  const walk = (path: string) => {
    for (const e of [...Deno.readDirSync(path)].sort((a, b) => a.name < b.name ? -1 : 1)) {
      const p = `${path}/${e.name}`;
      const st = Deno.lstatSync(p);
      lines.push(`${p} ${st.mode} ${st.size} ${st.mtime?.getTime()}`);
      if (st.isFile) lines.push(new TextDecoder().decode(Deno.readFileSync(p)));
      if (st.isDirectory) walk(p);
    }
  };
  walk(root);
  return lines.join("\n");
}

testWithTools(
  "extraction of mutated and hostile images writes nothing outside the target",
  ["mksquashfs", "setfattr"],
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "singlet-sqfs-escape-" });
    try {
      const clean = await smallImage(dir);
      // A victim next to the target, the oracle of containers/storage's breakout tests.
      await Deno.mkdir(`${dir}/victim`);
      await Deno.writeTextFile(`${dir}/victim/canary`, "canary\n");
      await Deno.symlink(`${dir}/victim`, `${dir}/victim-link`);
      const before = snapshot(`${dir}/victim`);
      const metaStart = Number(view(clean).getBigUint64(64, true));
      const random = prng(0xe5ca9e);
      const hostile: Patch[] = CASES.slice(13).map(([, patch]) => patch);
      let extracted = 0;
      for (let round = 0; round < 200 + hostile.length; round++) {
        const bytes = clean.slice();
        if (round < hostile.length) {
          hostile[round]!(bytes);
        } else {
          for (let f = 0; f < 3; f++) {
            const at = metaStart + Math.floor(random() * (bytes.length - metaStart));
            bytes[at]! ^= 1 << Math.floor(random() * 8);
          }
        }
        Deno.writeFileSync(`${dir}/m.sqfs`, bytes);
        const target = `${dir}/target`;
        let reader: SquashfsReader | undefined;
        try {
          reader = await SquashfsReader.open(`${dir}/m.sqfs`);
          await extractSquashfs(reader, target);
          extracted++;
        } catch (error) {
          if (!(error instanceof SingletError)) throw error;
          // A failed extraction removes the target it created.
          assert.throws(() => Deno.lstatSync(target), Deno.errors.NotFound);
        } finally {
          reader?.close();
        }
        await Deno.remove(target, { recursive: true }).catch(() => {});
        const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
        assert.deepEqual(names, ["m.sqfs", "small.sqfs", "src", "victim", "victim-link"]);
      }
      assert.equal(snapshot(`${dir}/victim`), before);
      assert.ok(extracted > 0);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

testWithTools(
  "extraction refuses to write through a symlink already in an existing target",
  ["mksquashfs", "setfattr"],
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "singlet-sqfs-escape-" });
    try {
      await smallImage(dir);
      await Deno.mkdir(`${dir}/victim`);
      await Deno.writeTextFile(`${dir}/victim/canary`, "canary\n");
      await Deno.mkdir(`${dir}/target`);
      // The image has a directory "sub"; the target already holds a symlink of that name.
      await Deno.symlink(`${dir}/victim`, `${dir}/target/sub`);
      const result = await runSinglet([
        "squashfs",
        "extract",
        `${dir}/small.sqfs`,
        `${dir}/target`,
      ]);
      assert.equal(result.code, 255);
      assert.match(
        result.stderr,
        /Cannot extract directory ".*\/target\/sub": something that is not a directory is already there/,
      );
      assert.deepEqual([...Deno.readDirSync(`${dir}/victim`)].map((e) => e.name), ["canary"]);
      // A plain file in the way is not overwritten either.
      await Deno.remove(`${dir}/target/sub`);
      await Deno.writeTextFile(`${dir}/target/aaa1`, "mine\n");
      const again = await runSinglet(["squashfs", "extract", `${dir}/small.sqfs`, `${dir}/target`]);
      assert.equal(again.code, 255);
      assert.match(again.stderr, /Cannot create file ".*\/target\/aaa1": File exists/);
      assert.equal(await Deno.readTextFile(`${dir}/target/aaa1`), "mine\n");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
