/**
 * The `localimage` bootstrap agent: a SIF, a SquashFS image or a sandbox directory as the
 * base, its labels, environment and definition history carried over.
 *
 * @module
 */
import { SingletError } from "../../errors.ts";
import { DirectorySink } from "../../squashfs/directory_sink.ts";
import { DirectorySource } from "../../squashfs/directory_source.ts";
import { imageToSandbox, localImageKind } from "../image_build.ts";
import { type BootstrapContext, type BootstrapResult, headerValue } from "./agent.ts";

async function readText(path: string): Promise<string | undefined> {
  try {
    const info = await Deno.lstat(path);
    if (!info.isFile) return undefined;
    return await Deno.readTextFile(path);
  } catch {
    return undefined;
  }
}

/**
 * Fill the root filesystem from a local image.
 *
 * @param context The stage (its `From:` names the image), target and warnings.
 * @returns The image's labels, environment and definitions.
 */
export async function bootstrapLocalImage(context: BootstrapContext): Promise<BootstrapResult> {
  const from = headerValue(context.stage, "from");
  if (!from) {
    throw new SingletError(`Cannot bootstrap with "localimage": the header has no From: line`, {
      hint: `add "From: path/to/image.sif"`,
      exitCode: 255,
    });
  }
  const kind = await localImageKind(from);
  if (!kind) {
    throw new SingletError(
      `Cannot bootstrap from "${from}": not a SIF, a SquashFS image or a sandbox directory`,
      { hint: "check the From: path", exitCode: 255 },
    );
  }
  if (kind === "sandbox") {
    await Deno.mkdir(context.rootfs, { mode: 0o700 });
    const sink = new DirectorySink(context.rootfs, {
      onSkip: (path, reason) => context.onWarning(`${path}: ${reason}`),
    });
    await DirectorySource.scan(from, { skipUnreadable: true, onWarning: context.onWarning })
      .emit(sink);
    await sink.finish();
  } else {
    await imageToSandbox(from, context.rootfs, { onWarning: context.onWarning });
  }
  return await readBaseMetadata(context.rootfs, from, context.onWarning);
}

/**
 * What a root filesystem built before says about itself: its labels, its environment and
 * its definitions (oldest first), for a build on top of it (`localimage`, `--update`).
 *
 * @param rootfs The root filesystem directory.
 * @param name The image's name for warnings.
 * @param onWarning Receives warnings.
 * @returns The metadata found.
 */
export async function readBaseMetadata(
  rootfs: string,
  name: string,
  onWarning: (message: string) => void,
): Promise<BootstrapResult> {
  const meta = `${rootfs}/.singularity.d`;
  const result: BootstrapResult = {};
  const labels = await readText(`${meta}/labels.json`);
  if (labels) {
    try {
      result.existingLabels = JSON.parse(labels);
    } catch {
      onWarning(`${name}: /.singularity.d/labels.json is not valid JSON; ignored`);
    }
  }
  const env = await readText(`${meta}/env/90-environment.sh`);
  if (env !== undefined) result.existingEnvironment = env;
  const history: string[] = [];
  for (let i = 0;; i++) {
    const text = await readText(`${meta}/bootstrap_history/Singularity${i}`);
    if (text === undefined) break;
    history.push(text);
  }
  const def = await readText(`${meta}/Singularity`);
  if (def !== undefined) history.push(def);
  result.bootstrapHistory = history;
  return result;
}
