/**
 * Bootstrap agents: fill an empty sandbox directory with a stage's base root filesystem,
 * as SingularityCE's `Bootstrap:` header names it.
 *
 * - `docker`, `docker-archive`, `docker-daemon`, `oci`, `oci-archive`: fetched through
 *   `core/oci` into the blob cache (`From:`, `Registry:`, `Namespace:`), layers merged into
 *   the sandbox (whiteouts resolved, nothing written outside it);
 * - `localimage`: a SIF, a SquashFS file or a sandbox directory, copied;
 * - `scratch`: nothing;
 * - `debootstrap`: the host's `debootstrap` through the {@linkcode SectionRunner}, as root
 *   (`MirrorURL:`, `OSVersion:`, `Include:`);
 * - `yum`, `dnf`, `zypper`, `arch`, `busybox`, `library`, `oras`: refused with a
 *   {@linkcode SingletError} saying what is missing.
 *
 * @module
 */
import { SingletError } from "../../errors.ts";
import type { Stage } from "../deffile.ts";
import type { SectionRunner } from "../section_runner.ts";
import { DirectorySink } from "../../squashfs/directory_sink.ts";
import type { EntryMeta, FsSink } from "../../squashfs/fstree.ts";
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
class OwnerRecorder implements FsSink {
  readonly owners = new Map<string, [number, number]>();
  readonly #inner: FsSink;
  readonly #decoder = new TextDecoder();

  constructor(inner: FsSink) {
    this.#inner = inner;
  }

  #note(path: Uint8Array, meta: EntryMeta): void {
    if (meta.uid !== 0 || meta.gid !== 0) {
      this.owners.set(this.#decoder.decode(path), [meta.uid, meta.gid]);
    }
  }

  directory(path: Uint8Array, meta: EntryMeta): void | Promise<void> {
    this.#note(path, meta);
    return this.#inner.directory(path, meta);
  }

  file(
    path: Uint8Array,
    meta: EntryMeta,
    size: number,
    data: AsyncIterable<Uint8Array>,
  ): Promise<void> {
    this.#note(path, meta);
    return this.#inner.file(path, meta, size, data);
  }

  symlink(path: Uint8Array, meta: EntryMeta, target: Uint8Array): void | Promise<void> {
    this.#note(path, meta);
    return this.#inner.symlink(path, meta, target);
  }

  hardlink(path: Uint8Array, target: Uint8Array): void | Promise<void> {
    return this.#inner.hardlink(path, target);
  }

  device(
    path: Uint8Array,
    meta: EntryMeta,
    kind: "chardev" | "blockdev",
    major: number,
    minor: number,
  ): void | Promise<void> {
    return this.#inner.device(path, meta, kind, major, minor);
  }

  special(path: Uint8Array, meta: EntryMeta, kind: "fifo" | "socket"): void | Promise<void> {
    return this.#inner.special(path, meta, kind);
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
    case "debootstrap":
      return await debootstrap(stage, rootfs, ctx);
    case "yum":
    case "dnf":
    case "zypper":
    case "arch":
    case "busybox":
      throw new SingletError(
        `Cannot bootstrap "${agent}": this agent is not supported by singlet yet`,
        {
          hint: "bootstrap from an OCI image of the distribution instead " +
            "(e.g. 'Bootstrap: docker' + 'From: rockylinux:9') and install packages in %post",
        },
      );
    case "library":
    case "oras":
    case "shub":
      throw new SingletError(
        `Cannot bootstrap "${agent}": singlet cannot pull ${agent}:// images yet`,
        { hint: "pull the image another way and use 'Bootstrap: localimage'" },
      );
    default:
      throw new SingletError(`Cannot bootstrap "${agent}": unknown bootstrap agent`, {
        hint: "use docker, oci, oci-archive, docker-archive, docker-daemon, localimage, " +
          "scratch or debootstrap",
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

async function debootstrap(
  stage: Stage,
  rootfs: string,
  ctx: BootstrapContext,
): Promise<BootstrapResult> {
  const version = stage.header.get("osversion")?.trim();
  const mirror = stage.header.get("mirrorurl")?.trim();
  if (!version || !mirror) {
    throw new SingletError(
      `Cannot bootstrap with debootstrap: OSVersion and MirrorURL are required`,
      {
        hint: "add e.g. 'OSVersion: bookworm' and 'MirrorURL: http://deb.debian.org/debian'",
      },
    );
  }
  if (!ctx.runner) {
    throw new SingletError(`Cannot bootstrap with debootstrap: no runtime to run it`, {
      hint: "run the build with the singlet CLI",
    });
  }
  if (Deno.uid() !== 0) {
    throw new SingletError(
      `Cannot bootstrap with debootstrap as an unprivileged user: not supported yet`,
      {
        hint: "build as root, or bootstrap from an OCI image (e.g. 'Bootstrap: docker', " +
          `'From: debian:${version}') and install packages with apt in %post`,
      },
    );
  }
  const include = (stage.header.get("include") ?? "").split(/[\s,]+/).filter((p) => p);
  const argv = ["debootstrap", "--variant=minbase", `--arch=${goArch()}`];
  if (include.length) argv.push(`--include=${include.join(",")}`);
  argv.push(version, rootfs, mirror);
  const code = await ctx.runner.runHost(argv, {});
  if (code !== 0) {
    throw new SingletError(`Cannot bootstrap with debootstrap: it exited with status ${code}`, {
      hint: "see debootstrap's output above",
    });
  }
  return { arch: goArch() };
}
