import assert from "node:assert/strict";
import { ACTION_SCRIPT } from "./action_script.ts";
import { testWithTools } from "../tests/_helpers/tools.ts";

testWithTools("the action script is shellcheck-clean POSIX sh", ["shellcheck"], async () => {
  const out = await new Deno.Command("shellcheck", {
    args: ["-s", "sh", "-"],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const writer = out.stdin.getWriter();
  await writer.write(new TextEncoder().encode(ACTION_SCRIPT));
  await writer.close();
  const result = await out.output();
  assert.equal(result.code, 0, new TextDecoder().decode(result.stdout));
});

testWithTools(
  "the action script sources env scripts, injects, restores, dispatches",
  ["sh"],
  async () => {
    // run it on the host against a fake image root is not possible (it reads /.singularity.d);
    // what it does without one: user values win, host values fill in, exec runs the command
    const result = await new Deno.Command("sh", {
      args: ["-c", ACTION_SCRIPT, "exec", "env"],
      clearEnv: true,
      env: {
        PATH: "/usr/bin:/bin",
        SINGLET_ENV_INJECT: 'export A="user"',
        SINGLET_ENV_RESTORE:
          `[ -n "\${A+x}" ] || export A='host'\n[ -n "\${B+x}" ] || export B='host b'`,
      },
      stdout: "piped",
    }).output();
    const env = new TextDecoder().decode(result.stdout).split("\n");
    for (const line of ["A=user", "B=host b", "PS1=Singlet> "]) assert.ok(env.includes(line), line);
    assert.ok(!env.some((line) => line.startsWith("SINGLET_ENV_")), "the carriers are unset");
  },
);
