/**
 * `./image.sif args` runs the image: SingularityCE's SIFs start with the launch script
 * `#!/usr/bin/env run-singularity`, and singlet answers to that name.
 */
import assert from "node:assert/strict";
import { SINGLET_BIN } from "../_helpers/singlet.ts";
import { testWithTools } from "../_helpers/tools.ts";
import { execImages } from "./_exec_images.ts";

testWithTools(
  "a SIF with SingularityCE's launch script runs through run-singularity",
  ["runc", "unshare", "nsenter", "squashfuse_ll", "mksquashfs", "siftool"],
  async () => {
    const { sif } = await execImages();
    const dir = await Deno.makeTempDir({ prefix: "singlet-launch-" });
    await Deno.symlink(SINGLET_BIN, `${dir}/run-singularity`);
    const image = `${dir}/image.sif`;
    await Deno.copyFile(sif, image);
    const file = await Deno.open(image, { write: true });
    await file.write(new TextEncoder().encode("#!/usr/bin/env run-singularity\n"));
    file.close();
    await Deno.chmod(image, 0o755);
    const output = await new Deno.Command(image, {
      args: ["one", "two"],
      env: { PATH: `${dir}:/usr/sbin:/usr/bin:/sbin:/bin`, NO_COLOR: "1" },
      cwd: "/tmp",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(output.stdout);
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    assert.equal(stdout, "runscript args: one two\nrunscript FROM_IMAGE=image value\n");
    await Deno.remove(dir, { recursive: true });
  },
);
