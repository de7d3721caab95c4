/**
 * Build SIFs with Debian's siftool in the layout SingularityCE writes, so tests can run
 * and inspect images that singlet did not make.
 *
 * @module
 */

async function siftool(args: string[]): Promise<void> {
  const output = await new Deno.Command("siftool", { args, stdout: "piped", stderr: "piped" })
    .output();
  if (!output.success) {
    throw new Error(`siftool ${args.join(" ")}: ${new TextDecoder().decode(output.stderr)}`);
  }
}

/**
 * Create `sif` with siftool: an optional definition file (Def.FILE), then `squashfs` as the
 * primary system partition (squashfs, amd64), both in group 1.
 *
 * @param sif The SIF to create.
 * @param squashfs A SquashFS image for the partition.
 * @param options `deffile`: path of a definition file to store first.
 */
export async function siftoolNativeSif(
  sif: string,
  squashfs: string,
  options: { deffile?: string } = {},
): Promise<void> {
  await siftool(["new", sif]);
  if (options.deffile) {
    await siftool(["add", sif, options.deffile, "--datatype", "1", "--groupid", "1"]);
  }
  await siftool([
    "add",
    ...["--datatype", "4", "--parttype", "2", "--partfs", "1", "--partarch", "2"],
    ...["--groupid", "1"],
    sif,
    squashfs,
  ]);
}
