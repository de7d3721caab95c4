/**
 * Shared helpers for the tar and layer tests: build a tree with every kind GNU tar stores
 * (long and non-UTF-8 names, sparse files, xattrs, hard links, FIFOs), list a directory
 * with `find`/`sha256sum` as the oracle, and list a tar through {@linkcode readTar}.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { pathKey } from "../squashfs/fstree.ts";
import { readTar } from "./reader.ts";

/** One listed entry, comparable between the oracle and the reader. */
export interface Listed {
  /** find's %y letter: f d l p c b. */
  type: string;
  /** Permission bits. */
  mode: number;
  /** Owner. */
  uid: number;
  /** Group. */
  gid: number;
  /** Size (regular files only, 0 otherwise). */
  size: number;
  /** Symlink target as a key string ("" otherwise). */
  link: string;
  /** sha256 of a regular file's content ("" otherwise). */
  sha256: string;
}

/**
 * Run a bash script, failing with its stderr when it fails.
 *
 * @param script Bash source.
 * @param cwd Working directory.
 * @returns stdout bytes.
 */
export async function sh(script: string, cwd?: string): Promise<Uint8Array> {
  const out = await new Deno.Command("bash", {
    args: ["-euo", "pipefail", "-c", script],
    ...(cwd ? { cwd } : {}),
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`script failed: ${script}\n${new TextDecoder().decode(out.stderr)}`);
  }
  return out.stdout;
}

const LONG100 = "n".repeat(120);
const LONG255 = `${"deep".repeat(30)}/${"x".repeat(150)}`;

/**
 * Create the test tree in `dir` (must exist, empty).
 *
 * @param dir Target directory.
 * @param options `xattrs`: also set user.* attributes.
 */
export async function makeTree(dir: string, options: { xattrs?: boolean } = {}): Promise<void> {
  await sh(
    `
    printf 'hello\\n' > a.txt
    mkdir -p d/e && chmod 0750 d && printf 'in e' > d/e/f && chmod 4755 d/e/f
    touch empty && ln -s a.txt link && ln -s /abs/target d/abslink && ln a.txt hard
    printf 'latin1' > $'bad\\xffname' && mkdir $'dir\\xfe'
    mkfifo fifo
    mkdir -p ${LONG255.split("/")[0]} && printf 'long' > ${LONG255}
    printf 'l100' > ${LONG100} && ln -s ${LONG100} ${LONG100}.lnk
    head -c 300000 /dev/urandom > random.bin
    truncate -s 5M sparse
    printf 'XYZ' | dd of=sparse bs=1 seek=1048576 conv=notrunc status=none
    printf 'END' | dd of=sparse bs=1 seek=3000000 conv=notrunc status=none
    truncate -s 2M hole-only
    truncate -s 4M many-holes
    for i in $(seq 0 29); do printf "region $i" | dd of=many-holes bs=1 seek=$((i * 131072 + 7)) conv=notrunc status=none; done
    chown 1234:5678 a.txt && chown -h 42:43 link
    touch -d @1700000000 a.txt
    ${
      options.xattrs
        ? "setfattr -n user.one -v first a.txt && setfattr -n user.bin -v 0x00ff10 d/e/f"
        : ""
    }
    `,
    dir,
  );
}

/**
 * The oracle: list `dir` with find and sha256sum (names as bytes).
 *
 * @param dir A directory.
 * @returns Relative path key to listing.
 */
export async function listDirectory(dir: string): Promise<Map<string, Listed>> {
  const found = await sh(`find . -mindepth 1 -printf '%y\\t%m\\t%U\\t%G\\t%s\\t%l\\t%P\\0'`, dir);
  const sums = await sh(`find . -type f -print0 | xargs -0 -r sha256sum --zero`, dir);
  const digests = new Map<string, string>();
  for (const line of split(sums, 0)) {
    if (!line.length) continue;
    const hex = String.fromCharCode(...line.subarray(0, 64));
    digests.set(pathKey(line.subarray(66 + 2)), hex); // "<hex>  ./<path>"
  }
  const listing = new Map<string, Listed>();
  for (const record of split(found, 0)) {
    if (!record.length) continue;
    const fields = split(record, 9);
    const text = (i: number) => String.fromCharCode(...fields[i]!);
    const type = text(0);
    const key = pathKey(fields[6]!);
    listing.set(key, {
      type,
      mode: parseInt(text(1), 8),
      uid: Number(text(2)),
      gid: Number(text(3)),
      size: type === "f" ? Number(text(4)) : 0,
      link: type === "l" ? pathKey(fields[5]!) : "",
      sha256: type === "f" ? digests.get(key) ?? "?" : "",
    });
  }
  return listing;
}

/**
 * List a tar stream through readTar, hashing file data (hard links take their target's).
 *
 * @param stream Uncompressed tar bytes.
 * @returns Normalised path key to listing.
 */
export async function listTar(
  stream: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
): Promise<Map<string, Listed>> {
  const listing = new Map<string, Listed>();
  const letter = {
    file: "f",
    directory: "d",
    symlink: "l",
    fifo: "p",
    chardev: "c",
    blockdev: "b",
  };
  for await (const entry of readTar(stream)) {
    const key = normal(entry.path);
    if (key === "") continue;
    if (entry.kind === "hardlink") {
      const target = listing.get(normal(entry.linkTarget));
      if (!target) throw new Error(`hard link ${key} to an unseen target`);
      listing.set(key, target);
      continue;
    }
    let sha256 = "";
    let size = 0;
    if (entry.kind === "file") {
      const hash = createHash("sha256");
      for await (const chunk of entry.data) {
        hash.update(chunk);
        size += chunk.length;
      }
      if (size !== entry.size) {
        throw new Error(`${key}: data ${size} bytes, size says ${entry.size}`);
      }
      sha256 = hash.digest("hex");
    }
    listing.set(key, {
      type: letter[entry.kind],
      mode: entry.mode,
      uid: entry.uid,
      gid: entry.gid,
      size,
      link: entry.kind === "symlink" ? pathKey(entry.linkTarget) : "",
      sha256,
    });
  }
  return listing;
}

function normal(path: Uint8Array): string {
  let key = pathKey(path);
  while (key.startsWith("./")) key = key.slice(2);
  if (key === ".") return "";
  return key.replace(/\/+$/, "");
}

function split(bytes: Uint8Array, sep: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === sep) {
      out.push(bytes.subarray(start, i));
      start = i + 1;
    }
  }
  out.push(bytes.subarray(start));
  return out;
}

/**
 * The stdout of a command as a stream (for piping tar output into the reader).
 *
 * @param script Bash source.
 * @param cwd Working directory.
 * @returns The bytes as a stream, plus a promise of the exit status.
 */
export function shStream(script: string, cwd?: string): {
  stream: ReadableStream<Uint8Array>;
  status: Promise<Deno.CommandStatus>;
} {
  const child = new Deno.Command("bash", {
    args: ["-euo", "pipefail", "-c", script],
    ...(cwd ? { cwd } : {}),
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  return { stream: child.stdout, status: child.status };
}

/**
 * sha256 of a byte array, hex.
 *
 * @param bytes Data.
 * @returns Hex digest.
 */
export function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}
