import assert from "node:assert/strict";
import { yumArgv, yumConfig, yumOptions } from "./yum.ts";

const env = (vars: Record<string, string>) => ({ get: (n: string) => vars[n] });

Deno.test("yum options substitute %{OSVERSION} in both URLs and prepend SingularityCE's base packages", () => {
  const header = new Map([
    ["mirrorurl", "http://m/%{OSVERSION}/os/"],
    ["updateurl", "http://m/%{osversion}/updates/"],
    ["osversion", "9"],
    ["include", "bash  vim"],
    ["setopt", "install_weak_deps=False"],
  ]);
  const o = yumOptions("dnf", header, env({ INCLUDE: "less" }));
  assert.equal(o.mirrorurl, "http://m/9/os/");
  assert.equal(o.updateurl, "http://m/9/updates/");
  assert.deepEqual(o.include, ["/etc/redhat-release", "coreutils", "bash", "vim", "less"]);
  assert.deepEqual(yumArgv("dnf", o, "/r"), [
    "dnf",
    "--noplugins",
    "-c",
    "/r/etc/bootstrap-yum.conf",
    "--installroot",
    "/r",
    "--releasever=9",
    "-y",
    "--setopt",
    "install_weak_deps=False",
    "install",
    "/etc/redhat-release",
    "coreutils",
    "bash",
    "vim",
    "less",
  ]);
  const conf = yumConfig(o);
  assert.match(conf, /^\[main\]\ncachedir=\/var\/cache\/yum-bootstrap\n/);
  assert.match(
    conf,
    /\[base\]\nname=Linux \$releasever - \$basearch\nbaseurl=http:\/\/m\/9\/os\/\nenabled=1\ngpgcheck=0\n/,
  );
  assert.match(conf, /\[updates\]\n.*\nbaseurl=http:\/\/m\/9\/updates\/\n/);
});

Deno.test("yum refuses a header without MirrorURL, %{OSVERSION} without OSVersion, and a GPG key not over https", () => {
  assert.throws(() => yumOptions("yum", new Map(), env({})), /no "MirrorURL:"/);
  assert.throws(
    () => yumOptions("yum", new Map([["mirrorurl", "http://m/%{OSVERSION}/"]]), env({})),
    /%\{OSVERSION\} is used in the mirror but the header has no "OSVersion:"/,
  );
  assert.throws(
    () => yumOptions("yum", new Map([["mirrorurl", "http://m/"]]), env({ GPG: "http://k" })),
    /must be fetched with https/,
  );
  const o = yumOptions("yum", new Map([["mirrorurl", "http://m/"]]), env({ GPG: "https://k" }));
  assert.match(yumConfig(o), /gpgcheck=1\ngpgkey=https:\/\/k\n/);
  assert.equal(o.osversion, "");
});
