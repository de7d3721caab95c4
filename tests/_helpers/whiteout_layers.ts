/**
 * The three layers of the whiteout fixture image and the tree they must merge into.
 * Kept apart from fixtures.ts so the expected tree sits next to the layers that make it.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { compareNames, type TarEntry } from "./tar_writer.ts";

/** SquashFS's default block size: a file of exactly one block, and one of several. */
const BLOCK = 131072;

/**
 * Deterministic, poorly compressible bytes (a 32-bit LCG), so block-sized files really
 * span their blocks after compression.
 *
 * @param length Number of bytes.
 * @param seed Start value.
 * @returns The bytes.
 */
export function pseudoRandomBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let state = seed >>> 0;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = state >>> 24;
  }
  return out;
}

const ONE_BLOCK = pseudoRandomBytes(BLOCK, 1);
const MULTI_BLOCK = pseudoRandomBytes(3 * BLOCK + 1000, 2);
/** "café" in Latin-1: a name that is not valid UTF-8. */
const LATIN1_NAME = new Uint8Array([...new TextEncoder().encode("bytes/caf"), 0xe9]);

const dir = (name: string, mode = 0o755): TarEntry => ({ name, type: "directory", mode });
const file = (name: string | Uint8Array, content: string | Uint8Array, mode = 0o644): TarEntry => ({
  name,
  type: "file",
  mode,
  content,
});
/** An OCI whiteout for `path` (an empty file named `.wh.<base>`). */
const whiteout = (path: string): TarEntry => {
  const slash = path.lastIndexOf("/");
  return file(`${path.slice(0, slash + 1)}.wh.${path.slice(slash + 1)}`, "");
};

const sorted = (entries: TarEntry[]) => entries.sort((a, b) => compareNames(a.name, b.name));

/** The three layers, bottom first, each sorted by name like `tar --sort=name`. */
export const WHITEOUT_LAYERS: readonly TarEntry[][] = [
  sorted([
    dir("a"),
    file("a/gone", "gone in layer 2\n"),
    file("a/keep", "keep v1\n"),
    file("block1", ONE_BLOCK),
    dir("bytes"),
    file(LATIN1_NAME, "a Latin-1 name\n"),
    dir("d2f"),
    file("d2f/child", "child of a directory that becomes a file\n"),
    file("empty", ""),
    file("f2d", "a file that becomes a directory\n"),
    dir("gonedir"),
    dir("gonedir/inner"),
    file("gonedir/inner/file", "whole directory whited out in layer 3\n"),
    dir("hard"),
    file("hard/orig", "hard linked content\n"),
    { name: "hard/twin", type: "link", linkname: "hard/orig" },
    file("multiblock", MULTI_BLOCK, 0o755),
    dir("opq"),
    file("opq/old1", "hidden by the opaque marker\n"),
    dir("opq/sub"),
    file("opq/sub/old2", "hidden by the opaque marker\n"),
    file("readded", "version 1\n"),
    { name: "sym", type: "symlink", mode: 0o777, linkname: "a/keep" },
    dir("with space"),
    file("with space/file name.txt", "spaces in names\n"),
    { ...file("xattr", "has a user xattr\n"), xattrs: { "user.test": "hello" } },
  ]),
  sorted([
    dir("a"),
    whiteout("a/gone"),
    file("d2f", "d2f is now a file\n"),
    dir("f2d"),
    file("f2d/inside", "inside the new directory\n"),
    dir("opq"),
    file("opq/.wh..wh..opq", ""),
    file("opq/new1", "new in the opaque directory\n"),
    whiteout("readded"),
  ]),
  sorted([
    whiteout("gonedir"),
    dir("a"),
    file("a/keep", "keep v3\n"),
    file("readded", "version 3\n"),
  ]),
];

function fileLine(path: string, content: string | Uint8Array, mode = "0644", links = 1): string {
  const bytes = typeof content === "string" ? new TextEncoder().encode(content) : content;
  const hash = createHash("sha256").update(bytes).digest("hex").slice(0, 16);
  return `file ${mode} size=${bytes.length} links=${links} sha256=${hash} ${path}`;
}

/**
 * The merged tree of the whiteout image in `describeTree()` form (tree.ts), with xattrs:
 * what any correct unpacker (umoci, our layer squasher) must produce.
 */
export const WHITEOUT_EXPECTED_TREE: string = [
  "dir 0755 a",
  fileLine("a/keep", "keep v3\n"),
  fileLine("block1", ONE_BLOCK),
  "dir 0755 bytes",
  fileLine("bytes/caf\\xe9", "a Latin-1 name\n"),
  fileLine("d2f", "d2f is now a file\n"),
  fileLine("empty", ""),
  "dir 0755 f2d",
  fileLine("f2d/inside", "inside the new directory\n"),
  "dir 0755 hard",
  fileLine("hard/orig", "hard linked content\n", "0644", 2),
  fileLine("hard/twin", "hard linked content\n", "0644", 2),
  fileLine("multiblock", MULTI_BLOCK, "0755"),
  "dir 0755 opq",
  fileLine("opq/new1", "new in the opaque directory\n"),
  fileLine("readded", "version 3\n"),
  "symlink sym -> a/keep",
  "dir 0755 with space",
  fileLine("with space/file name.txt", "spaces in names\n"),
  fileLine("xattr", "has a user xattr\n"),
  'xattr user.test="hello" xattr',
].join("\n") + "\n";
