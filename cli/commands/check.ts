/**
 * `singlet check`: the host self-check admins and users run first. One line per feature
 * (what works, what refuses and why, what to do) and the OCI runtime singlet will use.
 *
 * @module
 */
import { action, type Command } from "../_command.ts";
import { printJson, printOut } from "../_output.ts";
import { checkHost } from "../../runtime/host_check.ts";
import { SingletError } from "../../core/errors.ts";
import { VERSION } from "../../core/version.ts";

const LABELS = { ok: "ok", fail: "FAIL", missing: "MISSING", note: "note" } as const;

/**
 * Register `singlet check`.
 *
 * @param program The root program.
 */
export function registerCheck(program: Command): void {
  program
    .command("check")
    .description("Check which host features singlet can use (namespaces, runtimes, FUSE)")
    .option("--json", "print the report as JSON")
    .action(action(async (options: { json?: boolean }) => {
      const report = await checkHost();
      if (options.json) {
        printJson({ version: VERSION, ...report });
      } else {
        const width = Math.max(...report.findings.map((f) => f.feature.length));
        let text = `singlet version ${VERSION}, checking as ${report.user.name} ` +
          `(uid ${report.user.uid})\n`;
        for (const finding of report.findings) {
          text += `[${LABELS[finding.status].padEnd(7)}] ${finding.feature.padEnd(width)}  ` +
            `${finding.detail}\n`;
          if (finding.hint && finding.status !== "ok") {
            text += `${" ".repeat(11 + width)}hint: ${finding.hint}\n`;
          }
        }
        const crunRefused = report.findings.some((f) =>
          f.feature.startsWith("crun") && f.status === "fail"
        );
        text += report.runtime
          ? `OCI runtime: ${report.runtime}${
            report.runtime === "runc" && crunRefused ? " (crun refuses this host)" : ""
          }\n`
          : "OCI runtime: none usable\n";
        printOut(text);
      }
      if (!report.usable) {
        throw new SingletError("Cannot run containers on this host: see the FAIL lines above", {
          hint: "fix the first FAIL or MISSING line, then run 'singlet check' again",
        });
      }
    }));
}
