import assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import { SingletError } from "../core/errors.ts";
import { parseCdiSpec, parseDeviceName, resolveCdiDevices } from "./cdi.ts";

const YAML = `cdiVersion: "0.6.0"
kind: vendor.com/gpu
containerEdits:
  env: [SPEC=1]
devices:
  - name: gpu0
    containerEdits:
      env: [DEV=0]
      deviceNodes: [{path: /dev/vgpu0, type: c, major: 1, minor: 3}]
      mounts: [{hostPath: /opt/lib, containerPath: /usr/lib/vendor, options: [ro]}]
      hooks: [{hookName: createContainer, path: /usr/bin/hook, args: [hook, x]}]
  - name: gpu1
    containerEdits:
      env: [DEV=1]
`;

Deno.test("fully qualified device names split into kind and name; others are refused", () => {
  assert.deepEqual(parseDeviceName("vendor.com/gpu=gpu0"), {
    kind: "vendor.com/gpu",
    name: "gpu0",
  });
  assert.deepEqual(parseDeviceName("a.b/c=all"), { kind: "a.b/c", name: "all" });
  for (const bad of ["gpu0", "vendor.com=gpu0", "vendor.com/gpu/x=a", "vendor.com/gpu=", "/c=a"]) {
    assert.throws(() => parseDeviceName(bad), SingletError, bad);
  }
});

Deno.test("a YAML spec parses; JSON and YAML problems name the file", () => {
  const spec = parseCdiSpec("/etc/cdi/v.yaml", YAML, parseYaml);
  assert.equal(spec.kind, "vendor.com/gpu");
  assert.deepEqual(spec.devices.map((d) => d.name), ["gpu0", "gpu1"]);
  assert.deepEqual(spec.containerEdits.env, ["SPEC=1"]);
  const cases: [string, string, RegExp][] = [
    ["x.json", "{", /^Cannot read CDI spec "x\.json": not valid JSON/],
    ["x.json", '{"cdiVersion":"0.6.0","kind":"v.com/c","devices":[]}', /at least one device/],
    ["x.json", '{"cdiVersion":"0.6.0","kind":"nokind","devices":[{"name":"a"}]}', /"kind"/],
    ["x.json", '{"kind":"v.com/c","devices":[{"name":"a"}]}', /"cdiVersion"/],
    [
      "x.yaml",
      'cdiVersion: "0.6.0"\nkind: v.com/c\ndevices: [{name: a, containerEdits: {hooks: [{hookName: bogus, path: /x}]}}]',
      /hook "bogus" is not one the OCI runtime runs/,
    ],
    [
      "x.yaml",
      'cdiVersion: "0.6.0"\nkind: v.com/c\ndevices: [{name: a, containerEdits: {env: [NOEQUALS]}}]',
      /env entry "NOEQUALS" is not KEY=VALUE/,
    ],
  ];
  for (const [file, text, pattern] of cases) {
    assert.throws(() => parseCdiSpec(file, text, parseYaml), (error: Error) => {
      assert.ok(error instanceof SingletError);
      assert.match(error.message, pattern);
      assert.ok(error.message.includes(file));
      return true;
    });
  }
});

Deno.test("as root, device nodes become runtime devices with cgroup rules; spec edits apply once", async () => {
  const spec = parseCdiSpec("/etc/cdi/v.yaml", YAML, parseYaml);
  const edits = await resolveCdiDevices(["vendor.com/gpu=all"], [spec], { root: true });
  assert.deepEqual(edits.applied, ["vendor.com/gpu=gpu0", "vendor.com/gpu=gpu1"]);
  assert.deepEqual(edits.env, [["SPEC", "1"], ["DEV", "0"], ["DEV", "1"]]);
  assert.deepEqual(edits.devices, [{ path: "/dev/vgpu0", type: "c", major: 1, minor: 3 }]);
  assert.deepEqual(edits.deviceRules, [{
    allow: true,
    type: "c",
    major: 1,
    minor: 3,
    access: "rwm",
  }]);
  assert.deepEqual(edits.mounts, [{
    destination: "/usr/lib/vendor",
    type: "bind",
    source: "/opt/lib",
    options: ["rbind", "ro", "nosuid", "nodev"],
  }]);
  assert.deepEqual(edits.hooks, {
    createContainer: [{ path: "/usr/bin/hook", args: ["hook", "x"] }],
  });
});

Deno.test("in a user namespace device nodes are bound from the host, which must have them", async () => {
  const spec = parseCdiSpec(
    "s.json",
    JSON.stringify({
      cdiVersion: "0.6.0",
      kind: "v.com/c",
      devices: [
        {
          name: "null",
          containerEdits: { deviceNodes: [{ path: "/dev/n", hostPath: "/dev/null" }] },
        },
        {
          name: "gone",
          containerEdits: { deviceNodes: [{ path: "/dev/singlet-no-such-device" }] },
        },
      ],
    }),
  );
  const edits = await resolveCdiDevices(["v.com/c=null"], [spec], { root: false });
  assert.deepEqual(edits.devices, []);
  assert.deepEqual(edits.mounts, [{
    destination: "/dev/n",
    type: "bind",
    source: "/dev/null",
    options: ["bind", "nosuid"],
  }]);
  await assert.rejects(
    resolveCdiDevices(["v.com/c=gone"], [spec], { root: false }),
    /"\/dev\/singlet-no-such-device" is not a device node on this host/,
  );
  await assert.rejects(
    resolveCdiDevices(["v.com/c=other"], [spec], { root: false }),
    /Cannot use device "v\.com\/c=other": no CDI spec defines it/,
  );
});

Deno.test("a later spec directory wins a device both define", async () => {
  const make = (file: string, value: string) =>
    parseCdiSpec(
      file,
      JSON.stringify({
        cdiVersion: "0.6.0",
        kind: "v.com/c",
        devices: [{ name: "d", containerEdits: { env: [`FROM=${value}`] } }],
      }),
    );
  const edits = await resolveCdiDevices(
    ["v.com/c=d"],
    [make("/etc/cdi/a.json", "etc"), make("/var/run/cdi/a.json", "run")],
    { root: true },
  );
  assert.deepEqual(edits.env, [["FROM", "run"]]);
});

Deno.test("a requested device with edits singlet cannot apply is refused by name", async () => {
  const spec = parseCdiSpec(
    "n.json",
    JSON.stringify({
      cdiVersion: "0.8.0",
      kind: "v.com/nic",
      devices: [
        { name: "eth", containerEdits: { netDevices: [{ hostInterfaceName: "eth9", name: "e" }] } },
        { name: "plain", containerEdits: { env: ["A=1"] } },
      ],
    }),
  );
  await assert.rejects(
    resolveCdiDevices(["v.com/nic=eth"], [spec], { root: true }),
    /Cannot use CDI device "v\.com\/nic=eth" from "n\.json": singlet cannot apply its netDevices edits/,
  );
  const plain = await resolveCdiDevices(["v.com/nic=plain"], [spec], { root: true });
  assert.deepEqual(plain.env, [["A", "1"]]);
});
