/**
 * The build pipeline: a definition (file, `build --json` or URI) to a SIF or a sandbox
 * directory, in SingularityCE's order (singularity-facts.md §3.4), per stage:
 *
 * 1. `%pre` on the host; 2. bootstrap the base into a private sandbox (a 0700 temp directory
 * under `tmpdir`, or beside the output for `--sandbox`); 3. the base `/.singularity.d`
 * entries ({@linkcode baseEntries}, only where the base has nothing); 4. `%setup` on the host
 * with `SINGULARITY_ROOTFS`; 5. `%files` (host, or `from <stage>`) and `%appfiles`;
 * 6. `%post` then `%appinstall` in the container as (fake) root, with
 * `SINGULARITY_ENVIRONMENT` and `SINGULARITY_LABELS`; 7. the metadata
 * ({@linkcode metadataEntries}: scripts, help, labels with the `org.label-schema.*` build
 * labels, the stored definition, `bootstrap_history`); 8. `%test` (final stage, unless
 * `notest`); then the final stage becomes the output.
 *
 * Scripts run through a {@linkcode SectionRunner} (implemented in `runtime/`): this module
 * never starts a process. A recipe that needs one when none is given is refused before
 * anything is written. A failing build removes its temp directory and leaves no output.
 *
 * @module
 */
import { hostGoArch, writeNativeSif } from "../image/native_sif.ts";
import { SingletError } from "../errors.ts";
import { type Definition, parseLabels, type Script, type Stage } from "./deffile.ts";
import { storedDeffileText } from "./deffile_text.ts";
import { buildScriptArgv } from "./section_scripts.ts";
import type { RunnerBind, SectionRunner } from "./section_runner.ts";
import { type BootstrapResult, bootstrapRootfs, type OciFetchOptions } from "./bootstrap/mod.ts";
import { copyFiles, secureJoin } from "./files.ts";
import { metadataOnlyStage, rebuildMetadataOnly } from "./rebuild.ts";
import { metadataStage, sectionFilter } from "./sections.ts";
import { fixPermissions, restrictivePaths } from "./fix_perms.ts";
import {
  baseEntries,
  metadataEntries,
  type MetaEntry,
  schemaLabels,
} from "../image/singularity_d.ts";
import { openImageFiles } from "../image/image_files.ts";
import { inspectMetadataObject } from "../image/inspect.ts";
import { DirectorySource, type XattrProvider } from "../squashfs/directory_source.ts";
import type { XattrWriter } from "../squashfs/extract.ts";
import {
  type EntryMeta,
  ForwardingSink,
  type FsSink,
  type SinkEntryKind,
} from "../squashfs/fstree.ts";
import { SquashfsWriter } from "../squashfs/writer.ts";

/** Options of {@linkcode buildImage}. */
export interface BuildOptions {
  /** The SIF file or sandbox directory to write. */
  output: string;
  /** Write a sandbox directory instead of a SIF. */
  sandbox?: boolean;
  /** Replace an existing output; `%labels` may replace existing labels. */
  force?: boolean;
  /** Build into an existing sandbox (`--update`): no bootstrap. */
  update?: boolean;
  /** Skip `%test`. */
  notest?: boolean;
  /** Run only these sections (`--section`, `sections.ts`); `all` or absent runs every one. */
  sections?: readonly string[];
  /** Give the owner read/write (and search on directories) on every file (`--fix-perms`). */
  fixPerms?: boolean;
  /** Binds for `%post` and `%test`. */
  binds?: readonly RunnerBind[];
  /** Where the temp sandbox goes for SIF output (default: the output's directory). */
  tmpdir?: string;
  /** Never take the metadata-only fast path (benchmarks, debugging). */
  fullRebuild?: boolean;
  /** Runs scripts; without one, recipes with scripts are refused. */
  runner?: SectionRunner;
  /** Registry, cache and platform settings for OCI bootstraps. */
  oci: OciFetchOptions;
  /** Directory relative paths in the recipe start from. */
  cwd: string;
  /** Recorded in `org.label-schema.usage.singularity.version`. */
  version: string;
  /** Build date for the labels (default: now). */
  date?: Date;
  /** Step messages ("Starting build...", "Running post scriptlet"). */
  onStep?: (message: string) => void;
  /** Warnings. */
  onWarning?: (message: string) => void;
  /**
   * Told each temporary path (the private build directory, the SIF being written) as it
   * is created, so a signal handler can remove them (`singlet build` does on SIGINT/SIGTERM).
   */
  onTempPath?: (path: string) => void;
  /** Packing progress (bytes of file data). */
  onPack?: (bytes: number, total: number) => void;
  /** Reads the root filesystem's extended attributes for the SIF (and a sandbox base's). */
  xattrs?: XattrProvider;
  /** Sets extended attributes while bootstrapping (layers, images, sandboxes). */
  xattrWriter?: XattrWriter;
}

/** What {@linkcode buildImage} wrote. */
export interface BuildResult {
  /** The output path. */
  output: string;
  /** "sif" or "sandbox". */
  kind: "sif" | "sandbox";
  /** Bytes of the SIF (0 for a sandbox). */
  size: number;
  /** Stages built. */
  stages: number;
}

function dirname(path: string): string {
  const i = path.replace(/\/+$/, "").lastIndexOf("/");
  return i > 0 ? path.slice(0, i) : i === 0 ? "/" : ".";
}

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

/** Agents that run host tools or the build container. */
const RUNNER_AGENTS = new Set(["debootstrap", "yum", "dnf", "zypper", "arch", "busybox"]);

/** Scripts a stage would run, by section name. */
function scriptsOf(stage: Stage, final: boolean, notest: boolean): string[] {
  const s = stage.sections;
  const names: string[] = [];
  if (s.pre) names.push("%pre");
  if (s.setup) names.push("%setup");
  if (s.post) names.push("%post");
  if (final && !notest && s.test) names.push("%test");
  for (const app of stage.apps.values()) {
    if (app.install) names.push(`%appinstall ${app.name}`);
  }
  const agent = (stage.header.get("bootstrap") ?? "").toLowerCase();
  if (RUNNER_AGENTS.has(agent)) names.push(`Bootstrap: ${agent}`);
  return names;
}

/**
 * Write generated layout entries into a sandbox, never through a link.
 *
 * @param root The sandbox.
 * @param entries The entries.
 * @param replace Replace existing files (metadata) or only fill gaps (base entries).
 */
export async function writeEntries(
  root: string,
  entries: readonly MetaEntry[],
  replace: boolean,
): Promise<void> {
  for (const entry of entries) {
    const slash = entry.path.lastIndexOf("/");
    const parent = await secureJoin(root, slash < 0 ? "/" : `/${entry.path.slice(0, slash)}`);
    await Deno.mkdir(parent, { recursive: true });
    const host = `${parent}/${entry.path.slice(slash + 1)}`;
    const info = await Deno.lstat(host).catch(() => undefined);
    if (entry.kind === "directory") {
      if (!info) await Deno.mkdir(host, { mode: entry.mode });
      continue;
    }
    if (info && (!replace || entry.kind === "symlink" || info.isDirectory)) continue;
    if (info) await Deno.remove(host);
    if (entry.kind === "symlink") {
      await Deno.symlink(entry.target, host);
      continue;
    }
    using file = await Deno.open(host, { write: true, createNew: true, mode: entry.mode });
    await file.write(new TextEncoder().encode(entry.content));
    await Deno.chmod(host, entry.mode);
  }
}

async function readText(root: string, path: string): Promise<string | undefined> {
  try {
    const host = await secureJoin(root, path);
    return await Deno.readTextFile(host);
  } catch {
    return undefined;
  }
}

/** What the base already had in `/.singularity.d` (localimage, `--update`). */
async function existingMetadata(root: string) {
  let labels: Record<string, string> | undefined;
  const labelText = await readText(root, "/.singularity.d/labels.json");
  if (labelText) {
    try {
      const parsed = JSON.parse(labelText);
      if (parsed && typeof parsed === "object") labels = parsed;
    } catch {
      // a damaged labels.json is replaced
    }
  }
  const environment = await readText(root, "/.singularity.d/env/90-environment.sh");
  const history: string[] = [];
  for (let i = 0;; i++) {
    const text = await readText(root, `/.singularity.d/bootstrap_history/Singularity${i}`);
    if (text === undefined) break;
    history.push(text);
  }
  const previous = await readText(root, "/.singularity.d/Singularity");
  if (previous !== undefined) history.push(previous);
  return { labels, environment, history };
}

/**
 * Build a definition into a SIF or a sandbox.
 *
 * @param def The (templated) definition; its last stage becomes the image.
 * @param options Output, flags, runner, OCI settings, callbacks.
 * @returns What was written.
 * @throws {SingletError} On any failure; nothing is left behind.
 */
export async function buildImage(def: Definition, options: BuildOptions): Promise<BuildResult> {
  const out = options.output.replace(/(.)\/+$/, "$1");
  const step = options.onStep ?? (() => {});
  const warn = options.onWarning ?? (() => {});
  const wanted = sectionFilter(options.sections);

  if (options.update) {
    if (!options.sandbox) {
      throw new SingletError(`Cannot update "${out}": --update needs --sandbox`, {
        hint: "only sandbox directories can be updated",
      });
    }
    const info = await Deno.stat(out).catch(() => undefined);
    if (!info?.isDirectory) {
      throw new SingletError(`Cannot update "${out}": not an existing sandbox directory`, {
        hint: "build the sandbox first, or drop --update",
      });
    }
  } else if (!options.force && await exists(out)) {
    throw new SingletError(`Cannot build "${out}": it already exists`, {
      hint: "use --force to overwrite it",
    });
  }
  if (!options.runner) {
    const needs = def.stages.flatMap((s, i) =>
      scriptsOf(s, i === def.stages.length - 1, !!options.notest)
    );
    if (needs.length) {
      throw new SingletError(
        `Cannot build "${out}": the recipe has ${needs.join(", ")}, which needs a runtime ` +
          "to run scripts, and none is available here",
        { hint: "build with the singlet command line, which runs them through its runtime" },
      );
    }
  }

  const tmpBase = options.sandbox ? dirname(out) : options.tmpdir ?? dirname(out);
  let tmp: string;
  try {
    tmp = await Deno.makeTempDir({ dir: tmpBase, prefix: ".build-temp-" });
    await Deno.chmod(tmp, 0o700);
    options.onTempPath?.(tmp);
  } catch (error) {
    throw new SingletError(
      `Cannot create a temporary directory in "${tmpBase}": ${(error as Error).message}`,
      { hint: "use --tmpdir (or SINGULARITY_TMPDIR) to choose a writable place", cause: error },
    );
  }
  const roots = new Map<string, string>();
  try {
    const quick = !options.sandbox && !options.fullRebuild && !options.fixPerms &&
      !options.sections?.length &&
      !(await Deno.lstat(out).then((i) => i.isDirectory, () => false));
    const stage0 = quick ? metadataOnlyStage(def, !!options.notest) : undefined;
    if (stage0) {
      step(`Rebuilding on "${stage0.header.get("from")}" (metadata changes only)`);
      const size = await rebuildMetadataOnly(def, stage0, {
        output: out,
        tmp,
        cwd: options.cwd,
        version: options.version,
        ...(options.force ? { force: true } : {}),
        ...(options.notest ? { notest: true } : {}),
        ...(options.date ? { date: options.date } : {}),
        ...(options.onWarning ? { onWarning: options.onWarning } : {}),
        ...(options.onTempPath ? { onTempPath: options.onTempPath } : {}),
      });
      if (size !== undefined) return { output: out, kind: "sif", size, stages: 1 };
    }
    let finalRoot = "";
    let finalBase: BootstrapResult = {};
    for (let i = 0; i < def.stages.length; i++) {
      const stage = def.stages[i]!;
      const final = i === def.stages.length - 1;
      const s = stage.sections;
      const label = stage.name ? `stage ${stage.name}` : `stage ${i + 1}`;
      const rootfs = final && options.update ? out : `${tmp}/rootfs-${i}`;
      if (!(final && options.update)) await Deno.mkdir(rootfs, { mode: 0o755 });
      const runHost = async (name: string, script: Script, env: Record<string, string>) => {
        step(`Running ${name} scriptlet`);
        const file = `${tmp}/${name}.script`;
        await Deno.writeTextFile(file, script.script + "\n", { mode: 0o700 });
        const argv = scriptArgv(script, file, def.file);
        const code = await options.runner!.runHost(argv, env);
        if (code !== 0) {
          throw new SingletError(
            `Cannot build "${out}": %${name} (${label}, line ${script.line}) failed with ` +
              `exit status ${code}`,
            { hint: "see the script's output above" },
          );
        }
      };
      if (s.pre && wanted("pre")) await runHost("pre", s.pre, {});

      let base: BootstrapResult = {};
      if (!(final && options.update)) {
        step(`Starting build of ${label} (Bootstrap: ${stage.header.get("bootstrap")})`);
        base = await bootstrapRootfs(stage, rootfs, {
          ...(options.runner ? { runner: options.runner } : {}),
          oci: options.oci,
          cwd: options.cwd,
          onWarning: warn,
          ...(options.xattrs ? { xattrs: options.xattrs } : {}),
          ...(options.xattrWriter ? { xattrWriter: options.xattrWriter } : {}),
        });
      }
      const existing = await existingMetadata(rootfs);
      const input = {
        ...(base.ociConfig ? { ociConfig: base.ociConfig } : {}),
        deffile: { ...def, stages: def.stages.slice(0, i + 1) },
      };
      const b = baseEntries(input);
      b.warnings.forEach(warn);
      await writeEntries(rootfs, b.entries, false);
      if (stage.apps.size) {
        // SingularityCE rewrites the recipe's apps and 94-appsbase.sh whatever the base
        // (a localimage, an --update sandbox) had there
        const apps = b.entries.filter((e) =>
          e.path.startsWith("scif/") || e.path === ".singularity.d/env/94-appsbase.sh"
        );
        await writeEntries(rootfs, apps, true);
      }

      if (s.setup && wanted("setup")) {
        await runHost("setup", s.setup, { SINGULARITY_ROOTFS: rootfs, APPTAINER_ROOTFS: rootfs });
      }
      const copyOptions = {
        ...(options.runner?.makeNode ? { makeNode: options.runner.makeNode } : {}),
        onWarning: warn,
      };
      if (wanted("files")) {
        for (const block of s.files) {
          if (block.files.length === 0) continue;
          step(`Copying files from ${block.stage ? `stage ${block.stage}` : "host"}`);
          const from = block.stage ? roots.get(block.stage) : "";
          if (from === undefined) {
            throw new SingletError(`Cannot copy files from stage "${block.stage}": unknown stage`);
          }
          await copyFiles(rootfs, block.files, from, options.cwd, "/", copyOptions);
        }
        for (const app of stage.apps.values()) {
          if (app.files.length) {
            await copyFiles(
              rootfs,
              app.files,
              "",
              options.cwd,
              `/scif/apps/${app.name}`,
              copyOptions,
            );
          }
        }
      }

      let postLabels: Record<string, string> = {};
      const inContainer = async (
        name: string,
        script: Script,
        prefix = "",
      ): Promise<void> => {
        step(`Running ${name} scriptlet`);
        const inner = `.${name.replace(/\W/g, "-")}.script`;
        const labelsFile = ".build.labels";
        await Deno.writeTextFile(
          await secureJoin(rootfs, `/${inner}`),
          prefix + script.script + "\n",
          {
            mode: 0o755,
          },
        );
        await Deno.writeTextFile(await secureJoin(rootfs, `/${labelsFile}`), "", { mode: 0o644 });
        try {
          const code = await options.runner!.runInContainer(
            rootfs,
            scriptArgv(script, `/${inner}`, def.file),
            {
              SINGULARITY_ROOTFS: "/",
              SINGULARITY_ENVIRONMENT: "/.singularity.d/env/91-environment.sh",
              SINGULARITY_LABELS: `/${labelsFile}`,
              APPTAINER_ROOTFS: "/",
              APPTAINER_ENVIRONMENT: "/.singularity.d/env/91-environment.sh",
              APPTAINER_LABELS: `/${labelsFile}`,
            },
            options.binds ?? [],
          );
          if (code !== 0) {
            throw new SingletError(
              `Cannot build "${out}": %${name} (${label}, line ${script.line}) failed with ` +
                `exit status ${code}`,
              { hint: "see the script's output above" },
            );
          }
          const text = await readText(rootfs, `/${labelsFile}`) ?? "";
          postLabels = { ...postLabels, ...Object.fromEntries(parseLabels(text)) };
        } finally {
          await Deno.remove(await secureJoin(rootfs, `/${inner}`)).catch(() => {});
          await Deno.remove(await secureJoin(rootfs, `/${labelsFile}`)).catch(() => {});
        }
      };
      if (s.post && wanted("post")) await inContainer("post", s.post);
      for (const app of stage.apps.values()) {
        if (app.install && wanted("appinstall")) {
          // as SingularityCE's apps.go: the app's 01-base.sh (SCIF_APPNAME, SCIF_APPROOT, ...)
          // sourced, then in the app's root
          const root = `/scif/apps/${app.name}`;
          await inContainer(
            `appinstall-${app.name}`,
            app.install,
            `. ${root}/scif/env/01-base.sh\ncd ${root}\n`,
          );
        }
      }

      step("Adding metadata");
      const shown = metadataStage(stage, wanted);
      const meta = metadataEntries({
        ...input,
        // the stored definition stays the whole file
        ...(shown === stage ? {} : {
          deffile: {
            ...def,
            raw: storedDeffileText(input.deffile),
            stages: [...def.stages.slice(0, i), shown],
          },
        }),
        labels: postLabels,
        buildLabels: schemaLabels({
          date: options.date ?? new Date(),
          version: options.version,
          arch: base.arch ?? hostGoArch(),
          stage: shown,
          ...(options.update ? { update: true } : {}),
        }),
        ...(options.force ? { force: true } : {}),
        ...(existing.labels ? { existingLabels: existing.labels } : {}),
        ...(existing.environment ? { existingEnvironment: existing.environment } : {}),
        ...(existing.history.length ? { bootstrapHistory: existing.history } : {}),
      });
      meta.warnings.forEach(warn);
      await writeEntries(rootfs, meta.entries, true);

      if (final && s.test && !options.notest && wanted("test")) {
        step("Running testscript");
        const code = await options.runner!.runInContainer(
          rootfs,
          ["/bin/sh", "-c", "exec /.singularity.d/test"],
          {},
          options.binds ?? [],
        );
        if (code !== 0) {
          throw new SingletError(
            `Cannot build "${out}": %test failed with exit status ${code}`,
            { hint: "fix the test, or build with --notest" },
          );
        }
      }
      if (options.fixPerms) {
        if (i === 0) {
          warn(
            "The --fix-perms option modifies the filesystem permissions on the resulting container.",
          );
        }
        const { denied } = await fixPermissions(rootfs);
        if (denied.length && options.runner?.fixPerms) await options.runner.fixPerms(rootfs);
        else if (denied.length) {
          warn(
            `--fix-perms could not change ${denied.length} entries (owned by other users), e.g. "${
              denied[0]!.slice(rootfs.length)
            }"`,
          );
        }
      } else if (final && options.sandbox && base.ociConfig) {
        const tight = await restrictivePaths(rootfs, 20);
        if (tight.length) {
          warn(
            `The sandbox has ${
              tight.length === 20 ? "20 or more" : tight.length
            } files or directories ` +
              `their owner cannot read and write (e.g. "${
                tight[0]
              }"): changing or deleting it may ` +
              "need chmod first; build with --fix-perms to avoid this",
          );
        }
      }
      if (stage.name) roots.set(stage.name, rootfs);
      roots.set(String(i), rootfs);
      finalRoot = rootfs;
      finalBase = base;
    }

    if (options.update) {
      return { output: out, kind: "sandbox", size: 0, stages: def.stages.length };
    }
    if (options.sandbox) {
      step(`Creating sandbox directory "${out}"`);
      if (await exists(out)) {
        // --force: the old output goes only once the new one is complete
        const old = `${tmp}/replaced`;
        await Deno.rename(out, old);
      }
      await Deno.rename(finalRoot, out);
      return { output: out, kind: "sandbox", size: 0, stages: def.stages.length };
    }
    step(`Creating SIF file "${out}"`);
    const size = await packSif(def, finalRoot, out, tmp, finalBase, options);
    return { output: out, kind: "sif", size, stages: def.stages.length };
  } finally {
    const remove = options.runner?.removeTree
      ? (p: string) => options.runner!.removeTree!(p)
      : (p: string) => Deno.remove(p, { recursive: true });
    await remove(tmp).catch((error) => {
      warn(`Could not remove the temporary directory "${tmp}": ${(error as Error).message}`);
    });
  }
}

/** Rewrites owners on the way to the writer (unprivileged builds: caller -> root). */
class OwnerMappingSink extends ForwardingSink {
  readonly #map: (uid: number, gid: number) => [number, number];
  readonly #base: ReadonlyMap<string, [number, number]>;
  readonly #modes: ReadonlyMap<string, number>;
  readonly #decoder = new TextDecoder();

  constructor(
    inner: FsSink,
    map: (uid: number, gid: number) => [number, number],
    base: ReadonlyMap<string, [number, number]> = new Map(),
    modes: ReadonlyMap<string, number> = new Map(),
  ) {
    super(inner);
    this.#map = map;
    this.#base = base;
    this.#modes = modes;
  }

  protected override visit(path: Uint8Array, meta: EntryMeta, kind: SinkEntryKind): EntryMeta {
    let [uid, gid] = this.#map(meta.uid, meta.gid);
    // device nodes, FIFOs and sockets: the ID map only (neither record holds them)
    if (kind === "device" || kind === "special") return { ...meta, uid, gid };
    // opened for packing (SectionRunner.openTreeForPacking): store the mode it had
    const mode = this.#modes.size
      ? this.#modes.get(this.#decoder.decode(path)) ?? meta.mode
      : meta.mode;
    // still the caller's: the base's owner, which the unprivileged extraction could not set
    if (uid === 0 && gid === 0 && this.#base.size) {
      const owner = this.#base.get(this.#decoder.decode(path));
      if (owner) [uid, gid] = owner;
    }
    return { ...meta, mode, uid, gid };
  }
}

function scriptArgv(script: Script, path: string, file: string): string[] {
  try {
    return buildScriptArgv(script, path);
  } catch (error) {
    throw new SingletError(
      `Cannot run the script at ${file}:${script.line}: ${(error as Error).message}`,
    );
  }
}

async function packSif(
  def: Definition,
  rootfs: string,
  out: string,
  tmp: string,
  base: BootstrapResult,
  options: BuildOptions,
): Promise<number> {
  const modes = await options.runner?.openTreeForPacking?.(rootfs);
  const source = DirectorySource.scan(rootfs, {
    skipUnreadable: true,
    ...(options.onWarning ? { onWarning: options.onWarning } : {}),
    ...(options.xattrs ? { xattrs: options.xattrs } : {}),
  });
  const squashfs = `${tmp}/rootfs.squashfs`;
  const total = source.totalBytes;
  const writer = await SquashfsWriter.create(squashfs, {
    compressor: "gzip",
    ...(options.onPack ? { onProgress: (n: number) => options.onPack!(n, total) } : {}),
  });
  const ownerMap = await options.runner?.ownerMap?.();
  try {
    await source.emit(
      ownerMap ? new OwnerMappingSink(writer, ownerMap, base.owners, modes) : writer,
    );
    await writer.finish();
  } catch (error) {
    await writer.abort().catch(() => {});
    throw error;
  }
  const files = await openImageFiles(rootfs);
  let inspect: string;
  try {
    inspect = await inspectMetadataObject(files);
  } finally {
    files.close();
  }
  const temp = `${dirname(out)}/.${out.slice(out.lastIndexOf("/") + 1)}.singlet-tmp-${
    crypto.randomUUID().slice(0, 8)
  }`;
  options.onTempPath?.(temp);
  try {
    await writeNativeSif(temp, {
      deffile: storedDeffileText(def),
      inspectMetadata: inspect,
      ...(base.ociConfigJson ? { ociConfigJson: base.ociConfigJson } : {}),
      squashfs,
      ...(base.arch ? { arch: base.arch } : {}),
    });
    const info = await Deno.lstat(out).catch(() => undefined);
    if (info?.isDirectory) await Deno.remove(out, { recursive: true });
    await Deno.rename(temp, out);
    return (await Deno.stat(out)).size;
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
}
