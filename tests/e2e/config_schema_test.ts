/**
 * The `config.json` singlet hands the OCI runtime validates against the OCI runtime-spec
 * v1.2.0 JSON schema (tests/testdata/runtime-spec-schema, Apache-2.0), for a
 * representative set of flag combinations, as root, as a user with subordinate ranges and
 * as one without. Each config is the one a real launch wrote (`SINGLET_CONFIG_COPY`).
 */
import assert from "node:assert/strict";
import _Ajv from "ajv";
import AjvDraft04 from "ajv-draft-04";
import { runSinglet, SINGLET_BIN } from "../_helpers/singlet.ts";
import { runAs, testUser } from "../_helpers/unpriv.ts";
import { testWithTools } from "../_helpers/tools.ts";
import { execImages } from "./_exec_images.ts";
import { appImageSif } from "./_oci_app_image.ts";

const TOOLS = ["runc", "unshare", "nsenter", "squashfuse_ll", "mksquashfs", "siftool"];
const SCHEMA_DIR = new URL("../testdata/runtime-spec-schema/", import.meta.url);

function validator(): (config: unknown) => string[] {
  // a CommonJS module: its default import is module.exports, whose `default` is the class
  const ajv = new AjvDraft04.default({ strict: false, allErrors: true });
  for (const entry of Deno.readDirSync(SCHEMA_DIR)) {
    if (!entry.name.endsWith(".json") || entry.name === "config-schema.json") continue;
    ajv.addSchema(JSON.parse(Deno.readTextFileSync(new URL(entry.name, SCHEMA_DIR))), entry.name);
  }
  const validate = ajv.compile(
    JSON.parse(Deno.readTextFileSync(new URL("config-schema.json", SCHEMA_DIR))),
  );
  return (config) =>
    validate(config)
      ? []
      : (validate.errors ?? []).map((e: { instancePath: string; message?: string }) =>
        `${e.instancePath} ${e.message ?? ""}`
      );
}

testWithTools(
  "generated runtime configs validate against the OCI runtime-spec schema",
  TOOLS,
  async () => {
    const validate = validator();
    // the schema itself catches mistakes: a broken config is rejected
    assert.notDeepEqual(validate({ ociVersion: "1.0.2", process: { args: "sh" } }), []);

    const { sif, dir: imageDir } = await execImages();
    const dir = await Deno.makeTempDir({ prefix: "singlet-schema-" });
    await Deno.chmod(dir, 0o777);
    try {
      const ociSif = await appImageSif(dir, { User: "app", WorkingDir: "/srv/app" });
      const specs = `${dir}/cdi`;
      await Deno.mkdir(specs, { mode: 0o755 });
      await Deno.writeTextFile(
        `${specs}/fake.json`,
        JSON.stringify({
          cdiVersion: "0.6.0",
          kind: "example.com/fake",
          devices: [{
            name: "fake0",
            containerEdits: {
              env: ["FAKE=1"],
              deviceNodes: [{ path: "/dev/fake0", hostPath: "/dev/null" }],
              mounts: [{ hostPath: imageDir, containerPath: "/opt/vendor", options: ["ro"] }],
              hooks: [{ hookName: "createContainer", path: "/bin/true", timeout: 5 }],
              additionalGids: [5],
            },
          }],
        }),
      );
      await Deno.chmod(`${specs}/fake.json`, 0o644);
      const overlay = `${dir}/overlay`;
      await Deno.mkdir(overlay, { mode: 0o777 });
      await Deno.chmod(overlay, 0o777);
      // a user's overlay directory is their own
      const user = await testUser({ subids: true });
      const userOverlay = `${dir}/user-overlay`;
      await Deno.mkdir(userOverlay);
      await Deno.chown(userOverlay, user.uid, user.gid);
      const cdi = ["--cdi-dirs", specs, "--device", "example.com/fake=fake0"];
      const cases: [string, string[]][] = [
        ["defaults", []],
        ["binds", ["-B", `${imageDir}:/data:ro,/tmp`, "--mount", "type=bind,src=/tmp,dst=/m"]],
        ["overlay", ["--overlay", overlay]],
        ["writable tmpfs", ["--writable-tmpfs", "--writable-tmpfs-size", "32M"]],
        ["network none", ["--net", "--network", "none", "--hostname", "box", "--ipc"]],
        ["caps", ["--add-caps", "net_raw", "--drop-caps", "chown", "--no-privs"]],
        ["containall", ["--containall", "--scratch", "/scratch", "--no-mount", "sys"]],
        ["CDI", cdi],
        ["resources", ["--cpus", "0.5", "--memory", "64M", "--pids-limit", "50"]],
        ["oci", ["--oci"]],
      ];
      const userCases: [string, string[]][] = [
        ["defaults", []],
        ["fakeroot", ["--fakeroot", "--writable-tmpfs"]],
        ["overlay", ["--overlay", userOverlay]],
        ["CDI", cdi],
        ["oci", ["--oci"]],
        ["network none and caps", ["--net", "--network", "none", "--add-caps", "net_raw"]],
      ];
      const nosub = await testUser({ subids: false });
      let n = 0;
      const check = async (
        who: string,
        flags: string[],
        launch: (argv: string[], env: Record<string, string>) => Promise<{
          code: number;
          stderr: string;
        }>,
      ) => {
        const copy = `${dir}/config-${n++}.json`;
        const image = flags.includes("--oci") ? ociSif : sif;
        const result = await launch(["exec", ...flags, image, "true"], {
          SINGLET_CONFIG_COPY: copy,
        });
        assert.equal(result.code, 0, `${who} ${flags.join(" ")}: ${result.stderr}`);
        const config = JSON.parse(await Deno.readTextFile(copy));
        assert.deepEqual(validate(config), [], `${who} ${flags.join(" ")}`);
        return config;
      };
      for (const [, flags] of cases) {
        await check("root", flags, (argv, env) => runSinglet(argv, { env, cwd: "/tmp" }));
      }
      for (const [, flags] of userCases) {
        await check(
          user.name,
          flags,
          (argv, env) => runAs(user, [SINGLET_BIN, ...argv], { env, cwd: "/tmp" }),
        );
      }
      const single = await check(
        nosub.name,
        [],
        (argv, env) => runAs(nosub, [SINGLET_BIN, ...argv], { env, cwd: "/tmp" }),
      );
      assert.equal(single.process.user.uid, 0);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
