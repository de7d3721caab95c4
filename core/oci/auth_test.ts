import assert from "node:assert/strict";
import {
  findCredentials,
  listCredentials,
  loginStorePath,
  registryKey,
  removeCredentials,
  storeCredentials,
} from "./auth.ts";

const b64 = (s: string) => btoa(s);

Deno.test("registry keys fold Docker Hub's aliases and URL forms", () => {
  assert.equal(registryKey("https://index.docker.io/v1/"), "index.docker.io");
  assert.equal(registryKey("docker.io"), "index.docker.io");
  assert.equal(registryKey("registry-1.docker.io"), "index.docker.io");
  assert.equal(registryKey("http://Reg.Example:5000/"), "reg.example:5000");
});

Deno.test("credentials come from env, --authfile, REGISTRY_AUTH_FILE, the store and ~/.docker in order", async () => {
  const home = await Deno.makeTempDir();
  const write = async (path: string, user: string) => {
    await Deno.mkdir(path.replace(/\/[^/]*$/, ""), { recursive: true });
    await Deno.writeTextFile(
      path,
      JSON.stringify({
        auths: { "https://index.docker.io/v1/": { auth: b64(`${user}:pw-${user}`) } },
      }),
    );
  };
  await write(`${home}/.docker/config.json`, "docker");
  const vars: Record<string, string> = { HOME: home };
  const env = (n: string) => vars[n];
  assert.deepEqual(await findCredentials("docker.io", { env }), {
    username: "docker",
    password: "pw-docker",
  });
  await write(`${home}/.singlet/docker-config.json`, "store");
  assert.equal((await findCredentials("index.docker.io", { env }))?.username, "store");
  await write(`${home}/raf.json`, "raf");
  vars.REGISTRY_AUTH_FILE = `${home}/raf.json`;
  assert.equal((await findCredentials("index.docker.io", { env }))?.username, "raf");
  await write(`${home}/af.json`, "authfile");
  assert.equal(
    (await findCredentials("index.docker.io", { env, authfile: `${home}/af.json` }))?.username,
    "authfile",
  );
  vars.DOCKER_USERNAME = "bare";
  vars.DOCKER_PASSWORD = "x";
  assert.equal((await findCredentials("index.docker.io", { env }))?.username, "bare");
  vars.APPTAINER_DOCKER_USERNAME = "apptainer";
  vars.APPTAINER_DOCKER_PASSWORD = "x";
  assert.equal((await findCredentials("index.docker.io", { env }))?.username, "apptainer");
  vars.SINGULARITY_DOCKER_USERNAME = "singularity";
  vars.SINGULARITY_DOCKER_PASSWORD = "x";
  assert.equal((await findCredentials("index.docker.io", { env }))?.username, "singularity");
  vars.SINGLET_DOCKER_USERNAME = "singlet";
  vars.SINGLET_DOCKER_PASSWORD = "x";
  assert.equal((await findCredentials("index.docker.io", { env }))?.username, "singlet");
  assert.equal(
    (await findCredentials("index.docker.io", {
      env,
      explicit: { username: "typed", password: "p" },
    }))
      ?.username,
    "typed",
  );
  assert.equal(
    await findCredentials("other.example", { env: (n) => (n === "HOME" ? home : undefined) }),
    undefined,
  );
  await Deno.remove(home, { recursive: true });
});

Deno.test("the login store is written 0600, keeps other entries, and lists no passwords", async () => {
  const home = await Deno.makeTempDir();
  const path = loginStorePath((n) => (n === "HOME" ? home : undefined));
  assert.equal(path, `${home}/.singlet/docker-config.json`);
  await storeCredentials(path, "a.example", { username: "u1", password: "p1" });
  await storeCredentials(path, "b.example:5000", { username: "u2", password: "p:2" });
  assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
  assert.deepEqual(await listCredentials(path), [
    { registry: "a.example", username: "u1" },
    { registry: "b.example:5000", username: "u2" },
  ]);
  assert.deepEqual(
    await findCredentials("b.example:5000", { authfile: path, env: () => undefined }),
    {
      username: "u2",
      password: "p:2",
    },
  );
  assert.equal(await removeCredentials(path, "a.example"), true);
  assert.equal(await removeCredentials(path, "a.example"), false);
  assert.equal((await listCredentials(path)).length, 1);
  await Deno.remove(home, { recursive: true });
});
