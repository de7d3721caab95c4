import assert from "node:assert/strict";
import { defaultOutputName, parseDockerName, parseImageReference } from "./reference.ts";

const D = "sha256:" + "a".repeat(64);

Deno.test("a bare Docker Hub name gets index.docker.io, library/ and tag latest", () => {
  assert.deepEqual(parseImageReference("docker://ubuntu"), {
    transport: "docker",
    registry: "index.docker.io",
    repository: "library/ubuntu",
    tag: "latest",
  });
});

Deno.test("registries are recognised by a dot, a port or localhost", () => {
  assert.equal(parseDockerName("ghcr.io/a/b:1").registry, "ghcr.io");
  assert.equal(parseDockerName("localhost/a").registry, "localhost");
  assert.equal(parseDockerName("127.0.0.1:5000/a/b").registry, "127.0.0.1:5000");
  assert.equal(parseDockerName("127.0.0.1:5000/a/b").repository, "a/b");
  assert.equal(parseDockerName("user/img").registry, "index.docker.io");
  assert.equal(parseDockerName("user/img").repository, "user/img");
  assert.equal(parseDockerName("docker.io/alpine").repository, "library/alpine");
});

Deno.test("tags and digests are split off and validated", () => {
  const r = parseDockerName(`localhost:5000/x/y:v1@${D}`);
  assert.equal(r.tag, "v1");
  assert.equal(r.digest, D);
  assert.equal(parseDockerName(`x@${D}`).tag, undefined);
  assert.throws(() => parseDockerName("x@sha256:abc"), /digest/);
  assert.throws(() => parseDockerName("x:-bad"), /tag/);
  assert.throws(() => parseDockerName("Ubuntu"), /path component/);
  assert.throws(() => parseDockerName("a/../b"), /path component/);
});

Deno.test("other transports keep their path and optional ref", () => {
  assert.deepEqual(parseImageReference("oci:/tmp/lay:v1"), {
    transport: "oci",
    path: "/tmp/lay",
    ref: "v1",
  });
  assert.deepEqual(parseImageReference("oci-archive:img.tar"), {
    transport: "oci-archive",
    path: "img.tar",
  });
  assert.deepEqual(parseImageReference("docker-archive:/a:b/c.tar.gz"), {
    transport: "docker-archive",
    path: "/a:b/c.tar.gz",
  });
  assert.deepEqual(parseImageReference("docker-daemon:alpine:3"), {
    transport: "docker-daemon",
    image: "alpine:3",
  });
  assert.equal(parseImageReference("https://h/x/y.sif").transport, "https");
  assert.throws(() => parseImageReference("ftp://x"), /unsupported transport/);
  assert.throws(() => parseImageReference("ubuntu"), /no transport/);
});

Deno.test("default output names follow Singularity's name_tag.sif", () => {
  assert.equal(defaultOutputName(parseImageReference("docker://ubuntu:24.04")), "ubuntu_24.04.sif");
  assert.equal(
    defaultOutputName(parseImageReference("docker://a/b/busybox")),
    "busybox_latest.sif",
  );
  assert.equal(defaultOutputName(parseImageReference(`docker://x@${D}`)), "x_aaaaaaaaaaaa.sif");
  assert.equal(defaultOutputName(parseImageReference("oci:/t/lay:v2")), "lay_v2.sif");
  assert.equal(
    defaultOutputName(parseImageReference("docker-archive:/t/b.tar.gz")),
    "b_latest.sif",
  );
  assert.equal(defaultOutputName(parseImageReference("https://h/p/lolcow.sif")), "lolcow.sif");
});
