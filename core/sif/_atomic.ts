/**
 * Atomic replacement of a file: write a temporary file in the destination directory, fsync
 * it, rename it over the target, fsync the directory. On any failure (or SIGINT/SIGTERM
 * while writing) the temporary file is removed and an existing target is left untouched.
 *
 * @module
 */

/** Options of {@linkcode writeAtomically}. */
export interface AtomicOptions {
  /** Start from a copy of this file (for edits) instead of an empty file. */
  copyFrom?: string;
  /** Mode of a new file before the umask (default 0o755, as siftool creates images). */
  mode?: number;
}

function splitPath(path: string): { dir: string; base: string } {
  const slash = path.lastIndexOf("/");
  if (slash < 0) return { dir: ".", base: path };
  return { dir: slash === 0 ? "/" : path.slice(0, slash), base: path.slice(slash + 1) };
}

/**
 * Write `path` atomically.
 *
 * @param path The target file.
 * @param write Fills the temporary file (opened read-write); may throw.
 * @param options Copy source and mode.
 * @returns What `write` returned.
 */
export async function writeAtomically<T>(
  path: string,
  write: (file: Deno.FsFile) => Promise<T>,
  options: AtomicOptions = {},
): Promise<T> {
  // Replace what a symbolic link points to, not the link (siftool edits through links).
  let target = path;
  try {
    target = Deno.realPathSync(path);
  } catch {
    // does not exist yet
  }
  const { dir, base } = splitPath(target);
  const suffix = crypto.getRandomValues(new Uint32Array(2)).join("");
  const temp = `${dir}/.${base}.singlet-${suffix}.tmp`;
  let file: Deno.FsFile | undefined;
  const cleanup = () => {
    try {
      file?.close();
    } catch {
      // already closed
    }
    file = undefined;
    try {
      Deno.removeSync(temp);
    } catch {
      // never created, or already gone
    }
  };
  // Interrupted writes must not leave the temporary file behind.
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  const onSignal = (signal: Deno.Signal) => () => {
    cleanup();
    Deno.exit(signal === "SIGINT" ? 130 : 143);
  };
  const handlers = signals.map((signal) => [signal, onSignal(signal)] as const);
  for (const [signal, handler] of handlers) {
    try {
      Deno.addSignalListener(signal, handler);
    } catch {
      // signals unavailable (e.g. in a worker): cleanup on errors still applies
    }
  }
  try {
    if (options.copyFrom !== undefined) {
      await Deno.copyFile(options.copyFrom, temp);
      file = await Deno.open(temp, { read: true, write: true });
    } else {
      file = await Deno.open(temp, {
        read: true,
        write: true,
        createNew: true,
        mode: options.mode ?? 0o755,
      });
    }
    const result = await write(file);
    await file.sync();
    file.close();
    file = undefined;
    await Deno.rename(temp, target);
    await syncDirectory(dir);
    return result;
  } catch (error) {
    cleanup();
    throw error;
  } finally {
    for (const [signal, handler] of handlers) {
      try {
        Deno.removeSignalListener(signal, handler);
      } catch {
        // not registered
      }
    }
  }
}

async function syncDirectory(dir: string): Promise<void> {
  try {
    using handle = await Deno.open(dir, { read: true });
    await handle.sync();
  } catch {
    // Some filesystems refuse fsync on directories; the rename itself has happened.
  }
}

/**
 * Write all of `data` at the file's current position.
 *
 * @param file The file.
 * @param data The bytes.
 */
export async function writeAll(file: Deno.FsFile, data: Uint8Array): Promise<void> {
  let done = 0;
  while (done < data.length) done += await file.write(data.subarray(done));
}

/**
 * Write all of `data` at an absolute offset.
 *
 * @param file The file.
 * @param data The bytes.
 * @param offset Where.
 */
export async function writeAllAt(
  file: Deno.FsFile,
  data: Uint8Array,
  offset: number,
): Promise<void> {
  await file.seek(offset, Deno.SeekMode.Start);
  await writeAll(file, data);
}
