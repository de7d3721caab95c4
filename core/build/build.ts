/**
 * The definition-file build pipeline, in SingularityCE's order (facts §3.4), for each stage
 * in a private temporary sandbox: bootstrap, base `/.singularity.d` layout, `%setup` on the
 * host, `%files`, `%post` in the container, metadata (labels, environment, scripts, stored
 * definition); then `%test` and the output (a SIF or a sandbox directory), written
 * atomically. Processes are started by the caller's {@linkcode BuildRunner} (core never
 * spawns: the runtime implements it).
 *
 * @module
 */
import { SingletError } from "../errors.ts";
import { VERSION } from "../version.ts";
import { type Definition, finalStage, parseLabels } from "./deffile.ts";
import { buildScriptArgv } from "./section_scripts.ts";
import {
  baseEntries,
  metadataEntries,
  type MetaEntry,
  schemaLabels,
  type SingularityDInput,
} from "../image/singularity_d.ts";
import type { EntryMeta, FsSink } from "../squashfs/fstree.ts";
import { DirectorySink } from "../squashfs/directory_sink.ts";
import { DirectorySource } from "../squashfs/directory_source.ts";
import { atomicBuild, checkOutput, ReplacingSink, sandboxToSif } from "./image_build.ts";
import { bootstrapAgent, type BootstrapResult } from "./bootstrap/mod.ts";
import { readBaseMetadata } from "./bootstrap/localimage.ts";
import type { PullOptions } from "../oci/pull.ts";
import { SquashfsWriter } from "../squashfs/writer.ts";
import { openImageFiles } from "../image/image_files.ts";
import { sifFromSquashfs } from "./image_build.ts";
import { emitWithMetadata, metadataOnlyBase, openRootfsReader } from "./metadata_rebuild.ts";

/** Runs the processes of a build: host scripts and commands inside the sandbox. */
export interface BuildRunner {
  /**
   * Run a command on the host.
   *
   * @returns Its exit status.
   */
  host(argv: string[], env: Record<string, string>): Promise<number>;
  /**
   * Run a command as root inside the (writable) sandbox, with the host network.
   *
   * @returns Its exit status.
   */
  container(rootfs: string, argv: string[], env: Record<string, string>): Promise<number>;
  /**
   * Run the image's test script (`%test`) in the sandbox.
   *
   * @returns Its exit status.
   */
  test(rootfs: string): Promise<number>;
}

/** Options of {@linkcode buildDefinition}. */
export interface DefinitionBuildOptions {
  /** Write a sandbox directory instead of a SIF. */
  sandbox?: boolean;
  /** Replace an existing output; `%labels` may replace the base image's labels. */
  force?: boolean;
  /** `--update`: run the definition over the existing sandbox at the output (no bootstrap). */
  update?: boolean;
  /** Skip `%test`. */
  notest?: boolean;
  /** Run only these sections (`--section`); "all" or absent runs all. */
  sections?: readonly string[];
  /** Where the private build directory goes (default: the output's directory). */
  tmpdir?: string;
  /** Pull settings for OCI bootstrap agents. */
  pull: Omit<PullOptions, "output" | "force" | "fetchOnly" | "onFetched">;
  /** Processes. */
  runner: BuildRunner;
  /** Progress lines for the user. */
  onInfo?: (message: string) => void;
  /** Warnings for the user. */
  onWarning?: (message: string) => void;
}

/** What {@linkcode buildDefinition} wrote. */
export interface DefinitionBuildResult {
  /** The output path. */
  output: string;
  /** "sif" or "sandbox". */
  format: "sif" | "sandbox";
  /** Stages built. */
  stages: number;
}

function parentOf(path: string): string {
  const clean = path.replace(/\/+$/, "");
  const slash = clean.lastIndexOf("/");
  return slash > 0 ? clean.slice(0, slash) : slash === 0 ? "/" : ".";
}

function goArch(): string {
  return ({ x86_64: "amd64", aarch64: "arm64" } as Record<string, string>)[Deno.build.arch] ??
    Deno.build.arch;
}

const encoder = new TextEncoder();

async function writeEntries(root: string, entries: readonly MetaEntry[]): Promise<void> {
  const inner = new DirectorySink(root);
  const sink = new ReplacingSink(root, inner);
  const mtime = Math.floor(Date.now() / 1000);
  const meta = (mode: number): EntryMeta => ({ mode, uid: 0, gid: 0, mtime });
  for (const entry of entries) {
    const path = encoder.encode(entry.path);
    if (entry.kind === "directory") {
      // Leave directories the image has as they are (modes of /tmp, /root...).
      if (await Deno.lstat(`${root}/${entry.path}`).catch(() => undefined)) continue;
      await sink.directory(path, meta(entry.mode));
    } else if (entry.kind === "symlink") {
      await sink.symlink(path, meta(0o777), encoder.encode(entry.target));
    } else {
      const data = encoder.encode(entry.content);
      await sink.file(path, meta(entry.mode), data.length, once(data));
    }
  }
  await inner.finish();
}

async function* once(data: Uint8Array): AsyncIterable<Uint8Array> {
  yield data;
}

const KEEP_IF_PRESENT = new Set([
  "etc/hosts",
  "etc/resolv.conf",
  "singularity",
  ".run",
  ".exec",
  ".test",
  ".shell",
  "environment",
]);

/** Where a path inside the rootfs really is: symlinks resolved inside the root, never out. */
async function resolveInRoot(root: string, path: string, followLast: boolean): Promise<string> {
  let pending = path.split("/").filter((p) => p && p !== ".");
  const done: string[] = [];
  let hops = 0;
  while (pending.length) {
    const part = pending.shift()!;
    if (part === "..") {
      done.pop();
      continue;
    }
    const candidate = [...done, part];
    const info = await Deno.lstat(`${root}/${candidate.join("/")}`).catch(() => undefined);
    if (info?.isSymlink && (pending.length > 0 || followLast)) {
      if (++hops > 40) {
        throw new SingletError(`Cannot resolve "${path}" in the container: too many symlinks`, {
          hint: "check the links in the image",
        });
      }
      const target = await Deno.readLink(`${root}/${candidate.join("/")}`);
      if (target.startsWith("/")) done.length = 0;
      pending = [...target.split("/").filter((p) => p && p !== "."), ...pending];
      continue;
    }
    done.push(part);
  }
  return done.join("/");
}

/** Prefixes every path, and gives copied files root ownership (as a fakeroot copy does). */
class PrefixSink implements FsSink {
  readonly #inner: FsSink;
  readonly #prefix: Uint8Array;

  constructor(inner: FsSink, prefix: string) {
    this.#inner = inner;
    this.#prefix = encoder.encode(prefix);
  }

  #p(path: Uint8Array): Uint8Array {
    if (path.length === 0) return this.#prefix;
    const out = new Uint8Array(this.#prefix.length + 1 + path.length);
    out.set(this.#prefix);
    out[this.#prefix.length] = 0x2f;
    out.set(path, this.#prefix.length + 1);
    return out;
  }

  #m(meta: EntryMeta): EntryMeta {
    return { ...meta, uid: 0, gid: 0 };
  }

  directory(path: Uint8Array, meta: EntryMeta): void | Promise<void> {
    return this.#inner.directory(this.#p(path), this.#m(meta));
  }

  file(
    path: Uint8Array,
    meta: EntryMeta,
    size: number,
    data: AsyncIterable<Uint8Array>,
  ): Promise<void> {
    return this.#inner.file(this.#p(path), this.#m(meta), size, data);
  }

  symlink(path: Uint8Array, meta: EntryMeta, target: Uint8Array): void | Promise<void> {
    return this.#inner.symlink(this.#p(path), this.#m(meta), target);
  }

  hardlink(path: Uint8Array, target: Uint8Array): void | Promise<void> {
    return this.#inner.hardlink(this.#p(path), this.#p(target));
  }

  device(
    path: Uint8Array,
    meta: EntryMeta,
    kind: "chardev" | "blockdev",
    major: number,
    minor: number,
  ): void | Promise<void> {
    return this.#inner.device(this.#p(path), this.#m(meta), kind, major, minor);
  }

  special(path: Uint8Array, meta: EntryMeta, kind: "fifo" | "socket"): void | Promise<void> {
    return this.#inner.special(this.#p(path), this.#m(meta), kind);
  }
}

function globRegex(part: string): RegExp {
  let re = "";
  for (let i = 0; i < part.length; i++) {
    const c = part[i]!;
    if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const end = part.indexOf("]", i + 1);
      if (end < 0) re += "\\[";
      else {
        re += `[${part.slice(i + 1, end).replace(/^!/, "^").replace(/\\/g, "\\\\")}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

/** Expand a shell glob against `base` (absolute patterns are under `base`). */
async function expandGlob(base: string, pattern: string): Promise<string[]> {
  const parts = pattern.split("/").filter((p) => p && p !== ".");
  let paths = [pattern.startsWith("/") ? base.replace(/\/+$/, "") || "" : base];
  for (const part of parts) {
    const next: string[] = [];
    for (const at of paths) {
      if (!/[*?[]/.test(part)) {
        const p = `${at}/${part}`;
        if (await Deno.lstat(p).catch(() => undefined)) next.push(p);
        continue;
      }
      const re = globRegex(part);
      const names: string[] = [];
      try {
        for await (const e of Deno.readDir(at || "/")) {
          if (re.test(e.name) && (!e.name.startsWith(".") || part.startsWith("."))) {
            names.push(e.name);
          }
        }
      } catch { /* not a directory */ }
      next.push(...names.sort().map((n) => `${at}/${n}`));
    }
    paths = next;
  }
  return paths;
}

async function copyFiles(
  rootfs: string,
  files: readonly { src: string; dst: string; line: number }[],
  from: { root: string; label: string },
  file: string,
): Promise<void> {
  for (const transfer of files) {
    const sources = await expandGlob(
      transfer.src.startsWith("/") || from.root !== "" ? from.root || "" : Deno.cwd(),
      transfer.src,
    );
    if (sources.length === 0) {
      throw new SingletError(
        `Cannot copy "${transfer.src}" (${file}:${transfer.line}): no such file in ${from.label}`,
        { hint: "check the %files line; paths on the host are relative to the current directory" },
      );
    }
    const dst = transfer.dst || transfer.src;
    const dstRel = await resolveInRoot(rootfs, dst.startsWith("/") ? dst : `/${dst}`, true);
    const dstInfo = await Deno.lstat(`${rootfs}/${dstRel}`).catch(() => undefined);
    const intoDir = dstInfo?.isDirectory || sources.length > 1 || /\/$/.test(transfer.dst);
    for (const source of sources) {
      const name = source.slice(source.lastIndexOf("/") + 1);
      const target = intoDir ? (dstRel ? `${dstRel}/${name}` : name) : dstRel;
      if (!target) {
        throw new SingletError(`Cannot copy "${source}" over the container's root directory`, {
          hint: `name a destination, e.g. "${transfer.src} /opt/"`,
        });
      }
      const slash = target.lastIndexOf("/");
      const parentRel = slash > 0 ? target.slice(0, slash) : "";
      // Make the parent directories (inside the root: no symlink is followed out of it).
      let at = "";
      for (const part of parentRel.split("/").filter((p) => p)) {
        at = at ? `${at}/${part}` : part;
        const info = await Deno.lstat(`${rootfs}/${at}`).catch(() => undefined);
        if (!info) await Deno.mkdir(`${rootfs}/${at}`, { mode: 0o755 });
        else if (!info.isDirectory) {
          throw new SingletError(
            `Cannot copy "${source}" to "/${target}": "/${at}" is not a directory in the container`,
            { hint: "choose another destination" },
          );
        }
      }
      const inner = new DirectorySink(rootfs);
      const existing = await Deno.lstat(`${rootfs}/${target}`).catch(() => undefined);
      if (existing && !existing.isDirectory) await Deno.remove(`${rootfs}/${target}`);
      const info = await Deno.lstat(source);
      const sink = new ReplacingSink(rootfs, inner);
      if (info.isDirectory) {
        await DirectorySource.scan(source).emit(new PrefixSink(sink, target));
      } else {
        await emitOne(source, info, new PrefixSink(sink, target));
      }
      await inner.finish();
    }
  }
}

async function emitOne(path: string, info: Deno.FileInfo, sink: FsSink): Promise<void> {
  const meta: EntryMeta = {
    mode: (info.mode ?? 0o644) & 0o7777,
    uid: 0,
    gid: 0,
    mtime: Math.floor((info.mtime?.getTime() ?? 0) / 1000),
  };
  const empty = new Uint8Array(0);
  if (info.isSymlink) {
    await sink.symlink(empty, meta, encoder.encode(await Deno.readLink(path)));
  } else if (info.isFile) {
    using file = await Deno.open(path, { read: true });
    await sink.file(empty, meta, info.size, file.readable);
  } else {
    throw new SingletError(`Cannot copy "${path}": not a regular file, directory or symlink`, {
      hint: "copy regular files and directories only",
    });
  }
}

function wants(options: DefinitionBuildOptions, section: string): boolean {
  const s = options.sections;
  return !s || s.length === 0 || s.includes("all") || s.includes(section);
}

async function runScript(
  kind: "pre" | "setup" | "post" | "appinstall",
  section: { args: string; script: string },
  rootfs: string,
  options: DefinitionBuildOptions,
): Promise<void> {
  const inContainer = kind === "post" || kind === "appinstall";
  const scriptName = `.singlet-build-${kind}`;
  const hostScript = `${parentOf(rootfs)}/${scriptName}`;
  const scriptPath = inContainer ? `${rootfs}/${scriptName}` : hostScript;
  await Deno.writeTextFile(scriptPath, section.script + "\n", { mode: 0o755 });
  const argv = buildScriptArgv(section, inContainer ? `/${scriptName}` : hostScript);
  options.onInfo?.(`Running ${kind} scriptlet`);
  let code: number;
  try {
    if (inContainer) {
      const labels = `${rootfs}/.singlet-build-labels`;
      await Deno.writeTextFile(labels, "", { mode: 0o644 });
      code = await options.runner.container(rootfs, argv, {
        SINGULARITY_ROOTFS: "/",
        SINGULARITY_ENVIRONMENT: "/.singularity.d/env/91-environment.sh",
        SINGULARITY_LABELS: "/.singlet-build-labels",
        APPTAINER_ENVIRONMENT: "/.singularity.d/env/91-environment.sh",
        APPTAINER_LABELS: "/.singlet-build-labels",
      });
    } else {
      code = await options.runner.host(argv, {
        SINGULARITY_ROOTFS: rootfs,
        APPTAINER_ROOTFS: rootfs,
      });
    }
  } finally {
    await Deno.remove(scriptPath).catch(() => {});
  }
  if (code !== 0) {
    throw new SingletError(`Cannot build: the %${kind} script failed with exit status ${code}`, {
      hint: `fix the %${kind} section (it runs with /bin/sh -e: any failing command stops it)`,
      exitCode: 255,
    });
  }
}

async function buildStage(
  def: Definition,
  index: number,
  rootfs: string,
  built: Map<string, string>,
  options: DefinitionBuildOptions,
  date: Date,
): Promise<void> {
  const stage = def.stages[index]!;
  const isFinal = index === def.stages.length - 1;
  const warn = options.onWarning ?? (() => {});
  const agentName = stage.header.get("bootstrap") ?? "";
  if (!agentName) {
    throw new SingletError(`Cannot build "${def.file}": stage ${index + 1} has no Bootstrap:`, {
      hint: "start each stage with a Bootstrap: line",
      exitCode: 255,
    });
  }
  options.onInfo?.(
    `Starting build${stage.name ? ` of stage ${stage.name}` : ""} (bootstrap: ${agentName})`,
  );
  const update = isFinal && !!options.update;
  // An unsupported agent fails before %pre runs.
  const agent = update ? undefined : bootstrapAgent(agentName);
  if (stage.sections.pre && wants(options, "pre")) {
    await runScript("pre", stage.sections.pre, rootfs, options);
  }
  let base: BootstrapResult;
  if (agent) {
    base = await agent({ stage, rootfs, pull: options.pull, onWarning: warn });
    await Deno.chmod(rootfs, 0o755);
  } else {
    base = await readBaseMetadata(rootfs, rootfs, warn);
  }
  // The metadata input: the whole definition for the final stage (its text is stored), just
  // this stage for an intermediate one.
  const input: SingularityDInput = {
    deffile: isFinal ? def : { ...def, stages: [stage] },
    ...(base.ociConfig ? { ociConfig: base.ociConfig } : {}),
    ...(base.existingLabels ? { existingLabels: base.existingLabels } : {}),
    ...(base.existingEnvironment !== undefined
      ? { existingEnvironment: base.existingEnvironment }
      : {}),
    ...(base.bootstrapHistory?.length ? { bootstrapHistory: base.bootstrapHistory } : {}),
    ...(options.force ? { force: true } : {}),
  };
  const baseLayout = baseEntries(input);
  for (const w of baseLayout.warnings) warn(w);
  const keep = await Promise.all(
    baseLayout.entries.map(async (e) =>
      KEEP_IF_PRESENT.has(e.path) &&
      (await Deno.lstat(`${rootfs}/${e.path}`).catch(() => undefined)) !== undefined
    ),
  );
  // An image built upon keeps its environment and runscript until this stage replaces them.
  const fromLocal = base.existingEnvironment !== undefined || update;
  await writeEntries(
    rootfs,
    baseLayout.entries.filter((e, i) =>
      !keep[i] &&
      !(fromLocal && /^\.singularity\.d\/(env\/9[01]-environment\.sh|runscript|startscript)$/
        .test(e.path) &&
        existsSync(`${rootfs}/${e.path}`))
    ),
  );

  if (stage.sections.setup && wants(options, "setup")) {
    await runScript("setup", stage.sections.setup, rootfs, options);
  }
  if (wants(options, "files")) {
    for (const block of stage.sections.files) {
      if (block.stage !== undefined) {
        const from = built.get(block.stage);
        if (!from) {
          throw new SingletError(`Cannot copy files from stage "${block.stage}": not built`, {
            hint: "a %files from section names an earlier stage",
            exitCode: 255,
          });
        }
        await copyFiles(
          rootfs,
          block.files,
          { root: from, label: `stage ${block.stage}` },
          def.file,
        );
      } else {
        await copyFiles(rootfs, block.files, { root: "", label: "the host" }, def.file);
      }
    }
  }
  let postLabels: Record<string, string> = {};
  if (stage.sections.post && wants(options, "post")) {
    await runScript("post", stage.sections.post, rootfs, options);
    const text = await Deno.readTextFile(`${rootfs}/.singlet-build-labels`).catch(() => "");
    postLabels = Object.fromEntries(parseLabels(text));
  }
  // SCIF apps: %appfiles into the app's root, then %appinstall run there.
  for (const app of stage.apps.values()) {
    if (app.files.length && wants(options, "appfiles")) {
      const appRoot = `/scif/apps/${app.name}`;
      await copyFiles(
        rootfs,
        app.files.map((f) => ({
          ...f,
          dst: f.dst ? (f.dst.startsWith("/") ? f.dst : `${appRoot}/${f.dst}`) : `${appRoot}/`,
        })),
        { root: "", label: "the host" },
        def.file,
      );
    }
    if (app.install && wants(options, "appinstall")) {
      await runScript(
        "appinstall",
        {
          args: app.install.args,
          script: `cd /scif/apps/${app.name}\n${app.install.script}`,
        },
        rootfs,
        options,
      );
    }
  }
  await Deno.remove(`${rootfs}/.singlet-build-labels`).catch(() => {});
  const meta = metadataEntries({
    ...input,
    labels: postLabels,
    buildLabels: schemaLabels({
      date,
      version: VERSION,
      arch: goArch(),
      stage,
      ...(update ? { update: true } : {}),
    }),
    ...(fromLocal
      ? {
        existingEnvironment: await Deno.readTextFile(
          `${rootfs}/.singularity.d/env/90-environment.sh`,
        ),
      }
      : {}),
  });
  for (const w of meta.warnings) warn(w);
  await writeEntries(rootfs, meta.entries);
}

function existsSync(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The fast path of {@linkcode metadataOnlyBase} recipes: no sandbox, no extraction. */
async function rebuildMetadataOnly(
  def: Definition,
  baseImage: string,
  output: string,
  options: DefinitionBuildOptions,
): Promise<void> {
  const stage = finalStage(def);
  const warn = options.onWarning ?? (() => {});
  options.onInfo?.(`Starting build (bootstrap: localimage, metadata only: reusing ${baseImage})`);
  const files = await openImageFiles(baseImage);
  const input: SingularityDInput = { deffile: def, ...(options.force ? { force: true } : {}) };
  try {
    const labels = await files.readText(".singularity.d/labels.json");
    if (labels) {
      try {
        input.existingLabels = JSON.parse(labels);
      } catch {
        warn(`${baseImage}: /.singularity.d/labels.json is not valid JSON; ignored`);
      }
    }
    const env = await files.readText(".singularity.d/env/90-environment.sh");
    if (env !== undefined) input.existingEnvironment = env;
    const history: string[] = [];
    for (let i = 0;; i++) {
      const text = await files.readText(`.singularity.d/bootstrap_history/Singularity${i}`);
      if (text === undefined) break;
      history.push(text);
    }
    const previous = await files.readText(".singularity.d/Singularity");
    if (previous !== undefined) history.push(previous);
    if (history.length) input.bootstrapHistory = history;
  } finally {
    files.close();
  }
  const meta = metadataEntries({
    ...input,
    buildLabels: schemaLabels({ date: new Date(), version: VERSION, arch: goArch(), stage }),
  });
  for (const w of meta.warnings) warn(w);
  await atomicBuild(output, async (tmp) => {
    const squashfs = `${tmp}.squashfs`;
    const reader = await openRootfsReader(baseImage);
    const writer = await SquashfsWriter.create(squashfs, { compressor: "gzip" });
    try {
      try {
        await emitWithMetadata(reader, writer, meta.entries);
        await writer.finish();
      } catch (error) {
        await writer.abort().catch(() => {});
        throw error;
      } finally {
        reader.close();
      }
      await sifFromSquashfs(tmp, { path: squashfs }, squashfs, def.raw);
    } finally {
      await Deno.remove(squashfs).catch(() => {});
    }
    if (stage.sections.test && !options.notest && wants(options, "test")) {
      options.onInfo?.("Running testscript");
      const code = await options.runner.test(tmp);
      if (code !== 0) {
        throw new SingletError(`Cannot build: the %test script failed with exit status ${code}`, {
          hint: "fix %test, or build with --notest",
          exitCode: 255,
        });
      }
    }
  });
}

/**
 * Build a definition into a SIF or a sandbox directory.
 *
 * @param def The parsed (and templated) definition.
 * @param output The SIF or sandbox to write.
 * @param options Output format, sections, temp dir, pull settings, process runner.
 * @returns What was written.
 * @throws {SingletError} When a step fails; nothing is left at `output` and the private
 *   build directory is removed.
 */
export async function buildDefinition(
  def: Definition,
  output: string,
  options: DefinitionBuildOptions,
): Promise<DefinitionBuildResult> {
  if (options.update) {
    const info = await Deno.lstat(output).catch(() => undefined);
    if (!options.sandbox || !info?.isDirectory) {
      throw new SingletError(`Cannot update "${output}": it is not an existing sandbox directory`, {
        hint: "--update works with --sandbox on a sandbox built before",
        exitCode: 255,
      });
    }
  } else {
    await checkOutput(output, !!options.force);
  }
  const base = options.sandbox ? undefined : await metadataOnlyBase(def);
  if (base) {
    await rebuildMetadataOnly(def, base, output, options);
    return { output, format: "sif", stages: 1 };
  }
  const tmpBase = options.tmpdir ?? parentOf(output);
  const work = await Deno.makeTempDir({ dir: tmpBase, prefix: ".singlet-build-" }).catch(
    (error) => {
      throw new SingletError(
        `Cannot create a build directory in "${tmpBase}": ${(error as Error).message}`,
        { hint: "choose a writable --tmpdir (or SINGULARITY_TMPDIR)", exitCode: 255 },
      );
    },
  );
  await Deno.chmod(work, 0o700);
  const onSignal = () => {
    try {
      Deno.removeSync(work, { recursive: true });
    } catch { /* gone */ }
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  const date = new Date();
  try {
    const built = new Map<string, string>();
    let rootfs = "";
    for (let i = 0; i < def.stages.length; i++) {
      rootfs = options.update && i === def.stages.length - 1 ? output : `${work}/stage${i}`;
      await buildStage(def, i, rootfs, built, options, date);
      const name = def.stages[i]!.name;
      if (name) built.set(name, rootfs);
    }
    const final = finalStage(def);
    if (final.sections.test && !options.notest && wants(options, "test")) {
      options.onInfo?.("Running testscript");
      const code = await options.runner.test(rootfs);
      if (code !== 0) {
        throw new SingletError(`Cannot build: the %test script failed with exit status ${code}`, {
          hint: "fix %test, or build with --notest",
          exitCode: 255,
        });
      }
    }
    options.onInfo?.(`Creating ${options.sandbox ? "sandbox directory" : "SIF file"}...`);
    if (options.update) {
      // Updated in place, as SingularityCE does.
    } else if (options.sandbox) {
      await atomicBuild(output, async (tmp) => {
        try {
          await Deno.rename(rootfs, tmp);
        } catch {
          // another file system: copy
          await Deno.mkdir(tmp, { mode: 0o755 });
          const sink = new DirectorySink(tmp);
          await DirectorySource.scan(rootfs).emit(sink);
          await sink.finish();
        }
      });
    } else {
      await atomicBuild(
        output,
        (tmp) =>
          sandboxToSif(rootfs, tmp, {
            deffileObject: def.raw,
            ...(options.onWarning ? { onWarning: options.onWarning } : {}),
          }),
      );
    }
    return { output, format: options.sandbox ? "sandbox" : "sif", stages: def.stages.length };
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}
