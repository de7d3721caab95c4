import assert from "node:assert/strict";
import { SingletError } from "../core/errors.ts";
import { checkImageUserMapped, mappedRanges, resolveImageUser } from "./oci_user.ts";
import type { NamespacePlan } from "./userns.ts";

const PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n";
const GROUP = "root:x:0:\napp:x:1000:\nvideo:x:44:app,root\nstaff:x:50:app\n";

Deno.test("image USER forms resolve in the image's passwd and group files", () => {
  assert.deepEqual(resolveImageUser("app", PASSWD, GROUP, "i"), {
    name: "app",
    uid: 1000,
    gid: 1000,
    groups: [44, 50],
    home: "/home/app",
  });
  assert.deepEqual(resolveImageUser("1000:staff", PASSWD, GROUP, "i"), {
    name: "app",
    uid: 1000,
    gid: 50,
    groups: [],
    home: "/home/app",
  });
  assert.deepEqual(resolveImageUser("4242", PASSWD, GROUP, "i"), {
    name: "4242",
    uid: 4242,
    gid: 0,
    groups: [],
    home: "/",
  });
  assert.throws(() => resolveImageUser("nobody", PASSWD, GROUP, "i"), SingletError);
  assert.throws(() => resolveImageUser("app:nogroup", PASSWD, GROUP, "i"), SingletError);
});

function plan(mode: NamespacePlan["mode"], unshareArgs: string[]): NamespacePlan {
  return {
    mode,
    unshareArgs,
    joinUserNamespace: mode !== "root",
    processUid: 0,
    processGid: 0,
    processGroups: [],
    innerUidMappings: undefined,
    innerGidMappings: undefined,
    warning: undefined,
  };
}

Deno.test("an image user must be mapped into the launch's user namespace", () => {
  const subid = plan("subid", [
    "--user",
    "--map-user=1002",
    "--map-group=1002",
    "--map-users=200000,0,65536",
    "--map-groups=200000,0,65536",
  ]);
  assert.deepEqual(mappedRanges(subid, "user"), [[1002, 1], [0, 65536]]);
  const user = resolveImageUser("app", PASSWD, GROUP, "i");
  assert.deepEqual(checkImageUserMapped(user, subid, "i"), [44, 50]);
  assert.deepEqual(checkImageUserMapped(user, plan("root", []), "i"), [44, 50]);
  const single = plan("single", ["--user", "--map-root-user"]);
  assert.throws(() => checkImageUserMapped(user, single, "i"), /no \/etc\/subuid/);
  const root = resolveImageUser("root", PASSWD, GROUP, "i");
  assert.deepEqual(checkImageUserMapped(root, single, "i"), []);
  const far = resolveImageUser("100000", PASSWD, GROUP, "i");
  assert.throws(() => checkImageUserMapped(far, subid, "i"), /outside your \/etc\/subuid/);
});
