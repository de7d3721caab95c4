/**
 * A tiny deterministic tar writer (ustar headers, PAX extended headers where ustar cannot
 * say it) for test fixtures: every header byte is decided here, so fixture layers are the
 * same on every machine and can exercise corner cases (non-UTF-8 names, xattrs, hard links).
 *
 * @module
 */

/** One member of a tar archive. */
export interface TarEntry {
  /** Path inside the archive, without a leading "/" (bytes for non-UTF-8 names). */
  name: string | Uint8Array;
  /** Member type: "file" (0), "link" (1, hard link), "symlink" (2), "directory" (5). */
  type: "file" | "link" | "symlink" | "directory";
  /** Permission bits with setuid/setgid/sticky; default 0o644, 0o755 (dirs), 0o777 (symlinks). */
  mode?: number;
  /** Owner uid; default 0. */
  uid?: number;
  /** Owner gid; default 0. */
  gid?: number;
  /** Modification time in seconds since the epoch; default {@linkcode FIXTURE_MTIME}. */
  mtime?: number;
  /** File content (files only). */
  content?: string | Uint8Array;
  /** Target of a symlink, or the archive path a hard link points to. */
  linkname?: string | Uint8Array;
  /** Extended attributes, written as PAX `SCHILY.xattr.<name>` records. */
  xattrs?: Record<string, string | Uint8Array>;
}

/** The fixed modification time of every fixture member (2023-11-14T22:13:20Z). */
export const FIXTURE_MTIME = 1_700_000_000;

const BLOCK = 512;
const encoder = new TextEncoder();

function bytesOf(value: string | Uint8Array): Uint8Array {
  return typeof value === "string" ? encoder.encode(value) : value;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function padding(length: number): Uint8Array {
  return new Uint8Array((BLOCK - (length % BLOCK)) % BLOCK);
}

/** Write `value` as zero-padded octal of `width - 1` digits plus a NUL. */
function putOctal(header: Uint8Array, offset: number, width: number, value: number): void {
  const text = value.toString(8).padStart(width - 1, "0");
  if (text.length > width - 1) throw new RangeError(`tar field overflow: ${value}`);
  header.set(encoder.encode(text), offset);
  header[offset + width - 1] = 0;
}

function putBytes(header: Uint8Array, offset: number, width: number, value: Uint8Array): void {
  if (value.length > width) throw new RangeError(`tar field too long (${value.length} > ${width})`);
  header.set(value, offset);
}

/** One PAX record: "<length> <key>=<value>\n", the length counting itself. */
function paxRecord(key: string, value: Uint8Array): Uint8Array {
  const body = concat([encoder.encode(` ${key}=`), value, encoder.encode("\n")]);
  let length = body.length + 1;
  while (String(length).length + body.length !== length) {
    length = String(length).length + body.length;
  }
  return concat([encoder.encode(String(length)), body]);
}

interface HeaderFields {
  name: Uint8Array;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: Uint8Array;
}

function header(fields: HeaderFields): Uint8Array {
  const block = new Uint8Array(BLOCK);
  putBytes(block, 0, 100, fields.name);
  putOctal(block, 100, 8, fields.mode);
  putOctal(block, 108, 8, fields.uid);
  putOctal(block, 116, 8, fields.gid);
  putOctal(block, 124, 12, fields.size);
  putOctal(block, 136, 12, fields.mtime);
  block.fill(0x20, 148, 156); // checksum is computed with its own field as spaces
  block[156] = fields.typeflag.charCodeAt(0);
  putBytes(block, 157, 100, fields.linkname);
  block.set(encoder.encode("ustar\x0000"), 257);
  // uname/gname stay empty: numeric owners only, like `tar --numeric-owner`.
  putOctal(block, 329, 8, 0);
  putOctal(block, 337, 8, 0);
  let sum = 0;
  for (const byte of block) sum += byte;
  putOctal(block, 148, 7, sum);
  block[155] = 0x20;
  return block;
}

const DEFAULT_MODES = { file: 0o644, link: 0o644, symlink: 0o777, directory: 0o755 } as const;
const TYPEFLAGS = { file: "0", link: "1", symlink: "2", directory: "5" } as const;

/**
 * Encode one entry (a PAX header first where needed) as tar blocks.
 *
 * @param entry The member.
 * @returns Its header block(s), content and padding.
 */
export function encodeTarEntry(entry: TarEntry): Uint8Array {
  let name = bytesOf(entry.name);
  if (entry.type === "directory" && name[name.length - 1] !== 0x2f) {
    name = concat([name, encoder.encode("/")]);
  }
  const content = entry.type === "file" ? bytesOf(entry.content ?? "") : new Uint8Array();
  const linkname = bytesOf(entry.linkname ?? "");
  const records: Uint8Array[] = [];
  if (name.length > 100) records.push(paxRecord("path", name));
  if (linkname.length > 100) records.push(paxRecord("linkpath", linkname));
  for (
    const [key, value] of Object.entries(entry.xattrs ?? {}).sort(([a], [b]) => a < b ? -1 : 1)
  ) {
    records.push(paxRecord(`SCHILY.xattr.${key}`, bytesOf(value)));
  }
  const mtime = entry.mtime ?? FIXTURE_MTIME;
  const parts: Uint8Array[] = [];
  if (records.length) {
    const pax = concat(records);
    // Go's archive/tar names PAX headers this way; the name is informational only.
    const base = name.slice(0, 80).filter((byte) => byte !== 0x2f);
    parts.push(
      header({
        name: concat([encoder.encode("PaxHeaders.0/"), base]).slice(0, 100),
        mode: 0o644,
        uid: 0,
        gid: 0,
        size: pax.length,
        mtime,
        typeflag: "x",
        linkname: new Uint8Array(),
      }),
      pax,
      padding(pax.length),
    );
  }
  parts.push(
    header({
      name: name.length > 100 ? name.slice(0, 100) : name,
      mode: entry.mode ?? DEFAULT_MODES[entry.type],
      uid: entry.uid ?? 0,
      gid: entry.gid ?? 0,
      size: content.length,
      mtime,
      typeflag: TYPEFLAGS[entry.type],
      linkname: linkname.length > 100 ? linkname.slice(0, 100) : linkname,
    }),
    content,
    padding(content.length),
  );
  return concat(parts);
}

/**
 * Write a whole archive: the entries in the order given, then two zero blocks.
 *
 * @param entries Members, parents before children.
 * @returns The archive bytes (uncompressed).
 */
export function writeTar(entries: Iterable<TarEntry>): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const entry of entries) parts.push(encodeTarEntry(entry));
  parts.push(new Uint8Array(2 * BLOCK));
  return concat(parts);
}

/**
 * Compare two names bytewise (the order `tar --sort=name` gives within one directory, and
 * one that always puts a parent before its children).
 *
 * @param a First name.
 * @param b Second name.
 * @returns Negative, zero or positive.
 */
export function compareNames(a: string | Uint8Array, b: string | Uint8Array): number {
  const x = bytesOf(a);
  const y = bytesOf(b);
  const length = Math.min(x.length, y.length);
  for (let i = 0; i < length; i++) {
    if (x[i] !== y[i]) return x[i]! - y[i]!;
  }
  return x.length - y.length;
}
