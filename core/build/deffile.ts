/**
 * Definition-file ("def file") parser: the SingularityCE/Apptainer recipe grammar.
 *
 * A file is split into build stages at every line that starts with `Bootstrap:` (any case),
 * as SingularityCE does. Each stage has a header (`Keyword: value` lines, case-insensitive
 * keywords, `#` comments, `\` continuation) followed by `%sections`. Standard sections hold
 * shell scripts or line lists; SCIF app sections (`%appinstall foo`, ...) are grouped per
 * app in order of first appearance. Repeated sections are concatenated, repeated `%files`
 * blocks with the same source stage are merged.
 *
 * Where SingularityCE silently ignores a mistake that changes what gets built (an unknown
 * agent, a `%files` line with three names, arguments on a section that takes none, an app
 * name that would escape `/scif/apps`), this parser reports it instead. Every error is a
 * {@linkcode DeffileSyntaxError} naming the file, line and column and what was expected.
 *
 * @module
 */

/** A script section (`%post`, `%runscript`, ...): its header arguments and its body. */
export interface Script {
  /** Text after the section name on its header line, comment removed (e.g. `-c /bin/bash`). */
  args: string;
  /** The body: every line up to the next section, trailing blank lines removed. */
  script: string;
  /** 1-based line of the (first) section header in the file. */
  line: number;
}

/** One `src [dst]` line of a `%files` or `%appfiles` section. */
export interface FileTransfer {
  /** Source path or glob (host path, or a path in the `from` stage), quotes removed. */
  src: string;
  /** Destination in the container; empty when omitted, meaning the same path as `src`. */
  dst: string;
  /** 1-based line in the file. */
  line: number;
}

/** A `%files [from <stage>]` block (blocks with the same source are merged). */
export interface FilesSection {
  /** The stage files are copied from; absent for the host. */
  stage?: string;
  /** The transfers, in file order. */
  files: FileTransfer[];
  /** 1-based line of the first header of this block. */
  line: number;
}

/** The standard sections of one stage. Script sections are absent when not in the file. */
export interface Sections {
  /** `%help`: text for `run-help`. */
  help?: Script;
  /** `%setup`: host script run with `$SINGULARITY_ROOTFS` after bootstrap. */
  setup?: Script;
  /** `%files`: copies from the host and from earlier stages. */
  files: FilesSection[];
  /** `%labels`: `KEY VALUE` pairs, in file order (a repeated key keeps the last value). */
  labels: Map<string, string>;
  /** `%environment`: sourced at run time from `90-environment.sh`. */
  environment?: Script;
  /** `%pre`: host script run before bootstrap. */
  pre?: Script;
  /** `%post`: script run inside the container at build time. */
  post?: Script;
  /** `%runscript`: the container's run script. */
  runscript?: Script;
  /** `%startscript`: the instance start script. */
  startscript?: Script;
  /** `%test`: the test script. */
  test?: Script;
  /** `%arguments`: `KEY=VALUE` defaults for `{{ KEY }}` build arguments. */
  arguments?: Script;
}

/** The SCIF sections of one app (`%appinstall <name>` and friends). */
export interface App {
  /** App name (letters, digits, `_`, `-`, `.`). */
  name: string;
  /** 1-based line where the app first appears. */
  line: number;
  /** `%appinstall`: build-time script run in `/scif/apps/<name>`. */
  install?: Script;
  /** `%apprun`: the app's run script. */
  run?: Script;
  /** `%appenv`: the app's environment. */
  env?: Script;
  /** `%apphelp`: the app's help text. */
  help?: Script;
  /** `%apptest`: the app's test script. */
  test?: Script;
  /** `%appstart`: the app's start script. */
  start?: Script;
  /** `%applabels`: the app's labels. */
  labels: Map<string, string>;
  /** `%appfiles`: files copied from the host into the app root. */
  files: FileTransfer[];
}

/** One build stage: a header and its sections. */
export interface Stage {
  /** The `Stage:` header value, if any. */
  name?: string;
  /** 1-based line where this stage starts in the file. */
  line: number;
  /** Character offset of the stage in {@linkcode Definition.raw}. */
  offset: number;
  /** The stage's text as written (from its `Bootstrap:` line up to the next stage). */
  raw: string;
  /** Header keywords (lower case) to values, in file order. Empty for a headerless file. */
  header: Map<string, string>;
  /** The standard sections. */
  sections: Sections;
  /** SCIF apps in order of first appearance. */
  apps: Map<string, App>;
}

/** Something SingularityCE accepts with a warning. */
export interface DeffileWarning {
  /** File name as given to the parser. */
  file: string;
  /** 1-based line. */
  line: number;
  /** What is wrong. */
  message: string;
}

/** A parsed definition file. */
export interface Definition {
  /** File name used in messages. */
  file: string;
  /** The whole text as read (stored in the image as `/.singularity.d/Singularity`). */
  raw: string;
  /** Build stages in file order; the last one is the image that gets assembled. */
  stages: Stage[];
  /** Accepted oddities worth telling the user about. */
  warnings: DeffileWarning[];
}

/** A malformed definition file: names the file, the position and what was expected. */
export class DeffileSyntaxError extends SyntaxError {
  /** File name as given to the parser. */
  readonly file: string;
  /** 1-based line. */
  readonly line: number;
  /** 1-based column. */
  readonly column: number;
  /** What was expected at that position. */
  readonly expected: string;

  /**
   * Create the error; its message is `file:line:column: problem; expected ...`.
   *
   * @param file File name.
   * @param line 1-based line.
   * @param column 1-based column.
   * @param problem What is wrong, e.g. `unknown header keyword "frm"`.
   * @param expected What would have been valid there.
   */
  constructor(file: string, line: number, column: number, problem: string, expected: string) {
    super(`${file}:${line}:${column}: ${problem}; expected ${expected}`);
    this.name = "DeffileSyntaxError";
    this.file = file;
    this.line = line;
    this.column = column;
    this.expected = expected;
  }
}

/** Header keywords SingularityCE accepts (`otherurl<N>` is matched separately). */
export const HEADER_KEYWORDS: readonly string[] = [
  "bootstrap",
  "from",
  "includecmd",
  "mirrorurl",
  "updateurl",
  "osversion",
  "include",
  "library",
  "registry",
  "namespace",
  "stage",
  "product",
  "user",
  "regcode",
  "productpgp",
  "registerurl",
  "modules",
  "fingerprints",
  "setopt",
];

/** Bootstrap agents SingularityCE knows. */
export const BOOTSTRAP_AGENTS: readonly string[] = [
  "docker",
  "docker-archive",
  "docker-daemon",
  "oci",
  "oci-archive",
  "library",
  "oras",
  "shub",
  "localimage",
  "scratch",
  "busybox",
  "debootstrap",
  "yum",
  "dnf",
  "zypper",
  "arch",
];

/** Standard section names, in the order SingularityCE documents them. */
export const STANDARD_SECTIONS = [
  "help",
  "setup",
  "files",
  "labels",
  "environment",
  "pre",
  "post",
  "runscript",
  "startscript",
  "test",
  "arguments",
] as const;

/** SCIF app section names and the {@linkcode App} field each fills. */
export const APP_SECTIONS = {
  appinstall: "install",
  apprun: "run",
  appenv: "env",
  applabels: "labels",
  appfiles: "files",
  apphelp: "help",
  apptest: "test",
  appstart: "start",
} as const;

type StandardSection = typeof STANDARD_SECTIONS[number];
type AppSection = keyof typeof APP_SECTIONS;
type ScriptSection = Exclude<StandardSection, "files" | "labels">;
type AppScriptField = "install" | "run" | "env" | "help" | "test" | "start";

/** Sections whose header line may carry arguments, and what they mean. */
const SECTION_ARGS: Partial<Record<StandardSection, string>> = {
  pre: "/bin/sh options",
  setup: "/bin/sh options",
  post: "/bin/sh options",
  runscript: "shebang arguments",
  startscript: "shebang arguments",
  test: "shebang arguments",
  files: "from <stage>",
};

const STAGE_START = /^bootstrap:/i;
const OTHERURL = /^otherurl\d+$/;
const APP_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
const TEMPLATE = /^\{\{\s*\w+\s*\}\}/;

interface Line {
  /** Text without the line terminator (and without a trailing CR). */
  text: string;
  /** 1-based line number. */
  no: number;
  /** Offset of the line start in the file text. */
  offset: number;
}

function splitLines(text: string): Line[] {
  const lines: Line[] = [];
  let offset = 0;
  let no = 1;
  while (offset < text.length) {
    let end = text.indexOf("\n", offset);
    if (end < 0) end = text.length;
    // CRLF files parse like LF files (a stray CR before a line end is dropped too).
    const line = text.slice(offset, end).replace(/\r+$/, "");
    lines.push({ text: line, no, offset });
    offset = end + 1;
    no++;
  }
  return lines;
}

function indentOf(text: string): number {
  return text.length - text.trimStart().length;
}

function isSectionLine(text: string): boolean {
  return text.trimStart().startsWith("%");
}

function isBlankOrComment(text: string): boolean {
  const t = text.trim();
  return t === "" || t.startsWith("#");
}

function stripComment(text: string): string {
  const hash = text.indexOf("#");
  return (hash < 0 ? text : text.slice(0, hash)).trim();
}

/**
 * Parse a definition file.
 *
 * @param text The file's content.
 * @param file The name used in messages (e.g. the path given on the command line).
 * @returns The stages, header, sections and apps.
 * @throws {DeffileSyntaxError} When the text is not a valid definition.
 */
export function parseDeffile(text: string, file = "<definition>"): Definition {
  const lines = splitLines(text);
  const starts: number[] = [];
  lines.forEach((line, i) => {
    if (STAGE_START.test(line.text)) starts.push(i);
  });
  const warnings: DeffileWarning[] = [];
  const stages: Stage[] = [];
  const chunks: Line[][] = [];
  chunks.push(lines.slice(0, starts[0] ?? lines.length));
  starts.forEach((start, i) => chunks.push(lines.slice(start, starts[i + 1] ?? lines.length)));

  // The text before the first Bootstrap: line is a stage only when it holds more than
  // comments: a headerless file (sections only, used with --update) is valid on its own.
  const [lead, ...rest] = chunks;
  if (lead && lead.some((line) => !isBlankOrComment(line.text))) {
    const first = lead.find((line) => !isBlankOrComment(line.text))!;
    if (!isSectionLine(first.text)) {
      throw new DeffileSyntaxError(
        file,
        first.no,
        indentOf(first.text) + 1,
        `header keyword before "Bootstrap:"`,
        `"Bootstrap: <agent>" as the first header line`,
      );
    }
    if (rest.length > 0) {
      throw new DeffileSyntaxError(
        file,
        first.no,
        indentOf(first.text) + 1,
        "sections before the first stage's header in a multi-stage file",
        `"Bootstrap: <agent>" before them (every stage needs a header)`,
      );
    }
    stages.push(parseStage(lead, text.slice(0, rest[0]?.[0]?.offset), file, stages, warnings));
  }
  rest.forEach((chunk, i) => {
    const raw = text.slice(chunk[0]!.offset, rest[i + 1]?.[0]?.offset);
    stages.push(parseStage(chunk, raw, file, stages, warnings));
  });

  if (stages.length === 0) {
    throw new DeffileSyntaxError(
      file,
      1,
      1,
      "the definition file is empty",
      `a "Bootstrap: <agent>" header or a %section`,
    );
  }
  return { file, raw: text, stages, warnings };
}

function parseStage(
  chunk: Line[],
  raw: string,
  file: string,
  earlier: readonly Stage[],
  warnings: DeffileWarning[],
): Stage {
  const first = chunk[0]!;
  const headerEnd = chunk.findIndex((line) => isSectionLine(line.text));
  const headerLines = headerEnd < 0 ? chunk : chunk.slice(0, headerEnd);
  const header = parseHeader(headerLines, file, warnings);
  const stage: Stage = {
    line: first.no,
    offset: first.offset,
    raw,
    header,
    sections: { files: [], labels: new Map() },
    apps: new Map(),
  };
  const name = header.get("stage");
  if (name !== undefined) {
    const line = headerLines.find((l) => /^\s*stage\s*:/i.test(l.text));
    if (!/^\S+$/.test(name) && !TEMPLATE.test(name)) {
      throw new DeffileSyntaxError(
        file,
        line?.no ?? first.no,
        (line?.text.indexOf(name) ?? 0) + 1,
        `invalid stage name "${name}"`,
        "one word",
      );
    }
    if (earlier.some((s) => s.name === name)) {
      throw new DeffileSyntaxError(
        file,
        line?.no ?? first.no,
        1,
        `stage "${name}" is defined twice`,
        "a unique name for each stage",
      );
    }
    stage.name = name;
  }
  if (headerEnd >= 0) parseSections(chunk.slice(headerEnd), file, stage, earlier);
  dropEmpty(stage);
  return stage;
}

/**
 * Trim trailing blank lines from every script (after repeated sections were joined, so the
 * blank lines between two blocks stay, as in SingularityCE), and drop empty sections: an
 * empty section (no body, no arguments) means the same as no section at all.
 */
function dropEmpty(stage: Stage): void {
  const sections = stage.sections as unknown as Record<string, unknown>;
  for (const name of STANDARD_SECTIONS) {
    const s = sections[name] as Script | undefined;
    if (!s || !("script" in s)) continue;
    s.script = trimBody(s.script);
    if (s.script === "" && s.args === "") delete sections[name];
  }
  stage.sections.files = stage.sections.files.filter((block) => block.files.length > 0);
  for (const app of stage.apps.values()) {
    for (const field of ["install", "run", "env", "help", "test", "start"] as const) {
      const script = app[field];
      if (!script) continue;
      script.script = trimBody(script.script);
      if (script.script === "") delete app[field];
    }
  }
}

function parseHeader(
  lines: Line[],
  file: string,
  warnings: DeffileWarning[],
): Map<string, string> {
  const header = new Map<string, string>();
  let cont: { key: string; value: string } | undefined;
  let firstKey: Line | undefined;
  for (const line of lines) {
    const trimmed = line.text.trim();
    if (trimmed === "" || trimmed.startsWith("#")) {
      // SingularityCE ends a continuation at a blank or comment line.
      if (cont) header.set(cont.key, cont.value.replace(/[ \t]+$/, ""));
      cont = undefined;
      continue;
    }
    const column = indentOf(line.text) + 1;
    const content = trimmed.split("#")[0]!;
    let key: string;
    let value: string;
    if (cont) {
      key = cont.key;
      value = cont.value + content.trim();
      cont = undefined;
    } else {
      const colon = content.indexOf(":");
      if (colon < 0) {
        throw new DeffileSyntaxError(
          file,
          line.no,
          column,
          `header line "${trimmed}" has no ":"`,
          `"Keyword: value" or a %section`,
        );
      }
      key = content.slice(0, colon).trim().toLowerCase();
      value = content.slice(colon + 1).trim();
      if (!HEADER_KEYWORDS.includes(key) && !OTHERURL.test(key)) {
        throw new DeffileSyntaxError(
          file,
          line.no,
          column,
          `unknown header keyword "${content.slice(0, colon).trim()}"`,
          `one of ${HEADER_KEYWORDS.join(", ")}, otherurl<N>`,
        );
      }
      if (!firstKey) {
        firstKey = line;
        if (key !== "bootstrap") {
          throw new DeffileSyntaxError(
            file,
            line.no,
            column,
            `header starts with "${content.slice(0, colon).trim()}"`,
            `"Bootstrap: <agent>" as the first header line`,
          );
        }
      }
      if (key === "bootstrap" && value !== "" && !value.includes("{{")) {
        const agent = value.toLowerCase();
        if (!BOOTSTRAP_AGENTS.includes(agent)) {
          throw new DeffileSyntaxError(
            file,
            line.no,
            line.text.indexOf(value) + 1,
            `unknown bootstrap agent "${value}"`,
            `one of ${BOOTSTRAP_AGENTS.join(", ")}`,
          );
        }
        value = agent;
      }
    }
    if (value.endsWith("\\")) {
      let partial = value.slice(0, -1);
      // A literal "\n" before the continuation backslash stands for a newline.
      if (partial.endsWith("\\n")) partial = partial.slice(0, -2) + "\n";
      cont = { key, value: partial };
      continue;
    }
    if (key === "bootstrap" && value === "") {
      throw new DeffileSyntaxError(
        file,
        line.no,
        column + trimmed.length,
        "Bootstrap has no value",
        `an agent name (${BOOTSTRAP_AGENTS.join(", ")})`,
      );
    }
    if (header.has(key)) {
      warnings.push({
        file,
        line: line.no,
        message: `header keyword "${key}" is given again; the last value is used`,
      });
    }
    header.set(key, value);
  }
  if (cont) header.set(cont.key, cont.value.replace(/[ \t]+$/, ""));
  return header;
}

interface SectionHeader {
  name: string;
  args: string;
  line: Line;
  column: number;
}

function parseSectionHeader(line: Line, file: string): SectionHeader {
  const column = indentOf(line.text) + 1;
  const trimmed = line.text.trim();
  const match = /^%(\S*)\s*(.*)$/s.exec(trimmed)!;
  const name = match[1]!.toLowerCase();
  if (name === "") {
    throw new DeffileSyntaxError(
      file,
      line.no,
      column,
      `"%" without a section name`,
      `a section such as %post or %runscript`,
    );
  }
  return { name, args: stripComment(match[2]!), line, column };
}

/** A section body as written; trailing blank lines are trimmed once all blocks are merged. */
function bodyOf(lines: Line[]): string {
  return lines.map((l) => `${l.text}\n`).join("");
}

/** Remove trailing blank lines, keep the final newline. */
function trimBody(script: string): string {
  const trimmed = script.replace(/(?:\n[ \t]*)+$/, "").replace(/^[ \t]*$/, "");
  return trimmed === "" ? "" : trimmed + "\n";
}

function parseSections(
  lines: Line[],
  file: string,
  stage: Stage,
  earlier: readonly Stage[],
): void {
  let i = 0;
  while (i < lines.length) {
    const head = parseSectionHeader(lines[i]!, file);
    let j = i + 1;
    while (j < lines.length && !isSectionLine(lines[j]!.text)) j++;
    const body = lines.slice(i + 1, j);
    if ((STANDARD_SECTIONS as readonly string[]).includes(head.name)) {
      addStandardSection(head, body, file, stage, earlier);
    } else if (head.name in APP_SECTIONS) {
      addAppSection(head, body, file, stage);
    } else {
      throw new DeffileSyntaxError(
        file,
        head.line.no,
        head.column,
        `unknown section "%${head.name}"`,
        `one of ${
          [...STANDARD_SECTIONS, ...Object.keys(APP_SECTIONS)].map((s) => `%${s}`).join(", ")
        }`,
      );
    }
    i = j;
  }
}

function argsColumn(head: SectionHeader): number {
  const at = head.line.text.indexOf(head.args, head.column);
  return (at < 0 ? head.column : at) + 1;
}

function addStandardSection(
  head: SectionHeader,
  body: Line[],
  file: string,
  stage: Stage,
  earlier: readonly Stage[],
): void {
  const name = head.name as StandardSection;
  if (head.args !== "" && SECTION_ARGS[name] === undefined) {
    throw new DeffileSyntaxError(
      file,
      head.line.no,
      argsColumn(head),
      `section %${name} takes no arguments, got "${head.args}"`,
      "the section body on the following lines",
    );
  }
  if (name === "files") {
    addFiles(head, body, file, stage, earlier);
    return;
  }
  if (name === "labels") {
    for (const [key, value] of labelsFromLines(body)) stage.sections.labels.set(key, value);
    return;
  }
  if (name === "post" || name === "pre" || name === "setup") checkShellArgs(head, file);
  const sections = stage.sections;
  const existing = sections[name as ScriptSection];
  const script = bodyOf(body);
  if (existing) {
    existing.script += script;
    if (head.args !== "") existing.args = head.args;
  } else {
    sections[name as ScriptSection] = { args: head.args, script, line: head.line.no };
  }
}

function checkShellArgs(head: SectionHeader, file: string): void {
  const params = head.args.split(/\s+/).filter((p) => p !== "");
  const c = params.indexOf("-c");
  if (c >= 0 && c === params.length - 1) {
    throw new DeffileSyntaxError(
      file,
      head.line.no,
      argsColumn(head) + head.args.length,
      `%${head.name} -c has no shell`,
      "a shell after -c, e.g. -c /bin/bash",
    );
  }
}

function addFiles(
  head: SectionHeader,
  body: Line[],
  file: string,
  stage: Stage,
  earlier: readonly Stage[],
): void {
  let from: string | undefined;
  if (head.args !== "") {
    const match = /^from\s+(\S+|\{\{\s*\w+\s*\}\})$/i.exec(head.args);
    if (!match) {
      throw new DeffileSyntaxError(
        file,
        head.line.no,
        argsColumn(head),
        `invalid %files arguments "${head.args}"`,
        `"from <stage>" or nothing`,
      );
    }
    from = match[1]!;
    if (!from.includes("{{") && !earlier.some((s) => s.name === from)) {
      const known = earlier.filter((s) => s.name !== undefined).map((s) => `"${s.name}"`);
      throw new DeffileSyntaxError(
        file,
        head.line.no,
        argsColumn(head) + head.args.length - from.length,
        `%files from unknown stage "${from}"`,
        known.length
          ? `the name of an earlier stage (${known.join(", ")})`
          : `an earlier stage named with "Stage: <name>"`,
      );
    }
  }
  const files = parseFileLines(body, file);
  const block = stage.sections.files.find((f) => f.stage === from);
  if (block) {
    block.files.push(...files);
  } else {
    const section: FilesSection = { files, line: head.line.no };
    if (from !== undefined) section.stage = from;
    stage.sections.files.push(section);
  }
}

/**
 * Split a `%files` line into names: whitespace separates, double or single quotes group,
 * a `{{ arg }}` placeholder stays whole, a `#` word starts a comment.
 */
function splitFileLine(line: Line, file: string): { word: string; column: number }[] {
  const text = line.text;
  const words: { word: string; column: number }[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    if (ch === "#") break;
    const column = i + 1;
    let word = "";
    while (i < text.length && !/\s/.test(text[i]!)) {
      const c = text[i]!;
      if (c === '"' || c === "'") {
        const close = text.indexOf(c, i + 1);
        if (close < 0) {
          throw new DeffileSyntaxError(
            file,
            line.no,
            i + 1,
            `unterminated ${c === '"' ? "double" : "single"} quote`,
            `a closing ${c}`,
          );
        }
        word += text.slice(i + 1, close);
        i = close + 1;
        continue;
      }
      const template = TEMPLATE.exec(text.slice(i));
      if (template) {
        word += template[0];
        i += template[0].length;
        continue;
      }
      word += c;
      i++;
    }
    words.push({ word, column });
  }
  return words;
}

function parseFileLines(body: Line[], file: string): FileTransfer[] {
  const files: FileTransfer[] = [];
  for (const line of body) {
    if (isBlankOrComment(line.text)) continue;
    const words = splitFileLine(line, file);
    if (words.length > 2) {
      throw new DeffileSyntaxError(
        file,
        line.no,
        words[2]!.column,
        `unexpected "${words[2]!.word}" after the destination`,
        `"<source> [<destination>]" (quote names that contain spaces)`,
      );
    }
    const [src, dst] = words;
    if (!src || src.word === "") {
      throw new DeffileSyntaxError(
        file,
        line.no,
        src?.column ?? 1,
        "empty source path",
        "a file, directory or glob to copy",
      );
    }
    files.push({ src: src.word, dst: dst?.word ?? "", line: line.no });
  }
  return files;
}

/**
 * Parse `%labels`/`%applabels` text: the first word of a line is the key, the rest the
 * value; blank and `#` lines are skipped.
 *
 * @param body The section text.
 * @returns Keys to values in file order.
 */
export function parseLabels(body: string): Map<string, string> {
  return labelsFromLines(splitLines(body));
}

function labelsFromLines(lines: Line[]): Map<string, string> {
  const labels = new Map<string, string>();
  for (const line of lines) {
    if (isBlankOrComment(line.text)) continue;
    const match = /^(\S+)\s*(.*)$/s.exec(line.text.trim())!;
    labels.set(match[1]!, match[2]!.trim());
  }
  return labels;
}

function addAppSection(head: SectionHeader, body: Line[], file: string, stage: Stage): void {
  const [appName = "", ...extra] = head.args.split(/\s+/).filter((w) => w !== "");
  if (appName === "") {
    throw new DeffileSyntaxError(
      file,
      head.line.no,
      head.column + head.name.length + 1,
      `%${head.name} has no app name`,
      `"%${head.name} <app name>"`,
    );
  }
  if (!APP_NAME.test(appName)) {
    throw new DeffileSyntaxError(
      file,
      head.line.no,
      argsColumn(head),
      `invalid app name "${appName}"`,
      "letters, digits, '_', '-' and '.' (not starting with '.' or '-')",
    );
  }
  if (extra.length > 0) {
    throw new DeffileSyntaxError(
      file,
      head.line.no,
      head.line.text.indexOf(extra[0]!, argsColumn(head) - 1 + appName.length) + 1,
      `unexpected "${extra.join(" ")}" after the app name`,
      "only the app name on the section line",
    );
  }
  let app = stage.apps.get(appName);
  if (!app) {
    app = { name: appName, line: head.line.no, labels: new Map(), files: [] };
    stage.apps.set(appName, app);
  }
  const field = APP_SECTIONS[head.name as AppSection];
  if (field === "labels") {
    for (const [key, value] of labelsFromLines(body)) app.labels.set(key, value);
    return;
  }
  if (field === "files") {
    app.files.push(...parseFileLines(body, file));
    return;
  }
  const script = bodyOf(body);
  const existing = app[field as AppScriptField];
  if (existing) existing.script += script;
  else app[field as AppScriptField] = { args: "", script, line: head.line.no };
}

/**
 * The last stage: the one a build assembles into the image.
 *
 * @param def A parsed definition.
 * @returns Its final stage.
 */
export function finalStage(def: Definition): Stage {
  return def.stages[def.stages.length - 1]!;
}

/**
 * The definition SingularityCE makes for a build or pull from a URI (`docker://alpine`,
 * `oras://...`, `localimage:///path`): a header with `bootstrap` (the scheme) and `from`
 * (the rest), and no sections. Its canonical text, `bootstrap: docker\nfrom: alpine\n\n`,
 * is what SingularityCE stores as the image's definition.
 *
 * @param uri `scheme://rest` or `scheme:rest`.
 * @returns A one-stage definition whose `raw` is empty (use `storedDeffileText`).
 * @throws {SyntaxError} When the URI has no scheme.
 */
export function definitionFromURI(uri: string): Definition {
  const sep = uri.includes("://") ? "://" : ":";
  const at = uri.indexOf(sep);
  if (at <= 0) {
    throw new DeffileSyntaxError(
      uri,
      1,
      1,
      "build URI has no transport",
      "prefix:// or prefix: (e.g. docker://alpine)",
    );
  }
  const header = new Map([["bootstrap", uri.slice(0, at)], ["from", uri.slice(at + sep.length)]]);
  const stage: Stage = {
    line: 1,
    offset: 0,
    raw: "",
    header,
    sections: { files: [], labels: new Map() },
    apps: new Map(),
  };
  return { file: uri, raw: "", stages: [stage], warnings: [] };
}
