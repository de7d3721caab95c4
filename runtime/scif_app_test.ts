import assert from "node:assert/strict";
import { appVariables } from "./scif_app.ts";
import { SingletError } from "../core/errors.ts";

const files = (apps: string[] | undefined) => ({ listDir: () => Promise.resolve(apps) });

Deno.test("an existing app is selected through SINGULARITY_APPNAME and its twins", async () => {
  assert.deepEqual(await appVariables(files(["b", "a"]), "a", "x.sif"), {
    SINGULARITY_APPNAME: "a",
    APPTAINER_APPNAME: "a",
    SCIF_APPNAME: "a",
  });
});

Deno.test("an unknown app is refused with the apps the image has, exit 255", async () => {
  const error = await appVariables(files(["zeta", "alpha"]), "nope", "x.sif").catch((e) => e);
  assert.ok(error instanceof SingletError);
  assert.equal(error.exitCode, 255);
  assert.equal(error.message, 'Cannot find app "nope" in "x.sif": its apps are alpha, zeta');
  await assert.rejects(
    () => appVariables(files(undefined), "a", "x.sif"),
    /it has no apps/,
  );
  await assert.rejects(() => appVariables(files([".."]), "..", "x.sif"), SingletError);
  await assert.rejects(() => appVariables(files(["a"]), "a/../a", "x.sif"), SingletError);
});
