import assert from "node:assert/strict";
import { parseWwwAuthenticate } from "./www_authenticate.ts";

Deno.test("a Docker Hub bearer challenge yields realm, service and scope", () => {
  const c = parseWwwAuthenticate(
    'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",' +
      'scope="repository:library/ubuntu:pull"',
  );
  assert.deepEqual(c, [{
    scheme: "bearer",
    params: {
      realm: "https://auth.docker.io/token",
      service: "registry.docker.io",
      scope: "repository:library/ubuntu:pull",
    },
  }]);
});

Deno.test("several challenges, quoted escapes, spaces around '=' and token68 are parsed", () => {
  const c = parseWwwAuthenticate(
    'Basic realm="a \\"q\\" b", charset=UTF-8, Bearer realm = "r", error="insufficient_scope", ' +
      "Negotiate abc123==",
  );
  assert.equal(c.length, 3);
  assert.deepEqual(c[0], { scheme: "basic", params: { realm: 'a "q" b', charset: "UTF-8" } });
  assert.deepEqual(c[1], { scheme: "bearer", params: { realm: "r", error: "insufficient_scope" } });
  assert.equal(c[2]!.scheme, "negotiate");
  assert.equal(c[2]!.token68, "abc123==");
});

Deno.test("a bare scheme and garbage do not throw", () => {
  assert.deepEqual(parseWwwAuthenticate("Basic"), [{ scheme: "basic", params: {} }]);
  assert.doesNotThrow(() => parseWwwAuthenticate('=,,"x'));
});
