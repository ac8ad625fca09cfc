// audit, log, scan and the help topics on an 80-column terminal: no line wider than the terminal (so the terminal never
// wraps one, mid-word), every word of every cell either whole or visibly cut with "…"; into a pipe, as before.
import { describe, expect, it } from 'vitest';
import { helpTopicText } from '../../src/commands/help.js';
import { renderFindingTable, type Finding } from '../../src/scan/report.js';
import { tempHome } from '../helpers/env.js';
import { testCli } from '../helpers/deps.js';

const DAY = 24 * 3_600_000;
const LONG = 'campaigns-for-the-spring-launch-in-europe-and-the-americas-2026';

const lines = (text: string) => text.replace(/\u001b\[[0-9;]*m/g, '').trimEnd().split('\n');
/** Every line fits: the terminal wraps nothing itself. */
function expectFits(text: string, width = 80): void {
  for (const line of lines(text)) expect([...line].length, line).toBeLessThanOrEqual(width);
}
/** Every word of `source` is in the output whole (a word is never split across lines). */
function expectWhole(text: string, source: string): void {
  const words = new Set(lines(text).flatMap((l) => l.split(/\s+/)));
  for (const word of source.split(' ').filter(Boolean)) expect(words.has(word), `'${word}' of '${source}'`).toBe(true);
}

/** An account with what makes a review long: a 63-character name, a stale token, an unfinished rotation, a pending one. */
async function busyAccount() {
  const cli = testCli(tempHome(), '2026-01-01T00:00:00.000Z');
  await cli.run(['init']);
  await cli.run(['create', '--type', 's2s', '--name', LONG]);
  await cli.run(['create', '--type', 'onelink', '--name', 'links']);
  cli.clock.advance(190 * DAY);
  expect((await cli.run(['rotate', LONG])).code).toBe(0);
  await cli.run(['create', '--type', 'api', '--name', 'reporting']);
  return cli;
}

describe('tables on an 80-column terminal', () => {
  it('audit: one finding per line, its detail wrapped at spaces or under it, the command that fixes it whole', async () => {
    const cli = await busyAccount();
    const json = JSON.parse((await cli.run(['audit', '--json'])).stdout) as { findings: { kind: string; message: string; action: string }[] };
    expect(json.findings.map((f) => f.kind)).toEqual(expect.arrayContaining(['stale', 'rotation-unfinished', 'pending', 'never-retrieved']));
    const r = await cli.run(['audit'], { tty: true, env: { COLUMNS: '80' } });
    expect(r.code).toBe(0);
    expectFits(r.stdout);
    expect(lines(r.stdout)[1]).toMatch(/^SEVERITY +FINDING +TOKEN +TYPE/);
    for (const f of json.findings) {
      expectWhole(r.stdout, f.message);
      if (f.action !== 'none') expectWhole(r.stdout, f.action);
    }
    // A name is whole, or cut with "…": never broken onto a second line.
    for (const line of lines(r.stdout).filter((l) => /^(CRITICAL|WARNING|info)/.test(l))) expect(line).toMatch(new RegExp(`(${LONG}|campaigns\\S*…\\S*|default|links|reporting)`));
  });

  it('audit into a pipe: the lines it always printed there', async () => {
    const cli = await busyAccount();
    const r = await cli.run(['audit']);
    expect(r.stdout).not.toMatch(/SEVERITY/);
    expect(r.stdout).toMatch(new RegExp(`^CRITICAL stale {15}${LONG} s2s {6}190 days old \\(limit 180\\)$`, 'm'));
    expect(r.stdout).toMatch(new RegExp(`^ {29}→ tokenctl rotate ${LONG} --resume$`, 'm'));
  });

  it('log: a header, one line per event, the details under it when they do not fit beside it; tab-separated into a pipe', async () => {
    const cli = await busyAccount();
    const events = JSON.parse((await cli.run(['log', '--json'])).stdout) as unknown[];
    const r = await cli.run(['log'], { tty: true, env: { COLUMNS: '80' } });
    expectFits(r.stdout);
    const out = lines(r.stdout);
    expect(out[0]).toMatch(/^SEQ +TIME \(UTC\) +ACTOR +ACTION +TOKEN +TYPE$/);
    expect(out.filter((l) => /^ *\d+ {2}\d{4}-\d\d-\d\d \d\d:\d\d {2}/.test(l))).toHaveLength(events.length);
    expect(r.stdout).toMatch(/^ {6}rotation rot_\w+ started, replacement tok_\w+$/m);
    // 120 columns: the details beside their events, and the seconds of the times.
    const wide = await cli.run(['log'], { tty: true, env: { COLUMNS: '120' } });
    expectFits(wide.stdout, 120);
    expect(lines(wide.stdout)[0]).toMatch(/DETAIL$/);
    const piped = await cli.run(['log']);
    expect(piped.stdout.replace(/\n$/, '').split('\n').map((l) => l.split('\t').length)).toEqual(events.map(() => 7));
  });

  it('scan: file:line:col, the masked value and whose token it is, no box around it', () => {
    const finding = (file: string, name: string): Finding => ({
      file,
      line: 12,
      column: 9,
      endColumn: 49,
      type: 's2s',
      masked: 'tctl_s2s_…u7CH',
      live: 'yes',
      token: { id: 'tok_BS0XQFTzFM4yAtiy', name, status: 'active' },
    });
    const findings = [finding('config/environments/production/services/events/settings.yaml', LONG), finding('.env', 'events')];
    const text = renderFindingTable(findings, 80);
    expectFits(text);
    expect(text).not.toMatch(/[─│┌┐└┘┼]/);
    expect(lines(text)[0]).toMatch(/^FILE:LINE:COL +VALUE$/);
    expect(text).toMatch(/settings\.yaml:12:9 +tctl_s2s_…u7CH\n {4}LIVE: 'campaigns-for-the-spring-launch-in-europe-and-the-americas-2026'\n {4}\(active\)\n/);
    const wide = renderFindingTable(findings, 200);
    expect(lines(wide)[0]).toMatch(/^FILE:LINE:COL +TYPE +VALUE +LIVE$/);
    expectFits(wide, 200);
    expectWhole(wide, `LIVE token of this account: '${LONG}' (tok_BS0XQFTzFM4yAtiy, active)`);
  });

  it.each(['environment', 'exit-codes'] as const)('help %s: meanings wrapped in their column; one line per row into a pipe', (topic) => {
    const text = helpTopicText(topic, 80);
    expectFits(text);
    const piped = helpTopicText(topic);
    const rows = piped.trimEnd().split('\n').slice(3);
    for (const row of rows) {
      const [, meaning] = /^\S+(?:, \S+)?\s{2,}(.*)$/.exec(row)!;
      expectWhole(text, meaning!);
    }
    // Continuation lines start under MEANING.
    const indent = lines(text)[2]!.indexOf('MEANING');
    expect(lines(text).slice(3).filter((l) => l.startsWith(' ')).every((l) => l.slice(0, indent).trim() === '' && l[indent] !== ' ')).toBe(true);
  });
});
