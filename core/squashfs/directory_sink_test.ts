import assert from "node:assert/strict";
import { describeTree } from "../../tests/_helpers/tree.ts";
import { WHITEOUT_EXPECTED_TREE, whiteoutOciLayout } from "../../tests/_helpers/fixtures.ts";
import { testWithTools } from "../../tests/_helpers/tools.ts";
import { REPO_ROOT } from "../../tests/_helpers/singlet.ts";
import { runAs, testUser } from "../../tests/_helpers/unpriv.ts";
import { buildTar, layoutLayers, memoryLayer } from "./_layer_test_helpers.ts";
import type { TarSpec } from "./_layer_test_helpers.ts";
import { DirectorySink } from "./directory_sink.ts";
import type { EntryMeta } from "./fstree.ts";
import { mergeLayers } from "./layers.ts";

const enc = new TextEncoder();
const meta: EntryMeta = { mode: 0o644, uid: 0, gid: 0, mtime: 1_700_000_000 };
async function* bytes(text: string) {
  yield enc.encode(text);
}

/** A work area: `target` to write into and a sibling `victim` that must never change. */
async function withVictim(fn: (target: string, victim: string) => Promise<void>) {
  const work = await Deno.makeTempDir({ prefix: "singlet-dirsink-" });
  try {
    const target = `${work}/target`;
    const victim = `${work}/victim`;
    await Deno.mkdir(target);
    await Deno.mkdir(victim);
    await Deno.writeTextFile(`${victim}/file`, "victim canary");
    const before = await describeTree(work.replace(/$/, ""), { xattrs: false });
    const victimBefore = await describeTree(victim, { xattrs: false });
    await fn(target, victim);
    assert.equal(await describeTree(victim, { xattrs: false }), victimBefore, "victim changed");
    const after = await describeTree(work, { xattrs: false });
    // Only lines under target/ may differ.
    const outside = (text: string) =>
      text.split("\n").filter((l) => !/ target(\/|$)/.test(l)).join("\n");
    assert.equal(outside(after), outside(before), "something was written outside the target");
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

testWithTools(
  "DirectorySink materialises the merged whiteout image like umoci, reporting what Deno cannot create",
  ["find", "sha256sum", "getfattr"],
  async () => {
    const { dir, ref } = await whiteoutOciLayout();
    await withVictim(async (target) => {
      const skipped: string[] = [];
      const sink = new DirectorySink(target, { onSkip: (path) => skipped.push(path) });
      await mergeLayers(await layoutLayers(dir, ref), sink);
      const report = await sink.finish();
      // Deno paths are strings: the Latin-1 name cannot be created, and xattrs cannot be set.
      const expected = WHITEOUT_EXPECTED_TREE.split("\n")
        .filter((line) => !line.includes("caf\\xe9") && !line.startsWith("xattr "))
        .join("\n");
      assert.equal(await describeTree(target), expected);
      assert.equal(report.unrepresentableNames, 1);
      assert.deepEqual(skipped, ["bytes/caf\\xe9"]);
      assert.equal(report.xattrsSkipped, 1);
    });
  },
);

Deno.test("DirectorySink refuses .., absolute and empty names", async () => {
  await withVictim(async (target) => {
    const sink = new DirectorySink(target);
    for (const bad of ["../victim/new", "/etc/x", "a//b", "a/./b", "a/.."]) {
      await assert.rejects(
        sink.file(enc.encode(bad), meta, 1, bytes("x")),
        /must be relative/,
        bad,
      );
    }
  });
});

Deno.test("DirectorySink never writes through a symlinked parent or onto a symlink", async () => {
  await withVictim(async (target, victim) => {
    const sink = new DirectorySink(target);
    await sink.symlink(enc.encode("s"), meta, enc.encode(victim));
    await sink.symlink(enc.encode("f"), meta, enc.encode(`${victim}/file`));
    await assert.rejects(
      sink.file(enc.encode("s/pwn"), meta, 1, bytes("x")),
      /parent "s" is a symlink/,
    );
    await assert.rejects(sink.directory(enc.encode("s/sub"), meta), /parent "s" is a symlink/);
    await assert.rejects(
      sink.file(enc.encode("f"), meta, 1, bytes("x")),
      Deno.errors.AlreadyExists,
    );
    await assert.rejects(
      sink.hardlink(enc.encode("h"), enc.encode("../victim/file")),
      /must be relative/,
    );
    await assert.rejects(
      sink.hardlink(enc.encode("h"), enc.encode("nothere")),
      /not an entry of this tree/,
    );
    await sink.finish();
  });
});

Deno.test("DirectorySink applies modes after filling read-only directories and reports skips", async () => {
  await withVictim(async (target) => {
    const sink = new DirectorySink(target, { chown: false });
    await sink.directory(enc.encode("ro"), { ...meta, mode: 0o555 });
    await sink.file(enc.encode("ro/suid"), { ...meta, mode: 0o4755 }, 2, bytes("hi"));
    await sink.hardlink(enc.encode("ro/twin"), enc.encode("ro/suid"));
    await sink.device(enc.encode("ro/null"), meta, "chardev", 1, 3);
    await sink.special(enc.encode("ro/fifo"), meta, "fifo");
    const report = await sink.finish();
    assert.equal((await Deno.stat(`${target}/ro`)).mode! & 0o7777, 0o555);
    assert.equal((await Deno.stat(`${target}/ro/suid`)).mode! & 0o7777, 0o4755);
    assert.equal((await Deno.stat(`${target}/ro/twin`)).nlink, 2);
    assert.equal((await Deno.stat(`${target}/ro/suid`)).mtime!.getTime(), 1_700_000_000_000);
    assert.deepEqual(report, {
      chownSkipped: 2,
      devicesSkipped: 1,
      specialsSkipped: 1,
      xattrsSkipped: 0,
      unrepresentableNames: 0,
      written: 3,
    });
    await Deno.chmod(`${target}/ro`, 0o755); // let the cleanup remove it
  });
});

const hostile: [string, TarSpec[]][] = [
  ["a ../ escape", [{ path: "../victim/file", data: "pwned" }]],
  ["a symlink then a file through it", [
    { path: "s", type: "2", link: "../victim" },
    { path: "s/file", data: "pwned" },
  ]],
  ["a hard link out of the root", [{ path: "h", type: "1", link: "../victim/file" }]],
  ["a truncated member", [{ path: "big", size: 1 << 20, data: "short" }]],
];
for (const [what, specs] of hostile) {
  Deno.test(`mergeLayers into a DirectorySink stops on ${what} and writes nothing outside`, async () => {
    await withVictim(async (target) => {
      const sink = new DirectorySink(target);
      await assert.rejects(mergeLayers([memoryLayer("L1", buildTar(specs))], sink), SyntaxError);
    });
  });
}

testWithTools(
  "DirectorySink run by an unprivileged user skips chown and devices and reports both",
  ["setpriv"],
  async () => {
    const user = await testUser();
    const work = await Deno.makeTempDir({ prefix: "singlet-dirsink-user-" });
    try {
      await Deno.chmod(work, 0o755);
      await Deno.writeFile(
        `${work}/layer.tar`,
        buildTar([
          { path: "etc/", type: "5" },
          { path: "etc/shadow", data: "secret", mode: 0o640, uid: 42 },
          { path: "dev/", type: "5" },
          { path: "dev/null", type: "3" },
          { path: "bin/", type: "5" },
          { path: "bin/su", data: "su", mode: 0o4755 },
        ]),
      );
      await Deno.mkdir(`${work}/target`);
      await Deno.chown(`${work}/target`, user.uid, user.gid);
      const deno = `${REPO_ROOT}/.tools/bin/deno`;
      const script = new URL("./testdata/extract_layers.ts", import.meta.url).pathname;
      const result = await runAs(user, [
        deno,
        "run",
        "--no-check",
        "--allow-read",
        "--allow-write",
        "--allow-sys=uid",
        script,
        `${work}/target`,
        `${work}/layer.tar`,
      ]);
      assert.equal(result.code, 0, result.stderr);
      const report = JSON.parse(result.stdout);
      assert.equal(report.chownSkipped, 5); // 3 directories, 2 files
      assert.equal(report.devicesSkipped, 1);
      const shadow = await Deno.stat(`${work}/target/etc/shadow`);
      assert.equal(shadow.uid, user.uid);
      assert.equal(shadow.mode! & 0o7777, 0o640);
      assert.equal((await Deno.stat(`${work}/target/bin/su`)).mode! & 0o7777, 0o4755);
      await assert.rejects(Deno.lstat(`${work}/target/dev/null`), Deno.errors.NotFound);
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  },
);
