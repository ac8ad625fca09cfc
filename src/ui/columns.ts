/**
 * Tables for a terminal of a given width (audit, log, scan, help topics): columns separated by spaces, no rules, and
 * nothing wider than the terminal, so that the terminal never wraps a line (and a word) itself. A table comes in
 * layouts, from the richest to the narrowest; the first one that fits is drawn. To fit, a 'wrap' column (free text)
 * is word-wrapped onto more lines, then a 'cut' column (a name, a path) is shortened with "…"; a 'fixed' one never
 * changes. When even the narrowest layout does not fit, its last column goes under each row, indented, word-wrapped.
 * A word longer than its column is shortened with "…", never split across lines.
 */

export interface Column {
  head: string;
  /** Each row's text (plain: widths are measured on it). */
  cells: readonly string[];
  fit: 'wrap' | 'cut' | 'fixed';
  /** The narrowest a 'wrap' or 'cut' column may become (default: 20 for wrap, 8 for cut). */
  min?: number;
  /** Which part of a 'cut' column's text stays: its start (default), its end (a path), or both ends (a name). */
  keep?: 'start' | 'end' | 'ends';
  align?: 'left' | 'right';
}

export interface Layout {
  columns: readonly Column[];
}

export interface Notes {
  /** Lines under each row (a next step to take), word-wrapped. */
  lines: readonly (readonly string[])[];
  /** They start under this column (index in every layout), or at `stackIndent` when the table is stacked. */
  column: number;
}

export interface FitOptions {
  /** Indent of the last column's text when it goes under each row (default 4). */
  stackIndent?: number;
  notes?: Notes;
  /** Colours a fitted piece of a cell: by column head, row and its plain text. */
  paint?: (head: string, row: number, text: string) => string;
  /** Colours the header line (bold on a colour terminal). */
  paintHead?: (text: string) => string;
}

const GAP = 2;
const length = (s: string) => [...s].length;
const pad = (s: string, n: number, align: 'left' | 'right' = 'left') => {
  const fill = ' '.repeat(Math.max(0, n - length(s)));
  return align === 'right' ? fill + s : s + fill;
};

/** `text` in at most `n` characters, "…" standing for what is left out: the end, the start, or the middle. */
export function cut(text: string, n: number, keep: 'start' | 'end' | 'ends' = 'start'): string {
  const chars = [...text];
  if (chars.length <= n) return text;
  if (n <= 1) return '…';
  if (keep === 'end') return '…' + chars.slice(chars.length - n + 1).join('');
  if (keep === 'ends' && n >= 5) {
    const tail = Math.floor((n - 1) / 2);
    return chars.slice(0, n - 1 - tail).join('') + '…' + chars.slice(chars.length - tail).join('');
  }
  return chars.slice(0, n - 1).join('') + '…';
}

/** Word-wraps `text` into lines of at most `n` characters, breaking only at spaces; a longer word is cut with "…". */
export function wrapWords(text: string, n: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ').filter((w) => w !== '')) {
    const w = length(word) > n ? cut(word, n) : word;
    if (line === '') line = w;
    else if (length(line) + 1 + length(w) <= n) line += ` ${w}`;
    else {
      lines.push(line);
      line = w;
    }
  }
  lines.push(line);
  return lines;
}

const natural = (c: Column) => Math.max(length(c.head), ...c.cells.map(length));
const longestWord = (c: Column) => Math.max(0, ...c.cells.flatMap((t) => t.split(' ').map(length)));
/** A wrap column is never narrower than its longest word: a layout that would cut one does not fit. */
const minimum = (c: Column) =>
  c.fit === 'fixed' ? natural(c) : Math.min(natural(c), c.fit === 'wrap' ? Math.max(c.min ?? 20, longestWord(c)) : (c.min ?? 8));
const total = (widths: readonly number[]) => widths.reduce((a, b) => a + b, 0) + GAP * Math.max(0, widths.length - 1);

/**
 * The widths that make the columns fit `width`, or null: wrap columns give way first (their text goes onto more
 * lines), then cut columns (their text is shortened), each no narrower than its minimum.
 */
function widthsFor(columns: readonly Column[], width: number): number[] | null {
  const widths = columns.map(natural);
  let excess = total(widths) - width;
  for (const kind of ['wrap', 'cut'] as const) {
    // The widest first, so that no column is squeezed while a wider one of the same kind keeps its room.
    const order = columns.map((_, i) => i).filter((i) => columns[i]!.fit === kind).sort((a, b) => widths[b]! - widths[a]!);
    for (const i of order) {
      if (excess <= 0) break;
      const give = Math.min(excess, widths[i]! - minimum(columns[i]!));
      widths[i]! -= give;
      excess -= give;
    }
  }
  return excess <= 0 ? widths : null;
}

function cellLines(c: Column, text: string, w: number): string[] {
  if (c.fit === 'wrap') return wrapWords(text, w);
  if (c.fit === 'cut') return [cut(text, w, c.keep)];
  return [text];
}

/** The table in the first layout that fits `width` (see the module's comment), ending with a line break. */
export function renderFitted(layouts: readonly Layout[], width: number, options: FitOptions = {}): string {
  const paint = options.paint ?? ((_h, _r, t) => t);
  let chosen: { columns: readonly Column[]; widths: number[]; stacked: Column | null } | undefined;
  for (const layout of layouts) {
    const widths = widthsFor(layout.columns, width);
    if (widths) {
      chosen = { columns: layout.columns, widths, stacked: null };
      break;
    }
  }
  if (!chosen) {
    const last = layouts.at(-1)!.columns;
    const columns = last.slice(0, -1);
    // Still too wide without it (a very narrow terminal): the cut columns go down to a few characters.
    const widths = widthsFor(columns, width) ?? widthsFor(columns.map((c) => (c.fit === 'cut' ? { ...c, min: 3 } : c)), width) ?? columns.map(natural);
    chosen = { columns, widths, stacked: last.at(-1)! };
  }
  const { columns, widths, stacked } = chosen;
  const indentOf = (column: number) => total(widths.slice(0, column)) + (column > 0 ? GAP : 0);
  const stackIndent = Math.min(options.stackIndent ?? 4, Math.max(0, width - 20));
  const under = (text: string, indent: number) => wrapWords(text, Math.max(10, width - indent)).map((l) => ' '.repeat(indent) + l);

  const line = (pieces: string[]) => pieces.join(' '.repeat(GAP)).trimEnd();
  const out: string[] = [];
  const head = line(columns.map((c, i) => pad(c.head, i === columns.length - 1 ? 0 : widths[i]!, c.align)));
  out.push(options.paintHead ? options.paintHead(head) : head);
  const rows = columns[0]?.cells.length ?? 0;
  for (let r = 0; r < rows; r++) {
    const cells = columns.map((c, i) => cellLines(c, c.cells[r]!, widths[i]!));
    const height = Math.max(...cells.map((l) => l.length));
    for (let k = 0; k < height; k++) {
      out.push(
        line(
          columns.map((c, i) => {
            const piece = cells[i]![k] ?? '';
            const fill = ' '.repeat(Math.max(0, (i === columns.length - 1 && c.align !== 'right' ? 0 : widths[i]!) - length(piece)));
            const painted = piece === '' ? '' : paint(c.head, r, piece);
            return c.align === 'right' ? fill + painted : painted + fill;
          }),
        ),
      );
    }
    if (stacked && stacked.cells[r]) out.push(...under(stacked.cells[r]!, stackIndent).map((l) => ' '.repeat(stackIndent) + paint(stacked.head, r, l.slice(stackIndent))));
    const notes = options.notes?.lines[r] ?? [];
    const noteIndent = stacked ? stackIndent : indentOf(options.notes?.column ?? 0);
    for (const note of notes) {
      // A note (a command) goes where it fits whole: under its column, else at the stack's indent, else at the margin;
      // one too long for any line is word-wrapped at the stack's indent.
      const indent = [noteIndent, stackIndent, 0].find((i) => length(note) <= width - i) ?? stackIndent;
      out.push(...under(note, indent));
    }
  }
  return out.join('\n') + '\n';
}
