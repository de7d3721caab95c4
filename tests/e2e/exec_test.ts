/**
 * `singlet exec|run|shell|test` end to end, through bin/singlet, as root and as the
 * unprivileged test users (with subordinate IDs, and without: single-ID mapping): what
 * the process inside sees (id, environment, mounts, cwd, hostname, capabilities,
 * no_new_privs, files visible and writable), exit codes and signals, and that nothing is
 * left behind.
 */
import assert from "node:assert/strict";
import { testWithTools } from "../_helpers/tools.ts";
import { execImages } from "./_exec_images.ts";
import { asRoot, asUser, ok } from "./_runners.ts";

const TOOLS = ["runc", "unshare", "nsenter", "squashfuse_ll", "mksquashfs", "siftool"];

function statusField(status: string, field: string): string {
  return new RegExp(`^${field}:\\s*(.*)$`, "m").exec(status)?.[1]?.trim() ?? "";
}

for (const runner of [asRoot(), asUser(true), asUser(false)]) {
  testWithTools(`exec as ${runner.name} behaves as under Singularity`, TOOLS, async (t) => {
    const images = await execImages();
    const sif = images.sif;

    await t.step("the process has the caller's uid and gid", async () => {
      const out = ok(await runner.run(["exec", sif, "id", "-u"]), "id -u");
      assert.equal(out.trim(), String(runner.inside()));
      assert.equal(
        ok(await runner.run(["exec", sif, "id", "-g"]), "id -g").trim(),
        String(runner.inside() === 0 ? 0 : runner.gid()),
      );
      const name = ok(await runner.run(["exec", sif, "id", "-un"]), "id -un").trim();
      assert.notEqual(name, String(runner.uid()), "the user has a passwd entry inside");
    });

    await t.step("the exit status of the container is singlet's", async () => {
      assert.equal((await runner.run(["exec", sif, "sh", "-c", "exit 7"])).code, 7);
      assert.equal((await runner.run(["exec", sif, "false"])).code, 1);
      const missing = await runner.run(["exec", sif, "no-such-command"]);
      assert.equal(missing.code, 255);
      assert.match(
        missing.stderr,
        /FATAL: +"no-such-command": executable file not found in \$PATH/,
      );
    });

    await t.step("a container killed by a signal exits 128+n", async () => {
      const result = await runner.run(["exec", sif, "sh", "-c", "kill -TERM $$"]);
      assert.equal(result.code, 143, result.stderr);
      // as from the user's own shell: no "Terminated" from the container's PID 1
      assert.doesNotMatch(result.stderr, /Terminated/);
    });

    await t.step("options after the image go to the command", async () => {
      const out = ok(await runner.run(["exec", sif, "ls", "-d", "/bin"]), "ls -d");
      assert.equal(out.trim(), "/bin");
    });

    await t.step("home and the current directory are bound and cwd is kept", async () => {
      const work = await Deno.makeTempDir({ prefix: "singlet-cwd-" });
      await Deno.chmod(work, 0o777);
      await Deno.writeTextFile(`${work}/marker`, "here\n");
      const out = ok(
        await runner.run(["exec", sif, "sh", "-c", 'pwd; cat marker; echo "$HOME"'], {}, work),
        "cwd",
      );
      const [pwd, marker, home] = out.trim().split("\n");
      assert.equal(pwd, work);
      assert.equal(marker, "here");
      assert.equal(home, runner.home());
      await Deno.remove(work, { recursive: true });
    });

    await t.step("mounts are nosuid and nodev; the root is a read-only overlay", async () => {
      const mountinfo = ok(await runner.run(["exec", sif, "cat", "/proc/self/mountinfo"]), "mi");
      const mountOf = (path: string) =>
        mountinfo.split("\n").findLast((line) => line.split(" ")[4] === path);
      const root = mountOf("/");
      assert.ok(root, mountinfo);
      assert.match(root!, / - overlay /);
      const opts = root!.split(" ")[5]!.split(",");
      for (const flag of ["nosuid", "nodev"]) assert.ok(opts.includes(flag), root);
      const bin = mountOf("/bin")!.split(" ")[5]!.split(",");
      for (const flag of ["ro", "nosuid", "nodev"]) assert.ok(bin.includes(flag), mountOf("/bin"));
      const touched = await runner.run(["exec", sif, "touch", "/shared/x"]);
      assert.notEqual(touched.code, 0, "the root filesystem is read-only by default");
      assert.match(touched.stderr, /Read-only file system/);
    });

    await t.step("--writable-tmpfs makes the root writable for the session only", async () => {
      ok(
        await runner.run(["exec", "--writable-tmpfs", sif, "sh", "-c", "echo x > /shared/x"]),
        "writable tmpfs",
      );
      const after = await runner.run(["exec", sif, "cat", "/shared/x"]);
      assert.notEqual(after.code, 0, "nothing persists");
    });

    await t.step("setuid bits and device nodes in the image give no privilege", async () => {
      const euid = ok(await runner.run(["exec", sif, "/busybox-suid", "id", "-u"]), "suid");
      assert.equal(euid.trim(), String(runner.inside()));
      const dev = await runner.run(["exec", sif, "sh", "-c", "echo x > /devnull-node"]);
      if (runner.uid() !== 0) assert.notEqual(dev.code, 0, "a device node in the image is dead");
      else assert.match(dev.stderr + String(dev.code), /Permission denied|Read-only|1/);
    });

    await t.step("capabilities and no_new_privs match Singularity's", async () => {
      const status = ok(await runner.run(["exec", sif, "cat", "/proc/self/status"]), "status");
      if (runner.inside() === 0) {
        assert.notEqual(statusField(status, "CapEff"), "0000000000000000");
        assert.equal(statusField(status, "NoNewPrivs"), "0");
        const noPrivs = ok(
          await runner.run(["exec", "--no-privs", sif, "cat", "/proc/self/status"]),
          "no-privs",
        );
        assert.equal(statusField(noPrivs, "CapEff"), "0000000000000000");
        assert.equal(statusField(noPrivs, "NoNewPrivs"), "1");
        const dropped = ok(
          await runner.run(["exec", "--drop-caps", "CAP_NET_RAW", sif, "cat", "/proc/self/status"]),
          "drop-caps",
        );
        const eff = BigInt(`0x${statusField(dropped, "CapEff")}`);
        assert.equal(eff & (1n << 13n), 0n, "CAP_NET_RAW (bit 13) dropped");
        const kept = ok(
          await runner.run(["exec", "--keep-privs", sif, "cat", "/proc/self/status"]),
          "keep-privs",
        );
        const all = BigInt(`0x${statusField(kept, "CapEff")}`);
        // (root only, as under Singularity; root mapped to a user keeps the default set)
        assert.equal((all >> 21n) & 1n, runner.uid() === 0 ? 1n : 0n, "CAP_SYS_ADMIN (bit 21)");
      } else {
        assert.equal(statusField(status, "CapEff"), "0000000000000000");
        assert.equal(statusField(status, "NoNewPrivs"), "1");
        const added = ok(
          await runner.run(["exec", "--add-caps", "net_raw", sif, "cat", "/proc/self/status"]),
          "add-caps",
        );
        assert.equal(statusField(added, "CapEff"), "0000000000002000", "only CAP_NET_RAW");
      }
    });

    await t.step("the environment follows Singularity's rules", async () => {
      const script = 'echo "FOO=$FOO|BAR=$BAR|IMG=$FROM_IMAGE|SH=$SHADOWED|' +
        'K=$KEEP_HOST_OR_IMAGE|HTTP=$http_proxy|SC=$SINGULARITY_CONTAINER|LANG=$LANG|P=$PATH"';
      const env = {
        FOO: "host foo",
        SHADOWED: "from host",
        KEEP_HOST_OR_IMAGE: "from host",
        SINGULARITYENV_BAR: "set by prefix",
        http_proxy: "http://proxy:3128",
        LANG: "en_US.UTF-8",
      };
      const out = ok(await runner.run(["exec", sif, "sh", "-c", script], env), "env").trim();
      assert.equal(
        out,
        "FOO=host foo|BAR=set by prefix|IMG=image value|SH=from image|K=image default|" +
          `HTTP=http://proxy:3128|SC=${sif}|LANG=en_US.UTF-8|` +
          "P=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      );
      const names = ok(
        await runner.run([
          "exec",
          sif,
          "sh",
          "-c",
          'echo "$SINGULARITY_NAME $APPTAINER_NAME $SINGULARITY_COMMAND"',
        ]),
        "names",
      );
      const base = sif.split("/").pop();
      assert.equal(names, `${base} ${base} exec\n`);
      const clean = ok(
        await runner.run(
          ["exec", "--cleanenv", "--env", "SHADOWED=from flag", sif, "sh", "-c", script],
          env,
        ),
        "cleanenv",
      ).trim();
      assert.equal(
        clean,
        "FOO=|BAR=set by prefix|IMG=image value|SH=from flag|K=image default|" +
          `HTTP=http://proxy:3128|SC=${sif}|LANG=C|` +
          "P=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      );
      const prepend = ok(
        await runner.run(["exec", sif, "sh", "-c", 'echo "$PATH"'], {
          SINGULARITYENV_PREPEND_PATH: "/opt/bin",
          APPTAINERENV_APPEND_PATH: "/opt/last",
        }),
        "path",
      ).trim();
      assert.equal(
        prepend,
        "/opt/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/opt/last",
      );
    });

    await t.step("run follows the runscript; test runs the test script", async () => {
      const out = ok(await runner.run(["run", sif, "a", "b c"]), "run");
      assert.equal(out, "runscript args: a b c\nrunscript FROM_IMAGE=image value\n");
      const tested = await runner.run(["test", sif]);
      assert.equal(tested.code, 3);
      assert.equal(tested.stdout, `test ran as ${runner.inside()}\n`);
    });

    await t.step("--contain gives an empty home and /tmp", async () => {
      const out = ok(
        await runner.run(["exec", "--contain", sif, "sh", "-c", 'ls -A "$HOME"; ls -A /tmp; pwd']),
        "contain",
      );
      assert.equal(out, `${runner.home()}\n`, "home and /tmp are empty");
      const all = ok(
        await runner.run(
          [
            "exec",
            "-C",
            sif,
            "sh",
            "-c",
            'ls -A "$HOME" /tmp; echo "FOO=$FOO"; readlink /proc/self/ns/ipc',
          ],
          { FOO: "from host" },
        ),
        "containall",
      ).split("\n");
      assert.deepEqual(
        all.slice(0, 4),
        [`${runner.home()}:`, "", "/tmp:", "FOO="],
        "-C also cleans the environment",
      );
      const hostIpc = new TextDecoder().decode(
        (await new Deno.Command("readlink", { args: ["/proc/self/ns/ipc"], stdout: "piped" })
          .output()).stdout,
      ).trim();
      assert.notEqual(all[4], hostIpc, "-C gives a new ipc namespace");
    });

    await t.step("--hostname, --net, --ipc, --uts and --pid create their namespaces", async () => {
      const host = ok(await runner.run(["exec", "--hostname", "box1", sif, "hostname"]), "h");
      assert.equal(host.trim(), "box1");
      const dev = ok(
        await runner.run(["exec", "--net", "--network", "none", sif, "cat", "/proc/net/dev"]),
        "net",
      );
      const interfaces = dev.split("\n").slice(2).filter(Boolean).map((l) =>
        l.trim().split(":")[0]
      );
      assert.deepEqual(interfaces, ["lo"]);
      // without the flags the container shares the caller's ipc and uts namespaces; it
      // always has its own PID namespace (as in SingularityCE's OCI mode), --pid or not
      const hostNs = new TextDecoder().decode(
        (await new Deno.Command("sh", {
          args: ["-c", "readlink /proc/self/ns/ipc; readlink /proc/self/ns/uts"],
          stdout: "piped",
        }).output()).stdout,
      ).split("\n");
      const ns = "readlink /proc/self/ns/ipc; readlink /proc/self/ns/uts; ps -o pid= -o comm=";
      const shared = ok(await runner.run(["exec", sif, "sh", "-c", ns]), "shared").split("\n");
      assert.deepEqual(shared.slice(0, 2), hostNs.slice(0, 2));
      const own = ok(
        await runner.run(["exec", "--ipc", "--uts", "--pid", sif, "sh", "-c", ns]),
        "own namespaces",
      ).split("\n");
      assert.notEqual(own[0], hostNs[0], "--ipc gives a new ipc namespace");
      assert.notEqual(own[1], hostNs[1], "--uts gives a new uts namespace");
      for (const lines of [shared, own]) {
        const pids = lines.slice(2).filter(Boolean).map((l) => Number(l.trim().split(/\s+/)[0]));
        assert.equal(Math.min(...pids), 1, "only the container's processes are visible");
        assert.ok(pids.length <= 4, `only the container's processes are visible: ${lines}`);
      }
    });

    await t.step("-B binds a host path, read-only with :ro", async () => {
      const data = await Deno.makeTempDir({ prefix: "singlet-bind-" });
      await Deno.chmod(data, 0o777);
      await Deno.writeTextFile(`${data}/f`, "bound");
      const out = ok(
        await runner.run(["exec", "-B", `${data}:/data:ro`, sif, "cat", "/data/f"]),
        "bind",
      );
      assert.equal(out, "bound");
      const write = await runner.run(["exec", "-B", `${data}:/data:ro`, sif, "touch", "/data/g"]);
      assert.notEqual(write.code, 0);
      ok(await runner.run(["exec", "--bind", `${data}:/data`, sif, "touch", "/data/g"]), "rw");
      assert.ok((await Deno.stat(`${data}/g`)).isFile);
      assert.equal(
        (await Deno.stat(`${data}/g`)).uid,
        runner.uid(),
        "files written belong to the caller",
      );
      await Deno.remove(data, { recursive: true });
    });

    await t.step("--fakeroot runs as uid 0 inside", async () => {
      const out = ok(await runner.run(["exec", "--fakeroot", sif, "id", "-u"]), "fakeroot");
      assert.equal(out.trim(), "0");
    });

    await t.step(
      "-H, --no-home, --cwd, --scratch, --dns and --no-mount do as Singularity",
      async () => {
        const src = await Deno.makeTempDir({ prefix: "singlet-home-" });
        await Deno.chmod(src, 0o777);
        await Deno.writeTextFile(`${src}/dotfile`, "mine\n");
        const home = ok(
          await runner.run(
            ["exec", "-H", `${src}:/home/fake`, sif, "sh", "-c", 'echo "$HOME"; cat ~/dotfile'],
            {},
            "/tmp",
          ),
          "-H",
        );
        assert.equal(home, "/home/fake\nmine\n");
        const noHome = await runner.run(
          ["exec", "--no-home", sif, "ls", "-A", runner.home()],
          {},
          "/tmp",
        );
        assert.equal(noHome.stdout, "", "the home directory is not mounted");
        assert.equal(ok(await runner.run(["exec", "--cwd", "/bin", sif, "pwd"]), "cwd"), "/bin\n");
        const scratch = ok(
          await runner.run([
            "exec",
            "-S",
            "/scratch",
            sif,
            "sh",
            "-c",
            "ls -A /scratch; touch /scratch/x && echo w",
          ]),
          "scratch",
        );
        assert.equal(scratch, "w\n");
        const dns = ok(
          await runner.run([
            "exec",
            "--dns",
            "192.0.2.1,192.0.2.2",
            sif,
            "cat",
            "/etc/resolv.conf",
          ]),
          "dns",
        );
        assert.equal(dns, "nameserver 192.0.2.1\nnameserver 192.0.2.2\n");
        const marker = `${src}/../singlet-tmp-marker-${runner.uid()}`;
        await Deno.writeTextFile(marker, "");
        const tmp = await runner.run(
          ["exec", "--no-mount", "tmp", sif, "ls", await Deno.realPath(marker)],
          {},
          "/",
        );
        assert.notEqual(tmp.code, 0, "host /tmp is not bound with --no-mount tmp");
        await Deno.remove(marker);
        await Deno.remove(src, { recursive: true });
      },
    );

    await t.step(
      "-W keeps the contained /tmp, /var/tmp, home and --scratch in the work directory",
      async () => {
        const work = await Deno.makeTempDir({ prefix: "singlet-workdir-" });
        await Deno.chmod(work, 0o777);
        const out = ok(
          await runner.run([
            "exec",
            "--contain",
            "-W",
            work,
            "-S",
            "/scratch/data",
            "--pwd",
            "/scratch/data",
            sif,
            "sh",
            "-c",
            'pwd; touch /tmp/t /var/tmp/v /scratch/data/s "$HOME/h" && echo written',
          ]),
          "workdir",
        );
        assert.equal(out, "/scratch/data\nwritten\n");
        for (const path of ["tmp/t", "var_tmp/v", "scratch/_scratch_data/s", "home/h"]) {
          assert.ok((await Deno.lstat(`${work}/${path}`)).isFile, `${path} is in the workdir`);
        }
        const again = ok(
          await runner.run(["exec", "-c", "-W", work, sif, "ls", "/tmp", "/var/tmp"]),
          "workdir reused",
        );
        assert.equal(again, "/tmp:\nt\n\n/var/tmp:\nv\n", "a later run sees the same files");
        await Deno.remove(work, { recursive: true });
      },
    );

    await t.step("--env-file and SINGULARITY_BIND-style variables are honoured", async () => {
      const dir = await Deno.makeTempDir({ prefix: "singlet-envfile-" });
      await Deno.chmod(dir, 0o777);
      await Deno.writeTextFile(`${dir}/vars`, "# comment\nexport FROM_FILE='a b'\n");
      await Deno.chmod(`${dir}/vars`, 0o644);
      const out = ok(
        await runner.run(
          ["exec", "--env-file", `${dir}/vars`, sif, "sh", "-c", 'echo "$FROM_FILE"; ls /bound'],
          { SINGULARITY_BIND: `${dir}:/bound` },
        ),
        "env-file",
      );
      assert.equal(out, "a b\nvars\n");
      await Deno.remove(dir, { recursive: true });
    });

    await t.step("--compat cleans the environment and makes the root writable", async () => {
      const out = ok(
        await runner.run([
          "exec",
          "--compat",
          sif,
          "sh",
          "-c",
          'echo "[$FOO]"; touch /shared/y && echo w',
        ], { FOO: "x" }),
        "compat",
      );
      assert.equal(out, "[]\nw\n");
    });

    await t.step("SquashFS files and sandbox directories run too", async () => {
      // a user runs sandboxes they built, i.e. own (root-owned files cannot be copied up
      // into the writable layer from a user namespace)
      let sandbox = images.sandbox;
      if (runner.uid() !== 0) {
        sandbox = `${images.dir}/sandbox-${runner.uid()}`;
        await Deno.remove(sandbox, { recursive: true }).catch(() => {});
        await new Deno.Command("cp", { args: ["-a", images.sandbox, sandbox] }).output();
        await new Deno.Command("chown", {
          args: ["-R", `${runner.uid()}:${runner.gid()}`, sandbox],
        })
          .output();
      }
      const written = await runner.run(["exec", "--writable", sandbox, "touch", "/shared/persist"]);
      assert.equal(written.code, 0, written.stderr);
      assert.ok(
        (await Deno.stat(`${sandbox}/shared/persist`)).isFile,
        "--writable writes the sandbox",
      );
      await Deno.remove(`${sandbox}/shared/persist`);
      const refused = await runner.run(["exec", "--writable", sif, "true"]);
      assert.equal(refused.code, 255);
      assert.match(refused.stderr, /SquashFS images are read-only/);
      for (const image of [images.squashfs, sandbox]) {
        const out = ok(
          await runner.run(["exec", image, "cat", "/.singularity.d/runscript"]),
          image,
        );
        assert.match(out, /runscript args/);
      }
    });
  });
}
