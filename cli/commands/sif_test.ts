import assert from "node:assert/strict";
import { runSinglet, SINGLET_BIN } from "../../tests/_helpers/singlet.ts";

async function inTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "sif-cli-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function ok(args: string[], stdin?: string): Promise<string> {
  const result = await runSinglet(args, stdin === undefined ? {} : { stdin });
  assert.equal(result.code, 0, `singlet ${args.join(" ")}: ${result.stderr}`);
  return result.stdout;
}

Deno.test("singlet sif new/add/del build an image from files and standard input", async () => {
  await inTempDir(async (dir) => {
    const sif = `${dir}/x.sif`;
    await ok(["sif", "new", "--deterministic", "--capacity", "4", sif], undefined);
    await Deno.writeTextFile(`${dir}/def`, "Bootstrap: scratch\n");
    await ok(["sif", "add", sif, `${dir}/def`, "--datatype", "1", "--groupid", "1"]);
    await ok(["sif", "add", sif, "-", "--datatype", "3", "--filename", "labels.json"], '{"a":"b"}');
    await ok([
      "sif",
      "add",
      sif,
      "-",
      ...["--datatype", "4", "--parttype", "2", "--partfs", "1", "--partarch", "4"],
    ], "squashfs bytes");
    const header = await ok(["sif", "header", sif]);
    assert.match(header, /^Version: +01\nPrimary Architecture: arm64\nDescriptors Free: +1\n/);
    assert.doesNotMatch(header, /ID:|Created At/, "deterministic: no ID, zero times");
    const info = JSON.parse(await ok(["sif", "info", "--json", "2", sif]));
    assert.equal(info.name, "labels.json");
    assert.equal(info.type, "JSON.Labels");
    assert.equal(info.size, 9);
    assert.equal(await ok(["sif", "dump", "2", sif]), '{"a":"b"}');
    const part = JSON.parse(await ok(["sif", "info", "--json", "3", sif]));
    assert.equal(part.offset % 4096, 0);
    assert.deepEqual(part.partition.arch, "arm64");
    await ok(["sif", "del", "--zero", "--compact", "3", sif]);
    assert.equal((await Deno.stat(sif)).size, info.offset + info.size);
    const list = JSON.parse(await ok(["sif", "list", "--json", sif]));
    assert.deepEqual(list.map((o: { id: number }) => o.id), [1, 2]);
    assert.equal(JSON.parse(await ok(["sif", "header", "--json", sif])).primaryArch, "unknown");
  });
});

Deno.test("singlet sif add refuses incomplete flags with a usage error and leaves the image alone", async () => {
  await inTempDir(async (dir) => {
    const sif = `${dir}/x.sif`;
    await ok(["sif", "new", sif]);
    await Deno.writeTextFile(`${dir}/obj`, "data");
    const before = await Deno.readFile(sif);
    const cases: [string[], RegExp][] = [
      [[], /--datatype is required/],
      [["--datatype", "12"], /--datatype is required with a value from 1 to 11/],
      [["--datatype", "x"], /invalid value "x" for --datatype/],
      [
        ["--datatype", "4", "--parttype", "2"],
        /--partfs, --parttype and --partarch must be passed/,
      ],
      [["--datatype", "5", "--signhash", "1", "--signentity", "ABCD"], /fingerprint length: got 2/],
      [["--datatype", "5", "--signentity", "zz"], /not hexadecimal/],
      [["--datatype", "9", "--sbomformat", "pdf"], /invalid SBOM format: pdf/],
      [["--datatype", "7", "--link", "0"], /invalid --link 0/],
      [["--datatype", "7", "--groupid", "-1"], /invalid value "-1" for --groupid/],
    ];
    for (const [flags, message] of cases) {
      const result = await runSinglet(["sif", "add", sif, `${dir}/obj`, ...flags]);
      assert.equal(result.code, 254, `${flags.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, message);
    }
    const missing = await runSinglet(["sif", "add", sif, `${dir}/nope`, "--datatype", "7"]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /Cannot open object file ".*nope": no such file/);
    assert.deepEqual(await Deno.readFile(sif), before);
    const prim = ["--datatype", "4", "--parttype", "2", "--partfs", "1", "--partarch", "2"];
    await ok(["sif", "add", sif, `${dir}/obj`, ...prim]);
    const withPrimary = await Deno.readFile(sif);
    const second = await runSinglet(["sif", "add", sif, `${dir}/obj`, ...prim]);
    assert.equal(second.code, 255);
    assert.match(second.stderr, /already the primary partition/);
    assert.deepEqual(await Deno.readFile(sif), withPrimary);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["obj", "x.sif"]);
  });
});

Deno.test("singlet sif add interrupted by SIGTERM leaves no temporary file and the image intact", async () => {
  await inTempDir(async (dir) => {
    const sif = `${dir}/x.sif`;
    await ok(["sif", "new", sif]);
    const before = await Deno.readFile(sif);
    const child = new Deno.Command(SINGLET_BIN, {
      args: ["sif", "add", sif, "-", "--datatype", "7"],
      stdin: "piped",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new Uint8Array(1 << 16));
    // Wait until the temporary file exists: the add is under way.
    const deadline = Date.now() + 10_000;
    while ([...Deno.readDirSync(dir)].length < 2 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal([...Deno.readDirSync(dir)].length, 2, "no temporary file appeared");
    child.kill("SIGTERM");
    const status = await child.status;
    await writer.close().catch(() => {});
    await child.stderr.cancel();
    assert.equal(status.code, 143);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["x.sif"]);
    assert.deepEqual(await Deno.readFile(sif), before);
  });
});

Deno.test("singlet sif dump into a closed pipe stops quietly with SIGPIPE's status", async () => {
  await inTempDir(async (dir) => {
    const sif = `${dir}/x.sif`;
    await ok(["sif", "new", sif]);
    await Deno.writeFile(`${dir}/big`, new Uint8Array(8 << 20));
    await ok(["sif", "add", sif, `${dir}/big`, "--datatype", "7"]);
    const child = new Deno.Command(SINGLET_BIN, {
      args: ["sif", "dump", "1", sif],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const reader = child.stdout.getReader();
    await reader.read();
    await reader.cancel();
    const [status, stderr] = await Promise.all([
      child.status,
      new Response(child.stderr).text(),
    ]);
    assert.equal(status.code, 141);
    assert.equal(stderr, "");
  });
});
