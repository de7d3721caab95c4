/**
 * Bootstrap agents: fill an empty sandbox directory with a stage's base root filesystem,
 * as SingularityCE's `Bootstrap:` header names it.
 *
 * - `docker`, `docker-archive`, `docker-daemon`, `oci`, `oci-archive`: fetched through
 *   `core/oci` into the blob cache (`From:`, `Registry:`, `Namespace:`), layers merged into
 *   the sandbox (whiteouts resolved, nothing written outside it);
 * - `localimage`: a SIF, a SquashFS file or a sandbox directory, copied;
 * - `scratch`: nothing;
 * - `debootstrap` (`debootstrap.ts`), `yum`/`dnf` (`yum.ts`), `zypper` (`zypper.ts`), `arch`
 *   (`arch.ts`): the host's tool through the {@linkcode SectionRunner}, as root or as root of
 *   the fakeroot user namespace; a one-line error naming the tool when it is not installed;
 * - `busybox` (`busybox.ts`): a busybox binary downloaded from `MirrorURL:`, its applet links
 *   made in the build container;
 * - `library`, `oras`, `shub`: refused with a {@linkcode SingletError} and a hint (pulling
 *   those is not implemented).
 *
 * @module
 */
import { SingletError } from "../../errors.ts";
import type { Stage } from "../deffile.ts";
import type { SectionRunner } from "../section_runner.ts";
import { DirectorySink } from "../../squashfs/directory_sink.ts";
import { type EntryMeta, ForwardingSink, type SinkEntryKind } from "../../squashfs/fstree.ts";
import { DirectorySource, type XattrProvider } from "../../squashfs/directory_source.ts";
import { mergeLayers } from "../../squashfs/layers.ts";
import { extractSquashfs, type XattrWriter } from "../../squashfs/extract.ts";
import { SquashfsReader } from "../../squashfs/reader.ts";
import { openSif } from "../../sif/load.ts";
import { parseImageReference } from "../../oci/reference.ts";
import { pullImage, type PullOptions } from "../../oci/pull.ts";
import { layerTarStream } from "../../oci/layer_stream.ts";
import { ociConfigJson } from "../../oci/convert.ts";
import type { CachedImage } from "../../oci/fetch_image.ts";
import type { ImageConfigLike } from "../../image/singularity_d.ts";
import { debootstrap } from "./debootstrap.ts";
import { bootstrapYum } from "./yum.ts";
import { bootstrapZypper } from "./zypper.ts";
import { bootstrapArch } from "./arch.ts";
import { bootstrapBusybox } from "./busybox.ts";

/** What a bootstrap learned about its base, for the metadata written later. */
export interface BootstrapResult {
  /** The OCI image config of an OCI base. */
  ociConfig?: ImageConfigLike;
  /** Go-style architecture of the base, when known. */
  arch?: string;
  /** The SIF's `oci-config.json` object for an OCI base (USER, WORKDIR... for the runtime). */
  ociConfigJson?: string;
  /**
   * Owners the base gave its entries (path without leading `/` to uid, gid), other than
   * root's, when the sandbox could not keep them (an unprivileged build cannot chown):
   * packing restores them.
   */
  owners?: Map<string, [number, number]>;
}

/** Remembers non-root owners on the way to the sandbox (unprivileged extraction). */
class OwnerRecorder extends ForwardingSink {
  readonly owners = new Map<string, [number, number]>();
  readonly #decoder = new TextDecoder();

  protected override visit(path: Uint8Array, meta: EntryMeta, kind: SinkEntryKind): EntryMeta {
    // directories, files and links: what the sandbox's packing restores
    if (
      (kind === "directory" || kind === "file" || kind === "symlink") &&
      (meta.uid !== 0 || meta.gid !== 0)
    ) {
      this.owners.set(this.#decoder.decode(path), [meta.uid, meta.gid]);
    }
    return meta;
  }
}

/** Settings the OCI agents pass to `core/oci`. */
export type OciFetchOptions = Omit<PullOptions, "output" | "fetchOnly" | "onFetched">;

/** Context of a bootstrap. */
export interface BootstrapContext {
  /** Runs `debootstrap`; absent when no runtime is available. */
  runner?: SectionRunner;
  /** Registry, cache and platform settings for OCI agents. */
  oci: OciFetchOptions;
  /** Directory relative `From:` paths start from. */
  cwd: string;
  /** Progress of layer merges or copies (bytes). */
  onProgress?: (bytes: number) => void;
  /** Warnings (skipped device nodes...). */
  onWarning?: (message: string) => void;
  /** Reads a directory's extended attributes (localimage from a sandbox). */
  xattrs?: XattrProvider;
  /** Sets extended attributes in the new root filesystem (from layers, images, sandboxes). */
  xattrWriter?: XattrWriter;
}

const OCI_AGENTS = new Set(["docker", "docker-archive", "docker-daemon", "oci", "oci-archive"]);

/**
 * The source URI an OCI agent's header names (`From:` with `Registry:`/`Namespace:` for
 * `docker`).
 *
 * @param agent The lower-cased agent.
 * @param header The stage header.
 * @returns A URI `core/oci` parses.
 */
export function ociSourceURI(agent: string, header: ReadonlyMap<string, string>): string {
  const from = header.get("from")?.trim();
  if (!from) {
    throw new SingletError(`Cannot bootstrap from ${agent}: the header has no "From:"`, {
      hint: "add e.g. 'From: alpine:3.20' to the header",
    });
  }
  if (agent !== "docker") return `${agent}:${from}`;
  let name = from.replace(/^docker:\/\//, "");
  const registry = header.get("registry")?.trim();
  const namespace = header.get("namespace")?.trim();
  if (namespace && !name.includes("/")) name = `${namespace.replace(/\/+$/, "")}/${name}`;
  if (registry) name = `${registry.replace(/^\w+:\/\//, "").replace(/\/+$/, "")}/${name}`;
  return `docker://${name}`;
}

/** `path` made absolute against the working directory (no file system access). */
function absolute(path: string): string {
  return path.startsWith("/") ? path : `${Deno.cwd()}/${path.replace(/^\.\//, "")}`;
}

function goArch(): string {
  return ({ x86_64: "amd64", aarch64: "arm64" } as Record<string, string>)[Deno.build.arch] ??
    Deno.build.arch;
}

/**
 * Fill `rootfs` (an existing, empty directory) with the stage's base.
 *
 * @param stage The stage being built.
 * @param rootfs The sandbox directory.
 * @param ctx Runner, OCI settings, callbacks.
 * @returns The base's image config, if any.
 * @throws {SingletError} For agents whose tools or features are missing.
 */
export async function bootstrapRootfs(
  stage: Stage,
  rootfs: string,
  ctx: BootstrapContext,
): Promise<BootstrapResult> {
  const agent = (stage.header.get("bootstrap") ?? "").trim().toLowerCase();
  if (OCI_AGENTS.has(agent)) return await bootstrapOci(agent, stage, rootfs, ctx);
  switch (agent) {
    case "scratch":
      return {};
    case "localimage": {
      const from = stage.header.get("from")?.trim();
      if (!from) {
        throw new SingletError(`Cannot bootstrap from localimage: the header has no "From:"`, {
          hint: "add 'From: path/to/image.sif' (a SIF, SquashFS file or sandbox directory)",
        });
      }
      const path = from.startsWith("/") ? from : `${ctx.cwd}/${from}`;
      const owners = await copyLocalImage(path, rootfs, ctx);
      return owners.size ? { owners } : {};
    }
    // host tools resolve a relative root against their own idea of it (dnf, zypper refuse it)
    case "debootstrap":
      return await debootstrap(stage, absolute(rootfs), ctx.runner);
    case "yum":
    case "dnf":
      await bootstrapYum(agent, stage, absolute(rootfs), ctx.runner);
      return { arch: goArch() };
    case "zypper":
      await bootstrapZypper(stage, absolute(rootfs), ctx.runner, ctx.onWarning);
      return { arch: goArch() };
    case "arch":
      await bootstrapArch(stage, absolute(rootfs), ctx.runner);
      return { arch: goArch() };
    case "busybox":
      await bootstrapBusybox(stage, rootfs, ctx.runner);
      return { arch: goArch() };
    case "library":
    case "oras":
    case "shub":
      throw new SingletError(
        `Cannot bootstrap "${agent}": singlet cannot pull ${agent}:// images yet`,
        {
          hint: "bootstrap from a registry with 'Bootstrap: docker' (docker://), or fetch the " +
            "SIF another way and use 'Bootstrap: localimage' with 'From: <file.sif>'",
        },
      );
    default:
      throw new SingletError(`Cannot bootstrap "${agent}": unknown bootstrap agent`, {
        hint: "use docker, oci, oci-archive, docker-archive, docker-daemon, localimage, " +
          "scratch, debootstrap, yum, dnf, zypper, arch or busybox",
      });
  }
}

async function bootstrapOci(
  agent: string,
  stage: Stage,
  rootfs: string,
  ctx: BootstrapContext,
): Promise<BootstrapResult> {
  const uri = ociSourceURI(agent, stage.header);
  let ref;
  try {
    ref = parseImageReference(uri);
  } catch (error) {
    throw new SingletError(`Cannot bootstrap from "${uri}": ${(error as Error).message}`, {
      hint: "check the From:, Registry: and Namespace: header lines",
    });
  }
  let image: CachedImage | undefined;
  await pullImage(ref, {
    ...ctx.oci,
    output: "",
    fetchOnly: true,
    uri,
    onFetched: (fetched) => {
      image = fetched;
    },
  });
  if (!image) throw new SingletError(`Cannot bootstrap from "${uri}": nothing was fetched`);
  const sink = new DirectorySink(rootfs, {
    onSkip: (path, reason) => ctx.onWarning?.(`${path}: ${reason}`),
    ...(ctx.xattrWriter ? { xattrWriter: ctx.xattrWriter } : {}),
  });
  const layers = image.layers.map(({ descriptor, path }, i) => ({
    name: descriptor.digest,
    open: () => layerTarStream(path, descriptor, image!.config.diffIds[i]!),
  }));
  const recorder = Deno.uid() === 0 ? undefined : new OwnerRecorder(sink);
  await mergeLayers(layers, recorder ?? sink);
  await sink.finish();
  const c = image.config;
  return {
    ...(recorder?.owners.size ? { owners: recorder.owners } : {}),
    ociConfigJson: ociConfigJson(c),
    ociConfig: {
      Env: c.env,
      Entrypoint: c.entrypoint,
      Cmd: c.cmd,
      WorkingDir: c.workingDir,
      User: c.user,
      Labels: c.labels,
    },
    arch: c.architecture || goArch(),
  };
}

/**
 * Copy an image (SIF, SquashFS file or sandbox directory) into an empty directory.
 *
 * @param path The image.
 * @param rootfs The target directory.
 * @param ctx Callbacks.
 * @returns Non-root owners of the image's entries when running unprivileged (see
 *   {@linkcode BootstrapResult.owners}); empty as root.
 */
export async function copyLocalImage(
  path: string,
  rootfs: string,
  ctx: Pick<BootstrapContext, "onWarning" | "xattrs" | "xattrWriter">,
): Promise<Map<string, [number, number]>> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    throw new SingletError(`Cannot bootstrap from "${path}": ${(error as Error).message}`, {
      hint: "check the From: path of the localimage header",
      cause: error,
    });
  }
  if (info.isDirectory) {
    const source = DirectorySource.scan(path, {
      skipUnreadable: true,
      onWarning: (m) => ctx.onWarning?.(m),
      ...(ctx.xattrs ? { xattrs: ctx.xattrs } : {}),
    });
    const sink = new DirectorySink(rootfs, {
      onSkip: (p, reason) => ctx.onWarning?.(`${p}: ${reason}`),
      ...(ctx.xattrWriter ? { xattrWriter: ctx.xattrWriter } : {}),
    });
    const recorder = Deno.uid() === 0 ? undefined : new OwnerRecorder(sink);
    await source.emit(recorder ?? sink);
    await sink.finish();
    return recorder?.owners ?? new Map();
  }
  let offset = 0;
  let size: number | undefined;
  const head = new Uint8Array(64);
  {
    using file = await Deno.open(path, { read: true });
    await file.read(head);
  }
  if (new TextDecoder().decode(head.subarray(32, 41)) === "SIF_MAGIC") {
    const sif = await openSif(path);
    try {
      const root = sif.primaryPartition();
      offset = Number(root.offset);
      size = Number(root.size);
    } finally {
      sif.close();
    }
  }
  const reader = await SquashfsReader.open(path, { offset, ...(size ? { size } : {}) });
  try {
    await extractSquashfs(reader, rootfs, {
      onSkip: (p, reason) => ctx.onWarning?.(`${p}: ${reason}`),
      ...(ctx.xattrWriter ? { xattrWriter: ctx.xattrWriter } : {}),
    });
    const owners = new Map<string, [number, number]>();
    if (Deno.uid() !== 0) {
      const decoder = new TextDecoder();
      for (const e of reader.list()) {
        if (e.uid !== 0 || e.gid !== 0) {
          owners.set(decoder.decode(reader.pathOf(e)), [e.uid, e.gid]);
        }
      }
    }
    return owners;
  } finally {
    reader.close();
  }
}
