/**
 * The text `siftool header`, `list` and `info` print, reproduced byte for byte (sylabs/sif
 * `internal/app/siftool/info.go`), and the JSON shapes of the same facts for `--json`.
 *
 * @module
 */
import { tabwrite } from "./_tabwriter.ts";
import type { Descriptor } from "./descriptor.ts";
import { idOf, launchScriptOf, primaryArchOf, type SifHeader, versionOf } from "./header.ts";
import {
  FORMAT_TYPE_NAMES,
  FS_TYPE_NAMES,
  GO_ZERO_TIME,
  HASH_TYPE_NAMES,
  MESSAGE_TYPE_NAMES,
  PART_TYPE_NAMES,
  SBOM_FORMAT_NAMES,
} from "./_layout.ts";
import type { SifImage } from "./load.ts";

const ZERO_UUID = "00000000-0000-0000-0000-000000000000";

/**
 * A size as siftool prints it: bytes below 1 KiB, else rounded to the nearest whole unit
 * ("27 KiB").
 *
 * @param size Bytes.
 * @returns The readable size.
 */
export function readableSize(size: number): string {
  if (-1024 < size && size < 1024) return `${size} B`;
  const units = "KMGTPE";
  let div = 1024;
  let exp = 0;
  for (let n = Math.trunc(size / 1024); n <= -1024 || n >= 1024; n = Math.trunc(n / 1024)) {
    div *= 1024;
    exp++;
  }
  const value = size / div;
  // Go's math.Round rounds half away from zero.
  const rounded = Math.sign(value) * Math.round(Math.abs(value));
  return `${rounded} ${units[exp]}iB`;
}

/**
 * A Unix time as Go's `time.Time.UTC().String()` prints it: `2026-11-23 12:11:03 +0000 UTC`.
 *
 * @param seconds Unix seconds.
 * @returns The text.
 */
export function goTime(seconds: number): string {
  const date = new Date(seconds * 1000);
  if (Number.isNaN(date.getTime())) return `${seconds}`;
  const year = date.getUTCFullYear();
  const yearText = year < 0 ? `-${String(-year).padStart(4, "0")}` : String(year).padStart(4, "0");
  const two = (n: number) => String(n).padStart(2, "0");
  return `${yearText}-${two(date.getUTCMonth() + 1)}-${two(date.getUTCDate())} ` +
    `${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())} ` +
    `+0000 UTC`;
}

/**
 * `siftool header` output.
 *
 * @param header The global header.
 * @returns The text, newline-terminated.
 */
export function formatHeader(header: SifHeader): string {
  let text = "";
  const launch = launchScriptOf(header);
  if (launch !== "") text += `Launch Script:\t${launch.replace(/\n$/, "")}\n`;
  text += `Version:\t${versionOf(header)}\n`;
  const arch = primaryArchOf(header);
  if (arch !== "unknown") text += `Primary Architecture:\t${arch}\n`;
  const id = idOf(header);
  if (id !== ZERO_UUID) text += `ID:\t${id}\n`;
  if (header.createdAt !== GO_ZERO_TIME) text += `Created At:\t${goTime(header.createdAt)}\n`;
  if (header.modifiedAt !== GO_ZERO_TIME) text += `Modified At:\t${goTime(header.modifiedAt)}\n`;
  text += `Descriptors Free:\t${header.descriptorsFree}\n`;
  text += `Descriptors Total:\t${header.descriptorsTotal}\n`;
  text += `Descriptors Offset:\t${header.descriptorsOffset}\n`;
  text += `Descriptors Size:\t${readableSize(header.descriptorsSize)}\n`;
  text += `Data Offset:\t${header.dataOffset}\n`;
  text += `Data Size:\t${readableSize(header.dataSize)}\n`;
  return tabwrite(text, 1);
}

const RULE = "------------------------------------------------------------------------------\n";

function padRight(text: string, width: number): string {
  const n = text.length; // digits and ASCII only
  return n >= width ? text : text + " ".repeat(width - n);
}

/**
 * The TYPE column of `siftool list` for one object, or undefined where siftool prints
 * nothing (a signature with an unknown hash type).
 *
 * @param d The object.
 * @returns The type text.
 */
export function typeColumn(d: Descriptor): string | undefined {
  const extra = d.extra;
  switch (extra.kind) {
    case "partition":
      return `${d.typeName} (${FS_TYPE_NAMES[extra.fsType] ?? "Unknown"}/` +
        `${PART_TYPE_NAMES[extra.partType] ?? "Unknown"}/${extra.arch})`;
    case "signature": {
      const hash = HASH_TYPE_NAMES[extra.hashType];
      return hash === undefined ? undefined : `${d.typeName} (${hash})`;
    }
    case "cryptoMessage":
      return `${d.typeName} (${FORMAT_TYPE_NAMES[extra.formatType] ?? "Unknown"}/` +
        `${MESSAGE_TYPE_NAMES[extra.messageType] ?? "Unknown"})`;
    case "sbom":
      return `${d.typeName} (${SBOM_FORMAT_NAMES[extra.format] ?? "unknown"})`;
    default:
      return d.typeName;
  }
}

/**
 * `siftool list` output.
 *
 * @param descriptors The used descriptors, in table order.
 * @returns The table text.
 */
export function formatList(descriptors: readonly Descriptor[]): string {
  let text = RULE + "ID   |GROUP   |LINK    |SIF POSITION (start-end)  |TYPE\n" + RULE;
  for (const d of descriptors) {
    text += padRight(`${d.id}`, 4) + " ";
    text += d.groupId === 0 ? "|NONE    " : `|${padRight(`${d.groupId}`, 7)} `;
    if (d.linkedId === 0) text += "|NONE    ";
    else if (d.linkedToGroup) text += `|${padRight(`${d.linkedId}`, 3)} (G) `;
    else text += `|${padRight(`${d.linkedId}`, 7)} `;
    text += padRight(`|${d.offset}-${d.offset + d.size} `, 26) + " ";
    const type = typeColumn(d);
    if (type !== undefined) text += `|${type}\n`;
  }
  return text;
}

/**
 * `siftool info <id>` output.
 *
 * @param d The object.
 * @returns The text.
 * @throws {RangeError} For a signature with an unknown hash type (siftool fails too).
 */
export function formatInfo(d: Descriptor): string {
  let text = `\tData Type:\t${d.typeName}\n\tID:\t${d.id}\n`;
  text += `\tGroup ID:\t${d.groupId === 0 ? "NONE" : d.groupId}\n`;
  text += `\tLinked ID:\t${
    d.linkedId === 0 ? "NONE" : d.linkedToGroup ? `${d.linkedId} (G)` : d.linkedId
  }\n`;
  text += `\tOffset:\t${d.offset}\n\tSize:\t${d.size}\n`;
  if (d.createdAt !== GO_ZERO_TIME) text += `\tCreated At:\t${goTime(d.createdAt)}\n`;
  if (d.modifiedAt !== GO_ZERO_TIME) text += `\tModified At:\t${goTime(d.modifiedAt)}\n`;
  if (d.name !== "") text += `\tName:\t${d.name}\n`;
  const extra = d.extra;
  switch (extra.kind) {
    case "partition":
      text += `\tFilesystem Type:\t${FS_TYPE_NAMES[extra.fsType] ?? "Unknown"}\n`;
      text += `\tPartition Type:\t${PART_TYPE_NAMES[extra.partType] ?? "Unknown"}\n`;
      text += `\tArchitecture:\t${extra.arch}\n`;
      break;
    case "signature": {
      const hash = HASH_TYPE_NAMES[extra.hashType];
      if (hash === undefined) {
        throw new RangeError(`object ${d.id}: hash algorithm ${extra.hashType} unsupported`);
      }
      text += `\tHash Type:\t${hash}\n`;
      if (extra.fingerprint) text += `\tEntity:\t${extra.fingerprint}\n`;
      break;
    }
    case "cryptoMessage":
      text += `\tFormat Type:\t${FORMAT_TYPE_NAMES[extra.formatType] ?? "Unknown"}\n`;
      text += `\tMessage Type:\t${MESSAGE_TYPE_NAMES[extra.messageType] ?? "Unknown"}\n`;
      break;
    case "sbom":
      text += `\tFormat:\t${SBOM_FORMAT_NAMES[extra.format] ?? "unknown"}\n`;
      break;
    case "ociDigest":
      text += `\tDigest:\t${extra.digest}\n`;
      break;
  }
  return tabwrite(text, 2);
}

/** Unix seconds as ISO 8601, or null for Go's zero time (deterministic images). */
function isoTime(seconds: number): string | null {
  if (seconds === GO_ZERO_TIME) return null;
  const date = new Date(seconds * 1000);
  return Number.isNaN(date.getTime()) ? null : date.toISOString().replace(".000Z", "Z");
}

/** The header as `--json` prints it. */
export interface HeaderJson {
  /** Launch script ("" when none). */
  launchScript: string;
  /** Spec version ("01"). */
  version: string;
  /** Primary architecture ("amd64"), or "unknown". */
  primaryArch: string;
  /** Image UUID. */
  id: string;
  /** Creation time (ISO 8601), null when deterministic. */
  createdAt: string | null;
  /** Creation time, Unix seconds. */
  createdAtUnix: number;
  /** Modification time (ISO 8601), null when deterministic. */
  modifiedAt: string | null;
  /** Modification time, Unix seconds. */
  modifiedAtUnix: number;
  /** Unused descriptor slots. */
  descriptorsFree: number;
  /** Descriptor slots. */
  descriptorsTotal: number;
  /** Offset of the descriptor table. */
  descriptorsOffset: number;
  /** Size of the descriptor table. */
  descriptorsSize: number;
  /** Offset of the data section. */
  dataOffset: number;
  /** Size of the data section. */
  dataSize: number;
}

/**
 * The header as a JSON-ready object.
 *
 * @param header The header.
 * @returns Plain data.
 */
export function headerToJson(header: SifHeader): HeaderJson {
  return {
    launchScript: launchScriptOf(header),
    version: versionOf(header),
    primaryArch: primaryArchOf(header),
    id: idOf(header),
    createdAt: isoTime(header.createdAt),
    createdAtUnix: header.createdAt,
    modifiedAt: isoTime(header.modifiedAt),
    modifiedAtUnix: header.modifiedAt,
    descriptorsFree: header.descriptorsFree,
    descriptorsTotal: header.descriptorsTotal,
    descriptorsOffset: header.descriptorsOffset,
    descriptorsSize: header.descriptorsSize,
    dataOffset: header.dataOffset,
    dataSize: header.dataSize,
  };
}

/**
 * One object as a JSON-ready object: the fields `list` and `info` show, plus the decoded
 * type-specific metadata.
 *
 * @param d The object.
 * @returns Plain data.
 */
export function descriptorToJson(d: Descriptor): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: d.id,
    dataType: d.dataType,
    type: d.typeName,
    groupId: d.groupId === 0 ? null : d.groupId,
    linkedId: d.linkedId === 0 || d.linkedToGroup ? null : d.linkedId,
    linkedGroupId: d.linkedId !== 0 && d.linkedToGroup ? d.linkedId : null,
    offset: d.offset,
    size: d.size,
    sizeWithPadding: d.sizeWithPadding,
    createdAt: isoTime(d.createdAt),
    createdAtUnix: d.createdAt,
    modifiedAt: isoTime(d.modifiedAt),
    modifiedAtUnix: d.modifiedAt,
    name: d.name,
  };
  const extra = d.extra;
  switch (extra.kind) {
    case "partition":
      out.partition = {
        fsType: extra.fsType,
        fs: FS_TYPE_NAMES[extra.fsType] ?? "Unknown",
        partType: extra.partType,
        part: PART_TYPE_NAMES[extra.partType] ?? "Unknown",
        primary: extra.partType === 2,
        arch: extra.arch,
      };
      break;
    case "signature":
      out.signature = {
        hashType: extra.hashType,
        hash: HASH_TYPE_NAMES[extra.hashType] ?? "Unknown",
        entity: extra.fingerprint ?? null,
      };
      break;
    case "cryptoMessage":
      out.cryptoMessage = {
        formatType: extra.formatType,
        format: FORMAT_TYPE_NAMES[extra.formatType] ?? "Unknown",
        messageType: extra.messageType,
        message: MESSAGE_TYPE_NAMES[extra.messageType] ?? "Unknown",
      };
      break;
    case "sbom":
      out.sbom = { format: SBOM_FORMAT_NAMES[extra.format] ?? "unknown", formatType: extra.format };
      break;
    case "ociDigest":
      out.digest = extra.digest;
      break;
  }
  return out;
}

/**
 * A whole image as one JSON-ready object.
 *
 * @param image The open image.
 * @returns `{ header, objects }`.
 */
export function imageToJson(image: SifImage): { header: HeaderJson; objects: unknown[] } {
  return {
    header: headerToJson(image.header),
    objects: image.descriptors.map(descriptorToJson),
  };
}
