import assert from "node:assert/strict";
import { parseDeffile } from "../deffile.ts";
import { SingletError } from "../../errors.ts";
import { ociSourceURI } from "./oci.ts";
import { bootstrapAgent } from "./mod.ts";

function stageOf(text: string) {
  return { stage: parseDeffile(text, "t.def").stages.at(-1)! };
}

Deno.test("docker sources are composed from From:, Namespace: and Registry:", () => {
  assert.equal(
    ociSourceURI("docker", stageOf("Bootstrap: docker\nFrom: alpine:3.20\n")),
    "docker://alpine:3.20",
  );
  assert.equal(
    ociSourceURI(
      "docker",
      stageOf("Bootstrap: docker\nRegistry: localhost:5000\nNamespace: team\nFrom: tool:1\n"),
    ),
    "docker://localhost:5000/team/tool:1",
  );
  // A From: that already names a repository path keeps it; the namespace is not added.
  assert.equal(
    ociSourceURI("docker", stageOf("Bootstrap: docker\nNamespace: team\nFrom: other/tool\n")),
    "docker://other/tool",
  );
  assert.equal(
    ociSourceURI("oci-archive", stageOf("Bootstrap: oci-archive\nFrom: /x/img.tar\n")),
    "oci-archive:/x/img.tar",
  );
});

Deno.test("a missing From: and an unsupported agent are clear errors", () => {
  assert.throws(
    () => ociSourceURI("docker", stageOf("Bootstrap: docker\n")),
    (e: unknown) => e instanceof SingletError && /has no From: line/.test(e.message),
  );
  assert.throws(
    () => bootstrapAgent("yum"),
    (e: unknown) =>
      e instanceof SingletError && /Cannot bootstrap with "yum": this agent is not supported/
        .test(e.message),
  );
  assert.equal(typeof bootstrapAgent("Docker"), "function");
  assert.equal(typeof bootstrapAgent("localimage"), "function");
  assert.equal(typeof bootstrapAgent("scratch"), "function");
});
