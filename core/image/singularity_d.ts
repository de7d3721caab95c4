/**
 * The `/.singularity.d` image metadata layout SingularityCE and Apptainer expect in a native
 * image, generated from an OCI image config and/or a definition file:
 *
 * - base directories (`/.singularity.d/{actions,env,libs}`, `/dev /proc /sys /tmp /var/tmp
 *   /home /root /etc`), empty `/etc/hosts` and `/etc/resolv.conf`;
 * - action scripts `actions/{exec,run,shell,start,test}`: source `env/*.sh` in order, then
 *   exec (SingularityCE's native runtime interprets its own copy; the in-image files run in
 *   `--oci` mode and under other runtimes);
 * - `env/01-base.sh`, `10-docker2singularity.sh` (OCI `Env`), `90-environment.sh`
 *   (`%environment`), `91-environment.sh` (appended to by `%post` through
 *   `$SINGULARITY_ENVIRONMENT`), `94-appsbase.sh`, `95-apps.sh`, `99-base.sh`,
 *   `99-runtimevars.sh`;
 * - `runscript` (`%runscript`, else generated from ENTRYPOINT/CMD, else a notice),
 *   `startscript`, `test`, `runscript.help`, `labels.json`, `Singularity` (the definition);
 * - links `/singularity`, `/environment`, `/.exec`, `/.run`, `/.shell`, `/.test`;
 * - SCIF app trees under `/scif/apps/<app>` and `/scif/data/<app>`.
 *
 * The entries come in two phases, as a build needs them: {@linkcode baseEntries} before
 * `%post` runs (so `%post` and `%appinstall` find `91-environment.sh` and the app trees),
 * and {@linkcode metadataEntries} after it (scripts, help, labels, definition), which
 * replace any earlier entry at the same path. A pull uses both at once:
 * {@linkcode singularityDEntries} or {@linkcode writeSingularityD}.
 *
 * Deliberate differences from SingularityCE, all of which make the result more correct:
 * Docker `Env` values are escaped once (SingularityCE escapes twice, so a value containing
 * `"`, `\`, `$` or a backquote gains backslashes at run time); the OCI runscript uses
 * `set --` (an image with neither ENTRYPOINT nor CMD no longer lists shell variables);
 * app paths in `94-appsbase.sh` use the app's real name (SingularityCE substitutes `_` for
 * `-` and `.` in the paths as well as the variable names).
 *
 * @module
 */
import type { Definition, Script, Stage } from "../build/deffile.ts";
import { storedDeffileText } from "../build/deffile_text.ts";
import { shebangScript } from "../build/section_scripts.ts";
import type { EntryMeta, FsSink } from "../squashfs/fstree.ts";

export type { EntryMeta, FsSink } from "../squashfs/fstree.ts";

/** The fields of an OCI image config (`config` object) this layout uses. */
export interface ImageConfigLike {
  /** `KEY=value` environment entries. */
  Env?: readonly string[] | null;
  /** ENTRYPOINT argv. */
  Entrypoint?: readonly string[] | null;
  /** CMD argv. */
  Cmd?: readonly string[] | null;
  /** WORKDIR (recorded in the config object, not in `/.singularity.d`). */
  WorkingDir?: string;
  /** USER (recorded in the config object, not in `/.singularity.d`). */
  User?: string;
  /** Image labels: the starting point of `labels.json`. */
  Labels?: Readonly<Record<string, string>> | null;
}

/** What the layout is generated from. */
export interface SingularityDInput {
  /** The OCI image config of an OCI bootstrap or pull. */
  ociConfig?: ImageConfigLike;
  /** The definition file of a build; its last stage provides the metadata. */
  deffile?: Definition;
  /** Labels from `%post` (`$SINGULARITY_LABELS`), applied over the image's labels. */
  labels?: Readonly<Record<string, string>>;
  /** The `org.label-schema.*` build labels ({@linkcode schemaLabels}), applied next. */
  buildLabels?: Readonly<Record<string, string>>;
  /** `--force`: `%labels` may replace labels the image already has. */
  force?: boolean;
  /** The labels of an image built upon (`localimage`, `--update`): its `labels.json`. */
  existingLabels?: Readonly<Record<string, string>>;
  /** That image's `env/90-environment.sh`: `%environment` is appended to it. */
  existingEnvironment?: string;
  /**
   * That image's definitions, oldest first (its `bootstrap_history/Singularity<N>` files,
   * then its `Singularity`): kept as `bootstrap_history/Singularity0..N`.
   */
  bootstrapHistory?: readonly string[];
}

/** One generated entry; `path` is relative to the image root (no leading `/`). */
export type MetaEntry =
  | { kind: "directory"; path: string; mode: number }
  | { kind: "file"; path: string; mode: number; content: string }
  | { kind: "symlink"; path: string; target: string };

/** Generated entries plus anything the user should be told. */
export interface MetaEntries {
  /** Entries in an order that puts each directory before its children. */
  entries: MetaEntry[];
  /** E.g. an `Env` entry with an invalid name, or a `%labels` key the image already had. */
  warnings: string[];
}

const SOURCE_ENV = `for script in /.singularity.d/env/*.sh; do
    if [ -f "$script" ]; then
        # shellcheck source=/dev/null
        . "$script"
    fi
done
`;

const ACTION_EXEC = `#!/bin/sh
# Run a command in the container's environment.

${SOURCE_ENV}
exec "$@"
`;

const ACTION_RUN = `#!/bin/sh
# Run the container's (or the selected app's) runscript.

${SOURCE_ENV}
if [ -n "\${SINGULARITY_APPNAME:-}" ]; then
    if [ -x "/scif/apps/\${SINGULARITY_APPNAME}/scif/runscript" ]; then
        exec "/scif/apps/\${SINGULARITY_APPNAME}/scif/runscript" "$@"
    fi
    echo "No Singularity runscript for contained app: \${SINGULARITY_APPNAME}"
    exit 1
elif [ -x /.singularity.d/runscript ]; then
    exec /.singularity.d/runscript "$@"
else
    echo "No Singularity runscript found, executing /bin/sh"
    exec /bin/sh "$@"
fi
`;

const ACTION_SHELL = `#!/bin/sh
# Start an interactive shell: $SINGULARITY_SHELL, else bash without rc files, else sh.

${SOURCE_ENV}
if [ -n "\${SINGULARITY_SHELL:-}" ] && [ -x "\${SINGULARITY_SHELL}" ]; then
    exec "\${SINGULARITY_SHELL}" "$@"
elif [ -x /bin/bash ]; then
    SHELL=/bin/bash
    PS1="Singularity \${SINGULARITY_NAME:-}:\\\\w> "
    export SHELL PS1
    exec /bin/bash --norc "$@"
elif [ -x /bin/sh ]; then
    SHELL=/bin/sh
    export SHELL
    exec /bin/sh "$@"
fi
echo "ERROR: /bin/sh does not exist in container" 1>&2
exit 1
`;

const ACTION_START = `#!/bin/sh
# Run an instance's startscript.

# Tell the instance's PID 1 that the start script is running. Do not remove.
kill -CONT 1

${SOURCE_ENV}
if [ -x /.singularity.d/startscript ]; then
    exec /.singularity.d/startscript "$@"
fi
`;

const ACTION_TEST = `#!/bin/sh
# Run the container's (or the selected app's) test script.

${SOURCE_ENV}
if [ -n "\${SINGULARITY_APPNAME:-}" ]; then
    if [ -x "/scif/apps/\${SINGULARITY_APPNAME}/scif/test" ]; then
        exec "/scif/apps/\${SINGULARITY_APPNAME}/scif/test" "$@"
    fi
    echo "No tests for contained app: \${SINGULARITY_APPNAME}"
    exit 1
elif [ -x /.singularity.d/test ]; then
    exec /.singularity.d/test "$@"
else
    echo "No test found in container, executing /bin/sh -c true"
    exec /bin/sh -c true
fi
`;

const ENV_01_BASE = `#!/bin/sh
# Base environment of a Singularity container. Intentionally empty: the scripts that follow
# in this directory are sourced in lexical order by every action.
`;

const ENV_CUSTOM = `#!/bin/sh
# Custom environment shell code should follow

`;

const ENV_95_APPS = `#!/bin/sh
# Activate the app selected with --app: its bin and lib directories and its environment.

if [ -n "\${SINGULARITY_APPNAME:-}" ]; then
    # The active app should be exported
    export SINGULARITY_APPNAME

    if [ -d "/scif/apps/\${SINGULARITY_APPNAME}/" ]; then
        SCIF_APPS="/scif/apps"
        SCIF_APPROOT="/scif/apps/\${SINGULARITY_APPNAME}"
        export SCIF_APPROOT SCIF_APPS
        PATH="/scif/apps/\${SINGULARITY_APPNAME}:$PATH"

        # Automatically add application bin to path
        if [ -d "/scif/apps/\${SINGULARITY_APPNAME}/bin" ]; then
            PATH="/scif/apps/\${SINGULARITY_APPNAME}/bin:$PATH"
        fi

        # Automatically add application lib to LD_LIBRARY_PATH
        if [ -d "/scif/apps/\${SINGULARITY_APPNAME}/lib" ]; then
            LD_LIBRARY_PATH="/scif/apps/\${SINGULARITY_APPNAME}/lib:\${LD_LIBRARY_PATH:-}"
            export LD_LIBRARY_PATH
        fi

        # Automatically source environment
        if [ -f "/scif/apps/\${SINGULARITY_APPNAME}/scif/env/01-base.sh" ]; then
            # shellcheck source=/dev/null
            . "/scif/apps/\${SINGULARITY_APPNAME}/scif/env/01-base.sh"
        fi
        if [ -f "/scif/apps/\${SINGULARITY_APPNAME}/scif/env/90-environment.sh" ]; then
            # shellcheck source=/dev/null
            . "/scif/apps/\${SINGULARITY_APPNAME}/scif/env/90-environment.sh"
        fi

        export PATH
    else
        echo "Could not locate the container application: \${SINGULARITY_APPNAME}"
        exit 1
    fi
fi
`;

const ENV_99_BASE = `#!/bin/sh
# Libraries bound into the container at run time (--nv, --rocm) live in /.singularity.d/libs.

if [ -z "\${LD_LIBRARY_PATH:-}" ]; then
    LD_LIBRARY_PATH="/.singularity.d/libs"
else
    LD_LIBRARY_PATH="$LD_LIBRARY_PATH:/.singularity.d/libs"
fi

PS1="Singularity> "
export LD_LIBRARY_PATH PS1
`;

const ENV_99_RUNTIMEVARS = `#!/bin/sh
# PATH changes asked for with SINGULARITYENV_PREPEND_PATH, _APPEND_PATH and _PATH.

if [ -n "\${SING_USER_DEFINED_PREPEND_PATH:-}" ]; then
    PATH="\${SING_USER_DEFINED_PREPEND_PATH}:\${PATH}"
fi

if [ -n "\${SING_USER_DEFINED_APPEND_PATH:-}" ]; then
    PATH="\${PATH}:\${SING_USER_DEFINED_APPEND_PATH}"
fi

if [ -n "\${SING_USER_DEFINED_PATH:-}" ]; then
    PATH="\${SING_USER_DEFINED_PATH}"
fi

unset SING_USER_DEFINED_PREPEND_PATH \\
    SING_USER_DEFINED_APPEND_PATH \\
    SING_USER_DEFINED_PATH

export PATH
`;

const DEFAULT_RUNSCRIPT = `#!/bin/sh

echo "There is no runscript defined for this container"
`;

const DEFAULT_STARTSCRIPT = `#!/bin/sh
`;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Escape text for use inside double quotes in sh: `\`, `"`, `` ` `` and `$`.
 *
 * @param value Any text.
 * @returns The text with those four characters backslash-escaped.
 */
export function escapeDoubleQuoted(value: string): string {
  return value.replace(/[\\"`$]/g, (c) => `\\${c}`);
}

/**
 * Quote text as one sh word with single quotes (`'` becomes `'"'"'`).
 *
 * @param value Any text.
 * @returns `'value'`, safe to paste into a script.
 */
export function singleQuote(value: string): string {
  return `'${value.replaceAll("'", `'"'"'`)}'`;
}

/**
 * An argv as SingularityCE's runscript stores it for later `eval`: each word in double
 * quotes, escaped, separated by spaces.
 *
 * @param argv The ENTRYPOINT or CMD.
 * @returns E.g. `"/bin/sh" "-c" "echo \$HOME"`.
 */
export function argsQuoted(argv: readonly string[]): string {
  return argv.map((arg) => `"${escapeDoubleQuoted(arg)}"`).join(" ");
}

/**
 * `env/10-docker2singularity.sh` for an image's `Env`: `PATH` is set outright, every other
 * variable keeps a value the container environment already has (`export K="${K:-"v"}"`).
 *
 * @param env The image config's `Env` entries.
 * @returns The script and a warning per entry whose name a shell cannot export.
 */
export function dockerEnvScript(env: readonly string[]): { script: string; warnings: string[] } {
  let script = "#!/bin/sh\n";
  const warnings: string[] = [];
  for (const entry of env) {
    const eq = entry.indexOf("=");
    const key = eq < 0 ? entry : entry.slice(0, eq);
    if (!ENV_NAME.test(key)) {
      warnings.push(`Skipping image environment variable "${key}": not a valid shell name`);
      continue;
    }
    if (eq < 0) {
      script += `export ${key}="\${${key}:-}"\n`;
    } else if (key === "PATH") {
      script += `export PATH="${escapeDoubleQuoted(entry.slice(eq + 1))}"\n`;
    } else {
      script += `export ${key}="\${${key}:-"${escapeDoubleQuoted(entry.slice(eq + 1))}"}"\n`;
    }
  }
  return { script, warnings };
}

/**
 * The runscript of an OCI image: runs ENTRYPOINT + CMD, with the arguments of `run`
 * replacing CMD. By default the command line is evaluated by the shell as SingularityCE has
 * always done; with `SINGULARITY_NO_EVAL` set (`--no-eval`, `--compat`) arguments pass
 * through untouched, as Docker does.
 *
 * @param config The image config's `Entrypoint` and `Cmd`.
 * @returns The runscript text.
 */
export function ociRunscript(config: Pick<ImageConfigLike, "Entrypoint" | "Cmd">): string {
  const entrypoint = config.Entrypoint ?? [];
  const cmd = config.Cmd ?? [];
  const prepend = (argv: readonly string[]) =>
    argv.length === 0 ? "" : `set -- ${argv.map(singleQuote).join(" ")} "$@"`;
  const epPrepend = prepend(entrypoint) || ":";
  const cmdThenEp =
    [prepend(cmd), prepend(entrypoint)].filter((s) => s !== "").join("\n        ") ||
    ":";
  return `#!/bin/sh
# The single-quoted words are the image's ENTRYPOINT and CMD: literal on purpose.
# shellcheck disable=SC2016
OCI_ENTRYPOINT=${singleQuote(argsQuoted(entrypoint))}
OCI_CMD=${singleQuote(argsQuoted(cmd))}

# With SINGULARITY_NO_EVAL set (--no-eval, --compat), run ENTRYPOINT + CMD as Docker does:
# the arguments given to run replace CMD and are not evaluated by the shell.
if [ -n "\${SINGULARITY_NO_EVAL:-}" ]; then
    if [ $# -gt 0 ]; then
        ${epPrepend}
    else
        ${cmdThenEp}
    fi
    exec "$@"
fi

# Singularity's traditional behaviour: the command line (ENTRYPOINT + arguments, or
# ENTRYPOINT + CMD without arguments) is evaluated by the shell before it runs.
CMDLINE_ARGS=""
for arg in "$@"; do
    CMDLINE_ARGS="\${CMDLINE_ARGS} \\"$arg\\""
done

if [ $# -gt 0 ]; then
    SINGULARITY_OCI_RUN="\${OCI_ENTRYPOINT} \${CMDLINE_ARGS}"
else
    SINGULARITY_OCI_RUN="\${OCI_ENTRYPOINT} \${OCI_CMD}"
fi

eval "set -- \${SINGULARITY_OCI_RUN}"
exec "$@"
`;
}

/**
 * Labels as SingularityCE writes `labels.json`: keys sorted, tab-indented, `<`, `>`, `&`
 * escaped as Go does, no trailing newline.
 *
 * @param labels The labels.
 * @returns The JSON text.
 */
export function labelsJSON(labels: Readonly<Record<string, string>>): string {
  const sorted = Object.fromEntries(
    Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
  return JSON.stringify(sorted, null, "\t")
    .replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

const WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = [
  "January",
  "February",
  "March",
  "April",
  "May",
  "June",
  "July",
  "August",
  "September",
  "October",
  "November",
  "December",
];

/** Options of {@linkcode schemaLabels}. */
export interface SchemaLabelOptions {
  /** Build time (formatted in UTC as SingularityCE's `Weekday_D_Month_YYYY_H:M:S_TZ`). */
  date: Date;
  /** Version recorded as `org.label-schema.usage.singularity.version`. */
  version: string;
  /** Go-style architecture name, e.g. `amd64`. */
  arch: string;
  /** The stage built (header keys become `...deffile.<key>` labels; `%help` adds usage). */
  stage?: Stage;
  /** `--update` without `--force`: no header labels, as the build did not bootstrap. */
  update?: boolean;
}

/**
 * The `org.label-schema.*` labels SingularityCE adds to every build.
 *
 * @param options Date, version, architecture and the stage.
 * @returns Label names to values.
 */
export function schemaLabels(options: SchemaLabelOptions): Record<string, string> {
  const d = options.date;
  const labels: Record<string, string> = {
    "org.label-schema.schema-version": "1.0",
    "org.label-schema.build-date": `${WEEKDAYS[d.getUTCDay()]}_${d.getUTCDate()}_${
      MONTHS[d.getUTCMonth()]
    }_${d.getUTCFullYear()}_${d.getUTCHours()}:${d.getUTCMinutes()}:${d.getUTCSeconds()}_UTC`,
    "org.label-schema.usage.singularity.version": options.version,
  };
  if (options.stage?.sections.help) {
    labels["org.label-schema.usage"] = "/.singularity.d/runscript.help";
    labels["org.label-schema.usage.singularity.runscript.help"] = "/.singularity.d/runscript.help";
  }
  if (options.stage && !options.update) {
    for (const [key, value] of options.stage.header) {
      labels[`org.label-schema.usage.singularity.deffile.${key}`] = value;
    }
  }
  labels["org.label-schema.build-arch"] = options.arch;
  return labels;
}

function dir(path: string, mode = 0o755): MetaEntry {
  return { kind: "directory", path, mode };
}

function file(path: string, content: string, mode = 0o755): MetaEntry {
  return { kind: "file", path, mode, content };
}

function link(path: string, target: string): MetaEntry {
  return { kind: "symlink", path, target };
}

function finalOf(input: SingularityDInput): Stage | undefined {
  const stages = input.deffile?.stages;
  return stages?.[stages.length - 1];
}

function body(s: Script): string {
  return s.script.endsWith("\n") || s.script === "" ? s.script : s.script + "\n";
}

/** Variable-name form of an app name, as SingularityCE makes it. */
function appVar(name: string): string {
  return name.replace(/[^A-Za-z0-9_]/g, "_");
}

function appEntries(stage: Stage): { entries: MetaEntry[]; globals: string } {
  const entries: MetaEntry[] = [];
  let globals = "";
  if (stage.apps.size > 0) {
    entries.push(dir("scif"), dir("scif/apps"), dir("scif/data"));
  }
  for (const app of stage.apps.values()) {
    const root = `scif/apps/${app.name}`;
    const data = `scif/data/${app.name}`;
    entries.push(
      dir(root),
      dir(`${root}/scif`),
      dir(`${root}/bin`),
      dir(`${root}/lib`),
      dir(`${root}/scif/env`),
      dir(data),
      dir(`${data}/input`),
      dir(`${data}/output`),
    );
    const n = app.name;
    entries.push(file(
      `${root}/scif/env/01-base.sh`,
      `#!/bin/sh

SCIF_APPNAME="${n}"
SCIF_APPROOT="/scif/apps/${n}"
SCIF_APPMETA="/scif/apps/${n}/scif"
SCIF_DATA="/scif/data"
SCIF_APPDATA="/scif/data/${n}"
SCIF_APPINPUT="/scif/data/${n}/input"
SCIF_APPOUTPUT="/scif/data/${n}/output"
export SCIF_APPDATA SCIF_APPNAME SCIF_APPROOT SCIF_APPMETA SCIF_APPINPUT SCIF_APPOUTPUT SCIF_DATA
`,
    ));
    if (app.env) entries.push(file(`${root}/scif/env/90-environment.sh`, body(app.env)));
    if (app.run) entries.push(file(`${root}/scif/runscript`, shebangScript(app.run)));
    if (app.start) entries.push(file(`${root}/scif/startscript`, shebangScript(app.start)));
    if (app.test) entries.push(file(`${root}/scif/test`, shebangScript(app.test)));
    if (app.help) entries.push(file(`${root}/scif/runscript.help`, body(app.help), 0o644));
    entries.push(file(
      `${root}/scif/labels.json`,
      labelsJSON({ SCIF_APP_NAME: n, ...Object.fromEntries(app.labels) }),
      0o644,
    ));
    const v = appVar(n);
    globals += `
## App Global Exports For: ${n}

SCIF_APPDATA_${v}="/scif/data/${n}"
SCIF_APPMETA_${v}="/scif/apps/${n}/scif"
SCIF_APPROOT_${v}="/scif/apps/${n}"
SCIF_APPBIN_${v}="/scif/apps/${n}/bin"
SCIF_APPLIB_${v}="/scif/apps/${n}/lib"

export SCIF_APPDATA_${v} SCIF_APPMETA_${v} SCIF_APPROOT_${v} SCIF_APPBIN_${v} SCIF_APPLIB_${v}
`;
    if (app.env) {
      globals += `export SCIF_APPENV_${v}="/scif/apps/${n}/scif/env/90-environment.sh"\n`;
    }
    globals += `export SCIF_APPLABELS_${v}="/scif/apps/${n}/scif/labels.json"\n`;
    if (app.run) globals += `export SCIF_APPRUN_${v}="/scif/apps/${n}/scif/runscript"\n`;
    if (app.start) globals += `export SCIF_APPSTART_${v}="/scif/apps/${n}/scif/startscript"\n`;
  }
  return { entries, globals };
}

/**
 * The entries a root filesystem needs before `%post` runs: directories, action scripts,
 * base environment scripts, links, the OCI runscript, environment and labels, app trees.
 *
 * @param input The image config and/or definition.
 * @returns The entries and warnings.
 */
export function baseEntries(input: SingularityDInput): MetaEntries {
  const warnings: string[] = [];
  const entries: MetaEntry[] = [
    dir(".singularity.d"),
    dir(".singularity.d/actions"),
    dir(".singularity.d/env"),
    dir(".singularity.d/libs"),
    dir("dev"),
    dir("proc"),
    dir("root"),
    dir("var"),
    dir("var/tmp"),
    dir("tmp"),
    dir("etc"),
    dir("sys"),
    dir("home"),
    file("etc/hosts", "", 0o644),
    file("etc/resolv.conf", "", 0o644),
    file(".singularity.d/actions/exec", ACTION_EXEC),
    file(".singularity.d/actions/run", ACTION_RUN),
    file(".singularity.d/actions/shell", ACTION_SHELL),
    file(".singularity.d/actions/start", ACTION_START),
    file(".singularity.d/actions/test", ACTION_TEST),
    file(".singularity.d/env/01-base.sh", ENV_01_BASE),
  ];
  const oci = input.ociConfig;
  if (oci) {
    const { script, warnings: w } = dockerEnvScript(oci.Env ?? []);
    warnings.push(...w);
    entries.push(file(".singularity.d/env/10-docker2singularity.sh", script));
  }
  entries.push(file(".singularity.d/env/90-environment.sh", ENV_CUSTOM));
  const stage = finalOf(input);
  if (stage) entries.push(file(".singularity.d/env/91-environment.sh", ENV_CUSTOM));
  const apps = stage ? appEntries(stage) : { entries: [], globals: "" };
  entries.push(
    file(
      ".singularity.d/env/94-appsbase.sh",
      "#!/bin/sh\n# Locations of the container's SCIF apps.\n" + apps.globals,
    ),
    file(".singularity.d/env/95-apps.sh", ENV_95_APPS),
    file(".singularity.d/env/99-base.sh", ENV_99_BASE),
    file(".singularity.d/env/99-runtimevars.sh", ENV_99_RUNTIMEVARS),
    file(".singularity.d/runscript", oci ? ociRunscript(oci) : DEFAULT_RUNSCRIPT),
    file(".singularity.d/startscript", DEFAULT_STARTSCRIPT),
    link("singularity", ".singularity.d/runscript"),
    link(".run", ".singularity.d/actions/run"),
    link(".exec", ".singularity.d/actions/exec"),
    link(".test", ".singularity.d/actions/test"),
    link(".shell", ".singularity.d/actions/shell"),
    link("environment", ".singularity.d/env/90-environment.sh"),
    ...apps.entries,
  );
  return { entries, warnings };
}

/**
 * The entries written after `%post`: the definition's help, labels, environment,
 * startscript, runscript and test, and the definition itself. Without a definition this
 * is just `labels.json` (image labels plus build labels).
 *
 * @param input The image config and/or definition.
 * @returns The entries and warnings.
 */
export function metadataEntries(input: SingularityDInput): MetaEntries {
  const warnings: string[] = [];
  const entries: MetaEntry[] = [];
  const stage = finalOf(input);
  const s = stage?.sections;
  if (s?.help) entries.push(file(".singularity.d/runscript.help", body(s.help), 0o644));

  const labels: Record<string, string> = {
    ...(input.ociConfig?.Labels ?? {}),
    ...(input.existingLabels ?? {}),
  };
  Object.assign(labels, input.labels ?? {}, input.buildLabels ?? {});
  for (const [key, value] of s?.labels ?? []) {
    if (Object.hasOwn(labels, key) && !input.force) {
      warnings.push(`Label: ${key} already exists and force option is false, not overwriting`);
    } else {
      labels[key] = value;
    }
  }
  entries.push(file(".singularity.d/labels.json", labelsJSON(labels), 0o644));

  if (input.deffile) {
    const history = input.bootstrapHistory ?? [];
    if (history.length > 0) entries.push(dir(".singularity.d/bootstrap_history"));
    history.forEach((text, i) => {
      entries.push(file(`.singularity.d/bootstrap_history/Singularity${i}`, text, 0o644));
    });
    entries.push(file(".singularity.d/Singularity", storedDeffileText(input.deffile), 0o644));
  }
  if (s?.environment) {
    const before = input.existingEnvironment ?? ENV_CUSTOM;
    entries.push(
      file(".singularity.d/env/90-environment.sh", `${before}\n${body(s.environment)}`),
    );
  }
  if (s?.startscript) {
    entries.push(file(".singularity.d/startscript", shebangScript(s.startscript)));
  }
  if (s?.runscript) entries.push(file(".singularity.d/runscript", shebangScript(s.runscript)));
  if (s?.test) entries.push(file(".singularity.d/test", shebangScript(s.test)));
  return { entries, warnings };
}

/**
 * The whole layout: {@linkcode baseEntries} then {@linkcode metadataEntries}, later entries
 * replacing earlier ones at the same path (each path appears once, in first-seen order).
 *
 * @param input The image config and/or definition.
 * @returns The entries and warnings.
 */
export function singularityDEntries(input: SingularityDInput): MetaEntries {
  const base = baseEntries(input);
  const meta = metadataEntries(input);
  const byPath = new Map<string, MetaEntry>();
  for (const entry of [...base.entries, ...meta.entries]) byPath.set(entry.path, entry);
  return { entries: [...byPath.values()], warnings: [...base.warnings, ...meta.warnings] };
}

/** Options of {@linkcode writeSingularityD}. */
export interface WriteOptions {
  /** Owner, group and mtime of every entry (default root, root, 0). */
  uid?: number;
  /** Group ID (default 0). */
  gid?: number;
  /** Modification time in seconds since the epoch (default 0). */
  mtime?: number;
  /**
   * Paths (no leading `/`) that the tree already has: base directories, `etc/hosts`,
   * `etc/resolv.conf` and the links in `/` are then left as the image made them, as
   * SingularityCE does.
   */
  exists?: (path: string) => boolean;
}

const KEEP_IF_PRESENT = new Set([
  "dev",
  "proc",
  "root",
  "var",
  "var/tmp",
  "tmp",
  "etc",
  "sys",
  "home",
  "etc/hosts",
  "etc/resolv.conf",
  // SingularityCE makes these links only where the image has nothing at that path.
  "singularity",
  ".run",
  ".exec",
  ".test",
  ".shell",
  "environment",
]);

/**
 * Feed the layout into an {@linkcode FsSink} (e.g. the SquashFS writer after the layers).
 *
 * @param sink The tree consumer.
 * @param input The image config and/or definition.
 * @param options Ownership, time, and which base paths already exist.
 * @returns Warnings for the user.
 */
export async function writeSingularityD(
  sink: FsSink,
  input: SingularityDInput,
  options: WriteOptions = {},
): Promise<string[]> {
  const { entries, warnings } = singularityDEntries(input);
  const encoder = new TextEncoder();
  const meta = (mode: number): EntryMeta => ({
    mode,
    uid: options.uid ?? 0,
    gid: options.gid ?? 0,
    mtime: options.mtime ?? 0,
  });
  for (const entry of entries) {
    if (KEEP_IF_PRESENT.has(entry.path) && options.exists?.(entry.path)) continue;
    const path = encoder.encode(entry.path);
    if (entry.kind === "directory") {
      await sink.directory(path, meta(entry.mode));
    } else if (entry.kind === "symlink") {
      await sink.symlink(path, meta(0o777), encoder.encode(entry.target));
    } else {
      const data = encoder.encode(entry.content);
      await sink.file(
        path,
        meta(entry.mode),
        data.length,
        (async function* () {
          yield data;
        })(),
      );
    }
  }
  return warnings;
}
