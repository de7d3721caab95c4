/**
 * A streaming tar reader for OCI layers: ustar, v7, GNU (long names and links 'L'/'K',
 * sparse files in the old 'S' form and pax forms 0.0, 0.1 and 1.0) and pax (per-file 'x'
 * and global 'g' headers, including SCHILY.xattr.* and LIBARCHIVE.xattr.* attributes).
 *
 * Names are bytes: paths and link targets are never decoded. File data is handed out as
 * views of the incoming chunks (no per-byte JavaScript work), and sparse members are
 * expanded, holes becoming zeros. Metadata held in memory is capped (long names, pax
 * headers, sparse maps), so a hostile archive cannot make the reader buffer without bound.
 *
 * @example Usage
 * ```ts
 * import { readTar } from "./reader.ts";
 * const file = await Deno.open("layer.tar");
 * for await (const entry of readTar(file.readable)) {
 *   console.log(entry.kind, entry.size);
 *   // entry.data is skipped automatically when not consumed
 * }
 * ```
 *
 * @module
 */
import { ChunkReader } from "./chunk_reader.ts";
import {
  BLOCK,
  checksumOk,
  dialectOf,
  displayName,
  isZeroBlock,
  parseBytes,
  parseNumber,
} from "./header.ts";
import type { PaxRecord } from "./pax.ts";
import { decodeBase64, decodeLibarchiveName, parsePax, paxNumber } from "./pax.ts";
import type { SparseSegment } from "./sparse.ts";
import {
  checkSparseMap,
  expandSparse,
  padded,
  parseOldGnuPairs,
  parsePaxSparseMap,
  SparseMapText,
} from "./sparse.ts";

export type { SparseSegment } from "./sparse.ts";

/** What a tar entry describes. */
export type TarEntryKind =
  | "file"
  | "directory"
  | "symlink"
  | "hardlink"
  | "chardev"
  | "blockdev"
  | "fifo";

/** One member of a tar archive. */
export interface TarEntry {
  /** Position of the entry among the archive's entries (0-based, metadata headers excluded). */
  index: number;
  /** What the entry is. */
  kind: TarEntryKind;
  /** The path exactly as stored (bytes; may start with "./" or "/", may end with "/"). */
  path: Uint8Array;
  /** Symlink target or hard-link target path (bytes); empty for other kinds. */
  linkTarget: Uint8Array;
  /** Permission bits (low 12 bits of the mode field). */
  mode: number;
  /** Owner user ID. */
  uid: number;
  /** Owner group ID. */
  gid: number;
  /** Modification time in whole seconds since the epoch. */
  mtime: number;
  /** Length of `data` in bytes (the expanded size for sparse files; 0 for non-files). */
  size: number;
  /** Device major number (devices only). */
  devmajor: number;
  /** Device minor number (devices only). */
  devminor: number;
  /** Extended attributes from pax headers: name to raw value. */
  xattrs: Map<string, Uint8Array>;
  /** Data regions of a sparse file (holes between them read as zeros); undefined otherwise. */
  sparse: SparseSegment[] | undefined;
  /**
   * Where a regular file's data starts in the (uncompressed) archive stream, when it is
   * stored there contiguously (not sparse); undefined otherwise. For a plain tar on disk,
   * the file's bytes can be read from the archive at this offset instead of from `data`.
   */
  dataOffset: number | undefined;
  /**
   * The file's data. Iterate it at most once, before asking for the next entry; what is
   * not consumed is skipped when the reader moves on. Chunks must not be modified.
   */
  data: AsyncIterable<Uint8Array>;
}

/** Limits for {@linkcode readTar}. */
export interface ReadTarOptions {
  /** Largest GNU long name/link or pax header accepted, in bytes (default 1 MiB). */
  maxMetadataBytes?: number;
  /** Largest number of regions in one sparse map (default 1,048,576). */
  maxSparseSegments?: number;
  /** Largest expanded size of a sparse file, in bytes (default 1 TiB). */
  maxSparseSize?: number;
}

const TYPE = {
  file: 0x30,
  nul: 0,
  hardlink: 0x31,
  symlink: 0x32,
  chardev: 0x33,
  blockdev: 0x34,
  directory: 0x35,
  fifo: 0x36,
  contiguous: 0x37,
  gnuDumpdir: 0x44, // 'D'
  gnuLongLink: 0x4b, // 'K'
  gnuLongName: 0x4c, // 'L'
  gnuMultivolume: 0x4d, // 'M'
  gnuSparse: 0x53, // 'S'
  gnuVolume: 0x56, // 'V'
  solarisPax: 0x58, // 'X'
  paxGlobal: 0x67, // 'g'
  paxLocal: 0x78, // 'x'
} as const;

const utf8 = new TextDecoder();
const EMPTY = new Uint8Array(0);
/** Shared by entries without pax records (never written to). */
const NO_PAX: ReadonlyMap<string, Uint8Array> = new Map();

/**
 * Read a tar archive entry by entry.
 *
 * @param source The uncompressed archive bytes.
 * @param options Metadata limits.
 * @returns The entries in archive order.
 * @throws {SyntaxError} On a bad checksum, malformed field, truncated archive or a limit
 *   exceeded; the message names the entry (or the one before it) and the byte offset.
 */
export async function* readTar(
  source: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
  options: ReadTarOptions = {},
): AsyncGenerator<TarEntry, void, undefined> {
  const maxMeta = options.maxMetadataBytes ?? 1 << 20;
  const maxSegments = options.maxSparseSegments ?? 1 << 20;
  const maxSparseSize = options.maxSparseSize ?? 2 ** 40;
  const reader = new ChunkReader(source);
  const globalPax = new Map<string, Uint8Array>();
  let longName: Uint8Array | undefined;
  let longLink: Uint8Array | undefined;
  let localPax: PaxRecord[] | undefined;
  let index = 0;
  // Where we are, for messages: built only when a message needs it (names are bytes and
  // rendering them costs a per-byte loop, which the hot path should not pay).
  let current: { path: Uint8Array; index: number; offset: number } | undefined;
  const describe = (at: typeof current) =>
    at
      ? `"${displayName(at.path)}" (#${at.index}, header at byte ${at.offset})`
      : "at the start of the archive";
  const where = () => describe(current);
  let generation = 0;

  const fail = (what: string, cause?: unknown): never => {
    const error = new SyntaxError(`Cannot read tar entry ${where()}: ${what}`, { cause });
    throw error;
  };

  const readMetadata = async (size: number, what: string): Promise<Uint8Array> => {
    if (size > maxMeta) fail(`${what} of ${size} bytes exceeds the ${maxMeta}-byte limit`);
    const data = await reader.readExact(padded(size));
    if (!data) return fail(`archive ends inside the ${what}`);
    return data.slice(0, size);
  };

  try {
    for (;;) {
      const headerOffset = reader.offset;
      let block: Uint8Array | null;
      try {
        block = await reader.readExact(BLOCK);
      } catch (error) {
        return fail(`archive is truncated inside a header at byte ${headerOffset}`, error);
      }
      // A stream ending on a block boundary without the end marker is accepted, as GNU tar does.
      if (!block) return;
      if (isZeroBlock(block)) {
        // Consume the record padding after the end marker, so a producer writing into a
        // pipe is not killed by SIGPIPE and digests over the whole stream stay complete.
        await reader.drain();
        return;
      }
      if (!checksumOk(block)) {
        fail(
          `header at byte ${headerOffset} has a bad checksum` +
            (index === 0 && headerOffset === 0 ? " (not a tar archive?)" : ""),
        );
      }
      const type = block[156]!;
      const dialect = dialectOf(block);
      let storedSize: number;
      try {
        storedSize = parseNumber(block, 124, 12, "size");
        if (storedSize < 0) fail("size field is negative");
      } catch (error) {
        return fail(`header at byte ${headerOffset}: ${(error as Error).message}`, error);
      }

      // Metadata headers: they describe the next real entry.
      if (type === TYPE.gnuLongName || type === TYPE.gnuLongLink) {
        const data = await readMetadata(storedSize, "GNU long name");
        const nul = data.indexOf(0);
        const value = nul < 0 ? data : data.slice(0, nul);
        if (type === TYPE.gnuLongName) longName = value;
        else longLink = value;
        continue;
      }
      if (type === TYPE.paxLocal || type === TYPE.solarisPax || type === TYPE.paxGlobal) {
        const data = await readMetadata(storedSize, "pax header");
        let records: PaxRecord[];
        try {
          records = parsePax(data);
        } catch (error) {
          return fail((error as Error).message, error);
        }
        if (type === TYPE.paxGlobal) {
          for (const { key, value } of records) {
            if (value.length) globalPax.set(key, value);
            else globalPax.delete(key);
          }
        } else {
          localPax = (localPax ?? []).concat(records);
        }
        continue;
      }
      if (type === TYPE.gnuVolume) {
        await reader.skip(padded(storedSize));
        continue;
      }
      if (type === TYPE.gnuMultivolume) fail("multi-volume archives are not supported");

      // Merge pax overrides: global first, then this entry's records (last one wins).
      let pax: ReadonlyMap<string, Uint8Array> = NO_PAX;
      if (globalPax.size || localPax) {
        const merged = new Map(globalPax);
        for (const { key, value } of localPax ?? []) {
          if (value.length) merged.set(key, value);
          else merged.delete(key);
        }
        pax = merged;
      }

      let path: Uint8Array = pax.get("GNU.sparse.name") ?? pax.get("path") ?? longName ??
        ustarName(block, dialect);
      current = { path, index, offset: headerOffset };

      let kind: TarEntryKind;
      switch (type) {
        case TYPE.file:
        case TYPE.nul:
        case TYPE.contiguous:
        case TYPE.gnuSparse:
          // Old archives mark directories with a trailing slash on a regular-file header.
          kind = path.length && path[path.length - 1] === 0x2f && type !== TYPE.gnuSparse
            ? "directory"
            : "file";
          break;
        case TYPE.hardlink:
          kind = "hardlink";
          break;
        case TYPE.symlink:
          kind = "symlink";
          break;
        case TYPE.chardev:
          kind = "chardev";
          break;
        case TYPE.blockdev:
          kind = "blockdev";
          break;
        case TYPE.directory:
        case TYPE.gnuDumpdir:
          kind = "directory";
          break;
        case TYPE.fifo:
          kind = "fifo";
          break;
        default:
          return fail(`unsupported entry type ${JSON.stringify(String.fromCharCode(type))}`);
      }

      // Only links have a target: the field is not parsed for other kinds.
      const linkTarget = kind === "symlink" || kind === "hardlink"
        ? pax.get("linkpath") ?? longLink ?? parseBytes(block, 157, 100)
        : EMPTY;
      let mode: number, uid: number, gid: number, mtime: number;
      let devmajor = 0;
      let devminor = 0;
      let sparse: SparseSegment[] | undefined;
      let realSize = storedSize;
      let oldGnuExtended = false;
      const xattrs = new Map<string, Uint8Array>();
      try {
        mode = parseNumber(block, 100, 8, "mode") & 0o7777;
        uid = pax.has("uid")
          ? paxNumber(pax.get("uid")!, "uid")
          : parseNumber(block, 108, 8, "uid");
        gid = pax.has("gid")
          ? paxNumber(pax.get("gid")!, "gid")
          : parseNumber(block, 116, 8, "gid");
        mtime = pax.has("mtime")
          ? paxNumber(pax.get("mtime")!, "mtime", true)
          : parseNumber(block, 136, 12, "mtime");
        if (pax.has("size")) storedSize = paxNumber(pax.get("size")!, "size");
        if (kind === "chardev" || kind === "blockdev") {
          devmajor = dialect === "v7" ? 0 : parseNumber(block, 329, 8, "devmajor");
          devminor = dialect === "v7" ? 0 : parseNumber(block, 337, 8, "devminor");
        }
        for (const [key, value] of pax) {
          if (key.startsWith("SCHILY.xattr.")) xattrs.set(key.slice(13), value);
          else if (key.startsWith("LIBARCHIVE.xattr.")) {
            xattrs.set(decodeLibarchiveName(key.slice(17)), decodeBase64(value));
          }
        }
        if (type === TYPE.gnuSparse) {
          sparse = [];
          const more = parseOldGnuPairs(block, 386, 4, sparse);
          oldGnuExtended = more && block[482] !== 0;
          realSize = parseNumber(block, 483, 12, "sparse realsize");
        } else if (kind === "file" && localPax) {
          const major = pax.get("GNU.sparse.major");
          if (major) {
            if (utf8.decode(major) !== "1") fail("unsupported GNU sparse format version");
            sparse = []; // the map is read from the data area below
            realSize = paxNumber(
              pax.get("GNU.sparse.realsize") ?? new Uint8Array(),
              "GNU.sparse.realsize",
            );
          } else {
            sparse = parsePaxSparseMap(localPax, maxSegments);
            if (sparse) {
              const sizeValue = pax.get("GNU.sparse.size") ?? pax.get("GNU.sparse.realsize");
              if (!sizeValue) fail("sparse file has no GNU.sparse.size");
              realSize = paxNumber(sizeValue!, "GNU.sparse.size");
            }
          }
        }
      } catch (error) {
        if (error instanceof SyntaxError && error.message.startsWith("Cannot read tar")) {
          throw error;
        }
        return fail((error as Error).message, error);
      }
      longName = undefined;
      longLink = undefined;
      const hadPax = localPax;
      localPax = undefined;

      // Old GNU extension blocks come before the data; they are not part of the size.
      while (oldGnuExtended) {
        const ext = await reader.readExact(BLOCK);
        if (!ext) return fail("archive ends inside a sparse header");
        if (sparse!.length + 21 > maxSegments) fail("sparse map is too long");
        try {
          oldGnuExtended = parseOldGnuPairs(ext, 0, 21, sparse!) && ext[504] !== 0;
        } catch (error) {
          return fail((error as Error).message, error);
        }
      }

      // Pax 1.0 sparse: the map sits in the data area, in whole blocks.
      let dataLeft = storedSize;
      if (sparse && hadPax && pax.has("GNU.sparse.major")) {
        const map = new SparseMapText(maxSegments);
        let done = false;
        while (!done) {
          if (dataLeft < BLOCK) fail("sparse map runs past the member's data");
          const b = await reader.readExact(BLOCK);
          if (!b) return fail("archive ends inside a sparse map");
          dataLeft -= BLOCK;
          try {
            done = map.push(b);
          } catch (error) {
            return fail((error as Error).message, error);
          }
        }
        sparse = map.segments();
      }
      const padding = padded(storedSize) - storedSize;

      if (sparse) {
        if (realSize > maxSparseSize) {
          fail(`sparse file of ${realSize} bytes exceeds the ${maxSparseSize}-byte limit`);
        }
        try {
          checkSparseMap(sparse, realSize, dataLeft);
        } catch (error) {
          return fail((error as Error).message, error);
        }
      }
      // Only regular files carry data for the consumer; other kinds' data is skipped.
      const isFile = kind === "file";
      const size = isFile ? (sparse ? realSize : dataLeft) : 0;
      if (kind === "directory" && path.length > 1 && path[path.length - 1] === 0x2f) {
        path = path.subarray(0, path.length - 1);
      }

      const myGeneration = ++generation;
      const here = current;
      const state = { left: dataLeft, started: false };
      const read = async (max: number): Promise<Uint8Array> => {
        if (generation !== myGeneration) {
          throw new TypeError(
            `tar entry data read after the reader moved past it (${describe(here)})`,
          );
        }
        let chunk: Uint8Array;
        try {
          chunk = await reader.next(Math.min(max, state.left));
        } catch (error) {
          return fail(`archive is truncated inside the data (${state.left} bytes missing)`, error);
        }
        state.left -= chunk.length;
        return chunk;
      };
      const data: AsyncIterable<Uint8Array> = {
        [Symbol.asyncIterator]() {
          if (state.started) throw new TypeError("tar entry data can be read only once");
          if (generation !== myGeneration) {
            throw new TypeError(
              `tar entry data read after the reader moved past it (${describe(here)})`,
            );
          }
          state.started = true;
          if (!isFile) return empty();
          if (sparse) return expandSparse(sparse, realSize, read);
          return plain(state, read);
        },
      };
      yield {
        index,
        kind,
        path,
        linkTarget,
        mode,
        uid,
        gid,
        mtime,
        size,
        devmajor,
        devminor,
        xattrs,
        sparse,
        dataOffset: isFile && !sparse ? reader.offset : undefined,
        data,
      };
      generation++;
      index++;
      try {
        await reader.skip(state.left + padding);
      } catch (error) {
        return fail(`archive is truncated inside the data`, error);
      }
      state.left = 0;
    }
  } finally {
    await reader.cancel();
  }
}

async function* plain(
  state: { left: number },
  read: (max: number) => Promise<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  while (state.left > 0) yield await read(state.left);
}

// deno-lint-ignore require-yield
async function* empty(): AsyncGenerator<Uint8Array> {
  return;
}

/** The name of a header: ustar joins prefix and name; GNU and v7 use the name alone. */
function ustarName(block: Uint8Array, dialect: string): Uint8Array {
  const name = parseBytes(block, 0, 100);
  if (dialect !== "ustar" || block[345] === 0) return name;
  const prefix = parseBytes(block, 345, 155);
  const out = new Uint8Array(prefix.length + 1 + name.length);
  out.set(prefix);
  out[prefix.length] = 0x2f;
  out.set(name, prefix.length + 1);
  return out;
}
