/**
 * Images for the run/exec tests, built once per test process from the busybox fixture in
 * SingularityCE's layout: `/.singularity.d/{env,actions,runscript,test}`, plus traps for
 * the security assertions (a setuid-root copy of busybox, a device node, a
 * world-writable directory). Three forms: a sandbox directory, a bare SquashFS file, and
 * a SIF assembled with `siftool` exactly as SingularityCE lays it out.
 *
 * @module
 */
import { busyboxRootfs } from "../_helpers/fixtures.ts";
import { siftoolNativeSif } from "../_helpers/siftool.ts";

/** The three forms of the test image. */
export interface ExecImages {
  /** Directory holding everything (world-readable). */
  dir: string;
  /** Sandbox directory. */
  sandbox: string;
  /** Bare SquashFS image. */
  squashfs: string;
  /** SIF with a PrimSys SquashFS partition. */
  sif: string;
}

const ENV_BASE = `#!/bin/sh
# Custom environment shell code should follow
`;
const ENV_IMAGE = `#!/bin/sh
export FROM_IMAGE="image value"
export SHADOWED="from image"
export KEEP_HOST_OR_IMAGE="\${KEEP_HOST_OR_IMAGE:-image default}"
`;
const ENV_99 = `#!/bin/sh
_singularity_base=1
export LD_LIBRARY_PATH="\${LD_LIBRARY_PATH}:/.singularity.d/libs"
PS1="Singularity> "
export PS1
`;
const RUNSCRIPT = `#!/bin/sh
echo "runscript args: $*"
echo "runscript FROM_IMAGE=$FROM_IMAGE"
`;
const TEST = `#!/bin/sh
echo "test ran as $(id -u)"
exit 3
`;

let built: Promise<ExecImages> | undefined;

/**
 * Build (once) the sandbox, SquashFS and SIF forms of the test image.
 *
 * @returns Their paths.
 */
export function execImages(): Promise<ExecImages> {
  built ??= build();
  return built;
}

async function build(): Promise<ExecImages> {
  const rootfs = await busyboxRootfs();
  const dir = await Deno.makeTempDir({ prefix: "singlet-exec-images-" });
  await Deno.chmod(dir, 0o755);
  // built per test process: gone when it ends
  globalThis.addEventListener("unload", () => {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // already gone
    }
  });
  const sandbox = `${dir}/sandbox`;
  await run("cp", ["-a", rootfs, sandbox]);
  const sd = `${sandbox}/.singularity.d`;
  for (const sub of ["env", "actions", "libs"]) {
    await Deno.mkdir(`${sd}/${sub}`, { recursive: true });
  }
  await Deno.writeTextFile(`${sd}/env/01-base.sh`, ENV_BASE);
  await Deno.writeTextFile(`${sd}/env/90-environment.sh`, ENV_IMAGE);
  await Deno.writeTextFile(`${sd}/env/99-base.sh`, ENV_99);
  await Deno.writeTextFile(`${sd}/runscript`, RUNSCRIPT, { mode: 0o755 });
  await Deno.writeTextFile(`${sd}/test`, TEST, { mode: 0o755 });
  await Deno.chmod(`${sd}/runscript`, 0o755);
  await Deno.chmod(`${sd}/test`, 0o755);
  // traps: setuid root busybox, a device node (/dev/null's numbers), a world-writable dir
  await run("cp", ["/bin/busybox", `${sandbox}/busybox-suid`]);
  await Deno.chmod(`${sandbox}/busybox-suid`, 0o4755);
  await run("mknod", ["-m", "0666", `${sandbox}/devnull-node`, "c", "1", "3"]);
  await Deno.mkdir(`${sandbox}/shared`, { mode: 0o1777 });
  await Deno.chmod(`${sandbox}/shared`, 0o1777);
  for (const d of ["proc", "sys", "dev", "tmp", "home", "root", "etc", "var/tmp"]) {
    await Deno.mkdir(`${sandbox}/${d}`, { recursive: true });
  }
  const squashfs = `${dir}/image.sqfs`;
  await run("mksquashfs", [sandbox, squashfs, "-noappend", "-quiet", "-no-progress"]);
  const sif = `${dir}/image.sif`;
  await siftoolNativeSif(sif, squashfs);
  await run("chmod", ["a+rX", dir, squashfs, sif]);
  return { dir, sandbox, squashfs, sif };
}

async function run(program: string, args: string[]): Promise<void> {
  const output = await new Deno.Command(program, { args, stdout: "piped", stderr: "piped" })
    .output();
  if (!output.success) {
    throw new Error(`${program} ${args.join(" ")}: ${new TextDecoder().decode(output.stderr)}`);
  }
}
