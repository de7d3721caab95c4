/**
 * An index of the regular files in a tar archive (ustar, GNU long names, pax `path`), so that
 * OCI and Docker archives can be read in place: each member is a byte range of the archive,
 * never extracted to disk.
 *
 * @module
 */
import { SingletError } from "../errors.ts";

/** Where one member's bytes are. */
export interface TarMember {
  /** Offset of the data in the archive. */
  offset: number;
  /** Size in bytes. */
  size: number;
}

function field(header: Uint8Array, at: number, len: number): string {
  const slice = header.subarray(at, at + len);
  const nul = slice.indexOf(0);
  return new TextDecoder().decode(nul >= 0 ? slice.subarray(0, nul) : slice);
}

function octal(header: Uint8Array, at: number, len: number, what: string): number {
  if (header[at]! & 0x80) {
    // GNU base-256 for large sizes.
    let value = 0;
    for (let i = at + 1; i < at + len; i++) value = value * 256 + header[i]!;
    return value;
  }
  const text = field(header, at, len).trim();
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) throw malformed(what, `bad number "${text}"`);
  return parseInt(text, 8);
}

function malformed(what: string, why: string): SingletError {
  return new SingletError(`Cannot read archive "${what}": ${why}`, {
    hint: "the file is not a valid tar archive (or is truncated)",
    exitCode: 5,
  });
}

function normalise(name: string): string {
  return name.replace(/^(\.\/)+/, "").replace(/^\/+/, "").replace(/\/+$/, "");
}

async function readAt(file: Deno.FsFile, offset: number, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  await file.seek(offset, Deno.SeekMode.Start);
  let got = 0;
  while (got < length) {
    const n = await file.read(out.subarray(got));
    if (n === null) break;
    got += n;
  }
  return out.subarray(0, got);
}

/**
 * Index the regular files of a tar archive.
 *
 * @param path The archive (uncompressed).
 * @returns Member name (normalised, no leading "./") to byte range.
 */
export async function indexTar(path: string): Promise<Map<string, TarMember>> {
  const members = new Map<string, TarMember>();
  using file = await Deno.open(path, { read: true });
  const total = (await file.stat()).size;
  let offset = 0;
  let longName: string | undefined;
  let paxPath: string | undefined;
  while (offset + 512 <= total) {
    const header = await readAt(file, offset, 512);
    if (header.length < 512) throw malformed(path, "truncated header");
    if (header.every((b) => b === 0)) break;
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : header[i]!;
    if (octal(header, 148, 8, path) !== sum) throw malformed(path, "header checksum mismatch");
    const size = octal(header, 124, 12, path);
    const type = String.fromCharCode(header[156]!);
    const dataOffset = offset + 512;
    if (dataOffset + size > total) throw malformed(path, "truncated member");
    let name = field(header, 0, 100);
    const prefix = field(header, 345, 155);
    if (field(header, 257, 5) === "ustar" && prefix) name = `${prefix}/${name}`;
    if (type === "L") {
      longName = field(await readAt(file, dataOffset, size), 0, size);
    } else if (type === "x") {
      const text = new TextDecoder().decode(await readAt(file, dataOffset, size));
      for (const m of text.matchAll(/(\d+) path=([^\n]*)\n/g)) paxPath = m[2];
    } else {
      const full = normalise(paxPath ?? longName ?? name);
      if (type === "0" || type === "\0" || type === "7") {
        members.set(full, { offset: dataOffset, size });
      }
      longName = undefined;
      paxPath = undefined;
    }
    offset = dataOffset + Math.ceil(size / 512) * 512;
  }
  return members;
}
