/**
 * `inspect`: an image's metadata (labels, definition, runscript, startscript, test, help,
 * environment, apps) read from `/.singularity.d` and `/scif/apps` without mounting, in
 * SingularityCE's shape (`pkg/inspect/metadata.go`):
 * `{"data":{"attributes":{apps,environment,labels,runscript,test,helpfile,deffile,
 * startscript}},"type":"container"}`, empty fields left out.
 *
 * As SingularityCE does, a SIF's `inspect-metadata.json` object (written at build time) is
 * used when present and the definition comes from the SIF's Deffile object when there is
 * one; everything else is read from the image's files.
 *
 * @module
 */
import { SingletError } from "../errors.ts";
import type { ImageFiles } from "./image_files.ts";

/** Metadata of one SCIF app. */
export interface AppAttributes {
  /** Environment files (image path to content). */
  environment?: Record<string, string>;
  /** Labels. */
  labels?: Record<string, string>;
  /** Run script. */
  runscript?: string;
  /** Start script. */
  startscript?: string;
  /** Test script. */
  test?: string;
  /** Help text. */
  helpfile?: string;
}

/** Metadata of an image (SingularityCE's `inspect.Attributes`). */
export interface Attributes {
  /** SCIF apps by name. */
  apps?: Record<string, AppAttributes>;
  /** Environment files (image path to content). */
  environment?: Record<string, string>;
  /** Labels. */
  labels?: Record<string, string>;
  /** Run script. */
  runscript?: string;
  /** Test script. */
  test?: string;
  /** Help text. */
  helpfile?: string;
  /** Definition file. */
  deffile?: string;
  /** Start script. */
  startscript?: string;
}

/** SingularityCE's `inspect --json` document. */
export interface InspectMetadata {
  /** The attributes. */
  data: { attributes: Attributes };
  /** Always "container". */
  type: "container";
}

/** What to inspect (the flags of `inspect`). Nothing selected means labels. */
export interface InspectOptions {
  /** --labels. */
  labels?: boolean;
  /** --deffile. */
  deffile?: boolean;
  /** --runscript. */
  runscript?: boolean;
  /** --startscript. */
  startscript?: boolean;
  /** --test. */
  test?: boolean;
  /** --environment. */
  environment?: boolean;
  /** --helpfile. */
  helpfile?: boolean;
  /** --list-apps. */
  listApps?: boolean;
  /** --all: everything, for the image and every app (`app` is ignored). */
  all?: boolean;
  /** --app: show this app's metadata instead of the image's. */
  app?: string;
}

type Field = "labels" | "runscript" | "startscript" | "test" | "helpfile" | "environment";
const FIELDS: readonly Field[] = [
  "labels",
  "runscript",
  "startscript",
  "test",
  "helpfile",
  "environment",
];
const FILES: Record<Exclude<Field, "labels" | "environment">, string> = {
  runscript: "runscript",
  startscript: "startscript",
  test: "test",
  helpfile: "runscript.help",
};

function trimNewlines(text: string): string {
  return text.replace(/\n+$/, "");
}

function isEmpty(value: unknown): boolean {
  return value === undefined || value === "" ||
    (typeof value === "object" && value !== null && Object.keys(value).length === 0);
}

/** Everything about one metadata directory (`/.singularity.d` or an app's `scif`). */
async function readScifDir(
  files: ImageFiles,
  dir: string,
  docker: boolean,
  warnings: string[],
): Promise<AppAttributes> {
  const attrs: AppAttributes = {};
  const labelsText = await files.readText(`${dir}/labels.json`);
  if (labelsText !== undefined) {
    try {
      const parsed: unknown = JSON.parse(labelsText);
      const labels: Record<string, string> = {};
      if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)) {
        for (const [k, v] of Object.entries(parsed)) {
          if (typeof v === "string") labels[k] = v;
          else warnings.push(`Unable to parse label ${k} in /${dir}/labels.json: not a string`);
        }
      } else if (parsed !== null) {
        warnings.push(`Unable to parse labels: /${dir}/labels.json is not a JSON object`);
      }
      attrs.labels = labels;
    } catch (error) {
      warnings.push(`Unable to parse labels: ${(error as Error).message}`);
    }
  }
  for (const [field, name] of Object.entries(FILES)) {
    const text = await files.readText(`${dir}/${name}`);
    if (text !== undefined) attrs[field as keyof typeof FILES] = trimNewlines(text);
  }
  const envNames = (await files.listDir(`${dir}/env`) ?? []).sort();
  const environment: Record<string, string> = {};
  const envFiles = [
    ...(docker ? envNames.filter((n) => /^10-docker.*\.sh$/.test(n)) : []),
    ...envNames.filter((n) => /^9.*-environment\.sh$/.test(n)),
  ];
  for (const name of envFiles) {
    const text = await files.readText(`${dir}/env/${name}`);
    if (text !== undefined) environment[`/${dir}/env/${name}`] = trimNewlines(text);
  }
  attrs.environment = environment;
  return attrs;
}

/** App names: directories of `/scif/apps` that hold a `scif` directory. */
async function appNames(files: ImageFiles): Promise<string[]> {
  const names = await files.listDir("scif/apps") ?? [];
  const apps: string[] = [];
  for (const name of names.sort()) {
    if (await files.listDir(`scif/apps/${name}/scif`) !== undefined) apps.push(name);
  }
  return apps;
}

function fromSifObject(text: string, warnings: string[]): Attributes | undefined {
  try {
    const parsed = JSON.parse(text) as { data?: { attributes?: Attributes } };
    const attrs = parsed?.data?.attributes;
    if (attrs && typeof attrs === "object") return attrs;
    warnings.push("Unable to read inspect-metadata.json SIF descriptor: no data.attributes");
  } catch (error) {
    warnings.push(
      `Unable to read inspect-metadata.json SIF descriptor: ${(error as Error).message}`,
    );
  }
  return undefined;
}

/** Everything: the image's attributes and every app's. */
async function readAll(files: ImageFiles, warnings: string[]): Promise<Attributes> {
  const root: Attributes = await readScifDir(files, ".singularity.d", true, warnings);
  const deffile = await files.readText(".singularity.d/Singularity");
  if (deffile !== undefined) root.deffile = trimNewlines(deffile);
  const apps: Record<string, AppAttributes> = {};
  for (const name of await appNames(files)) {
    apps[name] = await readScifDir(files, `scif/apps/${name}/scif`, false, warnings);
  }
  root.apps = apps;
  return root;
}

function sortedRecord<T>(record: Record<string, T> | undefined): Record<string, T> | undefined {
  if (!record) return undefined;
  const keys = Object.keys(record).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(keys.map((k) => [k, record[k]!]));
}

function appJSON(app: AppAttributes): AppAttributes {
  const out: AppAttributes = {};
  if (!isEmpty(app.environment)) out.environment = sortedRecord(app.environment)!;
  if (!isEmpty(app.labels)) out.labels = sortedRecord(app.labels)!;
  for (const key of ["runscript", "startscript", "test", "helpfile"] as const) {
    if (!isEmpty(app[key])) out[key] = app[key]!;
  }
  return out;
}

/**
 * Normalise attributes to SingularityCE's JSON: Go struct field order, sorted maps, empty
 * fields left out.
 *
 * @param attrs The attributes.
 * @returns The `inspect --json` document.
 */
export function inspectDocument(attrs: Attributes): InspectMetadata {
  const out: Attributes = {};
  if (!isEmpty(attrs.apps)) {
    out.apps = Object.fromEntries(
      Object.entries(sortedRecord(attrs.apps)!).map(([name, app]) => [name, appJSON(app)]),
    );
  }
  if (!isEmpty(attrs.environment)) out.environment = sortedRecord(attrs.environment)!;
  if (!isEmpty(attrs.labels)) out.labels = sortedRecord(attrs.labels)!;
  for (const key of ["runscript", "test", "helpfile", "deffile", "startscript"] as const) {
    if (!isEmpty(attrs[key])) out[key] = attrs[key]!;
  }
  return { data: { attributes: out }, type: "container" };
}

/**
 * Inspect an image.
 *
 * @param files The image's files ({@linkcode openImageFiles}).
 * @param options What to show.
 * @returns The metadata document and warnings for the user.
 * @throws {SingletError} When `app` names an app the image does not have.
 */
export async function inspectImage(
  files: ImageFiles,
  options: InspectOptions = {},
): Promise<{ metadata: InspectMetadata; warnings: string[] }> {
  const warnings: string[] = [];
  const fromObject = files.inspectMetadataObject === undefined
    ? undefined
    : fromSifObject(files.inspectMetadataObject, warnings);
  const full = fromObject ?? await readAll(files, warnings);
  if (files.deffileObject !== undefined) full.deffile = trimNewlines(files.deffileObject);
  const apps = full.apps ?? {};

  if (options.all) return { metadata: inspectDocument(full), warnings };

  const wanted = new Set<Field>(FIELDS.filter((f) => options[f]));
  const nothingSelected = wanted.size === 0 && !options.deffile && !options.listApps;
  if (nothingSelected) wanted.add("labels");

  const out: Attributes = {};
  const app = options.app;
  if (app !== undefined && app !== "") {
    const source = apps[app];
    if (!source) {
      const known = Object.keys(apps).sort();
      throw new SingletError(
        `Cannot inspect app "${app}" in image "${files.source}": no such app`,
        {
          hint: known.length
            ? `the image's apps are: ${known.join(", ")}`
            : "the image has no SCIF apps",
        },
      );
    }
    const target: AppAttributes = {};
    for (const field of wanted) {
      if (source[field] !== undefined) {
        (target as Record<string, unknown>)[field] = source[field];
      }
    }
    out.apps = { [app]: target };
  } else {
    for (const field of wanted) {
      if (full[field] !== undefined) (out as Record<string, unknown>)[field] = full[field];
    }
  }
  if (options.deffile && full.deffile !== undefined) out.deffile = full.deffile;
  if (options.listApps) {
    out.apps = { ...Object.fromEntries(Object.keys(apps).map((n) => [n, {}])), ...out.apps };
  }
  const metadata = inspectDocument(out);
  // An app asked for with --app stays listed even when it has nothing to show.
  if (app && !options.listApps && metadata.data.attributes.apps === undefined) {
    metadata.data.attributes.apps = { [app]: {} };
  }
  return { metadata, warnings };
}

/**
 * The document as SingularityCE prints it: tab-indented, with `<`, `>` and `&` escaped as
 * Go's encoder does.
 *
 * @param metadata The document.
 * @returns JSON text with a trailing newline.
 */
export function inspectJSON(metadata: InspectMetadata): string {
  return goJSON(JSON.stringify(metadata, null, "\t")) + "\n";
}

/** Escape `<`, `>`, `&`, U+2028 and U+2029 in JSON text, as Go's encoder does. */
function goJSON(json: string): string {
  return json.replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/**
 * The SIF `inspect-metadata.json` object SingularityCE writes at build time: `inspect
 * --all` as compact JSON (Go's escaping), read back by `inspect` instead of the files.
 *
 * @param files The built image's files (a sandbox, or `entriesImageFiles` of the generated layout).
 * @returns The object's text.
 */
export async function inspectMetadataObject(files: ImageFiles): Promise<string> {
  const { metadata } = await inspectImage(files, { all: true });
  return goJSON(JSON.stringify(metadata));
}

/**
 * The text form of `inspect` (without `--json`), in SingularityCE's order: app names
 * (`--list-apps`), definition, runscript, startscript, test, help, environment files
 * (`=== path ===`), labels (`key: value`).
 *
 * @param metadata The document from {@linkcode inspectImage}.
 * @param options The same options (for `--list-apps` and `--app`).
 * @returns The text to print.
 */
export function inspectText(metadata: InspectMetadata, options: InspectOptions = {}): string {
  const a = metadata.data.attributes;
  const app = options.app ? a.apps?.[options.app] : undefined;
  let out = "";
  if (options.listApps) { for (const name of Object.keys(a.apps ?? {})) out += `${name}\n`; }
  if (a.deffile) out += `${a.deffile}\n`;
  for (const key of ["runscript", "startscript", "test", "helpfile"] as const) {
    const value = a[key] || app?.[key];
    if (value) out += `${value}\n`;
  }
  const environment = !isEmpty(a.environment) ? a.environment : app?.environment;
  for (const [path, text] of Object.entries(environment ?? {})) {
    out += `=== ${path} ===\n${text}\n\n`;
  }
  const labels = !isEmpty(a.labels) ? a.labels : app?.labels;
  for (const [key, value] of Object.entries(labels ?? {})) out += `${key}: ${value}\n`;
  return out;
}
