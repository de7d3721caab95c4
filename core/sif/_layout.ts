/**
 * SIF on-disk constants: sizes and offsets of the global header and of a descriptor, the
 * magic and version, and the numeric codes of data types, filesystems, partition types,
 * hashes, message formats, SBOM formats and architectures, with the names `siftool` prints
 * for them (sylabs/sif v2 `pkg/sif/sif.go`, `arch.go`).
 *
 * All integers in a SIF are little-endian and packed with no padding.
 *
 * @module
 */

/** Size of the global header: 32 + 10 + 3 + 3 + 16 + 8 × 8. */
export const HEADER_SIZE = 128;
/** Size of one descriptor: 4 + 1 + 4 × 3 + 8 × 7 + 128 + 384. */
export const DESCRIPTOR_SIZE = 585;

/** Length of the launch script field: `len("#!/usr/bin/env... ")`. */
export const LAUNCH_SCRIPT_SIZE = 32;
/** Length of the magic field, `"SIF_MAGIC\0"`. */
export const MAGIC_SIZE = 10;
/** Length of the version field, `"01\0"`. */
export const VERSION_SIZE = 3;
/** Length of the architecture field, `"02\0"`. */
export const ARCH_SIZE = 3;
/** Length of the image ID (a UUID). */
export const ID_SIZE = 16;
/** Length of a descriptor's name field. */
export const NAME_SIZE = 128;
/** Length of a descriptor's type-specific `extra` field. */
export const EXTRA_SIZE = 384;
/** Length of the signing entity inside a signature descriptor's extra field. */
export const ENTITY_SIZE = 256;

/** The magic bytes, NUL included. */
export const MAGIC: Uint8Array = new Uint8Array([
  0x53,
  0x49,
  0x46,
  0x5f,
  0x4d,
  0x41,
  0x47,
  0x49,
  0x43,
  0x00,
]);
/** The only specification version sylabs/sif v2 reads and writes (`fmt "%02d"`). */
export const SPEC_VERSION = "01";

/** Offsets of the global header's fields. */
export const H = {
  launchScript: 0,
  magic: 32,
  version: 42,
  arch: 45,
  id: 48,
  createdAt: 64,
  modifiedAt: 72,
  descriptorsFree: 80,
  descriptorsTotal: 88,
  descriptorsOffset: 96,
  descriptorsSize: 104,
  dataOffset: 112,
  dataSize: 120,
} as const;

/** Offsets of a descriptor's fields. */
export const D = {
  dataType: 0,
  used: 4,
  id: 5,
  groupId: 9,
  linkedId: 13,
  offset: 17,
  size: 25,
  sizeWithPadding: 33,
  createdAt: 41,
  modifiedAt: 49,
  uid: 57,
  gid: 65,
  name: 73,
  extra: 201,
} as const;

/**
 * Group IDs are stored OR-ed with this mask (`0xf0000000` alone means "no group"); a linked
 * ID with the mask set names a group rather than an object.
 */
export const GROUP_MASK = 0xf0000000;

/** Default number of descriptor slots in a new image (sylabs/sif `CreateContainer`). */
export const DEFAULT_DESCRIPTOR_CAPACITY = 48;
/** Where the descriptor table starts in a new image. */
export const DEFAULT_DESCRIPTORS_OFFSET = 4096;
/** Default alignment of partition objects; other objects are not aligned. */
export const PARTITION_ALIGNMENT = 4096;
/** The group new objects join unless told otherwise (sylabs/sif `DefaultObjectGroup`). */
export const DEFAULT_GROUP = 1;

/** The launch script of native SingularityCE/Apptainer images: makes `./image.sif` run. */
export const RUN_SINGULARITY_LAUNCH_SCRIPT = "#!/usr/bin/env run-singularity\n";

/** Go's zero `time.Time` in Unix seconds: what deterministic images store as times. */
export const GO_ZERO_TIME: number = -62135596800;

/** Data object types (`DataType`, base 0x4001). */
export const DataType = {
  Deffile: 0x4001,
  EnvVar: 0x4002,
  Labels: 0x4003,
  Partition: 0x4004,
  Signature: 0x4005,
  GenericJSON: 0x4006,
  Generic: 0x4007,
  CryptoMessage: 0x4008,
  SBOM: 0x4009,
  OCIRootIndex: 0x400a,
  OCIBlob: 0x400b,
} as const;

/** The names `siftool list` prints for data types. */
export const DATA_TYPE_NAMES: Readonly<Record<number, string>> = {
  [DataType.Deffile]: "Def.FILE",
  [DataType.EnvVar]: "Env.Vars",
  [DataType.Labels]: "JSON.Labels",
  [DataType.Partition]: "FS",
  [DataType.Signature]: "Signature",
  [DataType.GenericJSON]: "JSON.Generic",
  [DataType.Generic]: "Generic/Raw",
  [DataType.CryptoMessage]: "Cryptographic Message",
  [DataType.SBOM]: "SBOM",
  [DataType.OCIRootIndex]: "OCI.RootIndex",
  [DataType.OCIBlob]: "OCI.Blob",
};

/** Filesystem types of partition objects. */
export const FsType = {
  Squash: 1,
  Ext3: 2,
  ImmuObj: 3,
  Raw: 4,
  EncryptedSquashfs: 5,
} as const;

/** The names siftool prints for filesystem types. */
export const FS_TYPE_NAMES: Readonly<Record<number, string>> = {
  1: "Squashfs",
  2: "Ext3",
  3: "Archive",
  4: "Raw",
  5: "Encrypted squashfs",
};

/** Partition types. */
export const PartType = {
  System: 1,
  PrimSys: 2,
  Data: 3,
  Overlay: 4,
} as const;

/** The names siftool prints for partition types (`*System` marks the primary one). */
export const PART_TYPE_NAMES: Readonly<Record<number, string>> = {
  1: "System",
  2: "*System",
  3: "Data",
  4: "Overlay",
};

/** Hash types of signature objects. */
export const HashType = {
  SHA256: 1,
  SHA384: 2,
  SHA512: 3,
  BLAKE2s256: 4,
  BLAKE2b256: 5,
} as const;

/** The names siftool prints for hash types (Go's `crypto.Hash.String()`). */
export const HASH_TYPE_NAMES: Readonly<Record<number, string>> = {
  1: "SHA-256",
  2: "SHA-384",
  3: "SHA-512",
  4: "BLAKE2s-256",
  5: "BLAKE2b-256",
};

/** Formats of cryptographic message objects. */
export const FormatType = { OpenPGP: 1, PEM: 2 } as const;
/** The names siftool prints for message formats. */
export const FORMAT_TYPE_NAMES: Readonly<Record<number, string>> = { 1: "OpenPGP", 2: "PEM" };

/** Kinds of cryptographic message. */
export const MessageType = { ClearSignature: 0x100, RSAOAEP: 0x200 } as const;
/** The names siftool prints for message kinds. */
export const MESSAGE_TYPE_NAMES: Readonly<Record<number, string>> = {
  0x100: "Clear Signature",
  0x200: "RSA-OAEP",
};

/** SBOM formats. */
export const SbomFormat = {
  CycloneDXJSON: 1,
  CycloneDXXML: 2,
  GitHubJSON: 3,
  SPDXJSON: 4,
  SPDXRDF: 5,
  SPDXTagValue: 6,
  SPDXYAML: 7,
  SyftJSON: 8,
} as const;

/** The names siftool prints (and `--sbomformat` takes) for SBOM formats. */
export const SBOM_FORMAT_NAMES: Readonly<Record<number, string>> = {
  1: "cyclonedx-json",
  2: "cyclonedx-xml",
  3: "github-json",
  4: "spdx-json",
  5: "spdx-rdf",
  6: "spdx-tag-value",
  7: "spdx-yaml",
  8: "syft-json",
};

/**
 * Architecture codes, indexed by their two-digit number (`"02"` is amd64), as Go names them;
 * index 0 is "unknown".
 */
export const ARCHES: readonly string[] = [
  "unknown",
  "386",
  "amd64",
  "arm",
  "arm64",
  "ppc64",
  "ppc64le",
  "mips",
  "mipsle",
  "mips64",
  "mips64le",
  "s390x",
  "riscv64",
  "loong64",
];

/**
 * The Go architecture name of a 3-byte arch field (`"02\0"` → `"amd64"`); anything that is
 * not one of the known codes is "unknown", as in sylabs/sif.
 *
 * @param field The 3 raw bytes.
 * @returns The Go architecture name.
 */
export function archName(field: Uint8Array): string {
  if (field.length !== 3 || field[2] !== 0) return "unknown";
  const hi = field[0]! - 0x30;
  const lo = field[1]! - 0x30;
  if (hi < 0 || hi > 9 || lo < 0 || lo > 9) return "unknown";
  const code = hi * 10 + lo;
  return code >= 1 && code < ARCHES.length ? ARCHES[code]! : "unknown";
}

/**
 * The 3-byte arch field for a Go architecture name (`"amd64"` → `"02\0"`); unknown names
 * give `"00\0"`.
 *
 * @param name A Go architecture name such as "amd64" or "arm64".
 * @returns The 3 raw bytes.
 */
export function archField(name: string): Uint8Array {
  const code = Math.max(ARCHES.indexOf(name), 0);
  return new Uint8Array([0x30 + Math.floor(code / 10), 0x30 + (code % 10), 0]);
}
