import assert from "node:assert/strict";
import { fixPermissions, restrictivePaths } from "./fix_perms.ts";

Deno.test("fixPermissions opens 0000 directories and 0444 files to their owner, keeping special bits", async () => {
  const root = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${root}/locked/inner`, { recursive: true });
    await Deno.writeTextFile(`${root}/locked/a.txt`, "a");
    await Deno.writeTextFile(`${root}/locked/inner/b.txt`, "b");
    await Deno.writeTextFile(`${root}/suid`, "s");
    await Deno.chmod(`${root}/suid`, 0o4555);
    await Deno.mkdir(`${root}/tmp`);
    await Deno.chmod(`${root}/tmp`, 0o1777);
    await Deno.symlink("locked/a.txt", `${root}/link`);
    await Deno.chmod(`${root}/locked/a.txt`, 0o444);
    await Deno.chmod(`${root}/locked/inner/b.txt`, 0o400);
    await Deno.chmod(`${root}/locked/inner`, 0o000);
    await Deno.chmod(`${root}/locked`, 0o000);
    assert.deepEqual((await restrictivePaths(root)).sort(), [
      "/locked",
      "/locked/a.txt",
      "/locked/inner",
      "/locked/inner/b.txt",
      "/suid",
    ]);
    assert.deepEqual(await fixPermissions(root), { denied: [] });
    const mode = async (p: string) => (await Deno.lstat(`${root}/${p}`)).mode! & 0o7777;
    assert.equal(await mode("locked"), 0o700);
    assert.equal(await mode("locked/inner"), 0o700);
    assert.equal(await mode("locked/a.txt"), 0o644);
    assert.equal(await mode("locked/inner/b.txt"), 0o600);
    assert.equal(await mode("suid"), 0o4755);
    assert.equal(await mode("tmp"), 0o1777);
    assert.deepEqual(await restrictivePaths(root), []);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
