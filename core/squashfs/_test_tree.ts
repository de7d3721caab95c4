/**
 * Test support for the SquashFS writer: a generated source tree with every file type and
 * the awkward cases (long names, deep paths, big directories, sparse and block-sized
 * files, hard links, owners and modes), plus wrappers around the host tools that check
 * images (unsquashfs, mksquashfs, mount, squashfuse).
 *
 * @module
 */

const decoder = new TextDecoder();

/** Run a program; throw with its stderr when it fails. */
export async function sh(program: string, args: string[]): Promise<Uint8Array> {
  const out = await new Deno.Command(program, { args, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`${program} ${args.join(" ")} failed: ${decoder.decode(out.stderr)}`);
  }
  return out.stdout;
}

/** Deterministic pseudo-random bytes (xorshift32), so files do not deduplicate. */
export function noise(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    // Half the bytes from a small alphabet so blocks compress, half random.
    out[i] = (i & 64) ? (x & 0xff) : 0x61 + ((x >>> 8) & 7);
  }
  return out;
}

/** The fixed mtime of generated entries. */
export const TREE_MTIME = 1700000000;

/**
 * Build the generated tree under `root` (as root: it sets owners and makes devices).
 *
 * @param root An empty, existing directory.
 */
export async function buildTestTree(root: string): Promise<void> {
  const bs = 131072;
  const w = (path: string, data: Uint8Array, mode = 0o644) => {
    Deno.writeFileSync(`${root}/${path}`, data, { mode });
    Deno.chmodSync(`${root}/${path}`, mode);
  };
  const mkdir = (path: string, mode = 0o755) => {
    Deno.mkdirSync(`${root}/${path}`, { recursive: true });
    Deno.chmodSync(`${root}/${path}`, mode);
  };
  mkdir("files");
  w("files/empty", new Uint8Array(0));
  w("files/one-byte", new Uint8Array([0x0a]));
  w("files/one-block", noise(bs, 1));
  w("files/two-blocks", noise(2 * bs, 2));
  w("files/many-blocks", noise(9 * bs + 17, 3), 0o755);
  w("files/tail", noise(bs + 1000, 4));
  w("files/copy-of-many-blocks", noise(9 * bs + 17, 3));
  w("files/small-a", new TextEncoder().encode("same small content\n"));
  w("files/small-b", new TextEncoder().encode("same small content\n"));
  w("files/setuid", noise(100, 5), 0o4755);
  w("files/private", noise(50, 6), 0o600);
  w("files/no-perms", noise(10, 7), 0o000);
  // Sparse: a hole, a block of data, a hole, a tail; and an all-zero (all hole) file.
  const sparse = Deno.openSync(`${root}/files/sparse`, { write: true, create: true });
  sparse.seekSync(3 * bs, Deno.SeekMode.Start);
  sparse.writeSync(noise(bs, 8));
  sparse.seekSync(7 * bs + 5, Deno.SeekMode.Start);
  sparse.writeSync(noise(300, 9));
  sparse.close();
  Deno.writeFileSync(`${root}/files/zeros`, new Uint8Array(0));
  Deno.truncateSync(`${root}/files/zeros`, 4 * bs);
  // Hard links, across directories.
  mkdir("links/sub");
  w("links/original", noise(5000, 10));
  Deno.linkSync(`${root}/links/original`, `${root}/links/second`);
  Deno.linkSync(`${root}/links/original`, `${root}/links/sub/third`);
  w("links/big", noise(3 * bs, 11));
  Deno.linkSync(`${root}/links/big`, `${root}/links/sub/big-again`);
  // Symlinks.
  mkdir("symlinks");
  Deno.symlinkSync("../files/one-byte", `${root}/symlinks/relative`);
  Deno.symlinkSync("/etc/passwd", `${root}/symlinks/absolute`);
  Deno.symlinkSync("does/not/exist", `${root}/symlinks/dangling`);
  Deno.symlinkSync("x".repeat(1000), `${root}/symlinks/long-target`);
  // Special files.
  mkdir("dev");
  await sh("mknod", ["-m", "0666", `${root}/dev/null`, "c", "1", "3"]);
  await sh("mknod", ["-m", "0660", `${root}/dev/loop9`, "b", "7", "9"]);
  await sh("mknod", ["-m", "0600", `${root}/dev/bignum`, "c", "300", "70000"]);
  await sh("mkfifo", ["-m", "0644", `${root}/dev/fifo`]);
  // Closing a Deno listener unlinks its socket file: keep a second name for it.
  const listener = Deno.listen({ transport: "unix", path: `${root}/dev/.socket` });
  Deno.linkSync(`${root}/dev/.socket`, `${root}/dev/socket`);
  listener.close();
  // Names and depth.
  mkdir("names");
  w(`names/${"n".repeat(255)}`, new TextEncoder().encode("longest name\n"));
  w("names/with space", new Uint8Array([1]));
  w("names/ünïcödé-名前", new Uint8Array([2]));
  let deep = "deep";
  for (let i = 0; i < 60; i++) deep += `/level-${i}`;
  mkdir(deep);
  w(`${deep}/bottom`, new TextEncoder().encode("bottom\n"));
  // A directory big enough for several headers and a directory index.
  mkdir("big-dir");
  for (let i = 0; i < 700; i++) {
    w(
      `big-dir/entry-${String(i).padStart(4, "0")}-${"p".repeat(i % 40)}`,
      new Uint8Array([i & 0xff]),
    );
  }
  mkdir("empty-dir");
  mkdir("sticky", 0o1777);
  // Owners.
  mkdir("owned");
  w("owned/by-1000", noise(10, 12));
  Deno.chownSync(`${root}/owned/by-1000`, 1000, 1000);
  w("owned/by-nobody", noise(10, 13));
  Deno.chownSync(`${root}/owned/by-nobody`, 65534, 100);
  mkdir("owned/dir-12345");
  Deno.chownSync(`${root}/owned/dir-12345`, 12345, 54321);
  // Fixed times everywhere except symlinks (Deno cannot set a symlink's own time).
  await sh("find", [
    root,
    "-not",
    "-type",
    "l",
    "-exec",
    "touch",
    "-h",
    "-d",
    `@${TREE_MTIME}`,
    "{}",
    "+",
  ]);
  await sh("find", [root, "-type", "l", "-exec", "touch", "-h", "-d", `@${TREE_MTIME}`, "{}", "+"]);
}

/**
 * `unsquashfs -lln` of an image with directory sizes blanked (they depend on how a writer
 * splits listings into headers, which differs between valid writers).
 */
export async function listing(image: string): Promise<string> {
  const text = decoder.decode(await sh("unsquashfs", ["-lln", image]));
  return text.split("\n").filter((l) => /^[-dlcbps]/.test(l)).map((line) =>
    line.startsWith("d") ? line.replace(/^(\S+ \S+)\s+\d+ /, "$1 <dir> ") : line
  ).join("\n") + "\n";
}
