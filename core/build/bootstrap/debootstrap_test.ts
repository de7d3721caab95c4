import assert from "node:assert/strict";
import { debootstrapArgv } from "./debootstrap.ts";
import { pacmanConf, pacstrapArgv } from "./arch.ts";

Deno.test("debootstrap runs with SingularityCE's minbase variant, excludes and apt plus Include", () => {
  const header = new Map([
    ["osversion", "bookworm"],
    ["mirrorurl", "http://deb.debian.org/debian"],
    ["include", "netbase, less vim"],
  ]);
  const argv = debootstrapArgv(header, "/r");
  assert.deepEqual(argv.slice(0, 4), [
    "debootstrap",
    "--variant=minbase",
    "--exclude=openssl,udev,debconf-i18n,e2fsprogs",
    "--include=apt,netbase,less,vim",
  ]);
  assert.match(argv[4]!, /^--arch=\w+$/);
  assert.deepEqual(argv.slice(5), ["bookworm", "/r", "http://deb.debian.org/debian"]);
  assert.throws(
    () => debootstrapArgv(new Map([["osversion", "bookworm"]]), "/r"),
    /needs MirrorURL/,
  );
  assert.throws(() => debootstrapArgv(new Map(), "/r"), /needs OSVersion and MirrorURL/);
});

Deno.test("pacstrap runs with SingularityCE's options on a pacman.conf serving core and extra from the mirror", () => {
  assert.deepEqual(pacstrapArgv("/r/c", "/r"), [
    "pacstrap",
    "-C",
    "/r/c",
    "-c",
    "-G",
    "-M",
    "/r",
    "haveged",
    "base",
  ]);
  const conf = pacmanConf("http://m/$repo/os/$arch");
  assert.match(conf, /\[core\]\nServer = http:\/\/m\/\$repo\/os\/\$arch\n/);
  assert.match(conf, /\[extra\]\nServer = http:\/\/m\/\$repo\/os\/\$arch\n/);
});
