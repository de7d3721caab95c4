/**
 * Host-tool requirements for tests: a test that needs a tool that is truly unavailable is
 * registered as ignored with the reason in its name, so the runner prints it (never a
 * silent pass).
 *
 * @module
 */

/**
 * Find an executable on PATH (plus the sbin directories Debian puts tools in).
 *
 * @param name Program name, e.g. "siftool".
 * @returns Its absolute path, or undefined.
 */
export function findTool(name: string): string | undefined {
  const dirs = (Deno.env.get("PATH") ?? "").split(":").concat(["/usr/sbin", "/sbin", "/usr/bin/"]);
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = `${dir}/${name}`;
    try {
      const info = Deno.statSync(candidate);
      if (info.isFile && ((info.mode ?? 0) & 0o111) !== 0) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Options of {@linkcode testWithTools}. */
export interface ToolTestOptions {
  /** Also require running as root (skipped with a reason otherwise). */
  root?: boolean;
}

/**
 * Register a Deno test that needs host tools; when one is missing the test is ignored and
 * its name says why.
 *
 * @param name Test name (a sentence).
 * @param tools Programs that must be on PATH.
 * @param fn The test body.
 * @param options Extra requirements.
 */
export function testWithTools(
  name: string,
  tools: readonly string[],
  fn: (t: Deno.TestContext) => void | Promise<void>,
  options: ToolTestOptions = {},
): void {
  const missing = tools.filter((tool) => !findTool(tool));
  const reasons = missing.map((tool) => `${tool} not found`);
  if (options.root && Deno.uid() !== 0) reasons.push("needs root");
  if (reasons.length) {
    Deno.test({ name: `${name} (skipped: ${reasons.join(", ")})`, ignore: true, fn });
    return;
  }
  Deno.test({ name, fn });
}
