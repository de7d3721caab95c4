import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { busyboxRootfs } from "../_helpers/fixtures.ts";
import { assertGolden } from "../_helpers/golden.ts";
import { runSinglet, SINGLET_BIN } from "../_helpers/singlet.ts";
import { testWithTools } from "../_helpers/tools.ts";

const decoder = new TextDecoder();

async function unsquashfs(args: string[]): Promise<string> {
  const out = await new Deno.Command("unsquashfs", { args, stdout: "piped", stderr: "piped" })
    .output();
  assert.ok(out.success, decoder.decode(out.stderr));
  return decoder.decode(out.stdout);
}

async function withTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "singlet-pack-e2e-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function sha256(path: string): string {
  return createHash("sha256").update(Deno.readFileSync(path)).digest("hex");
}

testWithTools(
  "squashfs pack turns the busybox rootfs into the image unsquashfs and mksquashfs agree on",
  ["unsquashfs", "mksquashfs", "tar"],
  async () => {
    const rootfs = await busyboxRootfs();
    await withTemp(async (tmp) => {
      const result = await runSinglet(["squashfs", "pack", rootfs, `${tmp}/bb.sqfs`]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /Created .*bb\.sqfs: \d+ inodes/);
      const ours = await unsquashfs(["-lln", `${tmp}/bb.sqfs`]);
      await assertGolden(new URL("./testdata/squashfs_pack_busybox.lln", import.meta.url), ours);
      const mk = await new Deno.Command("mksquashfs", {
        args: [rootfs, `${tmp}/mk.sqfs`, "-noappend", "-quiet", "-no-progress"],
      }).output();
      assert.ok(mk.success);
      assert.equal(ours, await unsquashfs(["-lln", `${tmp}/mk.sqfs`]));
      // Same input, same bytes.
      const again = await runSinglet(["squashfs", "pack", rootfs, `${tmp}/bb2.sqfs`]);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(sha256(`${tmp}/bb2.sqfs`), sha256(`${tmp}/bb.sqfs`));
      // Nothing but the two images was written next to them.
      assert.deepEqual([...Deno.readDirSync(tmp)].map((e) => e.name).sort(), [
        "bb.sqfs",
        "bb2.sqfs",
        "mk.sqfs",
      ]);
    });
  },
);

testWithTools(
  "squashfs pack honours --comp, --level, --block-size, --all-root, --mtime and --no-fragments",
  ["unsquashfs", "tar"],
  async () => {
    const rootfs = await busyboxRootfs();
    await withTemp(async (tmp) => {
      const result = await runSinglet([
        "squashfs",
        "pack",
        "--comp",
        "zstd",
        "--level",
        "9",
        "--block-size",
        "64K",
        "--all-root",
        "--mtime",
        "2001-02-03T04:05:06Z",
        "--no-fragments",
        rootfs,
        `${tmp}/z.sqfs`,
      ]);
      assert.equal(result.code, 0, result.stderr);
      const stat = await unsquashfs(["-s", `${tmp}/z.sqfs`]);
      assert.match(stat, /Compression zstd/);
      assert.match(stat, /Block size 65536/);
      assert.match(stat, /Number of fragments 0/);
      const lines = (await unsquashfs(["-lln", `${tmp}/z.sqfs`])).trim().split("\n")
        .filter((l) => l.includes("squashfs-root"));
      assert.ok(lines.length > 10);
      for (const line of lines) assert.match(line, / 0\/0 .* 2001-02-03 04:05 /);
      // Extraction gives back the same file contents.
      await unsquashfs(["-q", "-n", "-d", `${tmp}/x`, `${tmp}/z.sqfs`]);
      const diff = await new Deno.Command("diff", {
        args: ["-r", "--no-dereference", rootfs, `${tmp}/x`],
      })
        .output();
      assert.ok(diff.success, decoder.decode(diff.stdout));
    });
  },
);

testWithTools(
  "squashfs pack --comp xz makes the busybox image unsquashfs lists and extracts, at mksquashfs -comp xz's size, the same bytes on 1 and 2 processors",
  ["unsquashfs", "mksquashfs", "tar", "diff"],
  async () => {
    const rootfs = await busyboxRootfs();
    await withTemp(async (tmp) => {
      for (const n of ["1", "2"]) {
        const result = await runSinglet([
          "squashfs",
          "pack",
          "--comp",
          "xz",
          "--processors",
          n,
          rootfs,
          `${tmp}/xz${n}.sqfs`,
        ]);
        assert.equal(result.code, 0, result.stderr);
      }
      assert.equal(sha256(`${tmp}/xz2.sqfs`), sha256(`${tmp}/xz1.sqfs`));
      const stat = await unsquashfs(["-s", `${tmp}/xz1.sqfs`]);
      assert.match(stat, /Compression xz/);
      const ours = await unsquashfs(["-lln", `${tmp}/xz1.sqfs`]);
      await assertGolden(new URL("./testdata/squashfs_pack_busybox.lln", import.meta.url), ours);
      await unsquashfs(["-q", "-n", "-d", `${tmp}/x`, `${tmp}/xz1.sqfs`]);
      const diff = await new Deno.Command("diff", {
        args: ["-r", "--no-dereference", rootfs, `${tmp}/x`],
      }).output();
      assert.ok(diff.success, decoder.decode(diff.stdout));
      const mk = await new Deno.Command("mksquashfs", {
        args: [rootfs, `${tmp}/mk.sqfs`, "-comp", "xz", "-noappend", "-quiet", "-no-progress"],
      }).output();
      assert.ok(mk.success);
      const size = Deno.statSync(`${tmp}/xz1.sqfs`).size;
      const theirs = Deno.statSync(`${tmp}/mk.sqfs`).size;
      assert.ok(size <= theirs * 1.03, `${size} vs mksquashfs ${theirs} bytes`);
      // The extremes of --level are presets too: 0 is larger than the default 6.
      const fast = await runSinglet([
        "squashfs",
        "pack",
        "--comp",
        "xz",
        "--level",
        "0",
        rootfs,
        `${tmp}/xz0.sqfs`,
      ]);
      assert.equal(fast.code, 0, fast.stderr);
      assert.ok(Deno.statSync(`${tmp}/xz0.sqfs`).size > size);
      assert.equal(await unsquashfs(["-lln", `${tmp}/xz0.sqfs`]), ours);
    });
  },
);

testWithTools(
  "squashfs pack fails cleanly and leaves no output when a name cannot be read",
  ["sh"],
  async () => {
    await withTemp(async (tmp) => {
      await Deno.mkdir(`${tmp}/src`);
      const made = await new Deno.Command("sh", {
        args: ["-c", `printf x > "${tmp}/src/$(printf 'caf\\351')"`],
      }).output();
      assert.ok(made.success);
      await Deno.mkdir(`${tmp}/out`);
      const result = await runSinglet(["squashfs", "pack", `${tmp}/src`, `${tmp}/out/img.sqfs`]);
      assert.equal(result.code, 255);
      assert.match(result.stderr, /FATAL: +Cannot pack ".*caf.*": its name is not valid UTF-8/);
      assert.deepEqual([...Deno.readDirSync(`${tmp}/out`)], []);
    });
  },
);

Deno.test("squashfs pack without an output image is a usage error", async () => {
  const result = await runSinglet(["squashfs", "pack", "/tmp"]);
  assert.equal(result.code, 254);
  assert.match(result.stderr, /give at least one SRC and the OUT image/);
});

Deno.test("squashfs pack interrupted with Ctrl-C exits 130 and leaves nothing behind", async () => {
  await withTemp(async (tmp) => {
    await Deno.mkdir(`${tmp}/src`);
    await Deno.mkdir(`${tmp}/out`);
    // 64 MiB of noise at gzip -9 on one worker: several seconds of work to interrupt.
    const file = await Deno.open(`${tmp}/src/noise`, { write: true, create: true });
    const chunk = new Uint8Array(65536);
    for (let i = 0; i < 1024; i++) {
      crypto.getRandomValues(chunk);
      await file.write(chunk);
    }
    file.close();
    const child = new Deno.Command(SINGLET_BIN, {
      args: [
        "squashfs",
        "pack",
        "--level",
        "9",
        "--processors",
        "1",
        `${tmp}/src`,
        `${tmp}/out/i.sqfs`,
      ],
      env: { NO_COLOR: "1" },
      stdout: "null",
      stderr: "piped",
    }).spawn();
    // Interrupt once the temporary image exists (the packer is writing blocks).
    const deadline = Date.now() + 30_000;
    while ([...Deno.readDirSync(`${tmp}/out`)].length === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal([...Deno.readDirSync(`${tmp}/out`)].length, 1, "the packer never started writing");
    child.kill("SIGINT");
    const status = await child.output();
    assert.equal(status.code, 130, decoder.decode(status.stderr));
    assert.deepEqual([...Deno.readDirSync(`${tmp}/out`)], []);
  });
});
