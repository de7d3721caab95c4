/**
 * `Bootstrap: busybox`, as SingularityCE does it: `MirrorURL:` names a static busybox
 * binary, downloaded to `/bin/busybox` (0755) with a minimal `/etc/passwd`, `/etc/group`
 * and `/etc/hosts`, then `busybox --install /bin` makes its applet links (hard links).
 *
 * SingularityCE runs the downloaded binary on the host; singlet runs it in the build
 * container on the new tree (fake root for an unprivileged caller), so nothing downloaded
 * runs outside a container. `/bin/sh` is linked first so that the container's action script
 * has a shell (busybox skips links that exist).
 *
 * @module
 */
import { SingletError } from "../../errors.ts";
import type { Stage } from "../deffile.ts";
import type { SectionRunner } from "../section_runner.ts";

/** Files SingularityCE's busybox agent writes (its `/etc/group` line, leading space and all). */
const BASE_FILES: Record<string, string> = {
  "etc/passwd": "root:!:0:0:root:/root:/bin/sh",
  "etc/group": " root:x:0:",
  "etc/hosts": "127.0.0.1   localhost localhost.localdomain localhost4 localhost4.localdomain4",
};

/**
 * Download `url` to `path`, refusing a short or failed transfer.
 *
 * @param url The busybox binary's URL.
 * @param path Where to write it.
 * @throws {SingletError} On HTTP or size errors.
 */
async function download(url: string, path: string): Promise<void> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new SingletError(`Cannot download busybox from "${url}": ${(error as Error).message}`, {
      hint: "check the MirrorURL: header (the URL of a static busybox binary)",
      cause: error,
    });
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw new SingletError(
      `Cannot download busybox from "${url}": HTTP ${response.status} ${response.statusText}`,
      { hint: "check the MirrorURL: header (the URL of a static busybox binary)" },
    );
  }
  const expected = Number(response.headers.get("content-length") ?? NaN);
  let written = 0;
  {
    using file = await Deno.open(path, { write: true, createNew: true, mode: 0o755 });
    for await (const chunk of response.body) {
      written += chunk.length;
      let offset = 0;
      while (offset < chunk.length) offset += await file.write(chunk.subarray(offset));
    }
  }
  if (Number.isFinite(expected) && written !== expected) {
    throw new SingletError(
      `Cannot download busybox from "${url}": received ${written} bytes of ${expected}`,
      { hint: "retry the build" },
    );
  }
  await Deno.chmod(path, 0o755);
}

/**
 * Fill `rootfs` with busybox and its applet links.
 *
 * @param stage The stage (`MirrorURL:`).
 * @param rootfs The empty target directory.
 * @param runner Runs `busybox --install` in the build container.
 * @throws {SingletError} When the header, the download or the install fails.
 */
export async function bootstrapBusybox(
  stage: Stage,
  rootfs: string,
  runner: SectionRunner | undefined,
): Promise<void> {
  const url = stage.header.get("mirrorurl")?.trim();
  if (!url) {
    throw new SingletError(`Cannot bootstrap "busybox": the header has no "MirrorURL:"`, {
      hint: "add 'MirrorURL: <URL of a static busybox binary>', e.g. " +
        "https://www.busybox.net/downloads/binaries/1.35.0-x86_64-linux-musl/busybox",
    });
  }
  if (!runner) {
    throw new SingletError(`Cannot bootstrap "busybox": no runtime to run busybox --install`, {
      hint: "run the build with the singlet command line",
    });
  }
  await Deno.mkdir(`${rootfs}/bin`, { mode: 0o755 });
  await Deno.mkdir(`${rootfs}/etc`, { mode: 0o755 });
  for (const [path, text] of Object.entries(BASE_FILES)) {
    await Deno.writeTextFile(`${rootfs}/${path}`, text, { mode: 0o664, createNew: true });
    await Deno.chmod(`${rootfs}/${path}`, 0o664);
  }
  await download(url, `${rootfs}/bin/busybox`);
  await Deno.link(`${rootfs}/bin/busybox`, `${rootfs}/bin/sh`);
  const code = await runner.runInContainer(rootfs, ["/bin/busybox", "--install", "/bin"], {}, []);
  if (code !== 0) {
    throw new SingletError(
      `Cannot bootstrap "busybox": busybox --install exited with status ${code}`,
      { hint: `check that MirrorURL "${url}" is a static busybox binary for this machine` },
    );
  }
}
