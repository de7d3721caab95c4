/**
 * The {@linkcode SectionRunner} of `singlet build`: `%pre`/`%setup` (and `debootstrap`) run
 * on the host; `%post`, `%appinstall` and `%test` run through {@linkcode launch} in a
 * container whose root is the writable sandbox being built, as (fake) root — root itself,
 * or the caller mapped to 0 with the subordinate range — with the host network, contained
 * (no home or /tmp from the host, as SingularityCE's build does), `-B` binds honoured.
 * Distribution bootstrappers (`debootstrap`) run on the host as root, or for an
 * unprivileged caller through `unshare` as root of the same fakeroot user namespace, with
 * private mount and PID namespaces.
 *
 * @module
 */
import type { RunnerBind, SectionRunner } from "../core/build/section_runner.ts";
import { SingletError } from "../core/errors.ts";
import { runCommand, spawnCommand } from "./_command.ts";
import { launch, type LaunchLogger } from "./launch.ts";
import { currentUser, type NamespacePlan, planNamespace } from "./userns.ts";
import type { SpecialNode } from "../core/build/files.ts";

export type { LaunchLogger } from "./launch.ts";

/**
 * Runs `"$@"` with the host's basic devices bound over placeholder files in `$1/dev` (a
 * user namespace cannot mknod; tools probe `[ -e dev/null ]` and redirect to it), then
 * removes the placeholders it made so the tree keeps no empty files in their place.
 */
const BIND_DEVICES = `r=$1; shift
mkdir -p "$r/dev" || exit 1
made=
for d in null zero full random urandom tty; do
  if [ ! -e "$r/dev/$d" ]; then : > "$r/dev/$d" || exit 1; made="$made $d"; fi
  mount --bind "/dev/$d" "$r/dev/$d" || exit 1
done
"$@"
status=$?
for d in null zero full random urandom tty; do umount "$r/dev/$d" 2>/dev/null; done
for d in $made; do [ -f "$r/dev/$d" ] && [ ! -s "$r/dev/$d" ] && rm -f "$r/dev/$d"; done
exit $status`;

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
    async openTreeForPacking(path: string) {
      if (Deno.uid() === 0) return undefined;
      const { plan: p } = await plan();
      if (p.mode !== "subid") return undefined;
      // As namespace root (CAP_DAC_OVERRIDE over mapped IDs): print the original mode of
      // each directory not a+rx and each file not a+r, then add those bits.
      const { code, stdout, stderr } = await runCommand(
        [
          "unshare",
          ...p.unshareArgs,
          "--",
          "find",
          path,
          "(",
          "(",
          "-type",
          "d",
          "!",
          "-perm",
          "-0555",
          ")",
          "-o",
          "(",
          "-type",
          "f",
          "!",
          "-perm",
          "-0444",
          ")",
          ")",
          "-printf",
          "%m %P\\0",
          "-exec",
          "chmod",
          "a+rX",
          "{}",
          "+",
        ],
        { stdin: "null" },
      );
      if (code !== 0) {
        // what find could not reach stays as it was: packing warns about (or refuses) it
        logger.warning(
          `Cannot open all of "${path}" for packing: ${new TextDecoder().decode(stderr).trim()}`,
        );
      }
      const modes = new Map<string, number>();
      for (const record of new TextDecoder().decode(stdout).split("\0")) {
        const space = record.indexOf(" ");
        if (space > 0) modes.set(record.slice(space + 1), parseInt(record.slice(0, space), 8));
      }
      return modes.size ? modes : undefined;
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
      const command = [program === "/bin/sh" ? "sh" : program!, ...rest];
      if (Deno.uid() !== 0) {
        // A user gets no PID namespace without a user namespace, which would change what
        // the section may do (setuid tools, nested user namespaces): it runs as is.
        const { code } = await runCommand(command, {
          env,
          stdin: "null",
          stdout: "inherit",
          stderr: "inherit",
        });
        return code;
      }
      // root: in a PID namespace of its own, so that whatever the section leaves running
      // (in the background, or in the foreground when singlet is stopped) ends with it
      return await runUntilUnload(
        ["unshare", "--pid", "--fork", "--kill-child", "--", ...command],
        env,
      );
    },
    async runHostAsRoot(
      argv: string[],
      env: Record<string, string>,
      options: { devices?: string } = {},
    ): Promise<number> {
      const root = Deno.uid() === 0;
      const { plan: p } = await plan();
      if (!root && p.mode !== "subid") {
        throw new SingletError(
          `Cannot run "${argv[0]}" as root in a user namespace: ${
            p.warning?.replace(/:.*$/, "") ?? "no subordinate IDs"
          }`,
          {
            hint: "a distribution bootstrap chowns files to many IDs: ask your admin for " +
              "/etc/subuid and /etc/subgid ranges, or build as root",
          },
        );
      }
      // Root needs no user namespace (nor device binds: it can mknod), the rest still holds.
      // --mount: the tool's bind and proc mounts stay private and vanish with it; --pid
      // --fork: a PID namespace the user namespace owns, so that /proc can be mounted in the
      // target; --kill-child: when unshare dies its child, the namespace's init, is killed,
      // and with it every process of the namespace.
      return await runUntilUnload([
        "unshare",
        ...(root ? [] : p.unshareArgs),
        "--mount",
        "--pid",
        "--fork",
        "--kill-child",
        "--",
        ...(options.devices && !root ? ["sh", "-c", BIND_DEVICES, "sh", options.devices] : []),
        ...argv,
      ], env);
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

/**
 * Run `unshare ... --pid --fork --kill-child -- ...` and wait for it; when singlet itself
 * ends first, kill it, and with it the namespace's init and so every process in it.
 *
 * unshare blocks SIGINT/SIGTERM (they reach the program through the process group); a
 * signal sent to singlet alone ends it through Deno.exit (cli/commands/build.ts), which
 * dispatches "unload": the namespace goes down with it.
 *
 * @param argv The unshare command line.
 * @param env Its environment.
 * @returns The exit code.
 */
async function runUntilUnload(argv: string[], env: Record<string, string>): Promise<number> {
  const child = spawnCommand(argv, { env });
  const kill = () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  };
  globalThis.addEventListener("unload", kill);
  try {
    return (await child.status).code;
  } finally {
    globalThis.removeEventListener("unload", kill);
  }
}
