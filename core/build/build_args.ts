/**
 * Build arguments: `{{ NAME }}` placeholders in a definition file, filled from (lowest to
 * highest precedence) the stage's own `%arguments` defaults, `--build-arg-file` lines and
 * `--build-arg NAME=VALUE` flags, as SingularityCE does.
 *
 * Each stage is templated on its own text with its own `%arguments`, then the whole file is
 * parsed again. A placeholder with no value anywhere is an error (SingularityCE's message);
 * arguments given but never used are returned so the caller can warn, as SingularityCE
 * warns (Apptainer makes that fatal unless `--warn-unused-build-args`).
 *
 * @module
 */
import { SingletError } from "../errors.ts";
import {
  DeffileSyntaxError,
  type DeffileWarning,
  type Definition,
  parseDeffile,
  type Stage,
} from "./deffile.ts";

const PLACEHOLDER = /\{\{\s*(\w+)\s*\}\}/g;

/** The result of {@linkcode applyBuildArgs}. */
export interface TemplatedDefinition {
  /** The definition with every placeholder replaced (its `raw` is the templated text). */
  definition: Definition;
  /** Names given on the command line or in the file that no stage used. */
  unused: string[];
}

function keyValue(text: string): [string, string] | string {
  const eq = text.indexOf("=");
  if (eq < 0) return `"${text}" is not a KEY=VALUE pair`;
  const key = text.slice(0, eq).trim();
  const value = text.slice(eq + 1).trim();
  if (key === "") return `missing key portion in "${text}"`;
  if (value === "") return `missing value portion in "${text}"`;
  return [key, value];
}

/**
 * The `%arguments` defaults of a stage (`KEY=VALUE` lines; `#` lines and blank lines
 * skipped; malformed lines skipped with a warning, as SingularityCE does).
 *
 * @param stage A parsed stage.
 * @param file File name for warnings.
 * @returns The defaults and any warnings.
 */
export function argumentDefaults(
  stage: Stage,
  file = "<definition>",
): { defaults: Map<string, string>; warnings: DeffileWarning[] } {
  const defaults = new Map<string, string>();
  const warnings: DeffileWarning[] = [];
  const section = stage.sections.arguments;
  if (!section) return { defaults, warnings };
  section.script.split("\n").forEach((line, i) => {
    const text = line.trim();
    if (text === "" || text.startsWith("#")) return;
    const kv = keyValue(text);
    if (typeof kv === "string") {
      warnings.push({
        file,
        line: section.line + 1 + i,
        message: `Skipping "${text}" in 'arguments' section: ${kv}`,
      });
    } else {
      defaults.set(kv[0], kv[1]);
    }
  });
  return { defaults, warnings };
}

/**
 * Merge `--build-arg-file` content and `--build-arg` flags (flags win; a later flag wins
 * over an earlier one).
 *
 * @param flags Values of repeated `--build-arg KEY=VALUE` flags.
 * @param fileText Content of the `--build-arg-file`, if any.
 * @param fileName Its name, for warnings.
 * @returns The merged arguments, plus warnings for skipped file lines.
 * @throws {SingletError} When a flag is not `KEY=VALUE`.
 */
export function mergeBuildArgs(
  flags: readonly string[],
  fileText?: string,
  fileName = "<build-arg-file>",
): { args: Map<string, string>; warnings: DeffileWarning[] } {
  const args = new Map<string, string>();
  const warnings: DeffileWarning[] = [];
  if (fileText !== undefined) {
    fileText.split("\n").forEach((raw, i) => {
      const line = raw.replace(/\r$/, "");
      if (line.trim() === "") return;
      const kv = keyValue(line);
      if (typeof kv === "string") {
        warnings.push({
          file: fileName,
          line: i + 1,
          message: `Skipping "${line}" in build arg file: ${kv}`,
        });
      } else {
        args.set(kv[0], kv[1]);
      }
    });
  }
  for (const flag of flags) {
    const kv = keyValue(flag);
    if (typeof kv === "string") {
      throw new SingletError(`Cannot use --build-arg "${flag}": ${kv}`, {
        hint: "write build arguments as --build-arg NAME=VALUE",
      });
    }
    args.set(kv[0], kv[1]);
  }
  return { args, warnings };
}

function positionIn(text: string, offset: number, firstLine: number) {
  const before = text.slice(0, offset);
  const lineBreaks = before.split("\n").length - 1;
  return { line: firstLine + lineBreaks, column: offset - before.lastIndexOf("\n") };
}

/**
 * Replace `{{ NAME }}` placeholders in every stage and parse the result.
 *
 * @param def A definition parsed from the untemplated text.
 * @param args Values from `--build-arg-file` and `--build-arg` (see
 *   {@linkcode mergeBuildArgs}); each stage's `%arguments` supply defaults beneath them.
 * @returns The templated definition and the names in `args` that nothing used.
 * @throws {DeffileSyntaxError} When a placeholder has no value, or the templated text is
 *   not a valid definition.
 */
export function applyBuildArgs(
  def: Definition,
  args: ReadonlyMap<string, string> | Readonly<Record<string, string>>,
): TemplatedDefinition {
  const given = args instanceof Map
    ? args as ReadonlyMap<string, string>
    : new Map(Object.entries(args));
  const used = new Set<string>();
  const warnings: DeffileWarning[] = [];
  let text = def.raw.slice(0, def.stages[0]?.offset ?? def.raw.length);
  for (const stage of def.stages) {
    const { defaults, warnings: w } = argumentDefaults(stage, def.file);
    warnings.push(...w);
    text += stage.raw.replace(PLACEHOLDER, (match, name: string, offset: number) => {
      const value = given.get(name) ?? defaults.get(name);
      if (value === undefined) {
        const { line, column } = positionIn(stage.raw, offset, stage.line);
        throw new DeffileSyntaxError(
          def.file,
          line,
          column,
          `build var ${name} is not defined through either --build-arg (--build-arg-file) ` +
            `or 'arguments' section`,
          `--build-arg ${name}=<value>, a line in --build-arg-file, or ` +
            `"${name}=<default>" in %arguments`,
        );
      }
      if (given.has(name)) used.add(name);
      void match;
      return value;
    });
  }
  const definition = parseDeffile(text, def.file);
  definition.warnings.unshift(...warnings);
  return { definition, unused: [...given.keys()].filter((name) => !used.has(name)) };
}
