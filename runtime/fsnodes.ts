/**
 * Host helpers for what Deno's file APIs cannot do during SquashFS extraction: create
 * FIFOs and device nodes (`mknod`) and set extended attributes (`setfattr --restore`, one
 * process for all attributes of an extraction).
 *
 * @module
 */
import type { NodeMaker, XattrWriter } from "../core/squashfs/extract.ts";
import { SingletError } from "../core/errors.ts";
import { type CommandOutput, runCommand } from "./_command.ts";

async function run(program: string, args: string[], stdin?: Uint8Array): Promise<void> {
  let output: CommandOutput;
  try {
    output = await runCommand([program, ...args], {
      stdin: stdin ?? "null",
      stdout: "null",
      stderr: "piped",
    });
  } catch (error) {
    throw new SingletError(`Cannot run "${program}": ${(error as Error).message}`, {
      hint: program === "setfattr"
        ? "install the 'attr' package, or extract without xattrs"
        : `install "${program}" (coreutils)`,
      cause: error,
    });
  }
  if (output.code !== 0) {
    const err = new TextDecoder().decode(output.stderr).trim().split("\n")[0] ?? "";
    throw new SingletError(`Cannot run "${program} ${args.join(" ")}": ${err}`);
  }
}

/**
 * A {@linkcode NodeMaker} that runs `mknod -m MODE PATH TYPE [MAJOR MINOR]`.
 *
 * @returns The node maker.
 */
export function hostNodeMaker(): NodeMaker {
  return {
    make(path, kind, mode, major, minor) {
      const mode8 = mode.toString(8).padStart(4, "0");
      const args = kind === "fifo"
        ? ["-m", mode8, "--", path, "p"]
        : ["-m", mode8, "--", path, kind === "chardev" ? "c" : "b", String(major), String(minor)];
      return run("mknod", args);
    },
  };
}

/** Escape bytes the way getfattr dumps do: anything unusual as a backslash-octal triple. */
function quote(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9/._+:@-]/.test(c) ? c : "\\" + b.toString(8).padStart(3, "0");
  }
  return out;
}

/**
 * An {@linkcode XattrWriter} that feeds one `setfattr -h --restore=-` dump (symlinks are
 * not followed).
 *
 * @returns The writer.
 */
export function hostXattrWriter(): XattrWriter {
  return async (items) => {
    const enc = new TextEncoder();
    let dump = "";
    for (const { path, xattrs } of items) {
      dump += `# file: ${quote(enc.encode(path))}\n`;
      for (const [name, value] of xattrs) {
        let hex = "";
        for (const b of value) hex += b.toString(16).padStart(2, "0");
        dump += `${quote(enc.encode(name))}=${hex ? "0x" + hex : '""'}\n`;
      }
      dump += "\n";
    }
    await run("setfattr", ["-h", "--restore=-"], enc.encode(dump));
  };
}
