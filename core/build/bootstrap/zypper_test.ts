import assert from "node:assert/strict";
import { zypperCommands } from "./zypper.ts";

Deno.test("zypper adds MirrorURL, UpdateURL and OtherURLs as repositories, refreshes them, then installs aaa_base and Include", () => {
  const header = new Map([
    ["mirrorurl", "http://o/leap/%{OSVERSION}/oss/"],
    ["updateurl", "http://o/update/%{OSVERSION}/"],
    ["otherurl0", "http://o/a/"],
    ["otherurl1", "http://o/b/"],
    ["otherurl3", "http://o/gap-ignored/"],
    ["osversion", "15.6"],
    ["include", "vim,less"],
  ]);
  const z = ["zypper", "--root", "/r"];
  assert.deepEqual(zypperCommands(header, "/r"), [
    [...z, "ar", "http://o/leap/15.6/oss/", "repo"],
    [...z, "--gpg-auto-import-keys", "refresh"],
    [...z, "ar", "-f", "http://o/update/15.6/", "update"],
    [...z, "--gpg-auto-import-keys", "refresh", "-r", "update"],
    [...z, "ar", "-f", "http://o/a/", "repo-0"],
    [...z, "--gpg-auto-import-keys", "refresh", "-r", "repo-0"],
    [...z, "ar", "-f", "http://o/b/", "repo-1"],
    [...z, "--gpg-auto-import-keys", "refresh", "-r", "repo-1"],
    [
      "zypper",
      "--non-interactive",
      "-c",
      "/r/etc/zypp/zypp.conf",
      "--root",
      "/r",
      "--releasever=15.6",
      "-n",
      "install",
      "--auto-agree-with-licenses",
      "--download-in-advance",
      "aaa_base",
      "vim",
      "less",
    ],
  ]);
});

Deno.test("zypper refuses a header without MirrorURL, %{OSVERSION} without OSVersion, and SLE registration", () => {
  assert.throws(() => zypperCommands(new Map(), "/r"), /no "MirrorURL:"/);
  assert.throws(
    () => zypperCommands(new Map([["mirrorurl", "http://o/%{OSVERSION}/"]]), "/r"),
    /%\{OSVERSION\} is used in mirrorurl/,
  );
  assert.throws(
    () => zypperCommands(new Map([["mirrorurl", "http://o/"], ["regcode", "x"]]), "/r"),
    /SLE registration \(regcode\) is not supported/,
  );
});
