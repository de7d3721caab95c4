/**
 * The device cgroup of a container run as root: every device denied but the standard ones
 * (`/dev/null`, `zero`, `full`, `random`, `urandom`, `tty`, `ptmx`, `pts`), written into
 * `config.json` as `runc spec` does; a node made with `mknod` cannot be opened; host device
 * nodes bound by `--nv` and CDI device nodes stay usable. The device nodes given to the
 * fakes are real ones (`/dev/fuse`'s numbers, which no default rule allows).
 */
import assert from "node:assert/strict";
import { runSinglet } from "../_helpers/singlet.ts";
import { testWithTools } from "../_helpers/tools.ts";
import { execImages } from "./_exec_images.ts";

const TOOLS = ["runc", "unshare", "nsenter", "squashfuse_ll", "mksquashfs", "siftool", "mknod"];

/** The first line of a command's output, split on blanks (Deno may not read /dev or /proc). */
async function hostFacts(argv: string[]): Promise<string[]> {
  const output = await new Deno.Command(argv[0]!, { args: argv.slice(1) }).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  return new TextDecoder().decode(output.stdout).trim().split(/\s+/);
}

/** The major and minor numbers of a block device of this host. */
async function hostBlockDevice(): Promise<[number, number]> {
  // /proc/partitions: a header line, then "major minor #blocks name"
  const words = await hostFacts(["sed", "-n", "3p", "/proc/partitions"]);
  return [Number(words[0]), Number(words[1])];
}

async function mknod(path: string, type: string, major: number, minor: number): Promise<void> {
  const made = await new Deno.Command("mknod", {
    args: ["-m", "0666", path, type, String(major), String(minor)],
  }).output();
  assert.equal(made.code, 0, new TextDecoder().decode(made.stderr));
}

testWithTools(
  "as root, devices are denied but the standard ones: a node made with mknod cannot be opened",
  TOOLS,
  async () => {
    const { sif } = await execImages();
    const [major, minor] = await hostBlockDevice();
    const dir = await Deno.makeTempDir({ prefix: "singlet-devices-" });
    const script = [
      `mknod /dev/disk b ${major} ${minor} && echo made`,
      "head -c1 /dev/disk >/dev/null 2>/dev/null || echo 'disk refused'",
      "echo x >/dev/null && head -c1 /dev/zero | od -An -c",
      "head -c1 /dev/urandom >/dev/null && head -c1 /dev/random >/dev/null && echo random",
      "head -c1 /dev/full >/dev/null && echo full",
      "test -c /dev/pts/ptmx && echo ptmx",
    ].join("; ");
    const result = await runSinglet(["exec", sif, "sh", "-c", script], {
      env: { SINGLET_CONFIG_COPY: `${dir}/config.json` },
      cwd: "/tmp",
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "made\ndisk refused\n  \\0\nrandom\nfull\nptmx\n");
    const config = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
    const rules = config.linux.resources?.devices ?? [];
    assert.deepEqual(rules[0], { allow: false, access: "rwm" }, "the first rule denies all");
    assert.ok(
      rules.some((r: Record<string, unknown>) => r.allow && r.major === 1 && r.minor === 3),
      "/dev/null is allowed",
    );
    await Deno.remove(dir, { recursive: true });
  },
);

testWithTools(
  "as root, a device node bound by --nv and a CDI device node open under the deny-all",
  TOOLS,
  async () => {
    const { sif } = await execImages();
    const [major, minor] = (await hostFacts(["stat", "-c", "%t %T", "/dev/fuse"])).map((hex) =>
      parseInt(hex, 16)
    );
    const dir = await Deno.makeTempDir({ prefix: "singlet-devices-" });
    await Deno.chmod(dir, 0o755);
    await Deno.mkdir(`${dir}/gpu/dev`, { recursive: true });
    await mknod(`${dir}/gpu/dev/nvidia0`, "c", major!, minor!);
    await Deno.mkdir(`${dir}/cdi`);
    await Deno.writeTextFile(
      `${dir}/cdi/fake.json`,
      JSON.stringify({
        cdiVersion: "0.6.0",
        kind: "example.com/fake",
        devices: [{
          name: "fuse",
          // no numbers in the spec: singlet finds them on the host's node (which Deno
          // itself may not stat)
          containerEdits: { deviceNodes: [{ path: "/dev/fake-fuse", hostPath: "/dev/fuse" }] },
        }],
      }),
    );
    await new Deno.Command("chmod", { args: ["-R", "a+rX", dir] }).output();
    const result = await runSinglet([
      "exec",
      "--nv",
      "--cdi-dirs",
      `${dir}/cdi`,
      "--device",
      "example.com/fake=fuse",
      sif,
      "sh",
      "-c",
      ": </dev/nvidia0 && echo gpu opened; : </dev/fake-fuse && echo cdi opened",
    ], { env: { SINGLET_GPU_ROOT: `${dir}/gpu` }, cwd: "/tmp" });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "gpu opened\ncdi opened\n", result.stderr);
    await Deno.remove(dir, { recursive: true });
  },
);
