/**
 * How definition sections become programs, as SingularityCE runs them:
 *
 * - `%runscript`, `%startscript`, `%test` (and app scripts) become files whose first line is
 *   `#!/bin/sh`, or the script's own leading `#!` line; section arguments are appended to
 *   that shebang (`%runscript -x` gives `#!/bin/sh -x`).
 * - `%pre`, `%setup`, `%post` run as `/bin/sh -ex <script>`; section arguments are `/bin/sh`
 *   options, and `-c <shell> [args]` runs the script with that shell instead
 *   (`/bin/sh -ex -c "<shell> [args] <script>"`).
 *
 * @module
 */
import type { Script } from "./deffile.ts";

/**
 * Split a script into its interpreter line and body.
 *
 * @param s The section.
 * @returns The shebang line (with section arguments appended) and the remaining body.
 */
export function splitShebang(s: Pick<Script, "args" | "script">): {
  shebang: string;
  body: string;
} {
  let shebang = "#!/bin/sh";
  let body = s.script;
  const lines = s.script.split("\n");
  const first = lines.findIndex((line) => line.trim() !== "");
  if (first >= 0 && lines[first]!.trim().startsWith("#!")) {
    shebang = lines[first]!.trim();
    body = lines.slice(first + 1).join("\n");
  }
  const args = s.args.split("#")[0]!.trim();
  if (args !== "") shebang += " " + args;
  return { shebang, body };
}

/**
 * The content of `/.singularity.d/runscript`, `startscript` or `test` for a section.
 *
 * @param s The `%runscript`, `%startscript` or `%test` section.
 * @returns The script file's text.
 */
export function shebangScript(s: Pick<Script, "args" | "script">): string {
  const { shebang, body } = splitShebang(s);
  return `${shebang}\n\n${body.endsWith("\n") ? body : body + "\n"}`;
}

/**
 * The argv that runs a `%pre`, `%setup` or `%post` script.
 *
 * @param s The section (its `args` are `/bin/sh` options, possibly `-c <shell> ...`).
 * @param scriptPath Where the section's body has been written.
 * @returns The command line, starting with `/bin/sh`.
 * @throws {SyntaxError} When `-c` has no shell after it.
 */
export function buildScriptArgv(s: Pick<Script, "args">, scriptPath: string): string[] {
  const params = s.args.split("#")[0]!.split(/\s+/).filter((p) => p !== "");
  const argv = ["/bin/sh", "-ex"];
  const c = params.indexOf("-c");
  if (c < 0) return [...argv, ...params, scriptPath];
  if (c === params.length - 1) throw new SyntaxError("section '-c' parameter: missing shell");
  return [...argv, ...params.slice(0, c + 1), `${params.slice(c + 1).join(" ")} ${scriptPath}`];
}
