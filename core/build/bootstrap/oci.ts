/**
 * The OCI bootstrap agents: `docker` (with `Registry:` and `Namespace:`), `docker-archive`,
 * `docker-daemon`, `oci`, `oci-archive`. The image is fetched through the pull code's cache
 * and unpacked into the root filesystem with its `/.singularity.d` base layout.
 *
 * @module
 */
import { SingletError } from "../../errors.ts";
import { parseImageReference } from "../../oci/reference.ts";
import { pullImage } from "../../oci/pull.ts";
import type { CachedImage } from "../../oci/fetch_image.ts";
import { ociToSandbox } from "../image_build.ts";
import { type BootstrapContext, type BootstrapResult, headerValue } from "./agent.ts";

/**
 * The source URI a stage's header names, as `singularity build` composes it.
 *
 * @param agent The lower-case bootstrap agent.
 * @param context The stage header.
 * @returns e.g. `docker://registry.example/ns/alpine:3`.
 * @throws {SingletError} When `From:` is missing.
 */
export function ociSourceURI(agent: string, context: Pick<BootstrapContext, "stage">): string {
  const from = headerValue(context.stage, "from");
  if (!from) {
    throw new SingletError(`Cannot bootstrap with "${agent}": the header has no From: line`, {
      hint: `add e.g. "From: ${agent === "docker" ? "alpine:3.20" : "path/to/image"}"`,
      exitCode: 255,
    });
  }
  if (agent !== "docker") return `${agent}:${from}`;
  const registry = headerValue(context.stage, "registry");
  const namespace = headerValue(context.stage, "namespace");
  let name = from.replace(/^docker:\/\//, "");
  if (namespace && !name.includes("/")) name = `${namespace.replace(/\/+$/, "")}/${name}`;
  if (registry) name = `${registry.replace(/\/+$/, "")}/${name}`;
  return `docker://${name}`;
}

/**
 * Fill the root filesystem from an OCI source.
 *
 * @param agent The lower-case agent name.
 * @param context The stage, target and pull settings.
 * @returns The image config.
 */
export async function bootstrapOci(
  agent: string,
  context: BootstrapContext,
): Promise<BootstrapResult> {
  const uri = ociSourceURI(agent, context);
  let ref;
  try {
    ref = parseImageReference(uri);
  } catch (error) {
    throw new SingletError(`Cannot bootstrap from "${uri}": ${(error as Error).message}`, {
      hint: "check the From:, Registry: and Namespace: lines",
      exitCode: 255,
    });
  }
  let image: CachedImage | undefined;
  await pullImage(ref, {
    ...context.pull,
    output: context.rootfs,
    force: true,
    fetchOnly: true,
    uri,
    onFetched: (fetched) => {
      image = fetched;
    },
  });
  await ociToSandbox(image!, context.rootfs, { onWarning: context.onWarning });
  const config = image!.config;
  return {
    ociConfig: {
      Env: config.env,
      Entrypoint: config.entrypoint,
      Cmd: config.cmd,
      WorkingDir: config.workingDir,
      User: config.user,
      Labels: config.labels,
    },
  };
}
