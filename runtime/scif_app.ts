/**
 * `--app NAME` for `run`, `exec`, `shell` and `test`: SCIF apps as SingularityCE runs them.
 * The runtime checks the app exists (`/scif/apps/NAME`) and sets `SINGULARITY_APPNAME`
 * (and its `APPTAINER_`/`SCIF_` twins) on the process; the rest happens inside the
 * container, in the image's `/.singularity.d/env/95-apps.sh` (the app's `bin` on PATH,
 * `lib` on LD_LIBRARY_PATH, its `scif/env` scripts sourced after the image's environment)
 * and in the action script (`action_script.ts`: the app's runscript for `run`, its test for
 * `test`, the same activation for images without `95-apps.sh`, and the active app's
 * `SCIF_APPBIN`/`SCIF_APPLIB`/`SCIF_APPRUN`/... variables).
 *
 * @module
 */
import { SingletError } from "../core/errors.ts";

/** App names SingularityCE's parser accepts (`%apprun NAME`). */
const APP_NAME = /^[A-Za-z0-9_.-]+$/;

/**
 * Check that an image has an app and return the variables that select it.
 *
 * @param files The image's files (only `listDir` is used).
 * @param name The app (`--app NAME`).
 * @param image The image path, for the message.
 * @returns Variables to set on the container process.
 * @throws {SingletError} When the image has no such app (exit 255): one line naming the
 *   apps it has.
 */
export async function appVariables(
  files: { listDir(path: string): Promise<string[] | undefined> },
  name: string,
  image: string,
): Promise<Record<string, string>> {
  const apps = ((await files.listDir("/scif/apps")) ?? []).filter((app) => APP_NAME.test(app))
    .sort();
  if (!APP_NAME.test(name) || name === "." || name === ".." || !apps.includes(name)) {
    const there = apps.length ? `its apps are ${apps.join(", ")}` : "it has no apps";
    throw new SingletError(`Cannot find app "${name}" in "${image}": ${there}`);
  }
  return { SINGULARITY_APPNAME: name, APPTAINER_APPNAME: name, SCIF_APPNAME: name };
}
