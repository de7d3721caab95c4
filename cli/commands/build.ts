/**
 * `singlet build`: build a SIF or sandbox from a definition file, a `build --json` document,
 * or an image URI/path (conversions), as `singularity build` does. The pipeline is
 * `core/build/build.ts`; scripts run through `runtime/build_runner.ts`.
 *
 * @module
 */
import { action, type Command, globalOptions, Option } from "../_command.ts";
import { log, printJson, Progress } from "../_output.ts";
import { SingletError, UsageError } from "../../core/errors.ts";
import { type Definition, definitionFromURI, parseDeffile } from "../../core/build/deffile.ts";
import { parseDeffileJSON } from "../../core/build/deffile_json.ts";
import { applyBuildArgs, mergeBuildArgs } from "../../core/build/build_args.ts";
import { buildImage } from "../../core/build/build.ts";
import type { RunnerBind } from "../../core/build/section_runner.ts";
import { wantedPlatform } from "../../core/oci/manifest.ts";
import { VERSION } from "../../core/version.ts";
import { buildRunner } from "../../runtime/build_runner.ts";
import { hostXattrReader } from "../../runtime/xattr_reader.ts";
import { hostXattrWriter } from "../../runtime/fsnodes.ts";
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
  update?: boolean;
  section?: string[];
  notest?: boolean;
  fixPerms?: boolean;
  fakeroot?: boolean;
  bind?: string[];
  buildArg?: string[];
  buildArgFile?: string;
  tmpdir?: string;
  json?: boolean;
  arch?: string;
  platform?: string;
  fullRebuild?: boolean;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

const URI_SCHEME = /^(docker|oci|oci-archive|docker-archive|docker-daemon|localimage):/;

/** Turn the SPEC argument into a definition. */
async function loadSpec(spec: string): Promise<{ def: Definition; cwd: string }> {
  const info = await Deno.stat(spec).catch(() => undefined);
  if (info?.isDirectory) {
    return { def: definitionFromURI(`localimage:${await Deno.realPath(spec)}`), cwd: Deno.cwd() };
  }
  if (!info) {
    if (URI_SCHEME.test(spec)) return { def: definitionFromURI(spec), cwd: Deno.cwd() };
    if (/^(library|oras|shub|https?):/.test(spec)) {
      throw new SingletError(`Cannot build from "${spec}": this source is not supported yet`, {
        hint: "pull the image with another tool and build from the file",
      });
    }
    throw new SingletError(`Cannot build from "${spec}": no such file, and not a known URI`, {
      hint: "give a definition file, an image, or a URI such as docker://alpine",
    });
  }
  const real = await Deno.realPath(spec);
  const cwd = real.slice(0, real.lastIndexOf("/")) || "/";
  const head = new Uint8Array(64);
  {
    using f = await Deno.open(spec, { read: true });
    await f.read(head);
  }
  const magic = new TextDecoder().decode(head.subarray(32, 41));
  const sqfs = new DataView(head.buffer).getUint32(0, true) === 0x73717368;
  if (magic === "SIF_MAGIC" || sqfs) {
    return { def: definitionFromURI(`localimage:${real}`), cwd };
  }
  const text = await Deno.readTextFile(spec);
  if (text.trimStart().startsWith("{")) return { def: parseDeffileJSON(text, spec), cwd };
  return { def: parseDeffile(text, spec), cwd };
}

function parseBind(item: string): RunnerBind[] {
  return item.split(",").filter((s) => s).map((one) => {
    const [source, dest, opts] = one.split(":");
    if (!source) throw new UsageError(`--bind "${one}": empty source`);
    return { source, destination: dest || source, readonly: opts === "ro" };
  });
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
    .argument("<output>", "the SIF file or (with --sandbox) directory to write")
    .argument("<spec>", "a definition file, a build --json file, an image, or a URI")
    .option("-F, --force", "overwrite an image file if it exists")
    .option("-s, --sandbox", "build image as sandbox format (chroot directory structure)")
    .option("-u, --update", "run definition over existing container (skips header)")
    .option(
      "--section <name>",
      "only run specific section(s) of deffile: pre, setup, files, post, environment, " +
        "runscript, startscript, test, help, labels, all, none (comma list, repeatable)",
      collect,
    )
    .option("-T, --notest", "build without running tests in %test section")
    .option("--fix-perms", "ensure owner has rwX permissions on all container content")
    .option(
      "-f, --fakeroot",
      "build using user namespace to fake root user (always on for non-root)",
    )
    .option(
      "-B, --bind <spec>",
      "a user-bind path specification for %post/%test (repeatable)",
      collect,
    )
    .option("--build-arg <KEY=VALUE>", "defines variable=value to replace {{ variable }}", collect)
    .option("--build-arg-file <file>", "file with variable=value lines to replace {{ variable }}")
    .option("--tmpdir <dir>", "specify a temporary directory to use for build")
    .option("--arch <arch>", "architecture for OCI bootstraps")
    .option("--platform <platform>", "platform (OS/Architecture[/Variant]) for OCI bootstraps")
    .option("--json", "print a JSON summary on stdout")
    .addOption(
      new Option("--full-rebuild", "never pass a localimage base through (benchmarks)").hideHelp(),
    );
  withNetworkFlags(command);
  command.addHelpText(
    "after",
    `
Examples:
  From a definition file:
      $ singlet build image.sif recipe.def
  Sandbox from Docker Hub, then back to a SIF:
      $ singlet build --sandbox ubuntu/ docker://ubuntu:24.04
      $ singlet build ubuntu.sif ubuntu/`,
  );
  command.action(action(async (output: string, spec: string, flags: BuildFlags, self: Command) => {
    const debug = !!globalOptions(self).debug;
    let { def, cwd } = await loadSpec(spec);
    const fileText = flags.buildArgFile
      ? await Deno.readTextFile(flags.buildArgFile).catch((error) => {
        throw new SingletError(`Cannot read "${flags.buildArgFile}": ${error.message}`, {
          hint: "check the path given to --build-arg-file",
        });
      })
      : undefined;
    if (def.raw) {
      const merged = mergeBuildArgs(flags.buildArg ?? [], fileText, flags.buildArgFile);
      for (const w of merged.warnings) log.warning(`${w.file}:${w.line}: ${w.message}`);
      const templated = applyBuildArgs(def, merged.args);
      def = templated.definition;
      for (const name of templated.unused) {
        log.warning(`Unused build argument: ${name}`);
      }
    }
    for (const w of def.warnings) log.warning(`${w.file}:${w.line}: ${w.message}`);
    if (flags.arch && flags.platform) {
      throw new UsageError("--arch and --platform cannot be used together");
    }
    const platform = wantedPlatform({
      ...(flags.platform ? { platform: flags.platform } : {}),
      ...(flags.arch ? { arch: flags.arch } : {}),
    });
    const tmpdir = flags.tmpdir ?? envFlag("TMPDIR");
    const explicit = flags.dockerLogin ? await promptCredentials() : undefined;
    const started = performance.now();
    let bar: Progress | undefined;
    const layerBytes = new Map<string, number>();
    let sum = 0;
    const logger = {
      warning: (m: string) => log.warning(m),
      info: (m: string) => log.info(m),
      debug: (m: string) => log.debug(m),
    };
    // Ctrl-C or a scheduler's SIGTERM: remove the temp directory and half-written SIF
    const temps: string[] = [];
    for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
      Deno.addSignalListener(signal, () => {
        for (const path of temps) {
          try {
            Deno.removeSync(path, { recursive: true });
          } catch {
            // gone, or owned by subordinate IDs (the directory is 0700: private)
          }
        }
        Deno.exit(code);
      });
    }
    const result = await buildImage(def, {
      onTempPath: (path) => temps.push(path),
      output,
      ...(flags.sandbox ? { sandbox: true } : {}),
      ...(flags.force ? { force: true } : {}),
      ...(flags.update ? { update: true } : {}),
      ...(flags.notest ? { notest: true } : {}),
      ...(flags.section ? { sections: flags.section.flatMap((s) => s.split(",")) } : {}),
      ...(flags.fixPerms ? { fixPerms: true } : {}),
      ...(flags.fullRebuild ? { fullRebuild: true } : {}),
      binds: (flags.bind ?? []).flatMap(parseBind),
      ...(tmpdir ? { tmpdir } : {}),
      runner: buildRunner(logger),
      oci: {
        events: {
          onLayers: (layers) => {
            bar?.done();
            const total = layers.reduce((n, l) => n + l.size, 0);
            layerBytes.clear();
            sum = 0;
            bar = new Progress(
              `Fetching ${layers.length} layer${layers.length === 1 ? "" : "s"}`,
              total,
            );
          },
          onProgress: (desc, bytes) => {
            sum += bytes - (layerBytes.get(desc.digest) ?? 0);
            layerBytes.set(desc.digest, bytes);
            bar?.update(sum);
          },
        },
        ...(Number(envFlag("DOWNLOAD_CONCURRENCY")) > 0
          ? { concurrency: Number(envFlag("DOWNLOAD_CONCURRENCY")) }
          : {}),
        platform,
        http: httpOptionsFrom(flags, debug),
        credentials: {
          ...(flags.authfile ? { authfile: flags.authfile } : {}),
          ...(explicit ? { explicit } : {}),
        },
      },
      cwd,
      version: VERSION,
      onStep: (m) => {
        bar?.done();
        bar = undefined;
        log.info(m);
      },
      onWarning: (m) => log.warning(m),
      // Deno cannot read or set xattrs: getfattr/setfattr keep them through the build.
      xattrs: hostXattrReader({ onWarning: (m) => log.warning(m) }),
      xattrWriter: hostXattrWriter(),
      onPack: (bytes, total) => {
        bar ??= new Progress("Packing SquashFS", total);
        bar.update(bytes);
      },
    });
    bar?.done();
    const seconds = (performance.now() - started) / 1000;
    if (flags.json) {
      printJson({
        output: result.output,
        format: result.kind,
        size: result.size,
        stages: result.stages,
        seconds: Math.round(seconds * 1000) / 1000,
      });
    } else {
      log.info(`Build complete: ${result.output}`);
    }
  }));
}
