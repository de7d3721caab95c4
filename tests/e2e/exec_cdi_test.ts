/**
 * `--device` and `--cdi-dirs`: CDI spec files (JSON and YAML) written by the test expose
 * the host's /dev/null as /dev/fake0 (created by the runtime as root, bound from the host
 * in a user namespace, with or without subordinate ranges), bind a host directory, set
 * variables and run a hook; unknown devices and broken specs stop the launch before
 * anything starts.
 */
import assert from "node:assert/strict";
import { runSinglet, SINGLET_BIN } from "../_helpers/singlet.ts";
import { runAs, testUser } from "../_helpers/unpriv.ts";
import { testWithTools } from "../_helpers/tools.ts";
import { execImages } from "./_exec_images.ts";

const TOOLS = ["runc", "unshare", "nsenter", "squashfuse_ll", "mksquashfs", "siftool"];

interface Fixture {
  dir: string;
  specs: string;
  hostDir: string;
  hookDir: string;
}

async function fixture(): Promise<Fixture> {
  const dir = await Deno.makeTempDir({ prefix: "singlet-cdi-" });
  const specs = `${dir}/specs`;
  const hostDir = `${dir}/vendor`;
  const hookDir = `${dir}/hooks`;
  await Deno.mkdir(specs);
  await Deno.mkdir(hostDir);
  await Deno.mkdir(hookDir);
  await Deno.writeTextFile(`${hostDir}/libvendor.so`, "vendor library\n");
  await Deno.writeTextFile(
    `${specs}/fake.json`,
    JSON.stringify({
      cdiVersion: "0.6.0",
      kind: "example.com/fake",
      containerEdits: { env: ["FAKE_SPEC_LEVEL=1"] },
      devices: [{
        name: "fake0",
        containerEdits: {
          env: ["FAKE_DEVICE=fake0"],
          deviceNodes: [{ path: "/dev/fake0", hostPath: "/dev/null" }],
          mounts: [{ hostPath: hostDir, containerPath: "/opt/vendor", options: ["ro"] }],
          hooks: [{
            hookName: "createRuntime",
            path: "/bin/sh",
            args: ["sh", "-c", `echo hook ran > ${hookDir}/marker`],
          }],
        },
      }],
    }),
  );
  await Deno.writeTextFile(
    `${specs}/accel.yaml`,
    `cdiVersion: "0.5.0"
kind: example.org/accel
devices:
  - name: a
    containerEdits:
      env: ["ACCEL_A=yes"]
  - name: b
    containerEdits:
      env: ["ACCEL_B=yes"]
`,
  );
  await new Deno.Command("chmod", { args: ["-R", "a+rX", dir] }).output();
  await Deno.chmod(hookDir, 0o777);
  return { dir, specs, hostDir, hookDir };
}

const SCRIPT = [
  'echo "env $FAKE_SPEC_LEVEL $FAKE_DEVICE ${ACCEL_A:-} ${ACCEL_B:-}"',
  "ls -l /dev/fake0 | awk '{print \"node\", substr($1,1,1), $5, $6}'",
  "echo data > /dev/fake0 && echo node writable",
  "cat /opt/vendor/libvendor.so",
  "touch /opt/vendor/new 2>/dev/null || echo mount read-only",
].join("; ");
const EXPECTED = "env 1 fake0 yes yes\nnode c 1, 3\nnode writable\nvendor library\n" +
  "mount read-only\n";

testWithTools(
  "--device applies a CDI spec's env, device nodes, mounts and hooks, as root and as a user",
  TOOLS,
  async () => {
    const { sif } = await execImages();
    const f = await fixture();
    try {
      const args = [
        "exec",
        "--cdi-dirs",
        f.specs,
        "--device",
        "example.com/fake=fake0,example.org/accel=all",
        sif,
        "sh",
        "-c",
        SCRIPT,
      ];
      const root = await runSinglet(args, { cwd: "/tmp" });
      assert.equal(root.code, 0, root.stderr);
      assert.equal(root.stdout, EXPECTED);
      assert.equal(await Deno.readTextFile(`${f.hookDir}/marker`), "hook ran\n");
      await Deno.remove(`${f.hookDir}/marker`);

      const user = await testUser({ subids: true });
      const asUser = await runAs(user, [SINGLET_BIN, ...args], { cwd: "/tmp" });
      assert.equal(asUser.code, 0, asUser.stderr);
      assert.equal(asUser.stdout, EXPECTED);
      assert.equal(await Deno.readTextFile(`${f.hookDir}/marker`), "hook ran\n");
      await Deno.remove(`${f.hookDir}/marker`);

      // a user without subordinate ranges (single-ID namespace): the same
      const nosub = await testUser({ subids: false });
      const single = await runAs(nosub, [SINGLET_BIN, ...args], { cwd: "/tmp" });
      assert.equal(single.code, 0, single.stderr);
      assert.equal(single.stdout, EXPECTED);
      assert.equal(await Deno.readTextFile(`${f.hookDir}/marker`), "hook ran\n");

      // without =all only the named device's edits apply
      const one = await runSinglet(
        ["exec", "--cdi-dirs", f.specs, "--device", "example.org/accel=b", sif, "env"],
        { cwd: "/tmp" },
      );
      assert.equal(one.code, 0, one.stderr);
      assert.match(one.stdout, /^ACCEL_B=yes$/m);
      assert.doesNotMatch(one.stdout, /ACCEL_A|FAKE_/);
    } finally {
      await Deno.remove(f.dir, { recursive: true });
    }
  },
);

testWithTools(
  "an unknown CDI device or a broken spec file is one error naming it, exit 255, nothing run",
  TOOLS,
  async () => {
    const { sif } = await execImages();
    const f = await fixture();
    try {
      const marker = `${f.hookDir}/started`;
      const user = await testUser({ subids: true });
      const cases: [string[], RegExp][] = [
        [
          ["--cdi-dirs", f.specs, "--device", "example.com/fake=fake9"],
          /^FATAL: +Cannot use device "example\.com\/fake=fake9": no CDI spec defines it$/m,
        ],
        [
          ["--cdi-dirs", f.specs, "--device", "fake0"],
          /^FATAL: +Cannot use device "fake0": not a fully qualified CDI device name$/m,
        ],
      ];
      const broken = `${f.dir}/broken`;
      await Deno.mkdir(broken, { mode: 0o755 });
      await Deno.writeTextFile(`${broken}/bad.yaml`, "cdiVersion: [unclosed\n");
      await Deno.chmod(`${broken}/bad.yaml`, 0o644);
      cases.push([
        ["--cdi-dirs", broken, "--device", "example.com/fake=fake0"],
        /^FATAL: +Cannot read CDI spec ".*\/broken\/bad\.yaml": not valid YAML/m,
      ]);
      const noName = `${f.dir}/noname`;
      await Deno.mkdir(noName, { mode: 0o755 });
      await Deno.writeTextFile(
        `${noName}/x.json`,
        JSON.stringify({ cdiVersion: "0.6.0", kind: "example.com/fake", devices: [{}] }),
      );
      await Deno.chmod(`${noName}/x.json`, 0o644);
      cases.push([
        ["--cdi-dirs", noName, "--device", "example.com/fake=fake0"],
        /^FATAL: +Cannot read CDI spec ".*\/noname\/x\.json": device 0 has no valid "name"$/m,
      ]);
      for (const [flags, pattern] of cases) {
        const argv = ["exec", ...flags, sif, "touch", marker];
        for (
          const result of [
            await runSinglet(argv, { cwd: "/tmp" }),
            await runAs(user, [SINGLET_BIN, ...argv], { cwd: "/tmp" }),
          ]
        ) {
          assert.equal(result.code, 255, result.stderr);
          assert.match(result.stderr, pattern);
          assert.equal(result.stderr.split("\n").filter((l) => l.startsWith("FATAL")).length, 1);
          assert.equal(result.stdout, "");
          await assert.rejects(Deno.stat(marker), Deno.errors.NotFound);
        }
      }
    } finally {
      await Deno.remove(f.dir, { recursive: true });
    }
  },
);

testWithTools("--device finds specs in the default /etc/cdi as root", TOOLS, async () => {
  const { sif } = await execImages();
  const kind = `singlet-test-${crypto.randomUUID().slice(0, 8)}.example/dev`;
  const file = `/etc/cdi/${kind.split("/")[0]}.yaml`;
  await Deno.mkdir("/etc/cdi", { recursive: true });
  await Deno.writeTextFile(
    file,
    `cdiVersion: "0.6.0"\nkind: ${kind}\ndevices:\n  - name: x\n    containerEdits:\n` +
      `      env: ["FROM_ETC_CDI=1"]\n`,
  );
  try {
    const result = await runSinglet(
      ["exec", "--device", `${kind}=x`, sif, "sh", "-c", "echo $FROM_ETC_CDI"],
      { cwd: "/tmp" },
    );
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "1\n");
  } finally {
    await Deno.remove(file);
  }
});
