import assert from "node:assert/strict";
import { SquashfsReader } from "./reader.ts";
import { SquashfsWriter } from "./writer.ts";

const meta = { mode: 0o644, uid: 0, gid: 0, mtime: 0 };
const enc = new TextEncoder();

function bytes(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = (x >>> 16) % 7; // compressible, not all zero
  }
  return out;
}

function content(reader: SquashfsReader, path: string): Uint8Array {
  const entry = reader.lookup(path)!;
  const parts = [...reader.fileChunks(entry)];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

Deno.test("files copied with rawFile/rawFragment read back identical: blocks, tails, holes, empty", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const files: Record<string, Uint8Array> = {
      "empty": new Uint8Array(0),
      "small": bytes(100, 1),
      "small2": bytes(3000, 2),
      "one-block": bytes(131072, 3),
      "blocks-and-tail": bytes(131072 * 2 + 777, 4),
      "hole": new Uint8Array(131072 * 2 + 5),
      "random": crypto.getRandomValues(new Uint8Array(50000)),
    };
    const first = await SquashfsWriter.create(`${dir}/a.sqfs`);
    await first.directory(new Uint8Array(0), { ...meta, mode: 0o755 });
    for (const [name, data] of Object.entries(files)) {
      await first.file(
        enc.encode(name),
        meta,
        data.length,
        (async function* () {
          yield data;
        })(),
      );
    }
    await first.finish();

    const reader = await SquashfsReader.open(`${dir}/a.sqfs`);
    const second = await SquashfsWriter.create(`${dir}/b.sqfs`);
    await second.directory(new Uint8Array(0), { ...meta, mode: 0o755 });
    // a compressed file first, so raw blocks follow queued jobs
    const extra = bytes(200000, 9);
    await second.file(
      enc.encode("extra"),
      meta,
      extra.length,
      (async function* () {
        yield extra;
      })(),
    );
    const fragments = new Map<number, number>();
    for (const entry of reader.list()) {
      if (entry.type !== "file") continue;
      const raw = reader.rawFileData(entry);
      let tail;
      if (raw.fragment) {
        let index = fragments.get(raw.fragment.index);
        if (index === undefined) {
          const block = reader.rawFragment(raw.fragment.index);
          index = await second.rawFragment(block.word, block.data);
          fragments.set(raw.fragment.index, index);
        }
        tail = { ...raw.fragment, fragment: index };
      }
      await second.rawFile(reader.pathOf(entry), meta, entry.size, raw.words, raw.data, tail);
    }
    reader.close();
    await second.finish();

    const copy = await SquashfsReader.open(`${dir}/b.sqfs`);
    try {
      for (const [name, data] of Object.entries(files)) {
        assert.deepEqual(content(copy, name), data, name);
      }
      assert.deepEqual(content(copy, "extra"), extra);
    } finally {
      copy.close();
    }
    const list = await new Deno.Command("unsquashfs", {
      args: ["-lln", `${dir}/b.sqfs`],
      stdout: "piped",
    }).output();
    assert.ok(list.success);
    assert.match(new TextDecoder().decode(list.stdout), /blocks-and-tail/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
