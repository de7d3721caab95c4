/**
 * SIF, the Singularity Image Format (sylabs/sif v2, spec version "01"): read, create and
 * edit images byte-compatible with SingularityCE, Apptainer and `siftool`.
 *
 * Layout of a SIF file (all integers little-endian, packed):
 *
 * ```text
 *  offset  .=====================================================.
 *       0  | GLOBAL HEADER (128 bytes)                            |
 *          |  0 launch script [32]  "#!/usr/bin/env run-singularity\n"
 *          | 32 magic [10]          "SIF_MAGIC\0"                 |
 *          | 42 version [3]         "01\0"                        |
 *          | 45 arch [3]            "02\0" = primary partition's  |
 *          | 48 id [16]             UUID (zero when deterministic)|
 *          | 64 created, 72 modified           int64 Unix seconds |
 *          | 80 descriptors free, 88 total     int64 (48 default) |
 *          | 96 descriptors offset ------------------------------.|
 *          |104 descriptors size = total x 585                   ||
 *          |112 data offset -------------------------------------+--.
 *          |120 data size (padding included)                     || |
 *          |-----------------------------------------------------|| |
 *          | (zero up to the descriptor table)                   || |
 *    4096  |-----------------------------------------------------|<' |
 *          | DESCRIPTOR 1 (585 bytes)                            |   |
 *          |   0 data type int32 (0x4001 Def.FILE ... 0x400b)    |   |
 *          |   4 used, 5 id uint32 (= slot + 1)                  |   |
 *          |   9 group id | 0xf0000000 (mask alone = no group)   |   |
 *          |  13 linked id (object, or group | 0xf0000000)       |   |
 *          |  17 offset, 25 size, 33 size with padding ----------+-. |
 *          |  41 created, 49 modified, 57 uid, 65 gid            | | |
 *          |  73 name [128], 201 extra [384] (typed per type)    | | |
 *          | DESCRIPTOR 2 ... DESCRIPTOR total (unused = zeros)  | | |
 *   32176  |-----------------------------------------------------|<+-'
 *          | object 1 data (unaligned)                           | |
 *          | zero padding to 4096                                | |
 *   32768  | object 2 data: a partition (SquashFS), 4096-aligned |<'
 *          | ...                                                 |
 *          `====================================================='
 * ```
 *
 * Reading: {@linkcode openSif} validates everything against the file size and gives
 * {@linkcode SifImage} (header, descriptors, primary partition, object ranges and streams).
 * Writing: {@linkcode createSif}, {@linkcode addObjects}, {@linkcode deleteObject} and
 * {@linkcode setPrimaryPartition}; all write a temporary file next to the target, fsync it
 * and rename it into place, so a failure leaves nothing behind and an existing image
 * untouched.
 *
 * @example Find the root filesystem of an image
 * ```ts ignore
 * import { openSif } from "./mod.ts";
 * using image = await openSif("busybox.sif");
 * const root = image.primaryPartition();
 * console.log(`squashfuse -o offset=${root.offset} busybox.sif /mnt`);
 * ```
 *
 * @module
 */
export {
  ARCHES,
  archField,
  archName,
  DATA_TYPE_NAMES,
  DataType,
  DEFAULT_DESCRIPTOR_CAPACITY,
  DEFAULT_GROUP,
  DESCRIPTOR_SIZE,
  FormatType,
  FsType,
  GO_ZERO_TIME,
  GROUP_MASK,
  HashType,
  HEADER_SIZE,
  MessageType,
  PARTITION_ALIGNMENT,
  PartType,
  RUN_SINGULARITY_LAUNCH_SCRIPT,
  SBOM_FORMAT_NAMES,
  SbomFormat,
} from "./_layout.ts";
export {
  decodeHeader,
  encodeHeader,
  headerIntegrityBytes,
  idOf,
  launchScriptOf,
  primaryArchOf,
  type SifHeader,
  versionOf,
} from "./header.ts";
export {
  type CryptoMessageExtra,
  decodeDescriptor,
  decodeExtra,
  Descriptor,
  type DescriptorExtra,
  encodeDescriptor,
  type NoExtra,
  type OciDigestExtra,
  type PartitionExtra,
  type RawDescriptor,
  type SbomExtra,
  type SignatureExtra,
} from "./descriptor.ts";
export {
  type ByteSource,
  DEFAULT_CHUNK_SIZE,
  type DescriptorSelector,
  MAX_DESCRIPTORS,
  openSif,
  type OpenSifOptions,
  openSifSync,
  SifImage,
} from "./load.ts";
export {
  descriptorToJson,
  formatHeader,
  formatInfo,
  formatList,
  type HeaderJson,
  headerToJson,
  imageToJson,
  readableSize,
} from "./text.ts";
export { type TimeOptions } from "./_edit.ts";
export {
  addObjects,
  type AddObjectsOptions,
  nextAligned,
  type ObjectData,
  type ObjectInput,
  type ObjectWriter,
  type PartitionInput,
  type SignatureInput,
} from "./add.ts";
export { type CreatedSif, createSif, type CreateSifOptions } from "./create.ts";
export { deleteObject, type DeleteObjectOptions } from "./delete.ts";
export { setPrimaryPartition } from "./set.ts";
