/**
 * Test helpers for layer merging: a byte-level tar builder (so tests can write layers no
 * well-behaved tool would: duplicates, escapes, hard links in any order) and a recording
 * FsSink that keeps what it was given.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { EntryMeta, FsSink } from "./fstree.ts";
import { keyToPath, pathKey } from "./fstree.ts";
import { escapeName } from "../../tests/_helpers/tree.ts";
import type { LayerSource } from "./layers.ts";
import { readFileChunks } from "../codec/file_chunks.ts";

const enc = new TextEncoder();

/** One member for {@linkcode buildTar}. */
export interface TarSpec {
  /** Path as stored. */
  path: string;
  /** Type flag: "0" file (default), "1" hardlink, "2" symlink, "5" dir, "6" fifo, "3" chardev. */
  type?: string;
  /** File content. */
  data?: string;
  /** Link target. */
  link?: string;
  /** Permission bits (default 0644, 0755 for dirs). */
  mode?: number;
  /** Owner (default 0). */
  uid?: number;
  /** Size field override (to forge absurd sizes). */
  size?: number;
}

/**
 * Build an uncompressed ustar archive (names over 100 bytes go into a pax header).
 *
 * @param specs Members in order.
 * @returns The archive bytes, with the end-of-archive marker.
 */
export function buildTar(specs: readonly TarSpec[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const spec of specs) {
    const data = enc.encode(spec.data ?? "");
    const type = spec.type ?? "0";
    const name = enc.encode(spec.path);
    if (name.length > 100) {
      const record = paxRecord("path", spec.path);
      parts.push(header("././@PaxHeader", "x", record.length, 0o644, 0, ""), pad(record));
    }
    parts.push(
      header(
        spec.path.slice(0, 100),
        type,
        spec.size ?? data.length,
        spec.mode ?? (type === "5" ? 0o755 : 0o644),
        spec.uid ?? 0,
        spec.link ?? "",
      ),
    );
    if (data.length) parts.push(pad(data));
  }
  parts.push(new Uint8Array(1024));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function paxRecord(key: string, value: string): Uint8Array {
  const body = ` ${key}=${value}\n`;
  let len = enc.encode(body).length;
  len += String(len + String(len).length).length;
  return enc.encode(`${len}${body}`);
}

function pad(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(data.length / 512) * 512);
  out.set(data);
  return out;
}

function header(
  name: string,
  type: string,
  size: number,
  mode: number,
  uid: number,
  link: string,
): Uint8Array {
  const block = new Uint8Array(512);
  const octal = (n: number, width: number) =>
    enc.encode(n.toString(8).padStart(width - 1, "0") + "\0");
  block.set(enc.encode(name).subarray(0, 100));
  block.set(octal(mode, 8), 100);
  block.set(octal(uid, 8), 108);
  block.set(octal(0, 8), 116);
  if (size < 8 ** 11) block.set(octal(size, 12), 124);
  else {
    block[124] = 0x80;
    let n = BigInt(size);
    for (let i = 135; i > 124; i--) {
      block[i] = Number(n & 0xffn);
      n >>= 8n;
    }
  }
  block.set(octal(1_700_000_000, 12), 136);
  block[156] = type.charCodeAt(0);
  block.set(enc.encode(link).subarray(0, 100), 157);
  block.set(enc.encode("ustar\x0000"), 257);
  block.fill(0x20, 148, 156);
  const sum = block.reduce((a, b) => a + b, 0);
  block.set(enc.encode(sum.toString(8).padStart(6, "0") + "\0 "), 148);
  return block;
}

/**
 * A layer source over bytes in memory, counting how often it was opened.
 *
 * @param name Name for messages.
 * @param bytes The layer (any compression).
 * @returns The source and its open counter.
 */
export function memoryLayer(name: string, bytes: Uint8Array): LayerSource & { opens: number } {
  const layer = {
    name,
    opens: 0,
    open() {
      layer.opens++;
      return (async function* () {
        for (let i = 0; i < bytes.length; i += 1000) yield bytes.subarray(i, i + 1000);
      })();
    },
  };
  return layer;
}

/** What a recording sink holds for one path. */
export interface Recorded {
  /** Entry kind as given to the sink. */
  kind: string;
  /** Metadata (absent for hard links). */
  meta?: EntryMeta;
  /** File content as text, symlink target, or hard-link target. */
  value?: string;
  /** Device numbers. */
  dev?: [number, number];
  /** Files: size and sha256 (hex) of the content. */
  size?: number;
  /** sha256 of a file's content, hex. */
  sha256?: string;
}

/** An FsSink that records every call, refusing a second non-directory at one path. */
export class RecordingSink implements FsSink {
  /** Path key to what was given. */
  readonly entries: Map<string, Recorded> = new Map();
  /** Bytes of file data received. */
  bytes = 0;

  #put(path: Uint8Array, value: Recorded): void {
    const key = pathKey(path);
    const old = this.entries.get(key);
    if (old && !(old.kind === "directory" && value.kind === "directory")) {
      throw new Error(`sink got "${key}" twice (${old.kind}, then ${value.kind})`);
    }
    this.entries.set(key, value);
  }

  /** Record a directory. */
  directory(path: Uint8Array, meta: EntryMeta): void {
    this.#put(path, { kind: "directory", meta });
  }

  /** Record a file, hashing its data. */
  async file(
    path: Uint8Array,
    meta: EntryMeta,
    size: number,
    data: AsyncIterable<Uint8Array>,
  ): Promise<void> {
    const hash = createHash("sha256");
    const chunks: Uint8Array[] = [];
    let n = 0;
    for await (const chunk of data) {
      hash.update(chunk);
      if (n < 4096) chunks.push(chunk.slice());
      n += chunk.length;
    }
    if (n !== size) throw new Error(`file ${pathKey(path)}: ${n} bytes, announced ${size}`);
    this.bytes += n;
    const sha256 = hash.digest("hex");
    const text = n < 4096 ? new TextDecoder().decode(concat(chunks)) : `sha256:${sha256}`;
    this.#put(path, { kind: "file", meta, value: text, size: n, sha256 });
  }

  /** Record a symlink. */
  symlink(path: Uint8Array, meta: EntryMeta, target: Uint8Array): void {
    this.#put(path, { kind: "symlink", meta, value: pathKey(target) });
  }

  /** Record a hard link (its target must be known). */
  hardlink(path: Uint8Array, target: Uint8Array): void {
    const key = pathKey(target);
    if (!this.entries.has(key)) throw new Error(`hard link to "${key}" before it was given`);
    this.#put(path, { kind: "hardlink", value: key });
  }

  /** Record a device. */
  device(
    path: Uint8Array,
    meta: EntryMeta,
    kind: "chardev" | "blockdev",
    major: number,
    minor: number,
  ): void {
    this.#put(path, { kind, meta, dev: [major, minor] });
  }

  /** Record a FIFO or socket. */
  special(path: Uint8Array, meta: EntryMeta, kind: "fifo" | "socket"): void {
    this.#put(path, { kind, meta });
  }

  /**
   * A compact listing: "path kind value" lines, sorted.
   *
   * @returns One line per entry.
   */
  summary(): string[] {
    return [...this.entries].map(([key, v]) =>
      `${key || "."} ${v.kind}${v.value !== undefined ? ` ${v.value}` : ""}`
    ).sort();
  }
}

/**
 * Describe what a recording sink holds in the format of tests/_helpers/tree.ts
 * `describeTree()`, so a merged tree compares with a directory unpacked by another tool.
 *
 * @param sink The sink after a merge.
 * @param options `owners`: include "uid:gid".
 * @returns The description.
 */
export function describeSink(sink: RecordingSink, options: { owners?: boolean } = {}): string {
  // Hard links share their target's inode: resolve them and count links per inode.
  const inodeOf = (key: string): string => {
    let k = key;
    for (let hops = 0; sink.entries.get(k)?.kind === "hardlink" && hops < 100; hops++) {
      k = sink.entries.get(k)!.value!;
    }
    return k;
  };
  const links = new Map<string, number>();
  for (const key of sink.entries.keys()) {
    const inode = inodeOf(key);
    links.set(inode, (links.get(inode) ?? 0) + 1);
  }
  const raw = (key: string) => keyToPath(key);
  // Parents nobody declared exist in the image as 0755 root directories (FsSink contract).
  const implied = new Set<string>();
  for (const key of sink.entries.keys()) {
    for (let i = key.indexOf("/"); i >= 0; i = key.indexOf("/", i + 1)) {
      if (!sink.entries.has(key.slice(0, i))) implied.add(key.slice(0, i));
    }
  }
  const keys = [...sink.entries.keys(), ...implied].filter((k) => k !== "").sort((a, b) => {
    const x = raw(a);
    const y = raw(b);
    const n = Math.min(x.length, y.length);
    for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
    return x.length - y.length;
  });
  const lines: string[] = [];
  const letter: Record<string, string> = { fifo: "p", chardev: "c", blockdev: "b", socket: "s" };
  for (const key of keys) {
    const inode = inodeOf(key);
    const v = sink.entries.get(inode) ??
      { kind: "directory", meta: { mode: 0o755, uid: 0, gid: 0, mtime: 0 } };
    const path = escapeName(raw(key));
    const mode = (v.meta!.mode & 0o7777).toString(8).padStart(4, "0");
    const own = options.owners ? `${v.meta!.uid}:${v.meta!.gid} ` : "";
    if (v.kind === "directory") lines.push(`dir ${mode} ${own}${path}`);
    else if (v.kind === "file") {
      lines.push(
        `file ${mode} ${own}size=${v.size} links=${links.get(inode)} sha256=${
          v.sha256!.slice(0, 16)
        } ${path}`,
      );
    } else if (v.kind === "symlink") {
      lines.push(`symlink ${own}${path} -> ${escapeName(raw(v.value!))}`);
    } else lines.push(`${letter[v.kind]} ${mode} ${own}${path}`);
    for (const [name, value] of [...(v.meta!.xattrs ?? new Map())].sort()) {
      if (name.startsWith("user.")) {
        lines.push(`xattr ${name}=${JSON.stringify(escapeName(value))} ${path}`);
      }
    }
  }
  return lines.length ? lines.join("\n") + "\n" : "";
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/**
 * The layers of the image `ref` in an OCI layout, base first, with their DiffIDs.
 *
 * @param dir Layout directory.
 * @param ref Tag.
 * @returns One source per layer blob.
 */
export async function layoutLayers(dir: string, ref: string): Promise<LayerSource[]> {
  const blob = (digest: string) => `${dir}/blobs/${digest.replace(":", "/")}`;
  const index = JSON.parse(await Deno.readTextFile(`${dir}/index.json`));
  const descriptor =
    index.manifests.find((m: { annotations?: Record<string, string> }) =>
      m.annotations?.["org.opencontainers.image.ref.name"] === ref
    ) ?? index.manifests[0];
  const manifest = JSON.parse(await Deno.readTextFile(blob(descriptor.digest)));
  const config = JSON.parse(await Deno.readTextFile(blob(manifest.config.digest)));
  return manifest.layers.map((layer: { digest: string }, i: number) => ({
    name: layer.digest,
    diffId: config.rootfs.diff_ids[i],
    open: () => readFileChunks(blob(layer.digest)),
  }));
}
