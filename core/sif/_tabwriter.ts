/**
 * A port of Go's `text/tabwriter` for the settings siftool uses (space padding, no flags),
 * so `sif header` and `sif info` align columns exactly as siftool does, including its column
 * blocks: a line with fewer cells ends the block above it.
 *
 * @module
 */

interface Cell {
  /** Length of the cell text in UTF-16 units (its slice of the buffer). */
  size: number;
  /** Width in runes. */
  width: number;
  /** Terminated by a tab (as opposed to the end of line). */
  htab: boolean;
}

/**
 * Format text like `tabwriter.NewWriter(w, minwidth, 0, padding, ' ', 0)` followed by
 * `Flush()`.
 *
 * @param text Text with `\t`-terminated cells and `\n`-terminated lines.
 * @param padding Padding added to each column's widest cell.
 * @param minwidth Minimal cell width including padding.
 * @returns The aligned text.
 */
export function tabwrite(text: string, padding: number, minwidth = 0): string {
  let out = "";
  let buf = "";
  let lines: Cell[][] = [[]];
  let cell: Cell = { size: 0, width: 0, htab: false };
  let widths: number[] = [];

  const terminateCell = (htab: boolean): number => {
    cell.htab = htab;
    const line = lines[lines.length - 1]!;
    line.push(cell);
    cell = { size: 0, width: 0, htab: false };
    return line.length;
  };

  const writeLines = (pos0: number, line0: number, line1: number): number => {
    let pos = pos0;
    for (let i = line0; i < line1; i++) {
      const line = lines[i]!;
      for (let j = 0; j < line.length; j++) {
        const c = line[j]!;
        if (c.size > 0) {
          out += buf.slice(pos, pos + c.size);
          pos += c.size;
        }
        if (j < widths.length) out += " ".repeat(Math.max(widths[j]! - c.width, 0));
      }
      if (i + 1 === lines.length) {
        out += buf.slice(pos, pos + cell.size);
        pos += cell.size;
      } else {
        out += "\n";
      }
    }
    return pos;
  };

  const format = (pos0: number, line0: number, line1: number): number => {
    let pos = pos0;
    const column = widths.length;
    for (let current = line0; current < line1; current++) {
      if (column >= lines[current]!.length - 1) continue;
      pos = writeLines(pos, line0, current);
      line0 = current;
      let width = minwidth;
      for (; current < line1; current++) {
        const line = lines[current]!;
        if (column >= line.length - 1) break;
        const w = line[column]!.width + padding;
        if (w > width) width = w;
      }
      widths.push(width);
      pos = format(pos, line0, current);
      widths.pop();
      line0 = current;
    }
    return writeLines(pos, line0, line1);
  };

  const flush = () => {
    if (cell.size > 0) terminateCell(false);
    format(0, 0, lines.length);
    buf = "";
    lines = [[]];
    cell = { size: 0, width: 0, htab: false };
    widths = [];
  };

  let start = 0;
  const append = (end: number) => {
    const piece = text.slice(start, end);
    buf += piece;
    cell.size += piece.length;
    cell.width += [...piece].length;
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch !== "\t" && ch !== "\v" && ch !== "\n" && ch !== "\f") continue;
    append(i);
    start = i + 1;
    const ncells = terminateCell(ch === "\t");
    if (ch === "\n" || ch === "\f") {
      lines.push([]);
      if (ch === "\f" || ncells === 1) flush();
    }
  }
  append(text.length);
  flush();
  return out;
}
