/**
 * `singlet sif`: inspect and edit SIF images the way `siftool` (sylabs/sif 2.8) and
 * `singularity sif` do: same verbs, argument order, flags and text tables, plus `--json`.
 *
 * @module
 */
import { action, type Command } from "../_command.ts";
import { printJson, printOut, Progress } from "../_output.ts";
import { UsageError } from "../../core/errors.ts";
// The reading verbs load only the reader and the text formats; the editing ones import
// their module when they run (`sif dump` and `sif list` start sooner).
import { ARCHES, DataType, SBOM_FORMAT_NAMES } from "../../core/sif/_layout.ts";
import type { ObjectInput } from "../../core/sif/add.ts";
import { openSifSync } from "../../core/sif/load.ts";
import {
  descriptorToJson,
  formatHeader,
  formatInfo,
  formatList,
  headerToJson,
} from "../../core/sif/text.ts";

const DATATYPE_HELP = `the type of data to add
[NEEDED, no default]:
  1-Deffile,       2-EnvVar,        3-Labels,
  4-Partition,     5-Signature,     6-GenericJSON,
  7-Generic,       8-CryptoMessage, 9-SBOM,
  10-OCIRootIndex, 11-OCIBlob`;
const PARTTYPE_HELP = `the type of partition (with --datatype 4-Partition)
[NEEDED, no default]:
  1-System,    2-PrimSys,   3-Data,
  4-Overlay`;
const PARTFS_HELP = `the filesystem used (with --datatype 4-Partition)
[NEEDED, no default]:
  1-Squash,    2-Ext3,      3-ImmuObj,
  4-Raw`;
const PARTARCH_HELP = `the main architecture used (with --datatype 4-Partition)
[NEEDED, no default]:
  1-386,       2-amd64,     3-arm,
  4-arm64,     5-ppc64,     6-ppc64le,
  7-mips,      8-mipsle,    9-mips64,
  10-mips64le, 11-s390x,    12-riscv64,
  13-loong64`;
const SIGNHASH_HELP = `the signature hash used (with --datatype 5-Signature)
[NEEDED, no default]:
  1-SHA256,      2-SHA384,      3-SHA512,
  4-BLAKE2s_256, 5-BLAKE2b_256`;
const SIGNENTITY_HELP = `the entity that signs (with --datatype 5-Signature)
[NEEDED, no default]:
  example: 433FE984155206BD962725E20E8713472A879943`;
const SBOMFORMAT_HELP = `the SBOM format (with --datatype 9-sbom):
  cyclonedx-json, cyclonedx-xml,  github-json,
  spdx-json,      spdx-rdf,       spdx-tag-value,
  spdx-yaml,      syft-json`;

/** Parse a decimal integer flag value within bounds (pflag's int/int32/uint32). */
function integer(flag: string, min: number, max: number): (value: string) => number {
  return (value: string) => {
    const n = /^[+-]?\d+$/.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new UsageError(
        `invalid value "${value}" for --${flag}: expected an integer from ${min} to ${max}`,
      );
    }
    return n;
  };
}

/** Parse an object ID argument as siftool does (`strconv.ParseUint(s, 10, 32)`). */
function objectId(value: string): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n > 0xffffffff) {
    throw new UsageError(`invalid object ID "${value}": expected a number from 1 to 4294967295`);
  }
  return n;
}

interface AddFlags {
  datatype?: number;
  parttype?: number;
  partfs?: number;
  partarch?: number;
  signhash?: number;
  signentity?: string;
  sbomformat?: string;
  groupid?: number;
  link?: number;
  alignment?: number;
  filename?: string;
}

/**
 * Turn `sif add` flags into an object description, with siftool's rules: `--datatype` is
 * required; partitions need `--parttype`, `--partfs` and `--partarch`; signatures need a
 * 20-byte `--signentity` and `--signhash`; SBOMs need `--sbomformat`; `--groupid` defaults
 * to 0 (no group).
 *
 * @param flags Parsed flags.
 * @param data The object's bytes.
 * @returns The object input.
 */
export function addFlagsToInput(flags: AddFlags, data: ObjectInput["data"]): ObjectInput {
  const datatype = flags.datatype ?? 0;
  if (datatype < 1 || datatype > 11) {
    throw new UsageError(
      "--datatype is required with a value from 1 to 11",
      "see 'singlet sif add --help'",
    );
  }
  const input: ObjectInput = { dataType: 0x4000 + datatype, data, groupId: flags.groupid ?? 0 };
  if (flags.link !== undefined) {
    if (flags.link === 0) throw new UsageError("invalid --link 0: object IDs start at 1");
    input.linkedId = flags.link;
  }
  if (flags.alignment !== undefined) input.alignment = flags.alignment;
  if (flags.filename !== undefined) input.name = flags.filename;
  switch (input.dataType) {
    case DataType.Partition: {
      if (!flags.parttype || !flags.partfs || !flags.partarch) {
        throw new UsageError(
          "with partition datatype, --partfs, --parttype and --partarch must be passed",
        );
      }
      const arch = ARCHES[flags.partarch];
      if (!arch) throw new UsageError(`unknown architecture: --partarch ${flags.partarch}`);
      input.partition = { fsType: flags.partfs, partType: flags.parttype, arch };
      break;
    }
    case DataType.Signature: {
      const entity = flags.signentity ?? "";
      if (!/^([0-9a-fA-F]{2})*$/.test(entity)) {
        throw new UsageError(
          `failed to decode signing entity fingerprint "${entity}": not hexadecimal`,
        );
      }
      if (entity.length !== 40) {
        throw new UsageError(
          `invalid signing entity fingerprint length: got ${entity.length / 2}, want 20`,
        );
      }
      if (!flags.signhash || flags.signhash > 5) {
        throw new UsageError(`invalid hash type: ${flags.signhash ?? 0}`);
      }
      input.signature = { hashType: flags.signhash, entity };
      break;
    }
    case DataType.SBOM: {
      if (!flags.sbomformat) {
        throw new UsageError("with SBOM datatype, --sbomformat must be passed");
      }
      const name = flags.sbomformat === "github" ? "github-json" : flags.sbomformat;
      const format = Object.entries(SBOM_FORMAT_NAMES).find(([, v]) => v === name)?.[0];
      if (!format) throw new UsageError(`invalid SBOM format: ${flags.sbomformat}`);
      input.sbom = { format: Number(format) };
      break;
    }
  }
  return input;
}

/**
 * Register `singlet sif` and its verbs.
 *
 * @param program The root program.
 */
export function registerSif(program: Command): void {
  const sif = program
    .command("sif")
    .description("Manipulate Singularity Image Format (SIF) images")
    .addHelpText(
      "after",
      "\nA set of commands are provided to display elements such as the SIF global\n" +
        "header, the data object descriptors and to dump data objects. It is also\n" +
        "possible to modify a SIF file via this tool via the add/del commands.",
    );

  sif.command("header")
    .description("Display global header")
    .addHelpText("after", "\nExamples:\n  singlet sif header image.sif")
    .argument("<sif_path>", "the SIF image")
    .option("--json", "print JSON instead of text")
    .action(action((path: string, opts: { json?: boolean }) => {
      using image = openSifSync(path);
      if (opts.json) printJson(headerToJson(image.header));
      else printOut(formatHeader(image.header));
    }));

  sif.command("list")
    .description("List data objects")
    .addHelpText("after", "\nExamples:\n  singlet sif list image.sif")
    .argument("<sif_path>", "the SIF image")
    .option("--json", "print JSON instead of text")
    .action(action((path: string, opts: { json?: boolean }) => {
      using image = openSifSync(path);
      if (opts.json) printJson(image.descriptors.map(descriptorToJson));
      else printOut(formatList(image.descriptors));
    }));

  sif.command("info")
    .description("Display data object info")
    .addHelpText("after", "\nExamples:\n  singlet sif info 1 image.sif")
    .argument("<id>", "the object ID", objectId)
    .argument("<sif_path>", "the SIF image")
    .option("--json", "print JSON instead of text")
    .action(action((id: number, path: string, opts: { json?: boolean }) => {
      using image = openSifSync(path);
      const descriptor = image.descriptor(id);
      if (opts.json) printJson(descriptorToJson(descriptor));
      else printOut(formatInfo(descriptor));
    }));

  sif.command("dump")
    .description("Dump data object")
    .addHelpText("after", "\nExamples:\n  singlet sif dump 1 image.sif")
    .argument("<id>", "the object ID", objectId)
    .argument("<sif_path>", "the SIF image")
    .action(action((id: number, path: string) => {
      using image = openSifSync(path);
      const descriptor = image.descriptor(id);
      // Large reads (4 MiB: measured fastest of 128 KiB-4 MiB) into one reused buffer,
      // written straight to stdout.
      const buffer = new Uint8Array(Math.min(4 << 20, Math.max(descriptor.size, 1)));
      try {
        for (let position = 0; position < descriptor.size;) {
          const n = image.readInto(descriptor, buffer, position);
          let written = 0;
          while (written < n) written += Deno.stdout.writeSync(buffer.subarray(written, n));
          position += n;
        }
      } catch (error) {
        // The reader went away (`| head`): stop quietly with SIGPIPE's status, as siftool.
        if (error instanceof Deno.errors.BrokenPipe) return 141;
        throw error;
      }
    }));

  sif.command("new")
    .description("Create SIF image")
    .addHelpText("after", "\nExamples:\n  singlet sif new image.sif")
    .argument("<sif_path>", "the SIF image to create")
    .option(
      "--capacity <n>",
      "number of descriptor slots [default: 48]",
      integer("capacity", 0, 1e6),
    )
    .option("--deterministic", "zero image ID and fixed times (SOURCE_DATE_EPOCH, else zero)")
    .action(action(async (path: string, opts: { capacity?: number; deterministic?: boolean }) => {
      const { createSif } = await import("../../core/sif/create.ts");
      await createSif(path, [], {
        ...(opts.capacity !== undefined ? { descriptorCapacity: opts.capacity } : {}),
        ...(opts.deterministic ? { deterministic: true } : {}),
      });
    }));

  sif.command("add")
    .description("Add data object")
    .argument("<sif_path>", "the SIF image")
    .argument("<object_path>", "the file holding the object's data ('-' for standard input)")
    .option("--datatype <int>", DATATYPE_HELP, integer("datatype", -(2 ** 31), 2 ** 31 - 1))
    .option("--parttype <int32>", PARTTYPE_HELP, integer("parttype", -(2 ** 31), 2 ** 31 - 1))
    .option("--partfs <int32>", PARTFS_HELP, integer("partfs", -(2 ** 31), 2 ** 31 - 1))
    .option("--partarch <int32>", PARTARCH_HELP, integer("partarch", -(2 ** 31), 2 ** 31 - 1))
    .option("--signhash <int32>", SIGNHASH_HELP, integer("signhash", -(2 ** 31), 2 ** 31 - 1))
    .option("--signentity <string>", SIGNENTITY_HELP)
    .option("--sbomformat <string>", SBOMFORMAT_HELP)
    .option("--groupid <uint32>", "set groupid [default: 0]", integer("groupid", 0, 0x0fffffff))
    .option("--link <uint32>", "set link pointer [default: 0]", integer("link", 0, 0xffffffff))
    .option(
      "--alignment <int>",
      "set alignment [default: 4096 with --datatype 4-Partition, 0 otherwise]",
      integer("alignment", 0, 2 ** 31 - 1),
    )
    .option("--filename <string>", "set logical filename/handle [default: none]")
    .addHelpText(
      "after",
      "\nExamples:\n" +
        "  singlet sif add image.sif recipe.def --datatype 1\n" +
        "  singlet sif add image.sif rootfs.squashfs --datatype 4 --parttype 1 --partfs 1 --partarch 2\n" +
        "  singlet sif add image.sif signature.bin --datatype 5 " +
        "--signentity 433FE984155206BD962725E20E8713472A879943 --signhash 1",
    )
    .action(action(async (path: string, objectPath: string, flags: AddFlags) => {
      // Validate the flags before touching any file.
      addFlagsToInput(flags, new Uint8Array());
      const stdin = objectPath === "-";
      let file: Deno.FsFile | undefined;
      try {
        file = stdin ? undefined : await Deno.open(objectPath, { read: true });
      } catch (error) {
        throw new UsageError(
          `Cannot open object file "${objectPath}": ${
            error instanceof Deno.errors.NotFound ? "no such file" : (error as Error).message
          }`,
          "check the path of the file to add",
        );
      }
      try {
        const total = file ? (await file.stat()).size : undefined;
        const input = addFlagsToInput(flags, file ? file.readable : Deno.stdin.readable);
        const progress = total !== undefined && total > 64 << 20
          ? new Progress(`Adding ${objectPath}`, total)
          : undefined;
        const { addObjects } = await import("../../core/sif/add.ts");
        await addObjects(path, [input], progress ? { onProgress: (n) => progress.update(n) } : {});
        progress?.done();
        file = undefined; // the readable stream closed it
      } finally {
        try {
          file?.close();
        } catch {
          // already closed by its stream
        }
      }
    }));

  sif.command("del")
    .description("Delete data object")
    .addHelpText("after", "\nExamples:\n  singlet sif del 1 image.sif")
    .argument("<id>", "the object ID", objectId)
    .argument("<sif_path>", "the SIF image")
    .option("--zero", "overwrite the object's data with zeros")
    .option("--compact", "shrink the file when the deleted data was at its end")
    .action(
      action(async (id: number, path: string, opts: { zero?: boolean; compact?: boolean }) => {
        const { deleteObject } = await import("../../core/sif/delete.ts");
        await deleteObject(path, id, { zero: !!opts.zero, compact: !!opts.compact });
      }),
    );

  sif.command("setprim")
    .description("Set primary system partition")
    .addHelpText("after", "\nExamples:\n  singlet sif setprim 1 image.sif")
    .argument("<id>", "the object ID", objectId)
    .argument("<sif_path>", "the SIF image")
    .action(action(async (id: number, path: string) => {
      const { setPrimaryPartition } = await import("../../core/sif/set.ts");
      await setPrimaryPartition(path, id);
    }));
}
