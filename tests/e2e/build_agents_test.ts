/**
 * Bootstrap agents that run host tools or download their base, as users run them
 * (bin/singlet): `debootstrap` as an unprivileged user (the host's debootstrap in the fakeroot
 * user namespace, against the Debian mirror this machine uses), `busybox` from a loopback
 * HTTP server, the one-line errors of `yum`/`dnf`/`zypper`/`arch` when their tools are
 * missing (and, where a tool is installed, its run up to the unreachable mirror), and the
 * hints of `library`/`oras`.
 */
import assert from "node:assert/strict";
import { findTool, testWithTools } from "../_helpers/tools.ts";
import { runSinglet, SINGLET_BIN } from "../_helpers/singlet.ts";
import { sifRootListing } from "../_helpers/siftool.ts";
import { runAs, testUser } from "../_helpers/unpriv.ts";
import { busyboxOciArchive } from "../_helpers/fixtures.ts";

const TOOLS = ["siftool", "unsquashfs", "runc"];
const UNPRIV_TOOLS = [...TOOLS, "newuidmap", "unshare"];

async function sh(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

/** `siftool list`: SingularityCE's objects (definition, inspect metadata, root FS). */
async function assertSifObjects(sif: string): Promise<void> {
  const list = await sh("siftool", ["list", sif]);
  assert.match(list, /1 +\|1 +\|NONE +\|\d+-\d+ +\|Def\.FILE/);
  assert.match(list, /2 +\|1 +\|NONE +\|\d+-\d+ +\|JSON\.Generic/);
  assert.match(list, /3 +\|1 +\|NONE +\|\d+-\d+ +\|FS \(Squashfs\/\*System\/amd64\)/);
}

async function noTempLeft(dir: string): Promise<void> {
  for await (const e of Deno.readDir(dir)) {
    assert.ok(!e.name.startsWith(".build-temp-"), `temp dir left: ${e.name}`);
    assert.ok(!e.name.includes(".singlet-tmp-"), `temp file left: ${e.name}`);
  }
}

/** A directory in the test user's home holding `files`, all theirs. */
async function userDir(
  user: { home: string; uid: number; gid: number },
  files: Record<string, string>,
): Promise<string> {
  const dir = `${user.home}/agents-test-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.mkdir(dir);
  for (const [name, text] of Object.entries(files)) {
    await Deno.writeTextFile(`${dir}/${name}`, text);
  }
  await sh("chown", ["-R", `${user.uid}:${user.gid}`, dir]);
  return dir;
}

/** The Debian mirror apt uses on this machine (the first `URIs:` of debian.sources). */
async function debianMirror(): Promise<string> {
  try {
    const text = await Deno.readTextFile("/etc/apt/sources.list.d/debian.sources");
    const uri = /^URIs:\s*(\S+)/m.exec(text)?.[1];
    if (uri) return uri;
  } catch {
    // older layout
  }
  return "http://deb.debian.org/debian";
}

testWithTools(
  "an unprivileged user builds a debootstrap recipe whose %post installs a package with apt; the image is owned as a root build's",
  [...UNPRIV_TOOLS, "debootstrap"],
  async () => {
    const user = await testUser();
    const mirror = await debianMirror();
    const dir = await userDir(user, {
      "deb.def": `Bootstrap: debootstrap
OSVersion: bookworm
MirrorURL: ${mirror}
Include: netbase

%post
    apt-get update
    apt-get install -y --no-install-recommends hello
    echo "export DEB_BUILT=1" >> "$SINGULARITY_ENVIRONMENT"

%labels
    Built unprivileged

%runscript
    exec /usr/bin/hello "$@"
`,
    });
    try {
      const r = await runAs(user, [SINGLET_BIN, "build", "deb.sif", "deb.def"], { cwd: dir });
      assert.equal(r.code, 0, r.stderr.slice(-4000));
      await assertSifObjects(`${dir}/deb.sif`);
      const files = await sifRootListing(`${dir}/deb.sif`);
      // root's files are root's; system users and groups keep their IDs (42 = shadow, _apt)
      assert.match(files, /-rwxr-xr-x 0\/0 .* \/usr\/bin\/hello\n/);
      assert.match(files, /-rw-r----- 0\/42 .* \/etc\/shadow\n/);
      assert.match(files, /drwx------ 42\/0 .* \/var\/cache\/apt\/archives\/partial\n/);
      assert.match(files, /drwx------ 0\/0 .* \/root\n/);
      assert.match(files, / \/etc\/services\n/); // Include: netbase
      // the host's devices were bound over placeholders during debootstrap, then removed
      assert.doesNotMatch(files, /^-\S+ .* \/dev\/(null|zero|urandom)\n/m);
      assert.doesNotMatch(files, new RegExp(` ${user.uid}/`), "the caller's uid leaked");
      assert.doesNotMatch(files, / 2\d{5}\//, "a subordinate uid leaked");

      const run = await runAs(user, [SINGLET_BIN, "run", "deb.sif"], { cwd: dir });
      assert.equal(run.stdout, "Hello, world!\n", run.stderr);
      const env = await runAs(
        user,
        [SINGLET_BIN, "exec", "deb.sif", "sh", "-c", "echo $DEB_BUILT"],
        {
          cwd: dir,
        },
      );
      assert.equal(env.stdout, "1\n", env.stderr);

      const inspect = await runSinglet(["inspect", "--json", "--all", `${dir}/deb.sif`]);
      assert.equal(inspect.code, 0, inspect.stderr);
      const attributes = JSON.parse(inspect.stdout).data.attributes;
      assert.equal(attributes.labels.Built, "unprivileged");
      assert.equal(
        attributes.labels["org.label-schema.usage.singularity.deffile.bootstrap"],
        "debootstrap",
      );
      assert.equal(
        attributes.labels["org.label-schema.usage.singularity.deffile.osversion"],
        "bookworm",
      );
      assert.match(attributes.deffile, /^Bootstrap: debootstrap\n/);
      assert.match(attributes.runscript, /exec \/usr\/bin\/hello/);
      await noTempLeft(dir);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

testWithTools(
  "a debootstrap recipe built by a user without subordinate IDs fails with one line asking for them, leaving nothing",
  [...UNPRIV_TOOLS, "debootstrap"],
  async () => {
    const user = await testUser({ subids: false });
    const dir = await userDir(user, {
      "deb.def":
        "Bootstrap: debootstrap\nOSVersion: bookworm\nMirrorURL: http://127.0.0.1:9/debian\n",
    });
    try {
      const r = await runAs(user, [SINGLET_BIN, "build", "deb.sif", "deb.def"], { cwd: dir });
      assert.equal(r.code, 255, r.stderr);
      assert.match(
        r.stderr,
        /^FATAL: +Cannot run "debootstrap" as root in a user namespace: .*\/etc\/subuid/m,
      );
      assert.match(r.stderr, /^hint: .*\/etc\/subuid and \/etc\/subgid ranges, or build as root/m);
      assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["deb.def"]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

testWithTools(
  "an unprivileged build packs what %post made unreadable to the caller (0700 dirs of system users, 0000 files) with its modes and owners",
  UNPRIV_TOOLS,
  async () => {
    const user = await testUser();
    const dir = await userDir(user, {
      "r.def": `Bootstrap: oci-archive
From: busybox.tar

%post
    mkdir -p /private/sub /var/cache/partial
    echo secret > /private/sub/f
    echo shadow > /etc/locked
    chmod 000 /etc/locked
    chown -R 42:42 /private /var/cache/partial
    chmod 700 /private /var/cache/partial
    chmod 4750 /private/sub
`,
    });
    try {
      await Deno.copyFile(await busyboxOciArchive(), `${dir}/busybox.tar`);
      await sh("chown", [`${user.uid}:${user.gid}`, `${dir}/busybox.tar`]);
      const r = await runAs(user, [SINGLET_BIN, "build", "r.sif", "r.def"], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stderr, /WARNING/);
      const files = await sifRootListing(`${dir}/r.sif`);
      assert.match(files, /drwx------ 42\/42 .* \/private\n/);
      assert.match(files, /drwsr-x--- 42\/42 .* \/private\/sub\n/);
      assert.match(files, /-rw-r--r-- 42\/42 +7 .* \/private\/sub\/f\n/);
      assert.match(files, /drwx------ 42\/42 .* \/var\/cache\/partial\n/);
      assert.match(files, /---------- 0\/0 +7 .* \/etc\/locked\n/);
      const cat = await runAs(user, [
        SINGLET_BIN,
        "exec",
        "--fakeroot",
        "r.sif",
        "cat",
        "/private/sub/f",
      ], {
        cwd: dir,
      });
      assert.equal(cat.stdout, "secret\n", cat.stderr);
      await noTempLeft(dir);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

testWithTools(
  "SIGTERM to an unprivileged debootstrap build ends debootstrap and every process of its namespace, leaving no temp directory",
  [...UNPRIV_TOOLS, "debootstrap", "pgrep", "ps"],
  async () => {
    const user = await testUser();
    // a mirror that accepts requests and never answers: debootstrap waits in its download
    const hold = Promise.withResolvers<void>();
    let asked = 0;
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async () => {
      asked++;
      await hold.promise;
      return new Response("gone", { status: 503 });
    });
    const dir = await userDir(user, {
      "deb.def":
        `Bootstrap: debootstrap\nOSVersion: bookworm\nMirrorURL: http://127.0.0.1:${server.addr.port}/debian\n`,
    });
    const pgrep = async (args: string[]) =>
      (await new Deno.Command("pgrep", { args, stdout: "piped" }).output()).stdout;
    const killOurs = async () => {
      for (const line of new TextDecoder().decode(await pgrep(["-f", `${dir}/`])).split("\n")) {
        if (/^\d+$/.test(line)) Deno.kill(Number(line), "SIGKILL");
      }
    };
    try {
      const build = runAs(user, [SINGLET_BIN, "build", "deb.sif", "deb.def"], { cwd: dir });
      const deadline = Date.now() + 30_000;
      while (!asked && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.ok(asked, "debootstrap never asked the mirror");
      // this build's processes are those naming its directory (other tests may run as the
      // same user): unshare's parent is singlet
      const ours = async () =>
        new TextDecoder().decode(await pgrep(["-l", "-f", `${dir}/`])).trim();
      const unshare = /^(\d+) unshare$/m.exec(await ours())?.[1];
      assert.ok(unshare, `no unshare among ${await ours()}`);
      const singlet = Number(await sh("ps", ["-o", "ppid=", "-p", unshare]));
      assert.match(await sh("ps", ["-o", "args=", "-p", String(singlet)]), /cli\/main\.ts build/);
      Deno.kill(singlet, "SIGTERM");
      // a regression leaves debootstrap holding the output pipes: kill it, then fail
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<"late">((resolve) => {
        timer = setTimeout(() => resolve("late"), 20_000);
      });
      const first = await Promise.race([build, late]);
      clearTimeout(timer);
      if (first === "late") {
        await killOurs();
        await build;
        assert.fail("processes of the build outlived singlet's SIGTERM by 20 s");
      }
      const r = first;
      assert.equal(r.code, 143, r.stderr);
      // the namespace's processes are SIGKILLed: give the kernel a moment to reap them
      let left = "";
      for (let i = 0; i < 50; i++) {
        left = await ours();
        if (!left) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(left, "", `processes left: ${left}`);
      await noTempLeft(dir);
    } finally {
      await killOurs(); // only after a failure is anything left
      hold.resolve();
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

/** A loopback HTTP server with the host's static busybox at /busybox. */
function serveBusybox(): { url: string; requests: string[]; stop(): Promise<void> } {
  const requests: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = new URL(req.url).pathname;
    requests.push(path);
    if (path !== "/busybox") return new Response("not found", { status: 404 });
    const file = await Deno.open("/bin/busybox");
    return new Response(file.readable, {
      headers: { "content-length": String((await Deno.stat("/bin/busybox")).size) },
    });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    requests,
    stop: () => server.shutdown(),
  };
}

const STATIC_BUSYBOX = (() => {
  try {
    const head = Deno.readFileSync("/bin/busybox").subarray(0, 4);
    return head[0] === 0x7f && head[1] === 0x45 ? "/bin/busybox" : undefined;
  } catch {
    return undefined;
  }
})();

testWithTools(
  "a busybox recipe downloads busybox from MirrorURL, gets its applet links and runs, built by an unprivileged user",
  [...UNPRIV_TOOLS, ...(STATIC_BUSYBOX ? [] : ["busybox-static's /bin/busybox"])],
  async () => {
    const user = await testUser();
    const server = serveBusybox();
    const dir = await userDir(user, {
      "bb.def": `Bootstrap: busybox
MirrorURL: ${server.url}/busybox

%post
    echo posted > /posted

%runscript
    echo "applets: $(ls /bin | wc -l) $(cat /posted)"
`,
      "missing.def": `Bootstrap: busybox\nMirrorURL: ${server.url}/nothing-here\n`,
    });
    try {
      const r = await runAs(user, [SINGLET_BIN, "build", "bb.sif", "bb.def"], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(server.requests, ["/busybox"]);
      await assertSifObjects(`${dir}/bb.sif`);
      const files = await sifRootListing(`${dir}/bb.sif`);
      assert.match(files, /-rwxr-xr-x 0\/0 .* \/bin\/busybox\n/);
      assert.match(files, / 0\/0 .* \/bin\/sh\n/);
      assert.match(files, / 0\/0 .* \/bin\/ls\n/);
      assert.match(files, /-rw-rw-r-- 0\/0 .* \/etc\/passwd\n/);
      const run = await runAs(user, [SINGLET_BIN, "run", "bb.sif"], { cwd: dir });
      assert.equal(run.code, 0, run.stderr);
      const [, count] = /^applets: (\d+) posted\n$/.exec(run.stdout) ?? [];
      assert.ok(Number(count) > 100, `busybox --install made few links: ${run.stdout}`);
      const passwd = await runAs(user, [SINGLET_BIN, "exec", "bb.sif", "cat", "/etc/passwd"], {
        cwd: dir,
      });
      assert.match(passwd.stdout, /^root:!:0:0:root:\/root:\/bin\/sh/);

      // a URL that answers 404: one clean error, nothing left
      const bad = await runAs(user, [SINGLET_BIN, "build", "missing.sif", "missing.def"], {
        cwd: dir,
      });
      assert.equal(bad.code, 255);
      assert.match(
        bad.stderr,
        /FATAL: +Cannot download busybox from "http:\/\/127\.0\.0\.1:\d+\/nothing-here": HTTP 404/,
      );
      await assert.rejects(Deno.lstat(`${dir}/missing.sif`));
      await noTempLeft(dir);
    } finally {
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

/**
 * Agents that need host tools: each tool in turn (the first missing one is named), what the
 * error says and what it tells to install.
 */
const TOOL_AGENTS: {
  agent: string;
  needs: { tools: string[]; named: RegExp; install: RegExp }[];
}[] = [
  {
    agent: "yum",
    needs: [{ tools: ["dnf", "yum"], named: /"dnf" or "yum"/, install: /apt-get install dnf/ }],
  },
  {
    agent: "dnf",
    needs: [{ tools: ["dnf", "yum"], named: /"dnf" or "yum"/, install: /apt-get install dnf/ }],
  },
  {
    agent: "zypper",
    needs: [{ tools: ["zypper"], named: /"zypper"/, install: /apt-get install zypper/ }],
  },
  {
    agent: "arch",
    needs: [
      { tools: ["pacstrap"], named: /"pacstrap"/, install: /apt-get install arch-install-scripts/ },
      { tools: ["pacman"], named: /"pacman"/, install: /apt-get install pacman-package-manager/ },
    ],
  },
];

for (const { agent, needs } of TOOL_AGENTS) {
  const missing = needs.find((n) => !n.tools.some((t) => findTool(t)));
  const name = `Bootstrap: ${agent} without ${
    (missing ?? needs[0]!).tools.join(" or ")
  } on the host fails with one line naming the tool and what to install, leaving nothing`;
  if (!missing) {
    Deno.test({
      name: `${name} (skipped: ${
        needs.flatMap((n) => n.tools).filter((t) => findTool(t)).join(", ")
      } installed here)`,
      ignore: true,
      fn: () => {},
    });
    continue;
  }
  const { named, install } = missing;
  Deno.test(name, async () => {
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(
        `${dir}/r.def`,
        `Bootstrap: ${agent}\nOSVersion: 9\nMirrorURL: http://127.0.0.1:9/%{OSVERSION}/os/\n`,
      );
      const r = await runSinglet(["build", "r.sif", "r.def"], { cwd: dir });
      assert.equal(r.code, 255, r.stderr);
      const fatal = r.stderr.split("\n").filter((l) => l.startsWith("FATAL:"));
      assert.equal(fatal.length, 1, r.stderr);
      assert.match(
        fatal[0]!,
        new RegExp(`Cannot bootstrap "${agent}": ${named.source} is not installed`),
      );
      assert.match(r.stderr, /\nhint: .*/);
      assert.match(r.stderr, install);
      assert.equal(r.stdout, "");
      assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["r.def"]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

for (const agent of ["library", "oras"]) {
  Deno.test(
    `Bootstrap: ${agent} fails with one line saying ${agent}:// cannot be pulled yet and a hint to use docker:// or localimage`,
    async () => {
      const dir = await Deno.makeTempDir();
      try {
        await Deno.writeTextFile(`${dir}/r.def`, `Bootstrap: ${agent}\nFrom: example/alpine:3\n`);
        const r = await runSinglet(["build", "r.sif", "r.def"], { cwd: dir });
        assert.equal(r.code, 255, r.stderr);
        assert.match(
          r.stderr,
          new RegExp(
            `^FATAL: +Cannot bootstrap "${agent}": singlet cannot pull ${agent}:// images yet$`,
            "m",
          ),
        );
        assert.match(
          r.stderr,
          /^hint: .*'Bootstrap: docker' \(docker:\/\/\).*'Bootstrap: localimage'/m,
        );
        assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["r.def"]);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  );
}

// Tools installed here run for real, up to the mirror no network reaches: the command line
// must carry the right root and options, and its failure must end in one clean error.
const UNREACHABLE = "http://127.0.0.1:9";
const REAL_TOOLS: { agent: string; tools: string[]; header: string; expect: RegExp }[] = [
  {
    agent: "dnf",
    tools: ["dnf"],
    header:
      `OSVersion: 9\nMirrorURL: ${UNREACHABLE}/rocky/%{OSVERSION}/BaseOS/x86_64/os/\nInclude: bash`,
    // %{OSVERSION} substituted, the generated config used, the mirror tried
    expect:
      /Curl error \(7\).*http:\/\/127\.0\.0\.1:9\/rocky\/9\/BaseOS\/x86_64\/os\/repodata\/repomd\.xml[^]*FATAL: +Cannot bootstrap "dnf": dnf exited with status 1\n/,
  },
  {
    agent: "zypper",
    tools: ["zypper"],
    header: `OSVersion: 15.6\nMirrorURL: ${UNREACHABLE}/leap/%{OSVERSION}/repo/oss/`,
    expect:
      /Download \(curl\) error for 'http:\/\/127\.0\.0\.1:9\/leap\/15\.6\/repo\/oss\/[^]*FATAL: +Cannot bootstrap "zypper": zypper exited with status \d+\n/,
  },
  {
    agent: "arch",
    tools: ["pacstrap", "pacman"],
    header: `MirrorURL: ${UNREACHABLE}/$repo/os/$arch`,
    expect:
      /Installing packages to \/\S*\/\.build-temp-\w+\/rootfs-0[^]*FATAL: +Cannot bootstrap "arch": pacstrap exited with status \d+\n/,
  },
];
for (const { agent, tools, header, expect } of REAL_TOOLS) {
  testWithTools(
    `Bootstrap: ${agent} runs the host's ${
      tools[0]
    } on the new root, as root and as an unprivileged user, and fails cleanly when the mirror is unreachable`,
    [...UNPRIV_TOOLS, ...tools],
    async () => {
      const user = await testUser();
      const dir = await userDir(user, { "r.def": `Bootstrap: ${agent}\n${header}\n` });
      try {
        for (const who of ["root", "user"]) {
          const r = who === "root"
            ? await runSinglet(["build", "r.sif", "r.def"], { cwd: dir })
            : await runAs(user, [SINGLET_BIN, "build", "r.sif", "r.def"], { cwd: dir });
          assert.equal(r.code, 255, `${who}: ${r.stderr}`);
          assert.match(r.stderr, expect, who);
          assert.equal(r.stderr.split("\n").filter((l) => l.startsWith("FATAL:")).length, 1);
          assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["r.def"], who);
        }
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
    { root: true },
  );
}
