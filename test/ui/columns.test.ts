import { describe, expect, it } from 'vitest';
import { cut, renderFitted, wrapWords, type Column } from '../../src/ui/columns.js';

const widths = (text: string) => text.trimEnd().split('\n').map((l) => [...l].length);

describe('tables that fit a terminal', () => {
  it('word-wraps at spaces only; a word longer than the line is shortened with …, never split across lines', () => {
    expect(wrapWords('pending until 2026-12-06 17:46 UTC', 24)).toEqual(['pending until 2026-12-06', '17:46 UTC']);
    expect(wrapWords('a rotation-unfinished x', 10)).toEqual(['a', 'rotation-…', 'x']);
    expect(wrapWords('', 10)).toEqual(['']);
  });

  it('cuts names at the end, paths at the start, or keeps both ends', () => {
    expect(cut('campaigns-for-the-spring-launch', 12)).toBe('campaigns-f…');
    expect(cut('config/production/settings.yaml:3:7', 20, 'end')).toBe('…n/settings.yaml:3:7');
    expect(cut('events-prod-20261129', 14, 'ends')).toBe('events-…261129');
    expect(cut('short', 12)).toBe('short');
  });

  const table = (detail: string[], names: string[]): Column[] => [
    { head: 'NAME', cells: names, fit: 'cut', min: 8 },
    { head: 'TYPE', cells: names.map(() => 'onelink'), fit: 'fixed' },
    { head: 'DETAIL', cells: detail, fit: 'wrap', min: 20 },
  ];

  it('draws the first layout that fits, wrapping free text in its column before cutting names', () => {
    const detail = ['its value was never handed out (not shown, retrieved or delivered) and it was never seen in use'];
    const text = renderFitted([{ columns: table(detail, ['default']) }], 60);
    expect(Math.max(...widths(text))).toBeLessThanOrEqual(60);
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toBe('NAME     TYPE     DETAIL');
    expect(lines[1]).toMatch(/^default  onelink  its value was never handed out \(not shown,$/);
    // Continuation lines start under the DETAIL column.
    expect(lines.slice(2).every((l) => l.startsWith(' '.repeat(18)) && l[18] !== ' ')).toBe(true);
    expect(lines.join(' ').replace(/\s+/g, ' ')).toContain(detail[0]);
  });

  it('puts the last column under each row when even the narrowest layout does not fit; notes go where they fit whole', () => {
    const columns: Column[] = [
      { head: 'NAME', cells: ['campaigns-for-the-spring', 'links'], fit: 'cut', min: 8 },
      { head: 'TYPE', cells: ['s2s', 'onelink'], fit: 'fixed' },
      { head: 'DETAIL', cells: ['190 days old (limit 180)', 'pending until 2026-12-06 17:46 UTC'], fit: 'wrap', min: 30 },
    ];
    const notes = { column: 2, lines: [['→ tokenctl rotate campaigns-for-the-spring'], ['→ tokenctl rotate links']] };
    // 8 + 7 + 30 and two gaps: 49 columns at the narrowest; in 44 the details go under their rows.
    expect(renderFitted([{ columns }], 44, { stackIndent: 4, notes })).toBe(
      [
        'NAME                      TYPE',
        'campaigns-for-the-spring  s2s',
        '    190 days old (limit 180)',
        '→ tokenctl rotate campaigns-for-the-spring', // 42 characters: whole at the margin, not under the others
        'links                     onelink',
        '    pending until 2026-12-06 17:46 UTC',
        '    → tokenctl rotate links',
        '',
      ].join('\n'),
    );
    // Too narrow even at the margin: the command is wrapped at its spaces, at the stack's indent, nothing of it cut.
    const narrow = renderFitted([{ columns }], 36, { stackIndent: 4, notes }).split('\n');
    expect(narrow.slice(3, 5)).toEqual(['    → tokenctl rotate', '    campaigns-for-the-spring']);
    expect(Math.max(...narrow.map((l) => [...l].length))).toBeLessThanOrEqual(36);
  });

  it('right-aligns numbers and never pads the last column', () => {
    const text = renderFitted([{ columns: [{ head: 'SEQ', cells: ['1', '12'], fit: 'fixed', align: 'right' }, { head: 'ACTION', cells: ['x', 'yy'], fit: 'fixed' }] }], 80);
    expect(text).toBe('SEQ  ACTION\n  1  x\n 12  yy\n');
  });
});
