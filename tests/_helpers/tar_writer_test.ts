import assert from "node:assert/strict";
import { FIXTURE_MTIME, writeTar } from "./tar_writer.ts";
import { testWithTools } from "./tools.ts";

const decoder = new TextDecoder();

async function gnuTar(args: string[], input: Uint8Array): Promise<string> {
  const file = await Deno.makeTempFile({ suffix: ".tar" });
  try {
    await Deno.writeFile(file, input);
    const output = await new Deno.Command("tar", {
      args: [...args, "-f", file],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(output.code, 0, decoder.decode(output.stderr));
    assert.equal(decoder.decode(output.stderr), "", "GNU tar has no complaint");
    return decoder.decode(output.stdout);
  } finally {
    await Deno.remove(file);
  }
}

testWithTools(
  "GNU tar reads every member type, long names and long link targets the writer produces",
  ["tar"],
  async () => {
    const longDir = "d".repeat(90);
    const longName = `${longDir}/${"f".repeat(60)}`;
    const longTarget = `/${"t".repeat(120)}`;
    const tar = writeTar([
      { name: longDir, type: "directory", mode: 0o1777 },
      { name: longName, type: "file", content: "long\n", mode: 0o600, uid: 1000, gid: 100 },
      { name: "hard", type: "link", linkname: longName },
      { name: "sym", type: "symlink", linkname: longTarget },
      { name: "x", type: "file", content: "", xattrs: { "user.a": "1" } },
    ]);
    assert.equal(tar.length % 512, 0);
    const listing = await gnuTar(["-tv", "--numeric-owner", "--full-time"], tar);
    const date = new Date(FIXTURE_MTIME * 1000).toISOString().slice(0, 19).replace("T", " ");
    assert.equal(
      listing,
      [
        `drwxrwxrwt 0/0 0 ${date} ${longDir}/`,
        `-rw------- 1000/100 5 ${date} ${longName}`,
        `hrw-r--r-- 0/0 0 ${date} hard link to ${longName}`,
        `lrwxrwxrwx 0/0 0 ${date} sym -> ${longTarget}`,
        `-rw-r--r-- 0/0 0 ${date} x`,
      ].join("\n").replace(/ 0\/0 0 /g, " 0/0               0 ").replace(
        / 1000\/100 5 /,
        " 1000/100          5 ",
      ) + "\n",
    );
    const content = await gnuTar(["-xO", longName], tar);
    assert.equal(content, "long\n");
  },
);

Deno.test("the writer is deterministic: the same entries give the same bytes", () => {
  const entries = () => [
    { name: "a", type: "directory" as const },
    { name: "a/b", type: "file" as const, content: "x", xattrs: { "user.z": "1", "user.a": "2" } },
  ];
  assert.deepEqual(writeTar(entries()), writeTar(entries()));
});
