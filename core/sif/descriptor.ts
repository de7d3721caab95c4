/**
 * SIF object descriptors: the raw 585-byte record ({@linkcode RawDescriptor}, exactly what is
 * on disk) and the read-only view callers use ({@linkcode Descriptor}: group and link with
 * the `0xf0000000` mask taken apart, the name as text, and the type-specific `extra` field
 * decoded per data type).
 *
 * @module
 */
import { decodeUtf8, readInt64, trimNul, writeInt64 } from "./_binary.ts";
import {
  archName,
  D,
  DATA_TYPE_NAMES,
  DataType,
  DESCRIPTOR_SIZE,
  ENTITY_SIZE,
  EXTRA_SIZE,
  GROUP_MASK,
  NAME_SIZE,
} from "./_layout.ts";

/** One descriptor as stored on disk (sylabs/sif `rawDescriptor`). */
export interface RawDescriptor {
  /** Data type code (`DataType`, 0x4001…). */
  dataType: number;
  /** Whether the slot holds an object. */
  used: boolean;
  /** Object ID (slot index + 1 in images sylabs/sif writes). */
  id: number;
  /** Group ID OR-ed with `0xf0000000`; the mask alone means no group. */
  groupId: number;
  /** Linked object ID, or a group ID OR-ed with `0xf0000000`; 0 means no link. */
  linkedId: number;
  /** Absolute file offset of the object's data. */
  offset: number;
  /** Size of the object's data. */
  size: number;
  /** Size plus the alignment padding before the object. */
  sizeWithPadding: number;
  /** Creation time, Unix seconds. */
  createdAt: number;
  /** Modification time, Unix seconds. */
  modifiedAt: number;
  /** Deprecated owner field, kept for byte-exact round trips. */
  uid: bigint;
  /** Deprecated group field, kept for byte-exact round trips. */
  gid: bigint;
  /** 128 bytes, NUL-padded. */
  name: Uint8Array;
  /** 384 bytes of type-specific metadata. */
  extra: Uint8Array;
}

/**
 * Decode one descriptor record.
 *
 * @param bytes At least 585 bytes.
 * @returns The raw descriptor (byte fields are copies).
 * @throws {RangeError} When an integer does not fit a number.
 */
export function decodeDescriptor(bytes: Uint8Array): RawDescriptor {
  if (bytes.length < DESCRIPTOR_SIZE) {
    throw new RangeError(`descriptor needs ${DESCRIPTOR_SIZE} bytes, got ${bytes.length}`);
  }
  return decodeDescriptorAt(
    new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    bytes,
    0,
  );
}

/**
 * Decode the descriptor at `at` in a table, reusing one view for the whole table (loading
 * a thousand descriptors should not make a thousand views).
 *
 * @param view A view over `bytes`.
 * @param bytes The table.
 * @param at Offset of the descriptor in the table.
 * @returns The raw descriptor (byte fields are copies).
 */
export function decodeDescriptorAt(view: DataView, bytes: Uint8Array, at: number): RawDescriptor {
  return {
    dataType: view.getInt32(at + D.dataType, true),
    used: bytes[at + D.used] !== 0,
    id: view.getUint32(at + D.id, true),
    groupId: view.getUint32(at + D.groupId, true),
    linkedId: view.getUint32(at + D.linkedId, true),
    offset: readInt64(view, at + D.offset, "offset"),
    size: readInt64(view, at + D.size, "size"),
    sizeWithPadding: readInt64(view, at + D.sizeWithPadding, "padded size"),
    createdAt: readInt64(view, at + D.createdAt, "creation time"),
    modifiedAt: readInt64(view, at + D.modifiedAt, "modification time"),
    uid: view.getBigInt64(at + D.uid, true),
    gid: view.getBigInt64(at + D.gid, true),
    name: bytes.slice(at + D.name, at + D.name + NAME_SIZE),
    extra: bytes.slice(at + D.extra, at + D.extra + EXTRA_SIZE),
  };
}

/**
 * Encode one descriptor record.
 *
 * @param raw The descriptor.
 * @returns 585 bytes.
 */
export function encodeDescriptor(raw: RawDescriptor): Uint8Array {
  const out = new Uint8Array(DESCRIPTOR_SIZE);
  const view = new DataView(out.buffer);
  view.setInt32(D.dataType, raw.dataType, true);
  out[D.used] = raw.used ? 1 : 0;
  view.setUint32(D.id, raw.id >>> 0, true);
  view.setUint32(D.groupId, raw.groupId >>> 0, true);
  view.setUint32(D.linkedId, raw.linkedId >>> 0, true);
  writeInt64(view, D.offset, raw.offset);
  writeInt64(view, D.size, raw.size);
  writeInt64(view, D.sizeWithPadding, raw.sizeWithPadding);
  writeInt64(view, D.createdAt, raw.createdAt);
  writeInt64(view, D.modifiedAt, raw.modifiedAt);
  writeInt64(view, D.uid, raw.uid);
  writeInt64(view, D.gid, raw.gid);
  out.set(raw.name.subarray(0, NAME_SIZE), D.name);
  out.set(raw.extra.subarray(0, EXTRA_SIZE), D.extra);
  return out;
}

/** Partition metadata (extra of a `Partition` object). */
export interface PartitionExtra {
  /** Discriminant. */
  kind: "partition";
  /** Filesystem (`FsType`: 1 squashfs, 2 ext3, 3 archive, 4 raw, 5 encrypted squashfs). */
  fsType: number;
  /** Partition type (`PartType`: 1 system, 2 primary system, 3 data, 4 overlay). */
  partType: number;
  /** Architecture as Go names it ("amd64"), or "unknown". */
  arch: string;
  /** The raw 3-byte architecture field. */
  archField: Uint8Array;
}

/** Signature metadata (extra of a `Signature` object). */
export interface SignatureExtra {
  /** Discriminant. */
  kind: "signature";
  /** Hash type (`HashType`: 1 SHA-256 … 5 BLAKE2b-256). */
  hashType: number;
  /** The raw 256-byte entity field. */
  entity: Uint8Array;
  /** The signer's 20-byte PGP fingerprint (uppercase hex), when present. */
  fingerprint: string | undefined;
}

/** Cryptographic message metadata. */
export interface CryptoMessageExtra {
  /** Discriminant. */
  kind: "cryptoMessage";
  /** Format (`FormatType`: 1 OpenPGP, 2 PEM). */
  formatType: number;
  /** Message kind (`MessageType`: 0x100 clear signature, 0x200 RSA-OAEP). */
  messageType: number;
}

/** SBOM metadata. */
export interface SbomExtra {
  /** Discriminant. */
  kind: "sbom";
  /** Format (`SbomFormat`: 1 cyclonedx-json … 8 syft-json). */
  format: number;
}

/** Digest of an OCI root index or blob object. */
export interface OciDigestExtra {
  /** Discriminant. */
  kind: "ociDigest";
  /** `sha256:<hex>` as stored. */
  digest: string;
}

/** No metadata (all other data types). */
export interface NoExtra {
  /** Discriminant. */
  kind: "none";
}

/** The `extra` field decoded according to the data type. */
export type DescriptorExtra =
  | PartitionExtra
  | SignatureExtra
  | CryptoMessageExtra
  | SbomExtra
  | OciDigestExtra
  | NoExtra;

/**
 * Decode the type-specific extra field of a descriptor.
 *
 * @param dataType The descriptor's data type.
 * @param extra The raw 384 bytes.
 * @returns The typed metadata.
 */
export function decodeExtra(dataType: number, extra: Uint8Array): DescriptorExtra {
  const view = new DataView(extra.buffer, extra.byteOffset, extra.byteLength);
  switch (dataType) {
    case DataType.Partition: {
      const archField = extra.slice(8, 11);
      return {
        kind: "partition",
        fsType: view.getInt32(0, true),
        partType: view.getInt32(4, true),
        arch: archName(archField),
        archField,
      };
    }
    case DataType.Signature: {
      const entity = extra.slice(4, 4 + ENTITY_SIZE);
      const fp = entity.subarray(0, 20);
      return {
        kind: "signature",
        hashType: view.getInt32(0, true),
        entity,
        fingerprint: fp.some((b) => b !== 0)
          ? Array.from(fp, (b) => b.toString(16).padStart(2, "0").toUpperCase()).join("")
          : undefined,
      };
    }
    case DataType.CryptoMessage:
      return {
        kind: "cryptoMessage",
        formatType: view.getInt32(0, true),
        messageType: view.getInt32(4, true),
      };
    case DataType.SBOM:
      return { kind: "sbom", format: view.getInt32(0, true) };
    case DataType.OCIRootIndex:
    case DataType.OCIBlob:
      return { kind: "ociDigest", digest: new TextDecoder().decode(trimNul(extra)) };
    default:
      return { kind: "none" };
  }
}

/**
 * A read-only view of one used descriptor, as returned by {@linkcode SifImage}.
 *
 * @example Usage
 * ```ts ignore
 * const image = await openSif("busybox.sif");
 * for (const d of image.descriptors) console.log(d.id, d.typeName, d.offset, d.size);
 * ```
 */
export class Descriptor {
  /** The record as stored on disk. */
  readonly raw: Readonly<RawDescriptor>;
  /** ID relative to the lowest ID in the same group (what signatures cover). */
  readonly relativeId: number;
  /** The object name (`--filename`), "" when none. */
  readonly name: string;
  #extra: DescriptorExtra | undefined;

  /**
   * Wrap a decoded record (usually done by {@linkcode SifImage}).
   *
   * @param raw The decoded record; its name must be valid UTF-8.
   * @param relativeId ID minus the lowest ID of the object's group.
   */
  constructor(raw: RawDescriptor, relativeId = 0) {
    this.raw = raw;
    this.relativeId = relativeId;
    const name = decodeUtf8(trimNul(raw.name));
    if (name === undefined) {
      throw new SyntaxError(`object ${raw.id} has a name that is not valid UTF-8`);
    }
    this.name = name;
  }

  /** The data type code (`DataType`). */
  get dataType(): number {
    return this.raw.dataType;
  }
  /** The data type as siftool names it ("Def.FILE", "FS", …; "Unknown" otherwise). */
  get typeName(): string {
    return DATA_TYPE_NAMES[this.raw.dataType] ?? "Unknown";
  }
  /** The object ID. */
  get id(): number {
    return this.raw.id;
  }
  /** The group ID, 0 when the object is in no group. */
  get groupId(): number {
    return (this.raw.groupId & ~GROUP_MASK) >>> 0;
  }
  /** The linked object or group ID, 0 when not linked. */
  get linkedId(): number {
    return (this.raw.linkedId & ~GROUP_MASK) >>> 0;
  }
  /** Whether {@linkcode linkedId} names a group rather than an object. */
  get linkedToGroup(): boolean {
    return ((this.raw.linkedId & GROUP_MASK) >>> 0) === GROUP_MASK;
  }
  /** Absolute file offset of the data. */
  get offset(): number {
    return this.raw.offset;
  }
  /** Size of the data in bytes. */
  get size(): number {
    return this.raw.size;
  }
  /** Size plus the alignment padding before the data. */
  get sizeWithPadding(): number {
    return this.raw.sizeWithPadding;
  }
  /** Creation time, Unix seconds. */
  get createdAt(): number {
    return this.raw.createdAt;
  }
  /** Modification time, Unix seconds. */
  get modifiedAt(): number {
    return this.raw.modifiedAt;
  }
  /** The extra field decoded for this data type. */
  get extra(): DescriptorExtra {
    return this.#extra ??= decodeExtra(this.raw.dataType, this.raw.extra);
  }
  /** The partition metadata, or undefined when this is not a partition. */
  get partition(): PartitionExtra | undefined {
    const extra = this.extra;
    return extra.kind === "partition" ? extra : undefined;
  }

  /**
   * The descriptor bytes a SIF signature covers (sylabs/sif `Descriptor.GetIntegrityReader`):
   * data type, used, relative ID, linked ID, size, creation time, UID, GID, name and extra;
   * offset, modification time and group are excluded.
   *
   * @returns 561 bytes.
   */
  integrityBytes(): Uint8Array {
    const out = new Uint8Array(4 + 1 + 4 + 4 + 8 * 4 + NAME_SIZE + EXTRA_SIZE);
    const view = new DataView(out.buffer);
    view.setInt32(0, this.raw.dataType, true);
    out[4] = this.raw.used ? 1 : 0;
    view.setUint32(5, this.relativeId >>> 0, true);
    view.setUint32(9, this.raw.linkedId >>> 0, true);
    writeInt64(view, 13, this.raw.size);
    writeInt64(view, 21, this.raw.createdAt);
    writeInt64(view, 29, this.raw.uid);
    writeInt64(view, 37, this.raw.gid);
    out.set(this.raw.name, 45);
    out.set(this.raw.extra, 45 + NAME_SIZE);
    return out;
  }
}
