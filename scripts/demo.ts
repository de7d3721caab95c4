/**
 * The README's first command: build a SIF from the busybox image the repository makes
 * itself (tests/_helpers/fixtures.ts: Debian's busybox-static in an OCI layout), then run a
 * command in it as an unprivileged user, the way a cluster user would.
 *
 * As root, the unprivileged user is the test user `singlet-test` (created with
 * /etc/subuid and /etc/subgid ranges if missing); otherwise it is the caller.
 *
 * @module
 */
import { busyboxOciLayout } from "../tests/_helpers/fixtures.ts";
import { runAs, testUser } from "../tests/_helpers/unpriv.ts";
import { SINGLET_BIN } from "../tests/_helpers/singlet.ts";

const encoder = new TextEncoder();
const say = (text: string) => Deno.stderr.writeSync(encoder.encode(`${text}\n`));
const step = (text: string) => say(`\n==> ${text}`);

async function run(argv: string[]): Promise<number> {
  say(`$ ${argv.join(" ")}`);
  const status = await new Deno.Command(argv[0]!, { args: argv.slice(1) }).spawn().status;
  return status.code;
}

step("Making the busybox OCI image from Debian's busybox-static");
const layout = await busyboxOciLayout();
const dir = "/tmp/singlet-demo";
await Deno.mkdir(dir, { recursive: true, mode: 0o755 });
await Deno.chmod(dir, 0o755);
const image = `${dir}/busybox.sif`;

step("Building a SIF from it");
if (await run([SINGLET_BIN, "pull", "--force", image, `oci:${layout.dir}:${layout.ref}`])) {
  Deno.exit(1);
}
await Deno.chmod(image, 0o755);
await run(["siftool", "list", image]);

const command = [
  SINGLET_BIN,
  "exec",
  image,
  "sh",
  "-c",
  'echo "Hello from $(. /etc/os-release; echo "$PRETTY_NAME") as $(id -un) (uid $(id -u)) in $PWD"',
];
if (Deno.uid() === 0) {
  const user = await testUser({ subids: true });
  step(`Running it as the unprivileged user ${user.name}`);
  say(`$ ${command.join(" ")}`);
  const result = await runAs(user, command);
  Deno.stdout.writeSync(encoder.encode(result.stdout));
  Deno.stderr.writeSync(encoder.encode(result.stderr));
  Deno.exit(result.code);
} else {
  step("Running it");
  Deno.exit(await run(command));
}
