import { describe, expect, it } from 'vitest';
import { StreamMasker } from '../../src/exec/masker.js';

function feed(masker: StreamMasker, chunks: string[]): string {
  return Buffer.concat([...chunks.map((c) => masker.push(c)), masker.flush()]).toString('utf8');
}

describe('StreamMasker', () => {
  const a = 'tctl_s2s_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789';
  const b = 'eyJhbGciOiJFZERTQSJ9.eyJpc3MiOiJ4In0.c2lnbmF0dXJl';
  const text = `start ${a} mid ${b}${a} tail tctl_s2s_AbC end`;
  const expected = 'start *** mid ****** tail tctl_s2s_AbC end';

  it('masks values whole, adjacent ones too, and leaves near-misses alone', () => {
    expect(feed(new StreamMasker([a, b]), [text])).toBe(expected);
  });

  it('masks a value split at every possible place, and split into single bytes', () => {
    for (let i = 0; i <= text.length; i++) {
      for (let j = i; j <= text.length; j += 7) {
        expect(feed(new StreamMasker([a, b]), [text.slice(0, i), text.slice(i, j), text.slice(j)])).toBe(expected);
      }
    }
    expect(feed(new StreamMasker([a, b]), [...text])).toBe(expected);
  });

  it('holds back at most len-1 bytes, and only a tail that could still become a value', () => {
    const m = new StreamMasker([a]);
    expect(m.push('hello world\n').toString()).toBe('hello world\n');
    const partial = a.slice(0, -1);
    expect(m.push(`x ${partial}`).toString()).toBe('x ');
    expect(m.push('!').toString()).toBe(`${partial}!`);
    expect(m.push(`tctl_`).toString()).toBe('');
    expect(m.flush().toString()).toBe('tctl_');
  });

  it('passes arbitrary bytes through unchanged', () => {
    const bytes = Buffer.from([0xff, 0x00, 0xe2, 0x82, 0x74, 0x63, 0x74, 0x6c]);
    const m = new StreamMasker([a]);
    expect(Buffer.concat([m.push(bytes), m.flush()]).equals(bytes)).toBe(true);
  });
});
