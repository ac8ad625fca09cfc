/**
 * Replaces secret values in a byte stream with `***`, also when a value arrives split across writes. It holds
 * back only the longest tail that could still become a value (at most the longest value's length minus one
 * byte), so ordinary output flows through at once. Bytes are handled as latin1 text: one char per byte, so any
 * output (binary, broken UTF-8) passes through unchanged except for the values themselves.
 */
export const MASK = '***';

export class StreamMasker {
  private readonly values: string[];
  private readonly maxHold: number;
  private held = '';

  constructor(values: readonly string[]) {
    // Longest first, so of two values starting at the same place the longer one is masked whole.
    this.values = [...new Set(values.filter((v) => v.length > 0).map((v) => Buffer.from(v, 'utf8').toString('latin1')))].sort(
      (a, b) => b.length - a.length,
    );
    this.maxHold = Math.max(0, ...this.values.map((v) => v.length - 1));
  }

  /** Feeds a chunk; returns what can be written now. */
  push(chunk: Buffer | string): Buffer {
    const text = this.held + (typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk).toString('latin1');
    const { masked, rest } = this.replaceAll(text);
    const keep = this.pendingPrefixLength(rest);
    this.held = rest.slice(rest.length - keep);
    return Buffer.from(masked + rest.slice(0, rest.length - keep), 'latin1');
  }

  /** At end of stream: whatever was held back could not become a value, so it is released. */
  flush(): Buffer {
    const out = Buffer.from(this.held, 'latin1');
    this.held = '';
    return out;
  }

  private replaceAll(text: string): { masked: string; rest: string } {
    let masked = '';
    let from = 0;
    for (;;) {
      let at = -1;
      let found = '';
      for (const v of this.values) {
        const i = text.indexOf(v, from);
        if (i !== -1 && (at === -1 || i < at)) {
          at = i;
          found = v;
        }
      }
      if (at === -1) return { masked, rest: text.slice(from) };
      masked += text.slice(from, at) + MASK;
      from = at + found.length;
    }
  }

  /** Length of the longest tail of `text` that is a proper prefix of some value. */
  private pendingPrefixLength(text: string): number {
    for (let n = Math.min(text.length, this.maxHold); n > 0; n--) {
      const tail = text.slice(text.length - n);
      if (this.values.some((v) => v.length > n && v.startsWith(tail))) return n;
    }
    return 0;
  }
}
