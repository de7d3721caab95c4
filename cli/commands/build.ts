/**
 * `singlet build`: build a SIF or a sandbox directory from an image URI (docker://, oci:,
 * oci-archive:, docker-archive:, docker-daemon:), a SIF, a SquashFS image or a sandbox, as
 * `singularity build` does. Definition files are refused with a clear error until the
 * definition-file pipeline lands.
 *
 * @module
 */
import { action, type Command, globalOptions } from "../_command.ts";
import { log, printJson, Progress } from "../_output.ts";
import { SingletError, UsageError } from "../../core/errors.ts";
import { type ImageReference, parseImageReference } from "../../core/oci/reference.ts";
import { wantedPlatform } from "../../core/oci/manifest.ts";
import { buildFromImage, localImageKind } from "../../core/build/image_build.ts";
import {
  envFlag,
  httpOptionsFrom,
  type NetworkFlags,
  promptCredentials,
  withNetworkFlags,
} from "./pull.ts";

interface BuildFlags extends NetworkFlags {
  force?: boolean;
  sandbox?: boolean;
  json?: boolean;
  disableCache?: boolean;
  arch?: string;
}

function truthy(value: string | undefined): boolean {
  return value !== undefined && !/^(0|false|no|off)$/i.test(value);
}

/** A spec is a URI when it starts with a transport name we know, and is not a local path. */
async function referenceOf(spec: string): Promise<ImageReference | undefined> {
  if (!/^[a-z][a-z0-9+.-]*:/.test(spec)) return undefined;
  if (await localImageKind(spec)) return undefined; // a file named "oci:thing" wins
  try {
    return parseImageReference(spec);
  } catch (error) {
    throw new SingletError(`Cannot build from "${spec}": ${(error as Error).message}`, {
      hint: (error as { hint?: string }).hint ??
        "see 'singlet build --help' for the forms accepted",
      exitCode: 255,
    });
  }
}

/**
 * Register `singlet build`.
 *
 * @param program The root program.
 */
export function registerBuild(program: Command): void {
  const command = program
    .command("build")
    .description("Build a Singularity image")
    .usage("[build options...] <image path> <build spec>")
    .argument("<output>", "the SIF file or sandbox directory to write")
    .argument("<spec>", "an image URI, a SIF or SquashFS image, or a sandbox directory")
    .option("-F, --force", "overwrite an image file if it exists")
    .option("-s, --sandbox", "build image as sandbox format (chroot directory structure)")
    .option("--arch <arch>", "architecture for container build")
    .option("--disable-cache", "do not use cache or create cache")
    .option("--json", "print a JSON summary on stdout");
  withNetworkFlags(command);
  command.addHelpText(
    "after",
    `
Examples:
  From an image in a registry:
      $ singlet build ubuntu.sif docker://ubuntu:24.04
  A sandbox from an OCI archive, then a SIF from the sandbox:
      $ singlet build --sandbox ./rootfs oci-archive:image.tar
      $ singlet build image.sif ./rootfs
  A sandbox from a SIF:
      $ singlet build --sandbox ./rootfs image.sif`,
  );
  command.action(action(async (output: string, spec: string, flags: BuildFlags, self: Command) => {
    const debug = !!globalOptions(self).debug;
    if (!output || !spec) throw new UsageError("build needs an output path and a build spec");
    const ref = await referenceOf(spec);
    if (!ref) {
      const info = await Deno.stat(spec).catch(() => undefined);
      if (info?.isFile && !(await localImageKind(spec))) {
        throw new SingletError(
          `Cannot build from definition file "${spec}": definition-file builds are not available in this build`,
          {
            hint: "build from an image URI, a SIF or a sandbox; definition files come with the " +
              "build pipeline",
            exitCode: 255,
          },
        );
      }
    }
    const force = !!flags.force || truthy(envFlag("FORCE"));
    const arch = flags.arch ?? envFlag("BUILD_ARCH") ?? envFlag("ARCH");
    const explicit = flags.dockerLogin ? await promptCredentials() : undefined;
    let bar: Progress | undefined;
    const result = await buildFromImage(output, spec, ref, {
      ...(flags.sandbox ? { sandbox: true } : {}),
      force,
      onWarning: (message) => log.warning(message),
      pull: {
        platform: wantedPlatform(arch ? { arch } : {}),
        disableCache: !!flags.disableCache || truthy(envFlag("DISABLE_CACHE")),
        http: httpOptionsFrom(flags, debug),
        credentials: {
          ...(flags.authfile ? { authfile: flags.authfile } : {}),
          ...(explicit ? { explicit } : {}),
        },
        onWarning: (message) => log.warning(message),
        onConvert: (bytes) => {
          bar ??= new Progress("Creating SIF");
          bar.update(bytes);
        },
      },
    });
    bar?.done();
    if (flags.json) printJson(result);
    else log.info(`Build complete: ${result.output}`);
  }));
}
