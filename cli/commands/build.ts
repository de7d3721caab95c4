/**
 * `singlet build`: build a SIF or a sandbox directory from an image URI (docker://, oci:,
 * oci-archive:, docker-archive:, docker-daemon:), a SIF, a SquashFS image or a sandbox, as
 * `singularity build` does; or from a definition file (or `build --json` file) through the
 * pipeline in `core/build/build.ts`.
 *
 * @module
 */
import { action, type Command, globalOptions } from "../_command.ts";
import { log, printJson, Progress } from "../_output.ts";
import { SingletError, UsageError } from "../../core/errors.ts";
import { type ImageReference, parseImageReference } from "../../core/oci/reference.ts";
import { wantedPlatform } from "../../core/oci/manifest.ts";
import { buildFromImage, localImageKind } from "../../core/build/image_build.ts";
import { parseDeffile } from "../../core/build/deffile.ts";
import { parseDeffileJSON } from "../../core/build/deffile_json.ts";
import { applyBuildArgs, mergeBuildArgs } from "../../core/build/build_args.ts";
import { buildDefinition } from "../../core/build/build.ts";
import { buildRunner } from "../../runtime/build_runner.ts";
import { parseBinds } from "../_action_flags.ts";
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
  notest?: boolean;
  section?: string[];
  update?: boolean;
  fakeroot?: boolean;
  bind?: string[];
  buildArg?: string[];
  buildArgFile?: string;
  tmpdir?: string;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
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
    .argument("<spec>", "a definition file, an image URI, a SIF or SquashFS image, or a sandbox")
    .option("-F, --force", "overwrite an image file if it exists")
    .option("-s, --sandbox", "build image as sandbox format (chroot directory structure)")
    .option("--arch <arch>", "architecture for container build")
    .option("--disable-cache", "do not use cache or create cache")
    .option("--json", "print a JSON summary on stdout")
    .option("-T, --notest", "build without running the %test section")
    .option("--section <sections>", "only run specific section(s) of the deffile", collect)
    .option("-u, --update", "run definition over existing container (skips header)")
    .option("-f, --fakeroot", "build as root inside a user namespace (always on: no setuid)")
    .option("-B, --bind <spec>", "a user-bind path specification for %post and %test", collect)
    .option("--build-arg <KEY=VALUE>", "a variable for the {{ KEY }} placeholders", collect)
    .option("--build-arg-file <file>", "a file of KEY=VALUE lines for the placeholders")
    .option("--tmpdir <dir>", "where the temporary build sandbox is made");
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
    const force = !!flags.force || truthy(envFlag("FORCE"));
    const arch = flags.arch ?? envFlag("BUILD_ARCH") ?? envFlag("ARCH");
    const explicit = flags.dockerLogin ? await promptCredentials() : undefined;
    const pull = {
      platform: wantedPlatform(arch ? { arch } : {}),
      disableCache: !!flags.disableCache || truthy(envFlag("DISABLE_CACHE")),
      http: httpOptionsFrom(flags, debug),
      credentials: {
        ...(flags.authfile ? { authfile: flags.authfile } : {}),
        ...(explicit ? { explicit } : {}),
      },
      onWarning: (message: string) => log.warning(message),
    };
    if (!ref) {
      const info = await Deno.stat(spec).catch(() => undefined);
      if (info?.isFile && !(await localImageKind(spec))) {
        const text = await Deno.readTextFile(spec);
        const parsed = /\.json$/i.test(spec) || /^\s*\{/.test(text)
          ? parseDeffileJSON(text, spec)
          : parseDeffile(text, spec);
        const fileText = flags.buildArgFile
          ? await Deno.readTextFile(flags.buildArgFile)
          : undefined;
        const merged = mergeBuildArgs(flags.buildArg ?? [], fileText, flags.buildArgFile);
        const { definition, unused } = applyBuildArgs(parsed, merged.args);
        for (const w of [...merged.warnings, ...definition.warnings]) {
          log.warning(`${w.file}:${w.line}: ${w.message}`);
        }
        if (unused.length) {
          log.warning(`Unused build args: ${unused.join(", ")}`);
        }
        const tmpdir = flags.tmpdir ?? envFlag("TMPDIR");
        const result = await buildDefinition(definition, output, {
          ...(flags.sandbox ? { sandbox: true } : {}),
          force,
          ...(flags.update ? { update: true } : {}),
          ...(flags.notest ? { notest: true } : {}),
          ...(flags.section
            ? { sections: flags.section.flatMap((s) => s.split(",")).map((s) => s.trim()) }
            : {}),
          ...(tmpdir ? { tmpdir } : {}),
          pull,
          runner: buildRunner({
            binds: parseBinds(flags.bind ?? []),
            logger: {
              warning: (message) => log.warning(message),
              info: (message) => log.info(message),
              debug: (message) => log.debug(message),
            },
          }),
          onInfo: (message) => log.info(message),
          onWarning: (message) => log.warning(message),
        });
        if (flags.json) printJson(result);
        else log.info(`Build complete: ${result.output}`);
        return;
      }
    }
    let bar: Progress | undefined;
    const result = await buildFromImage(output, spec, ref, {
      ...(flags.sandbox ? { sandbox: true } : {}),
      force,
      onWarning: (message) => log.warning(message),
      pull: {
        ...pull,
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
