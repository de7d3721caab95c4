import assert from "node:assert/strict";
import { buildScriptArgv, shebangScript, splitShebang } from "./section_scripts.ts";

Deno.test("a script without a shebang runs under /bin/sh with the section arguments", () => {
  assert.equal(
    shebangScript({ args: "-x # trace", script: "echo hi\n" }),
    "#!/bin/sh -x\n\necho hi\n",
  );
});

Deno.test("a leading #! line in the script replaces /bin/sh, even after blank lines", () => {
  assert.deepEqual(splitShebang({ args: "", script: "\n   #!/usr/bin/env python3\nprint(1)\n" }), {
    shebang: "#!/usr/bin/env python3",
    body: "print(1)\n",
  });
  assert.equal(
    shebangScript({ args: "-e", script: "#!/bin/bash\n[[ -d / ]]" }),
    "#!/bin/bash -e\n\n[[ -d / ]]\n",
  );
});

Deno.test("%post runs as /bin/sh -ex, and -c hands the script to another shell", () => {
  assert.deepEqual(buildScriptArgv({ args: "" }, "/.post.script"), [
    "/bin/sh",
    "-ex",
    "/.post.script",
  ]);
  assert.deepEqual(buildScriptArgv({ args: "-c /bin/bash -l # login shell" }, "/.post.script"), [
    "/bin/sh",
    "-ex",
    "-c",
    "/bin/bash -l /.post.script",
  ]);
  assert.deepEqual(buildScriptArgv({ args: "-u" }, "/s"), ["/bin/sh", "-ex", "-u", "/s"]);
  assert.throws(() => buildScriptArgv({ args: "-c" }, "/s"), SyntaxError);
});
