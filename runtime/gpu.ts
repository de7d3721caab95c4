/**
 * `--nv` and `--rocm`: the host's GPU driver libraries bound into `/.singularity.d/libs`
 * (on the container's LD_LIBRARY_PATH), its tools into `/usr/bin`, and its device nodes
 * into `/dev`, as SingularityCE does from `nvliblist.conf` / `rocmliblist.conf`.
 *
 * Libraries are looked up in the usual library directories (no `ldconfig` is run).
 * `SINGLET_GPU_ROOT` prefixes every host path searched, so tests can point at a fake
 * driver tree.
 *
 * @module
 */
import type { OciMount } from "./bundle.ts";
import { listHostDir, statHost } from "./host_devices.ts";

/** From SingularityCE's nvliblist.conf (libraries and binaries). */
const NV_LIBS = [
  "libcuda.so",
  "libcudadebugger.so",
  "libEGL_nvidia.so",
  "libGLESv1_CM_nvidia.so",
  "libGLESv2_nvidia.so",
  "libGLX_nvidia.so",
  "libnvcuvid.so",
  "libnvidia-cfg.so",
  "libnvidia-compiler.so",
  "libnvidia-eglcore.so",
  "libnvidia-egl-wayland.so",
  "libnvidia-encode.so",
  "libnvidia-fatbinaryloader.so",
  "libnvidia-fbc.so",
  "libnvidia-glcore.so",
  "libnvidia-glsi.so",
  "libnvidia-glvkspirv.so",
  "libnvidia-gpucomp.so",
  "libnvidia-gtk2.so",
  "libnvidia-gtk3.so",
  "libnvidia-ifr.so",
  "libnvidia-ml.so",
  "libnvidia-nvvm.so",
  "libnvidia-opencl.so",
  "libnvidia-opticalflow.so",
  "libnvidia-ptxjitcompiler.so",
  "libnvidia-rtcore.so",
  "libnvidia-tls.so",
  "libnvidia-wfb.so",
  "libnvoptix.so",
  "libOpenCL.so",
  "libvdpau_nvidia.so",
];
const NV_BINS = [
  "nvidia-cuda-mps-control",
  "nvidia-cuda-mps-server",
  "nvidia-debugdump",
  "nvidia-persistenced",
  "nvidia-smi",
];
/** From SingularityCE's rocmliblist.conf (abridged to the runtime libraries). */
const ROCM_LIBS = [
  "libamd_comgr.so",
  "libamdhip64.so",
  "libdrm_amdgpu.so",
  "libdrm.so",
  "libhsa-runtime64.so",
  "libhsakmt.so",
  "libOpenCL.so",
  "librocm_smi64.so",
  "librocm-core.so",
];
const ROCM_BINS = ["rocm-smi", "rocminfo"];
const LIB_DIRS = [
  "/usr/lib/x86_64-linux-gnu",
  "/usr/lib64",
  "/usr/lib",
  "/lib/x86_64-linux-gnu",
  "/lib64",
  "/usr/local/nvidia/lib64",
  "/opt/rocm/lib",
];
const BIN_DIRS = ["/usr/bin", "/usr/local/bin", "/usr/sbin", "/opt/rocm/bin"];

/** What was found for one vendor. */
export interface GpuBinds {
  /** The mounts to add. */
  mounts: OciMount[];
  /** How many libraries, binaries and devices were found. */
  found: { libraries: number; binaries: number; devices: number };
}

/**
 * Find the host's driver files for `--nv` or `--rocm`.
 *
 * @param vendor "nv" or "rocm".
 * @returns Bind mounts (read-only files, device nodes) and counts.
 */
export async function gpuBinds(vendor: "nv" | "rocm"): Promise<GpuBinds> {
  const root = (Deno.env.get("SINGLET_GPU_ROOT") ?? "").replace(/\/+$/, "");
  const mounts: OciMount[] = [];
  const seen = new Set<string>();
  let libraries = 0;
  for (const dir of LIB_DIRS) {
    let names: string[];
    try {
      names = (await Array.fromAsync(Deno.readDir(root + dir))).map((e) => e.name).sort();
    } catch {
      continue;
    }
    for (const name of names) {
      const base = (vendor === "nv" ? NV_LIBS : ROCM_LIBS).find((lib) =>
        name === lib || name.startsWith(`${lib}.`)
      );
      if (!base || seen.has(name)) continue;
      seen.add(name);
      mounts.push(fileBind(`${root}${dir}/${name}`, `/.singularity.d/libs/${name}`));
      libraries++;
    }
  }
  let binaries = 0;
  for (const name of vendor === "nv" ? NV_BINS : ROCM_BINS) {
    for (const dir of BIN_DIRS) {
      if (await isFile(`${root}${dir}/${name}`)) {
        mounts.push(fileBind(`${root}${dir}/${name}`, `/usr/bin/${name}`));
        binaries++;
        break;
      }
    }
  }
  let devices = 0;
  const devDir = `${root}/dev`;
  // Deno may not list the real /dev itself: listHostDir asks `ls` then
  for (const name of await listHostDir(devDir) ?? []) {
    const wanted = vendor === "nv"
      ? /^nvidia(\d+|ctl|-uvm|-uvm-tools|-modeset)$/.test(name)
      : name === "kfd";
    if (!wanted) continue;
    mounts.push(deviceBind(`${devDir}/${name}`, `/dev/${name}`));
    devices++;
  }
  if (vendor === "rocm" && (await statHost([`${devDir}/dri`])).size) {
    mounts.push(deviceBind(`${devDir}/dri`, "/dev/dri"));
    devices++;
  }
  return { mounts, found: { libraries, binaries, devices } };
}

function fileBind(source: string, destination: string): OciMount {
  return { destination, type: "bind", source, options: ["bind", "nosuid", "nodev", "ro"] };
}

/** Device nodes must stay usable: no nodev here. */
function deviceBind(source: string, destination: string): OciMount {
  return { destination, type: "bind", source, options: ["rbind", "nosuid"] };
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}
