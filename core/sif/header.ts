/**
 * The 128-byte SIF global header: decode, encode, and the bytes a signature covers.
 *
 * @module
 */
import { formatUuid, readInt64, trimNul, writeInt64 } from "./_binary.ts";
import {
  ARCH_SIZE,
  archName,
  H,
  HEADER_SIZE,
  ID_SIZE,
  LAUNCH_SCRIPT_SIZE,
  MAGIC_SIZE,
  VERSION_SIZE,
} from "./_layout.ts";

/** The global header, field for field (sylabs/sif `header`). */
export interface SifHeader {
  /** 32 bytes, NUL-padded: `#!/usr/bin/env run-singularity\n` for native images. */
  launchScript: Uint8Array;
  /** 10 bytes: `SIF_MAGIC\0`. */
  magic: Uint8Array;
  /** 3 bytes: `01\0`. */
  version: Uint8Array;
  /** 3 bytes: the primary partition's architecture code, `00\0` when none. */
  arch: Uint8Array;
  /** 16 bytes: the image UUID (all zero in deterministic images). */
  id: Uint8Array;
  /** Creation time, Unix seconds. */
  createdAt: number;
  /** Last modification time, Unix seconds. */
  modifiedAt: number;
  /** Number of unused descriptor slots. */
  descriptorsFree: number;
  /** Number of descriptor slots. */
  descriptorsTotal: number;
  /** File offset of the descriptor table. */
  descriptorsOffset: number;
  /** Size of the descriptor table in bytes (total × 585). */
  descriptorsSize: number;
  /** File offset of the data section. */
  dataOffset: number;
  /** Size of the data section in bytes, alignment padding included. */
  dataSize: number;
}

/**
 * Decode a global header. Only the encoding is checked here (integers that fit a number);
 * {@linkcode openSif} checks magic, version and every offset against the file.
 *
 * @param bytes At least 128 bytes.
 * @returns The decoded header (byte fields are copies).
 * @throws {RangeError} When fewer than 128 bytes are given or an integer is out of range.
 */
export function decodeHeader(bytes: Uint8Array): SifHeader {
  if (bytes.length < HEADER_SIZE) {
    throw new RangeError(`header needs ${HEADER_SIZE} bytes, got ${bytes.length}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, HEADER_SIZE);
  const slice = (at: number, n: number) => bytes.slice(at, at + n);
  return {
    launchScript: slice(H.launchScript, LAUNCH_SCRIPT_SIZE),
    magic: slice(H.magic, MAGIC_SIZE),
    version: slice(H.version, VERSION_SIZE),
    arch: slice(H.arch, ARCH_SIZE),
    id: slice(H.id, ID_SIZE),
    createdAt: readInt64(view, H.createdAt, "creation time"),
    modifiedAt: readInt64(view, H.modifiedAt, "modification time"),
    descriptorsFree: readInt64(view, H.descriptorsFree, "free descriptor count"),
    descriptorsTotal: readInt64(view, H.descriptorsTotal, "descriptor count"),
    descriptorsOffset: readInt64(view, H.descriptorsOffset, "descriptor table offset"),
    descriptorsSize: readInt64(view, H.descriptorsSize, "descriptor table size"),
    dataOffset: readInt64(view, H.dataOffset, "data offset"),
    dataSize: readInt64(view, H.dataSize, "data size"),
  };
}

/**
 * Encode a global header.
 *
 * @param header The header.
 * @returns 128 bytes.
 */
export function encodeHeader(header: SifHeader): Uint8Array {
  const out = new Uint8Array(HEADER_SIZE);
  const view = new DataView(out.buffer);
  out.set(header.launchScript.subarray(0, LAUNCH_SCRIPT_SIZE), H.launchScript);
  out.set(header.magic.subarray(0, MAGIC_SIZE), H.magic);
  out.set(header.version.subarray(0, VERSION_SIZE), H.version);
  out.set(header.arch.subarray(0, ARCH_SIZE), H.arch);
  out.set(header.id.subarray(0, ID_SIZE), H.id);
  writeInt64(view, H.createdAt, header.createdAt);
  writeInt64(view, H.modifiedAt, header.modifiedAt);
  writeInt64(view, H.descriptorsFree, header.descriptorsFree);
  writeInt64(view, H.descriptorsTotal, header.descriptorsTotal);
  writeInt64(view, H.descriptorsOffset, header.descriptorsOffset);
  writeInt64(view, H.descriptorsSize, header.descriptorsSize);
  writeInt64(view, H.dataOffset, header.dataOffset);
  writeInt64(view, H.dataSize, header.dataSize);
  return out;
}

/**
 * The header's launch script as text, trailing NULs removed.
 *
 * @param header The header.
 * @returns The launch script ("" when none).
 */
export function launchScriptOf(header: SifHeader): string {
  return new TextDecoder().decode(trimNul(header.launchScript));
}

/**
 * The header's specification version as text (`"01"`).
 *
 * @param header The header.
 * @returns The version.
 */
export function versionOf(header: SifHeader): string {
  return new TextDecoder().decode(trimNul(header.version));
}

/**
 * The primary architecture as Go names it (`"amd64"`), or `"unknown"`.
 *
 * @param header The header.
 * @returns The architecture name.
 */
export function primaryArchOf(header: SifHeader): string {
  return archName(header.arch);
}

/**
 * The image ID as a UUID string.
 *
 * @param header The header.
 * @returns The UUID, e.g. `00000000-0000-0000-0000-000000000000` for deterministic images.
 */
export function idOf(header: SifHeader): string {
  return formatUuid(header.id);
}

/**
 * The header bytes a SIF signature covers: launch script, magic, version and ID, in that
 * order (sylabs/sif `header.GetIntegrityReader`); times and counters are excluded.
 *
 * @param header The header.
 * @returns 61 bytes.
 */
export function headerIntegrityBytes(header: SifHeader): Uint8Array {
  const out = new Uint8Array(LAUNCH_SCRIPT_SIZE + MAGIC_SIZE + VERSION_SIZE + ID_SIZE);
  out.set(header.launchScript.subarray(0, LAUNCH_SCRIPT_SIZE), 0);
  out.set(header.magic.subarray(0, MAGIC_SIZE), LAUNCH_SCRIPT_SIZE);
  out.set(header.version.subarray(0, VERSION_SIZE), LAUNCH_SCRIPT_SIZE + MAGIC_SIZE);
  out.set(header.id.subarray(0, ID_SIZE), LAUNCH_SCRIPT_SIZE + MAGIC_SIZE + VERSION_SIZE);
  return out;
}
