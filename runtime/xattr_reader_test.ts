import assert from "node:assert/strict";
import { testWithTools } from "../tests/_helpers/tools.ts";
import { pathKey } from "../core/squashfs/fstree.ts";
import { SingletError } from "../core/errors.ts";
import { hostXattrReader } from "./xattr_reader.ts";

const enc = new TextEncoder();

async function sh(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

async function withTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "singlet-xattr-reader-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Run `fn` with PATH pointing at an empty directory, so getfattr is not found. */
async function withoutGetfattr(fn: () => Promise<void>): Promise<void> {
  const path = Deno.env.get("PATH");
  const empty = await Deno.makeTempDir();
  Deno.env.set("PATH", empty);
  try {
    await fn();
  } finally {
    if (path === undefined) Deno.env.delete("PATH");
    else Deno.env.set("PATH", path);
    await Deno.remove(empty);
  }
}

testWithTools(
  "the getfattr reader returns a tree's attributes by relative path, relative roots included",
  ["setfattr", "getfattr"],
  async () => {
    await withTemp(async (dir) => {
      await Deno.mkdir(`${dir}/tree/sub`, { recursive: true });
      await Deno.writeTextFile(`${dir}/tree/sub/a b`, "x");
      await Deno.symlink("a b", `${dir}/tree/sub/link`);
      await sh("setfattr", ["-n", "user.x", "-v", "0x00ff", `${dir}/tree/sub/a b`]);
      await sh("setfattr", ["-n", "user.top", "-v", "1", `${dir}/tree`]);
      const warnings: string[] = [];
      const read = hostXattrReader({ onWarning: (m) => warnings.push(m) });
      for (const root of [`${dir}/tree`, `${dir}/tree/`]) {
        const table = await read(root);
        assert.deepEqual([...table.get(pathKey(enc.encode("sub/a b")))!], [[
          "user.x",
          new Uint8Array([0, 0xff]),
        ]]);
        assert.deepEqual([...table.get("")!.keys()], ["user.top"]);
        // The link's target has attributes, the link itself none: not followed.
        assert.equal(table.get(pathKey(enc.encode("sub/link"))), undefined);
        assert.equal(table.size, 2);
      }
      const cwd = Deno.cwd();
      Deno.chdir(dir);
      try {
        assert.equal((await read("tree")).size, 2);
      } finally {
        Deno.chdir(cwd);
      }
      assert.deepEqual(warnings, []);
    });
  },
);

Deno.test("without getfattr the reader warns once and reads nothing, or fails when required", async () => {
  await withTemp(async (dir) => {
    await withoutGetfattr(async () => {
      const warnings: string[] = [];
      const read = hostXattrReader({ onWarning: (m) => warnings.push(m) });
      assert.equal((await read(dir)).size, 0);
      assert.equal((await read(dir)).size, 0);
      assert.equal(warnings.length, 1);
      assert.match(
        warnings[0]!,
        /Cannot read the extended attributes of ".*": getfattr is not installed; packing without them \(install the 'attr' package/,
      );
      const strict = hostXattrReader({ required: true });
      await assert.rejects(
        () => strict(dir),
        (e: unknown) =>
          e instanceof SingletError && /getfattr is not installed/.test(e.message) &&
          /--no-xattrs/.test(e.hint ?? ""),
      );
    });
  });
});

testWithTools(
  "a directory on a file system without xattr support simply has none, without a warning",
  ["getfattr", "mount", "umount"],
  async () => {
    await withTemp(async (dir) => {
      await sh("mount", ["-t", "ramfs", "none", dir]);
      try {
        await Deno.writeTextFile(`${dir}/f`, "x");
        const warnings: string[] = [];
        const table = await hostXattrReader({ required: true, onWarning: (m) => warnings.push(m) })(
          dir,
        );
        assert.equal(table.size, 0);
        assert.deepEqual(warnings, []);
      } finally {
        await sh("umount", [dir]);
      }
    });
  },
  { root: true },
);
