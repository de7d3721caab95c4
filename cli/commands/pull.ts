/**
 * `singlet pull`: fetch an image from a registry, an OCI layout or archive, a Docker archive
 * or daemon, or a URL, and write it as a SIF, as `singularity pull` does.
 *
 * @module
 */
import { action, type Command, globalOptions, Option } from "../_command.ts";
import { log, printJson, Progress } from "../_output.ts";
import { ask } from "../_prompt.ts";
import { SingletError, UsageError } from "../../core/errors.ts";
import { defaultOutputName, parseImageReference } from "../../core/oci/reference.ts";
import { formatPlatform, wantedPlatform } from "../../core/oci/manifest.ts";
import { abandonPendingOutputs, pullImage } from "../../core/oci/pull.ts";
import type { Credentials } from "../../core/oci/auth.ts";
import type { HttpOptions } from "../../core/oci/http.ts";

/** Flags shared by the commands that talk to registries. */
export interface NetworkFlags {
  /** --no-https. */
  https?: boolean;
  /** --ca-file. */
  caFile?: string;
  /** --authfile. */
  authfile?: string;
  /** --docker-login. */
  dockerLogin?: boolean;
}

/**
 * The value of a Singularity-style environment variable under any of its prefixes.
 *
 * @param name The name without prefix, e.g. "DISABLE_CACHE".
 * @returns The first value found among SINGLET_, SINGULARITY_ and APPTAINER_.
 */
export function envFlag(name: string): string | undefined {
  for (const prefix of ["SINGLET_", "SINGULARITY_", "APPTAINER_"]) {
    const value = Deno.env.get(prefix + name);
    if (value !== undefined && value !== "") return value;
  }
  return undefined;
}

function truthy(value: string | undefined): boolean {
  return value !== undefined && !/^(0|false|no|off)$/i.test(value);
}

/**
 * HTTP settings from the flags and environment.
 *
 * @param flags The parsed flags.
 * @param debug Whether to trace requests (URLs redacted).
 * @returns The options.
 */
export function httpOptionsFrom(flags: NetworkFlags, debug: boolean): HttpOptions {
  const idle = Number(envFlag("NET_IDLE_TIMEOUT") ?? "");
  const caFile = flags.caFile ?? envFlag("CA_FILE");
  // Per-registry plain HTTP, for sites with one local registry among TLS ones.
  const insecure = (envFlag("INSECURE_REGISTRIES") ?? "").split(",").map((h) => h.trim())
    .filter((h) => h);
  return {
    ...(flags.https === false || truthy(envFlag("NOHTTPS")) ? { allowHttp: true } : {}),
    ...(insecure.length ? { insecureHosts: insecure } : {}),
    ...(caFile ? { caFile } : {}),
    ...(idle > 0
      ? { idleTimeoutMs: idle * 1000, headersTimeoutMs: Math.max(idle * 1000, 1000) }
      : {}),
    ...(debug ? { debug: (m: string) => log.debug(m) } : {}),
  };
}

/**
 * Prompt for registry credentials (`--docker-login`).
 *
 * @returns The credentials typed.
 */
export async function promptCredentials(): Promise<Credentials> {
  const username = await ask("Enter Docker Username: ");
  const password = await ask("Enter Docker Password: ", true);
  if (!username) throw new UsageError("a user name is required for --docker-login");
  return { username, password };
}

/**
 * Add the registry flags to a command.
 *
 * @param command The command.
 * @returns The command.
 */
export function withNetworkFlags(command: Command): Command {
  return command
    .option(
      "--no-https",
      "use http instead of https for docker:// registries (local registries only)",
    )
    .option(
      "--ca-file <file>",
      "trust the CA certificates in this PEM file as well as the system's",
    )
    .option("--authfile <file>", "docker-style auth file to use for registry credentials")
    .option("--docker-login", "login to a Docker Repository interactively");
}

interface PullFlags extends NetworkFlags {
  force?: boolean;
  dir?: string;
  name?: string;
  arch?: string;
  platform?: string;
  disableCache?: boolean;
  json?: boolean;
  fetchOnly?: boolean;
  cacheFirst?: boolean;
}

/**
 * Register `singlet pull`.
 *
 * @param program The root program.
 */
export function registerPull(program: Command): void {
  const command = program
    .command("pull")
    .description("Pull an image from a URI")
    .usage("[pull options...] [output file] <URI>")
    .argument("[output]", "the SIF file to write (default: <name>_<tag>.sif)")
    .argument("[uri]", "docker://, oci:, oci-archive:, docker-archive:, docker-daemon:, http(s)://")
    .option("-F, --force", "overwrite an image file if it exists")
    .option("--dir <dir>", "download images to the specific directory")
    .addOption(new Option("--name <name>", "specify a custom image name").hideHelp())
    .option("--arch <arch>", "architecture to pull from library or registry")
    .option("--platform <platform>", "platform (OS/Architecture[/Variant]) to pull")
    .option("--disable-cache", "do not use or create cached images/blobs")
    .option("--cache-first", "use the image this URI gave last time if it is cached (no network)")
    .option("--json", "print a JSON summary on stdout")
    .addOption(
      new Option("--fetch-only", "only fetch and verify the image into the cache (no SIF)")
        .hideHelp(),
    );
  withNetworkFlags(command);
  command.addHelpText(
    "after",
    `
Examples:
  From Docker Hub:
      $ singlet pull docker://ubuntu:24.04
  From a local registry over http:
      $ singlet pull --no-https busybox.sif docker://localhost:5000/busybox
  From an OCI layout or archive:
      $ singlet pull oci:./layout:latest
      $ singlet pull docker-archive:image.tar.gz`,
  );
  command.action(action(async (
    first: string | undefined,
    second: string | undefined,
    flags: PullFlags,
    self: Command,
  ) => {
    const debug = !!globalOptions(self).debug;
    const uri = second ?? first;
    if (!uri) throw new UsageError("pull needs a URI, e.g. docker://ubuntu:24.04");
    let ref;
    try {
      ref = parseImageReference(uri);
    } catch (error) {
      throw new SingletError(`Cannot pull "${uri}": ${(error as Error).message}`, {
        hint: (error as { hint?: string }).hint ??
          "see 'singlet pull --help' for the forms accepted",
        exitCode: 5,
      });
    }
    if (flags.arch && flags.platform) {
      throw new UsageError("--arch and --platform cannot be used together");
    }
    const arch = flags.arch ?? envFlag("PULL_ARCH") ?? envFlag("ARCH");
    const platformFlag = flags.platform ?? envFlag("PLATFORM");
    const platform = wantedPlatform({
      ...(platformFlag ? { platform: platformFlag } : {}),
      ...(arch ? { arch } : {}),
    });
    let output = second ? first! : flags.name ?? defaultOutputName(ref);
    const dir = flags.dir ?? envFlag("PULLDIR") ?? envFlag("PULLFOLDER");
    if (dir && !output.startsWith("/")) output = `${dir.replace(/\/+$/, "")}/${output}`;
    const explicit = flags.dockerLogin ? await promptCredentials() : undefined;
    const disableCache = !!flags.disableCache || truthy(envFlag("DISABLE_CACHE"));

    // Ctrl-C or a scheduler's SIGTERM: remove half-written outputs, then end as interrupted.
    for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
      Deno.addSignalListener(signal, () => {
        abandonPendingOutputs();
        Deno.exit(code);
      });
    }
    let bar: Progress | undefined;
    const layerBytes = new Map<string, number>();
    let sum = 0;
    const result = await pullImage(ref, {
      output,
      force: !!flags.force || truthy(envFlag("FORCE")),
      ...(flags.fetchOnly ? { fetchOnly: true } : {}),
      ...(flags.cacheFirst || truthy(envFlag("CACHE_FIRST")) ? { cacheFirst: true } : {}),
      disableCache,
      platform,
      http: httpOptionsFrom(flags, debug),
      credentials: {
        ...(flags.authfile ? { authfile: flags.authfile } : {}),
        ...(explicit ? { explicit } : {}),
      },
      ...(Number(envFlag("DOWNLOAD_CONCURRENCY")) > 0
        ? { concurrency: Number(envFlag("DOWNLOAD_CONCURRENCY")) }
        : {}),
      uri,
      onConvert: (bytes) => {
        if (!bar) {
          log.info("Converting OCI blobs to SIF format");
          bar = new Progress("Creating SIF");
        }
        bar.update(bytes);
      },
      onWarning: (message) => log.warning(message),
      onDownload: (bytes, total) => {
        bar ??= new Progress("Downloading", total);
        bar.update(bytes);
      },
      onFetched: (image) => {
        bar?.done();
        bar = undefined;
        const arch = image.config.architecture;
        if (!image.platform && arch && arch !== platform.architecture) {
          log.warning(
            `The image's architecture (${arch}) differs from the one requested ` +
              `(${platform.architecture}); it may not run here`,
          );
        }
        log.verbose(
          `Image manifest ${image.manifestDigest}` +
            (image.platform ? ` for ${formatPlatform(image.platform)}` : ""),
        );
      },
      events: {
        onLayers: (layers) => {
          const total = layers.reduce((n, l) => n + l.size, 0);
          bar = new Progress(
            `Fetching ${layers.length} layer${layers.length === 1 ? "" : "s"}`,
            total,
          );
        },
        onLayer: (desc, index, cached) => {
          log.verbose(
            `${cached ? "Using cached" : "Copying"} blob ${desc.digest} (layer ${index + 1})`,
          );
        },
        onProgress: (desc, bytes) => {
          sum += bytes - (layerBytes.get(desc.digest) ?? 0);
          layerBytes.set(desc.digest, bytes);
          bar?.update(sum);
        },
        onWait: (desc) => log.verbose(`Waiting for another process to download ${desc.digest}`),
      },
    });
    bar?.done();
    if (flags.json) {
      printJson(result);
    } else {
      log.info(
        flags.fetchOnly
          ? `Fetched ${result.manifestDigest} into the cache`
          : result.sifCached
          ? `Using cached SIF image`
          : `Wrote ${result.output}`,
      );
    }
  }));
}
