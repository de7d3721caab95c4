/**
 * `--nv` and `--rocm` against a fake driver tree (`SINGLET_GPU_ROOT`): libraries appear in
 * `/.singularity.d/libs` (on LD_LIBRARY_PATH), tools in `/usr/bin`, device nodes in `/dev`.
 */
import assert from "node:assert/strict";
import { runSinglet, SINGLET_BIN } from "../_helpers/singlet.ts";
import { runAs, testUser } from "../_helpers/unpriv.ts";
import { testWithTools } from "../_helpers/tools.ts";
import { execImages } from "./_exec_images.ts";

const TOOLS = ["runc", "unshare", "nsenter", "squashfuse_ll", "mksquashfs", "siftool"];

async function fakeDriverTree(): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "singlet-gpu-" });
  await Deno.chmod(root, 0o755);
  await Deno.mkdir(`${root}/usr/lib/x86_64-linux-gnu`, { recursive: true });
  await Deno.mkdir(`${root}/usr/bin`, { recursive: true });
  await Deno.mkdir(`${root}/dev`);
  for (const lib of ["libcuda.so.1", "libnvidia-ml.so.535.1", "libunrelated.so.1"]) {
    await Deno.writeTextFile(`${root}/usr/lib/x86_64-linux-gnu/${lib}`, `fake ${lib}\n`);
  }
  await Deno.writeTextFile(`${root}/usr/bin/nvidia-smi`, "#!/bin/sh\necho fake nvidia-smi\n");
  await Deno.chmod(`${root}/usr/bin/nvidia-smi`, 0o755);
  // a fake device list: files standing in for /dev/nvidia0 and /dev/nvidiactl
  for (const dev of ["nvidia0", "nvidiactl", "null-not-gpu"]) {
    await Deno.writeTextFile(`${root}/dev/${dev}`, "");
    await Deno.chmod(`${root}/dev/${dev}`, 0o666);
  }
  await new Deno.Command("chmod", { args: ["-R", "a+rX", root] }).output();
  return root;
}

testWithTools("--nv binds the host's NVIDIA libraries, tools and devices", TOOLS, async () => {
  const { sif } = await execImages();
  const root = await fakeDriverTree();
  const script =
    'ls /.singularity.d/libs; nvidia-smi; ls /dev | grep nvidia; echo "$LD_LIBRARY_PATH"';
  const expected = "libcuda.so.1\nlibnvidia-ml.so.535.1\nfake nvidia-smi\nnvidia0\nnvidiactl\n";
  const asRoot = await runSinglet(["exec", "--nv", sif, "sh", "-c", script], {
    env: { SINGLET_GPU_ROOT: root },
    cwd: "/tmp",
  });
  assert.equal(asRoot.code, 0, asRoot.stderr);
  assert.ok(asRoot.stdout.startsWith(expected), asRoot.stdout);
  assert.match(asRoot.stdout, /\/\.singularity\.d\/libs/);
  const user = await testUser({ subids: true });
  const asUser = await runAs(user, [SINGLET_BIN, "exec", "--nv", sif, "sh", "-c", script], {
    env: { SINGLET_GPU_ROOT: root },
    cwd: "/tmp",
  });
  assert.equal(asUser.code, 0, asUser.stderr);
  assert.ok(asUser.stdout.startsWith(expected), asUser.stdout);
  const none = await runSinglet(["exec", "--rocm", sif, "true"], {
    env: { SINGLET_GPU_ROOT: root },
    cwd: "/tmp",
  });
  assert.equal(none.code, 0, none.stderr);
  assert.match(none.stderr, /--rocm: could not find any ROCm driver files/);
  await Deno.remove(root, { recursive: true });
});

testWithTools(
  "--rocm binds the host's ROCm libraries, tools, /dev/kfd and /dev/dri",
  TOOLS,
  async () => {
    const { sif } = await execImages();
    const root = await Deno.makeTempDir({ prefix: "singlet-rocm-" });
    await Deno.mkdir(`${root}/opt/rocm/lib`, { recursive: true });
    await Deno.mkdir(`${root}/opt/rocm/bin`, { recursive: true });
    await Deno.mkdir(`${root}/dev/dri`, { recursive: true });
    for (const lib of ["libamdhip64.so.5", "librocm_smi64.so.5", "libcuda.so.1"]) {
      await Deno.writeTextFile(`${root}/opt/rocm/lib/${lib}`, `fake ${lib}\n`);
    }
    await Deno.writeTextFile(`${root}/opt/rocm/bin/rocm-smi`, "#!/bin/sh\necho fake rocm-smi\n");
    await Deno.chmod(`${root}/opt/rocm/bin/rocm-smi`, 0o755);
    for (const dev of ["kfd", "nvidia0", "dri/renderD128"]) {
      await Deno.writeTextFile(`${root}/dev/${dev}`, "");
    }
    await new Deno.Command("chmod", { args: ["-R", "a+rX", root] }).output();
    const script =
      "ls /.singularity.d/libs; rocm-smi; ls /dev/kfd /dev/dri; ls /dev | grep -c nvidia";
    const expected =
      "libamdhip64.so.5\nlibrocm_smi64.so.5\nfake rocm-smi\n/dev/kfd\n\n/dev/dri:\nrenderD128\n0\n";
    const user = await testUser({ subids: true });
    for (
      const result of [
        await runSinglet(["exec", "--rocm", sif, "sh", "-c", script], {
          env: { SINGLET_GPU_ROOT: root },
          cwd: "/tmp",
        }),
        await runAs(user, [SINGLET_BIN, "exec", "--rocm", sif, "sh", "-c", script], {
          env: { SINGLET_GPU_ROOT: root },
          cwd: "/tmp",
        }),
      ]
    ) {
      assert.equal(result.stdout, expected, result.stderr);
    }
    await Deno.remove(root, { recursive: true });
  },
);
