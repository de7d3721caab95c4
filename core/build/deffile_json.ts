/**
 * JSON forms of a definition:
 *
 * - {@linkcode definitionToJSON}: singlet's own plain-object view of a parsed definition
 *   (stages, header, sections, apps), for `--json` output and golden tests.
 * - {@linkcode parseDeffileJSON} / {@linkcode toSingularityJSON}: SingularityCE's
 *   `build --json` input, the JSON encoding of its Go `types.Definition` (`header`,
 *   `imageData`, `buildData`, `customData`, `raw`, `fullraw`, `appOrder`). Go decodes field
 *   names case-insensitively, so this reader does too. One JSON document is one stage.
 *
 * @module
 */
import {
  APP_SECTIONS,
  BOOTSTRAP_AGENTS,
  DeffileSyntaxError,
  type Definition,
  type FilesSection,
  type FileTransfer,
  HEADER_KEYWORDS,
  parseDeffile,
  parseLabels,
  type Script,
  type Stage,
} from "./deffile.ts";
import { quoteName, toDeffileText } from "./deffile_text.ts";

/** A JSON value. */
export type JsonValue = null | boolean | number | string | JsonValue[] | {
  [key: string]: JsonValue;
};

function scriptJSON(s: Script | undefined): JsonValue {
  return s === undefined ? null : { args: s.args, script: s.script, line: s.line };
}

function filesJSON(files: readonly FileTransfer[]): JsonValue {
  return files.map((f) => ({ src: f.src, dst: f.dst, line: f.line }));
}

/**
 * A plain-object view of a parsed definition (Maps become objects, absent sections null).
 *
 * @param def A parsed definition.
 * @returns A JSON-serialisable object.
 */
export function definitionToJSON(def: Definition): JsonValue {
  return {
    file: def.file,
    stages: def.stages.map((stage) => {
      const s = stage.sections;
      return {
        name: stage.name ?? null,
        line: stage.line,
        header: Object.fromEntries(stage.header),
        sections: {
          arguments: scriptJSON(s.arguments),
          labels: Object.fromEntries(s.labels),
          files: s.files.map((block) => ({
            stage: block.stage ?? null,
            line: block.line,
            files: filesJSON(block.files),
          })),
          help: scriptJSON(s.help),
          pre: scriptJSON(s.pre),
          setup: scriptJSON(s.setup),
          post: scriptJSON(s.post),
          environment: scriptJSON(s.environment),
          runscript: scriptJSON(s.runscript),
          startscript: scriptJSON(s.startscript),
          test: scriptJSON(s.test),
        },
        apps: [...stage.apps.values()].map((app) => ({
          name: app.name,
          line: app.line,
          install: scriptJSON(app.install),
          run: scriptJSON(app.run),
          env: scriptJSON(app.env),
          help: scriptJSON(app.help),
          test: scriptJSON(app.test),
          start: scriptJSON(app.start),
          labels: Object.fromEntries(app.labels),
          files: filesJSON(app.files),
        })),
      };
    }),
    warnings: def.warnings.map((w) => ({ line: w.line, message: w.message })),
  };
}

/** SingularityCE's `types.Script` JSON. */
interface CEScript {
  args: string;
  script: string;
}

function ceScript(s: Script | undefined): CEScript {
  return { args: s?.args ?? "", script: s?.script ?? "" };
}

function base64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return btoa(binary);
}

/**
 * SingularityCE's JSON encoding of one stage (what `build --json` reads).
 *
 * @param def The definition the stage belongs to (for `fullraw`).
 * @param stage The stage to encode (default: the last one).
 * @returns The `types.Definition`-shaped object.
 */
export function toSingularityJSON(
  def: Definition,
  stage: Stage = def.stages[def.stages.length - 1]!,
): Record<string, unknown> {
  const s = stage.sections;
  const customData: Record<string, string> = {};
  for (const app of stage.apps.values()) {
    for (const [section, field] of Object.entries(APP_SECTIONS)) {
      if (field === "labels") {
        if (app.labels.size > 0) {
          customData[`${section} ${app.name}`] = [...app.labels]
            .map(([k, v]) => `${k} ${v}\n`).join("");
        }
      } else if (field === "files") {
        if (app.files.length > 0) {
          customData[`${section} ${app.name}`] = app.files
            .map((f) => `${quoteName(f.src)} ${f.dst === "" ? "" : quoteName(f.dst)}\n`)
            .join("");
        }
      } else {
        const script = app[field];
        if (script) customData[`${section} ${app.name}`] = script.script;
      }
    }
  }
  return {
    header: Object.fromEntries(stage.header),
    imageData: {
      metadata: null,
      labels: Object.fromEntries(s.labels),
      imageScripts: {
        help: ceScript(s.help),
        environment: ceScript(s.environment),
        runScript: ceScript(s.runscript),
        test: ceScript(s.test),
        startScript: ceScript(s.startscript),
      },
    },
    buildData: {
      files: s.files.map((block) => ({
        args: block.stage === undefined ? "" : `from ${block.stage}`,
        files: block.files.map((f) => ({ source: f.src, destination: f.dst })),
      })),
      buildScripts: {
        pre: ceScript(s.pre),
        setup: ceScript(s.setup),
        post: ceScript(s.post),
        test: ceScript(s.test),
        arguments: ceScript(s.arguments),
      },
    },
    customData,
    raw: base64(stage.raw),
    fullraw: base64(def.raw),
    appOrder: [...stage.apps.keys()],
  };
}

class JsonShapeError {
  constructor(readonly path: string, readonly problem: string, readonly expected: string) {}
}

/** Look a field up the way Go's encoding/json does: exact name first, then any case. */
function field(obj: Record<string, unknown>, name: string): unknown {
  if (name in obj) return obj[name];
  const lower = name.toLowerCase();
  for (const key of Object.keys(obj)) if (key.toLowerCase() === lower) return obj[key];
  return undefined;
}

function object(value: unknown, path: string): Record<string, unknown> | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new JsonShapeError(
      path,
      `is ${Array.isArray(value) ? "an array" : typeof value}`,
      "an object",
    );
  }
  return value as Record<string, unknown>;
}

function string(value: unknown, path: string): string {
  if (value === undefined || value === null) return "";
  if (typeof value !== "string") throw new JsonShapeError(path, `is ${typeof value}`, "a string");
  return value;
}

function stringMap(value: unknown, path: string): Map<string, string> {
  const map = new Map<string, string>();
  const obj = object(value, path);
  if (obj) { for (const [k, v] of Object.entries(obj)) map.set(k, string(v, `${path}.${k}`)); }
  return map;
}

function script(value: unknown, path: string): Script | undefined {
  const obj = object(value, path);
  if (!obj) return undefined;
  const body = string(field(obj, "script"), `${path}.script`);
  const args = string(field(obj, "args"), `${path}.args`).split("#")[0]!.trim();
  if (body.trim() === "" && args === "") return undefined;
  return { args, script: trimScript(body), line: 0 };
}

/** Trailing blank lines removed and a final newline kept, as the text parser stores scripts. */
function trimScript(text: string): string {
  const trimmed = text.replace(/(?:\n[ \t]*)+$/, "");
  return trimmed.trim() === "" ? "" : trimmed + "\n";
}

function decodeBase64(value: unknown, path: string): string {
  const text = string(value, path);
  if (text === "") return "";
  try {
    const binary = atob(text);
    return new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
  } catch {
    throw new JsonShapeError(path, "is not base64", "the base64 bytes of the definition text");
  }
}

function positionOf(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  return { line, column: offset - before.lastIndexOf("\n") };
}

function fromCE(root: Record<string, unknown>, file: string): Definition {
  const header = new Map<string, string>();
  for (const [k, v] of stringMap(field(root, "header"), "$.header")) {
    const key = k.toLowerCase();
    if (!HEADER_KEYWORDS.includes(key) && !/^otherurl\d+$/.test(key)) {
      throw new JsonShapeError(
        `$.header.${k}`,
        `is an unknown header keyword`,
        `one of ${HEADER_KEYWORDS.join(", ")}, otherurl<N>`,
      );
    }
    header.set(key, key === "bootstrap" ? v.toLowerCase() : v);
  }
  const bootstrap = header.get("bootstrap");
  if (bootstrap !== undefined && !BOOTSTRAP_AGENTS.includes(bootstrap)) {
    throw new JsonShapeError(
      "$.header.bootstrap",
      `is "${bootstrap}"`,
      BOOTSTRAP_AGENTS.join(", "),
    );
  }
  const imageData = object(field(root, "imageData"), "$.imageData") ?? {};
  const imageScripts = object(field(imageData, "imageScripts"), "$.imageData.imageScripts") ?? {};
  const buildData = object(field(root, "buildData"), "$.buildData") ?? {};
  const buildScripts = object(field(buildData, "buildScripts"), "$.buildData.buildScripts") ?? {};
  const at = (base: string, name: string) => `${base}.${name}`;
  const img = (name: string) =>
    script(field(imageScripts, name), at("$.imageData.imageScripts", name));
  const bld = (name: string) =>
    script(field(buildScripts, name), at("$.buildData.buildScripts", name));

  const files: FilesSection[] = [];
  const fileList = field(buildData, "files") ?? [];
  if (!Array.isArray(fileList)) {
    throw new JsonShapeError("$.buildData.files", "is not an array", "an array of {args, files}");
  }
  fileList.forEach((entry, i) => {
    const path = `$.buildData.files[${i}]`;
    const obj = object(entry, path) ?? {};
    const args = string(field(obj, "args"), `${path}.args`).split("#")[0]!.trim();
    let from: string | undefined;
    if (args !== "") {
      const match = /^from\s+(\S+|\{\{\s*\w+\s*\}\})$/i.exec(args);
      if (!match) throw new JsonShapeError(`${path}.args`, `is "${args}"`, `"from <stage>" or ""`);
      from = match[1]!;
    }
    const list = field(obj, "files") ?? [];
    if (!Array.isArray(list)) {
      throw new JsonShapeError(`${path}.files`, "is not an array", "[{source, destination}]");
    }
    const transfers = list.map((t, j) => {
      const tp = `${path}.files[${j}]`;
      const tobj = object(t, tp) ?? {};
      const src = string(field(tobj, "source"), `${tp}.source`);
      if (src === "") throw new JsonShapeError(`${tp}.source`, "is empty", "a path");
      return { src, dst: string(field(tobj, "destination"), `${tp}.destination`), line: 0 };
    });
    const block = files.find((b) => b.stage === from);
    if (block) block.files.push(...transfers);
    else {files.push(
        from === undefined
          ? { files: transfers, line: 0 }
          : { stage: from, files: transfers, line: 0 },
      );}
  });

  const stage: Stage = {
    line: 1,
    offset: 0,
    raw: "",
    header,
    sections: {
      files: files.filter((block) => block.files.length > 0),
      labels: stringMap(field(imageData, "labels"), "$.imageData.labels"),
    },
    apps: new Map(),
  };
  const name = header.get("stage");
  if (name !== undefined) stage.name = name;
  const sections = stage.sections;
  const assign = <K extends keyof typeof sections>(key: K, value: typeof sections[K]) => {
    if (value !== undefined) sections[key] = value;
  };
  assign("help", img("help"));
  assign("environment", img("environment"));
  assign("runscript", img("runScript"));
  assign("startscript", img("startScript"));
  assign("test", img("test") ?? bld("test"));
  assign("pre", bld("pre"));
  assign("setup", bld("setup"));
  assign("post", bld("post"));
  assign("arguments", bld("arguments"));

  const custom = object(field(root, "customData"), "$.customData") ?? {};
  const orderValue = field(root, "appOrder") ?? [];
  if (!Array.isArray(orderValue)) {
    throw new JsonShapeError("$.appOrder", "is not an array", "an array of app names");
  }
  const order = orderValue.map((v, i) => string(v, `$.appOrder[${i}]`));
  const entries = Object.entries(custom).map(([key, value]) => {
    const [section = "", app = "", ...extra] = key.split(" ");
    const path = `$.customData["${key}"]`;
    if (!(section in APP_SECTIONS) || app === "" || extra.length > 0) {
      throw new JsonShapeError(path, "is not an app section", `"<%app section> <app name>" keys`);
    }
    if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(app)) {
      throw new JsonShapeError(path, `names app "${app}"`, "letters, digits, '_', '-', '.'");
    }
    if (!order.includes(app)) order.push(app);
    return { section: section as keyof typeof APP_SECTIONS, app, text: string(value, path) };
  });
  for (const appName of order) {
    stage.apps.set(appName, { name: appName, line: 0, labels: new Map(), files: [] });
  }
  for (const { section, app: appName, text } of entries) {
    const app = stage.apps.get(appName)!;
    const fieldName = APP_SECTIONS[section];
    if (fieldName === "labels") {
      for (const [k, v] of parseLabels(text)) app.labels.set(k, v);
    } else if (fieldName === "files") {
      let parsed: Definition;
      try {
        parsed = parseDeffile(`%appfiles ${appName}\n${text}`, "<customData>");
      } catch (error) {
        if (!(error instanceof DeffileSyntaxError)) throw error;
        const problem = error.message.replace(/^.*?: /, "").replace(/; expected .*$/s, "");
        throw new JsonShapeError(
          `$.customData["appfiles ${appName}"] line ${error.line - 1}`,
          `has ${problem}`,
          error.expected,
        );
      }
      app.files.push(...parsed.stages[0]!.apps.get(appName)!.files.map((f) => ({ ...f, line: 0 })));
    } else {
      if (text.trim() !== "") app[fieldName] = { args: "", script: trimScript(text), line: 0 };
    }
  }

  const def: Definition = { file, raw: "", stages: [stage], warnings: [] };
  const raw = decodeBase64(field(root, "fullraw"), "$.fullraw") ||
    decodeBase64(field(root, "raw"), "$.raw");
  def.raw = raw !== "" ? raw : toDeffileText(def);
  stage.raw = def.raw;
  return def;
}

/**
 * Read SingularityCE's `build --json` definition form.
 *
 * JSON syntax errors carry the line and column; errors in the document's shape name the
 * JSON path (e.g. `$.buildData.files[0].source`) and report line 1, column 1.
 *
 * @param text The JSON text.
 * @param file The name used in messages.
 * @returns A one-stage definition; `raw` is the embedded `fullraw`/`raw` text, or the
 *   canonical text when the document has none.
 * @throws {DeffileSyntaxError} On invalid JSON or an unexpected shape.
 */
export function parseDeffileJSON(text: string, file = "<definition.json>"): Definition {
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const match = /position (\d+)/.exec(message);
    const { line, column } = match ? positionOf(text, Number(match[1])) : { line: 1, column: 1 };
    throw new DeffileSyntaxError(file, line, column, `invalid JSON (${message})`, "a JSON object");
  }
  try {
    const obj = object(root, "$");
    if (!obj) throw new JsonShapeError("$", "is null", "an object");
    return fromCE(obj, file);
  } catch (error) {
    if (error instanceof JsonShapeError) {
      throw new DeffileSyntaxError(file, 1, 1, `${error.path} ${error.problem}`, error.expected);
    }
    throw error;
  }
}
