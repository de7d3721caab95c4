/**
 * The container's root without an overlay: when no writable layer is asked for and the
 * image has every mount point the container needs (an empty `/home` serving for a home
 * directory under it), the root is the `squashfuse_ll` mount itself, read-only, with the
 * files' permissions enforced; a missing or symlinked mount point, or `--writable-tmpfs`,
 * brings the overlay back; `kill -9` leaves no mount behind. As root, as the unprivileged
 * test users (with subordinate IDs, and without) and as an `--oci` image user mapped to a
 * subordinate ID, through runc.
 */
import assert from "node:assert/strict";
import { busyboxRootfs } from "../_helpers/fixtures.ts";
import { SINGLET_BIN } from "../_helpers/singlet.ts";
import { siftoolNativeSif } from "../_helpers/siftool.ts";
import { runAs, testUser } from "../_helpers/unpriv.ts";
import { testWithTools } from "../_helpers/tools.ts";
import { appImageSif } from "./_oci_app_image.ts";
import { hostMountinfo, processesWith, sessions, spawnSinglet, waitFor } from "./_spawn.ts";
import { asRoot, asUser, ok } from "./_runners.ts";

const TOOLS = ["runc", "unshare", "nsenter", "squashfuse_ll", "mksquashfs", "siftool"];

interface Images {
  dir: string;
  /** Every mount point, an empty /home, a root-only file (a SIF). */
  full: string;
  /** The same with /etc/resolv.conf a symbolic link to a missing file (bare SquashFS). */
  symlinked: string;
}

let built: Promise<Images> | undefined;

function images(): Promise<Images> {
  built ??= build();
  return built;
}

async function run(program: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(program, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${program} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

async function build(): Promise<Images> {
  const dir = await Deno.makeTempDir({ prefix: "singlet-rootfs-images-" });
  globalThis.addEventListener("unload", () => {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // already gone
    }
  });
  const tree = `${dir}/tree`;
  await run("cp", ["-a", await busyboxRootfs(), tree]);
  for (const d of ["proc", "sys", "dev", "tmp", "home", "root", "var/tmp", ".singularity.d/libs"]) {
    await Deno.mkdir(`${tree}/${d}`, { recursive: true });
  }
  await Deno.writeTextFile(`${tree}/etc/hosts`, "");
  await Deno.writeTextFile(`${tree}/etc/resolv.conf`, "");
  await Deno.mkdir(`${tree}/shared`);
  await Deno.chmod(`${tree}/shared`, 0o1777);
  await Deno.writeTextFile(`${tree}/root-only`, "secret\n", { mode: 0o600 });
  await Deno.chmod(`${tree}/root-only`, 0o600);
  const squashfs = `${dir}/full.sqfs`;
  await run("mksquashfs", [tree, squashfs, "-noappend", "-quiet", "-no-progress"]);
  const full = `${dir}/full.sif`;
  await siftoolNativeSif(full, squashfs);
  await Deno.remove(`${tree}/etc/resolv.conf`);
  await Deno.mkdir(`${tree}/run`, { recursive: true });
  await Deno.symlink("../run/systemd/resolve/stub-resolv.conf", `${tree}/etc/resolv.conf`);
  const symlinked = `${dir}/symlinked.sqfs`;
  await run("mksquashfs", [tree, symlinked, "-noappend", "-quiet", "-no-progress"]);
  await run("chmod", ["-R", "a+rX", dir]);
  return { dir, full, symlinked };
}

/** The file system type of the mount at `path` in a mountinfo text (the last one wins). */
function fsType(mountinfo: string, path: string): string | undefined {
  const line = mountinfo.split("\n").findLast((l) => l.split(" ")[4] === path);
  return line?.split(" - ")[1]?.split(" ")[0];
}

for (const runner of [asRoot(), asUser(true), asUser(false)]) {
  testWithTools(
    `as ${runner.name}, the root is the image mount itself unless an overlay is needed`,
    TOOLS,
    async (t) => {
      const { full, symlinked } = await images();
      await runner.user();

      await t.step("an image with every mount point runs with no overlay", async () => {
        const result = await runner.run([
          "--debug",
          "exec",
          full,
          "sh",
          "-c",
          "cat /proc/self/mountinfo; echo @@; touch /bin/x; mkdir /d",
        ]);
        assert.notEqual(result.code, 0, "the image is read-only");
        assert.match(result.stderr, /touch: \/bin\/x: Read-only file system/);
        // the mount itself is read-only (squashfuse_ll alone answers ENOSYS to a mkdir)
        assert.match(result.stderr, /can't create directory '\/d': Read-only file system/);
        assert.match(result.stderr, /rootfs \S+ \(overlay: none, the image mount itself\)/);
        const mountinfo = result.stdout.split("@@")[0]!;
        assert.equal(fsType(mountinfo, "/"), "fuse.squashfuse_ll", mountinfo);
        assert.doesNotMatch(mountinfo, / - (overlay|fuse\.fuse-overlayfs) /);
        const root = mountinfo.split("\n").findLast((l) => l.split(" ")[4] === "/")!;
        for (const flag of ["ro", "nosuid", "nodev"]) {
          assert.ok(root.split(" ")[5]!.split(",").includes(flag), root);
        }
      });

      await t.step("home, the current directory and /tmp are bound and writable", async () => {
        const work = await Deno.makeTempDir({ prefix: "singlet-rootfs-cwd-" });
        await Deno.chmod(work, 0o777);
        const name = `singlet-rootfs-${crypto.randomUUID().slice(0, 8)}`;
        const out = ok(
          await runner.run(
            [
              "exec",
              full,
              "sh",
              "-c",
              `pwd; echo "$HOME"; touch ./${name} "$HOME/${name}" /tmp/${name}.tmp && echo w;` +
              "grep -c ' - overlay ' /proc/self/mountinfo || true",
            ],
            {},
            work,
          ),
          "binds",
        );
        assert.equal(out, `${work}\n${runner.home()}\nw\n0\n`);
        for (const path of [`${work}/${name}`, `${runner.home()}/${name}`, `/tmp/${name}.tmp`]) {
          assert.equal((await Deno.stat(path)).uid, runner.uid(), path);
          await Deno.remove(path);
        }
        await Deno.remove(work, { recursive: true });
      });

      await t.step("a home directory under the image's empty /home needs no overlay", async () => {
        // a user's home is /home/<name>: the image's /home is empty, a tmpfs serves there
        const out = ok(
          await runner.run(["exec", full, "sh", "-c", "ls -A /home; cat /proc/self/mountinfo"]),
          "home",
        );
        if (runner.uid() === 0) {
          // root's home is /root, in the image: /home stays the image's (made read-only)
          assert.equal(fsType(out, "/home"), "fuse.squashfuse_ll", out);
          return;
        }
        const [listing] = out.split("\n");
        assert.equal(listing, runner.home().split("/").at(-1), "only the home directory");
        assert.equal(fsType(out, "/"), "fuse.squashfuse_ll", out);
        assert.equal(fsType(out, "/home"), "tmpfs", out);
        assert.ok(fsType(out, runner.home()), "the home directory is bound");
      });

      await t.step("--fakeroot runs as root on the image mount itself", async () => {
        const out = ok(
          await runner.run([
            "exec",
            "--fakeroot",
            full,
            "sh",
            "-c",
            "id -u; cat /proc/self/mountinfo",
          ]),
          "fakeroot",
        );
        assert.match(out, /^0\n/);
        assert.equal(fsType(out, "/"), "fuse.squashfuse_ll", out);
      });

      await t.step("the image's file permissions still hold", async () => {
        const read = await runner.run(["exec", full, "cat", "/root-only"]);
        if (runner.rootInside) assert.equal(read.stdout, "secret\n", read.stderr);
        else {
          assert.notEqual(read.code, 0);
          assert.match(read.stderr, /Permission denied/);
        }
      });

      await t.step("a mount point missing at the top of the image brings the overlay", async () => {
        const data = await Deno.makeTempDir({ prefix: "singlet-rootfs-bind-" });
        await Deno.chmod(data, 0o755);
        await Deno.writeTextFile(`${data}/f`, "bound\n");
        const out = ok(
          await runner.run([
            "--debug",
            "exec",
            "-B",
            `${data}:/newdir`,
            full,
            "sh",
            "-c",
            "cat /newdir/f /proc/self/mountinfo",
          ]),
          "-B /newdir",
        );
        assert.match(out, /^bound\n/);
        assert.match(fsType(out, "/") ?? "", /^(overlay|fuse\.fuse-overlayfs)$/, out);
        const cwd = ok(await runner.run(["exec", "--cwd", "/work/proj", full, "pwd"]), "--cwd");
        assert.equal(cwd, "/work/proj\n", "the runtime made the directory in the overlay");
        await Deno.remove(data, { recursive: true });
      });

      await t.step("a symbolic link on a mount point's path brings the overlay", async () => {
        const out = ok(
          await runner.run([
            "exec",
            symlinked,
            "sh",
            "-c",
            "cat /etc/resolv.conf; echo @@; cat /proc/self/mountinfo",
          ]),
          "symlinked resolv.conf",
        );
        const [resolv, mountinfo] = out.split("@@\n");
        assert.equal(resolv, await Deno.readTextFile("/etc/resolv.conf"));
        assert.match(fsType(mountinfo!, "/") ?? "", /^(overlay|fuse\.fuse-overlayfs)$/);
      });

      await t.step("--writable-tmpfs keeps the overlay and the root writable", async () => {
        const out = ok(
          await runner.run([
            "exec",
            "--writable-tmpfs",
            full,
            "sh",
            "-c",
            "echo x > /shared/x && cat /shared/x; cat /proc/self/mountinfo",
          ]),
          "writable-tmpfs",
        );
        assert.match(out, /^x\n/);
        assert.match(fsType(out, "/") ?? "", /^(overlay|fuse\.fuse-overlayfs)$/);
      });
    },
  );
}

for (const subids of [false, true]) {
  const who = subids ? "an unprivileged user" : "root";
  testWithTools(
    `kill -9 of singlet as ${who} with no overlay leaves no mount and the next run cleans up`,
    TOOLS,
    async () => {
      const { full } = await images();
      const marker = `sleep ${33000 + (subids ? 1 : 0)}`;
      const { child, stateDir } = await spawnSinglet(subids, [
        "--debug",
        "exec",
        full,
        ...marker.split(" "),
      ]);
      await waitFor("the container", async () => (await processesWith(marker)).length > 0);
      const [session] = await sessions(stateDir);
      child.kill("SIGKILL");
      const killed = await child.output();
      assert.match(new TextDecoder().decode(killed.stderr), /overlay: none/);
      await waitFor("the container to die", async () => (await processesWith(marker)).length === 0);
      await waitFor(
        "helpers to die",
        async () => (await processesWith(session!, true)).length === 0,
      );
      assert.doesNotMatch(await hostMountinfo(), new RegExp(session!), "no mount on the host");
      const next = await (await spawnSinglet(subids, ["exec", full, "true"], stateDir)).child
        .output();
      assert.equal(next.code, 0, new TextDecoder().decode(next.stderr));
      assert.deepEqual(await sessions(stateDir), []);
      await Deno.remove(stateDir.replace(/\/s$/, ""), { recursive: true });
    },
  );
}

testWithTools(
  "--oci: an image USER that is a subordinate ID reads the image mount itself",
  TOOLS,
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "singlet-rootfs-oci-" });
    await Deno.chmod(dir, 0o755);
    try {
      const sif = await appImageSif(dir, { User: "app", WorkingDir: "/srv/app" });
      const user = await testUser({ subids: true });
      const result = await runAs(
        user,
        [
          SINGLET_BIN,
          "exec",
          "--oci",
          sif,
          "sh",
          "-c",
          "id -u; pwd; head -c 5 /bin/sh | wc -c; cat /proc/self/mountinfo; touch x",
        ],
        { cwd: "/tmp" },
      );
      assert.notEqual(result.code, 0, "its own WORKDIR is read-only without --writable-tmpfs");
      assert.match(result.stderr, /touch: x: Read-only file system/);
      const [uid, cwd, bytes] = result.stdout.split("\n");
      assert.deepEqual([uid, cwd, bytes], ["1234", "/srv/app", "5"]);
      assert.equal(fsType(result.stdout, "/"), "fuse.squashfuse_ll", result.stdout);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
