/**
 * Build SIFs with Debian's siftool in the layout SingularityCE writes, so tests can run
 * and inspect images that singlet did not make.
 *
 * @module
 */

async function siftool(args: string[]): Promise<string> {
  return await tool("siftool", args);
}

async function tool(name: string, args: string[]): Promise<string> {
  const output = await new Deno.Command(name, { args, stdout: "piped", stderr: "piped" })
    .output();
  if (!output.success) {
    throw new Error(`${name} ${args.join(" ")}: ${new TextDecoder().decode(output.stderr)}`);
  }
  return new TextDecoder().decode(output.stdout);
}

/**
 * `unsquashfs -lln` (owners numeric) of a SIF's root file system partition, found with
 * siftool.
 *
 * @param sif The SIF image.
 * @returns The listing.
 */
export async function sifRootListing(sif: string): Promise<string> {
  const list = await siftool(["list", sif]);
  const id = /^(\d+) .*FS \(Squashfs/m.exec(list)![1]!;
  const info = await siftool(["info", id, sif]);
  const offset = Number(/Offset: +(\d+)/.exec(info)![1]);
  return await tool("unsquashfs", ["-lln", "-o", String(offset), "-d", "", sif]);
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
