/**
 * The {@linkcode SectionRunner} of `singlet build`: `%pre`/`%setup` (and `debootstrap`) run
 * on the host; `%post`, `%appinstall` and `%test` run through {@linkcode launch} in a
 * container whose root is the writable sandbox being built, as (fake) root — root itself,
 * or the caller mapped to 0 with the subordinate range — with the host network, contained
 * (no home or /tmp from the host, as SingularityCE's build does), `-B` binds honoured.
 *
 * @module
 */
import type { RunnerBind, SectionRunner } from "../core/build/section_runner.ts";
import { runCommand } from "./_command.ts";
import { launch, type LaunchLogger } from "./launch.ts";
import { currentUser, type NamespacePlan, planNamespace } from "./userns.ts";
import type { SpecialNode } from "../core/build/files.ts";

export type { LaunchLogger } from "./launch.ts";

/** The subordinate range of a fakeroot plan (`--map-users=START,1,COUNT`). */
function mappedRange(plan: NamespacePlan, flag: string): [number, number] | undefined {
  const arg = plan.unshareArgs.find((a) => a.startsWith(`${flag}=`));
  if (!arg) return undefined;
  const [start, inner, count] = arg.slice(flag.length + 1).split(",").map(Number);
  return inner === 1 ? [start!, count!] : undefined;
}

/**
 * Make the runner the build pipeline uses.
 *
 * @param logger Where the runtime's messages go.
 * @returns The runner.
 */
export function buildRunner(logger: LaunchLogger): SectionRunner {
  let planned: Promise<{ plan: NamespacePlan; uid: number; gid: number }> | undefined;
  const plan = () =>
    planned ??= currentUser().then(async (user) => ({
      plan: await planNamespace(user, { fakeroot: true }),
      uid: user.uid,
      gid: user.gid,
    }));
  return {
    async ownerMap() {
      if (Deno.uid() === 0) return undefined;
      const { plan: p, uid, gid } = await plan();
      const users = mappedRange(p, "--map-users");
      const groups = mappedRange(p, "--map-groups");
      const map = (id: number, self: number, range: [number, number] | undefined) =>
        id === self
          ? 0
          : range && id >= range[0] && id < range[0] + range[1]
          ? id - range[0] + 1
          : id;
      return (u: number, g: number) => [map(u, uid, users), map(g, gid, groups)];
    },
    async removeTree(path: string) {
      try {
        await Deno.remove(path, { recursive: true });
        return;
      } catch (error) {
        if (Deno.uid() === 0) throw error;
      }
      // files written by subordinate IDs: remove them as namespace root
      const { plan: p } = await plan();
      if (p.mode !== "subid") throw new Error(`cannot remove "${path}"`);
      const { code, stderr } = await runCommand(
        ["unshare", ...p.unshareArgs, "--", "rm", "-rf", "--", path],
        { stdin: "null" },
      );
      if (code !== 0) throw new Error(new TextDecoder().decode(stderr).trim());
    },
    async fixPerms(path: string) {
      // the caller already did what it could (core/build/fix_perms.ts); the rest belongs
      // to subordinate IDs: chmod as namespace root
      const { plan: p } = await plan();
      if (Deno.uid() === 0 || p.mode !== "subid") return;
      const { code, stderr } = await runCommand(
        [
          "unshare",
          ...p.unshareArgs,
          "--",
          "find",
          path,
          "-mindepth",
          "1",
          "(",
          "-type",
          "d",
          "-exec",
          "chmod",
          "u+rwx",
          "{}",
          "+",
          ")",
          "-o",
          "(",
          "-type",
          "f",
          "-exec",
          "chmod",
          "u+rw",
          "{}",
          "+",
          ")",
        ],
        { stdin: "null" },
      );
      if (code !== 0) {
        throw new Error(`--fix-perms: ${new TextDecoder().decode(stderr).trim()}`);
      }
    },
    async makeNode(path: string, node: SpecialNode): Promise<string | undefined> {
      if (node.kind !== "fifo" && Deno.uid() !== 0) {
        return "an unprivileged build cannot create device nodes (the kernel refuses mknod " +
          "in a user namespace); build as root to copy it, or create it at run time";
      }
      const mode = node.mode.toString(8).padStart(4, "0");
      const type = node.kind === "fifo" ? ["p"] : [
        node.kind === "chardev" ? "c" : "b",
        String(node.major),
        String(node.minor),
      ];
      const { code, stderr } = await runCommand(["mknod", "-m", mode, "--", path, ...type], {
        stdin: "null",
      });
      if (code !== 0) throw new Error(`mknod ${path}: ${new TextDecoder().decode(stderr).trim()}`);
      return undefined;
    },
    async runHost(argv: string[], env: Record<string, string>): Promise<number> {
      // --allow-run grants `sh` by name (Deno resolves it on PATH to /usr/bin/sh); the
      // section scripts' "/bin/sh" is another path to it, which Deno would refuse.
      const [program, ...rest] = argv;
      const { code } = await runCommand([program === "/bin/sh" ? "sh" : program!, ...rest], {
        env,
        stdin: "null",
        stdout: "inherit",
        stderr: "inherit",
      });
      return code;
    },
    async runInContainer(
      rootfs: string,
      argv: string[],
      env: Record<string, string>,
      binds: readonly RunnerBind[],
    ): Promise<number> {
      return await launch({
        image: rootfs,
        action: "exec",
        args: argv,
        writable: true,
        fakeroot: Deno.uid() !== 0,
        contain: true,
        env: Object.entries(env),
        binds: [...binds],
        logger,
      });
    },
  };
}
