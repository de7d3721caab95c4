/**
 * Writes a parsed definition back as definition-file text, in one canonical layout:
 * header (`bootstrap` first, lower-case keywords as SingularityCE writes them), then
 * `%arguments`, `%labels`, `%files`, the script sections in pipeline order, then each app's
 * sections. Parsing the result gives the same stages, sections and apps.
 *
 * @module
 */
import type { App, Definition, FileTransfer, Script, Stage } from "./deffile.ts";

const SCRIPT_ORDER = [
  "help",
  "pre",
  "setup",
  "post",
  "environment",
  "runscript",
  "startscript",
  "test",
] as const;

const APP_ORDER: readonly [keyof App, string][] = [
  ["help", "apphelp"],
  ["install", "appinstall"],
  ["env", "appenv"],
  ["run", "apprun"],
  ["start", "appstart"],
  ["test", "apptest"],
];

function headerValue(value: string): string {
  // A newline inside a value is written as SingularityCE's "\n" + "\" continuation.
  return value.split("\n").join("\\n\\\n");
}

/**
 * A file name as a `%files` word: bare when possible, else double- or single-quoted.
 *
 * @param name The name.
 * @returns The word to write.
 */
export function quoteName(name: string): string {
  if (name !== "" && !/[\s"'#]/.test(name)) return name;
  return name.includes('"') ? `'${name}'` : `"${name}"`;
}

function fileLine(f: FileTransfer): string {
  return f.dst === "" ? `\t${quoteName(f.src)}\n` : `\t${quoteName(f.src)} ${quoteName(f.dst)}\n`;
}

function section(name: string, s: Script | undefined): string {
  if (!s) return "";
  const args = s.args === "" ? "" : ` ${s.args}`;
  const body = s.script === "" || s.script.endsWith("\n") ? s.script : s.script + "\n";
  return `%${name}${args}\n${body}\n`;
}

function labels(name: string, map: ReadonlyMap<string, string>): string {
  if (map.size === 0) return "";
  let out = `%${name}\n`;
  for (const [key, value] of map) out += value === "" ? `\t${key}\n` : `\t${key} ${value}\n`;
  return out + "\n";
}

function stageText(stage: Stage): string {
  let out = "";
  const bootstrap = stage.header.get("bootstrap");
  if (bootstrap !== undefined) out += `bootstrap: ${headerValue(bootstrap)}\n`;
  for (const [key, value] of stage.header) {
    if (key !== "bootstrap") out += `${key}: ${headerValue(value)}\n`;
  }
  if (out !== "") out += "\n";
  const s = stage.sections;
  out += section("arguments", s.arguments);
  out += labels("labels", s.labels);
  for (const block of s.files) {
    if (block.files.length === 0) continue;
    out += block.stage === undefined ? "%files\n" : `%files from ${block.stage}\n`;
    out += block.files.map(fileLine).join("") + "\n";
  }
  for (const name of SCRIPT_ORDER) out += section(name, s[name]);
  for (const app of stage.apps.values()) {
    // An app with no sections at all still needs one header to exist.
    let appText = labels(`applabels ${app.name}`, app.labels);
    if (app.files.length > 0) {
      appText += `%appfiles ${app.name}\n${app.files.map(fileLine).join("")}\n`;
    }
    for (const [field, name] of APP_ORDER) {
      appText += section(`${name} ${app.name}`, app[field] as Script | undefined);
    }
    out += appText === "" ? `%apphelp ${app.name}\n\n` : appText;
  }
  return out;
}

/**
 * The canonical definition-file text of `def` (all stages).
 *
 * @param def A parsed definition (from a file or from `build --json` input).
 * @returns Definition-file text that parses back to the same content.
 */
export function toDeffileText(def: Definition): string {
  return def.stages.map(stageText).join("\n");
}

/**
 * The definition text stored in an image (`/.singularity.d/Singularity` and the SIF Deffile
 * object): the file as the user wrote it, comments included, as SingularityCE stores it;
 * the canonical text when there is no original (JSON input, a build from a URI).
 *
 * @param def A parsed definition.
 * @returns The text to store.
 */
export function storedDeffileText(def: Definition): string {
  return def.raw !== "" ? def.raw : toDeffileText(def);
}
