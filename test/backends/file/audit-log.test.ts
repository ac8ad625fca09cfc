import { describe, expect, it } from 'vitest';
import { chmodSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { FileBackend } from '../../../src/backends/file/file-backend.js';
import { manualClock } from '../../../src/core/clock.js';
import { TokenctlError } from '../../../src/core/errors.js';
import { newMasterKeyB64, tempHome } from '../../helpers/env.js';

function setup() {
  const home = tempHome();
  const dir = path.join(home, 'profiles', 'default');
  const clock = manualClock('2026-04-01T00:00:00.000Z');
  const env = { TOKENCTL_MASTER_KEY: newMasterKeyB64(), TOKENCTL_KEYCHAIN: 'off' };
  const backend = new FileBackend({ dir, clock, env, actor: 'os:alice', warn: () => undefined });
  return { dir, clock, backend, log: path.join(dir, 'audit.log'), store: path.join(dir, 'store.json') };
}

async function busyAccount() {
  const s = setup();
  await s.backend.init({ accountName: 'acme', defaultToken: true });
  const { value } = await s.backend.create({ type: 's2s', name: 'events' });
  await s.backend.reveal('default');
  await s.backend.rename('events', 'events-2');
  await s.backend.delete('events-2', 'Delete token');
  return { ...s, value };
}

const lines = (file: string) => readFileSync(file, 'utf8').trimEnd().split('\n');

describe('audit trail', () => {
  it('records every change and retrieval with time, actor, token and a fingerprint, never a value', async () => {
    const s = await busyAccount();
    const events = await s.backend.auditEvents();
    expect(events.map((e) => e.action)).toEqual(['account.init', 'token.create', 'token.create', 'token.reveal', 'token.rename', 'token.delete']);
    expect(events.every((e) => e.actor === 'os:alice' && e.at === '2026-04-01T00:00:00.000Z')).toBe(true);
    expect(events[2]).toMatchObject({ token: { name: 'events', type: 's2s' } });
    expect(events[2]!.fingerprint).toMatch(/^[\w-]{43}$/);
    expect(events[4]!.detail).toEqual({ from: 'events', to: 'events-2' });
    const text = readFileSync(s.log, 'utf8');
    expect(text).not.toContain(s.value);
    expect(text).not.toContain(s.value.slice(9, 30));
    expect(await s.backend.verifyAuditTrail()).toEqual({ ok: true, events: 6, lastAt: '2026-04-01T00:00:00.000Z' });
  });

  it.each([
    ['an edited line', (l: string[]) => (l[2] = l[2]!.replace('"events"', '"evenz"')), 3, /edited/],
    ['a deleted line', (l: string[]) => l.splice(1, 1), 2, /deleted, inserted or moved/],
    ['two lines swapped', (l: string[]) => ([l[3], l[4]] = [l[4]!, l[3]!]), 4, /deleted, inserted or moved/],
    ['the last line cut off', (l: string[]) => l.pop(), 6, /cut off the end/],
    ['a forged line appended', (l: string[]) => l.push(l[5]!.replace('"seq":6', '"seq":7')), 7, /deleted, inserted or moved|edited/],
  ])('detects %s, naming the first bad line', async (_label, tamper, line, reason) => {
    const s = await busyAccount();
    const l = lines(s.log);
    tamper(l);
    writeFileSync(s.log, l.join('\n') + '\n');
    const result = await s.backend.verifyAuditTrail();
    expect(result).toMatchObject({ ok: false, line });
    expect((result as { reason: string }).reason).toMatch(reason);
  });

  it('refuses changes when the trail does not match the store, and leaves the store untouched', async () => {
    const s = await busyAccount();
    const l = lines(s.log);
    writeFileSync(s.log, l.slice(0, 3).join('\n') + '\n');
    const before = readFileSync(s.store, 'utf8');
    await expect(s.backend.create({ type: 'api', name: 'x' })).rejects.toThrow(/does not match the store/);
    expect(readFileSync(s.store, 'utf8')).toBe(before);
  });

  it('fails closed: if the trail cannot be written, the change is refused (exit 9) and nothing changes', async () => {
    const s = await busyAccount();
    const before = readFileSync(s.store, 'utf8');
    // Make the trail unwritable: replace it with a directory of the same name.
    const saved = readFileSync(s.log, 'utf8');
    const { rmSync } = await import('node:fs');
    rmSync(s.log);
    mkdirSync(s.log);
    const error = await s.backend.create({ type: 'api', name: 'x' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TokenctlError);
    expect((error as TokenctlError).kind).toBe('data');
    expect(readFileSync(s.store, 'utf8')).toBe(before);
    rmSync(s.log, { recursive: true });
    writeFileSync(s.log, saved, { mode: 0o600 });
    chmodSync(s.log, 0o600);
    await s.backend.create({ type: 'api', name: 'x' });
    expect((await s.backend.verifyAuditTrail()).ok).toBe(true);
  });

  it('keeps authentic events a crash left after the store head, and chains on from them', async () => {
    const s = await busyAccount();
    const storeBefore = readFileSync(s.store, 'utf8');
    await s.backend.rename('default', 'renamed');
    // Simulate a crash after the trail was appended but before the store was written.
    writeFileSync(s.store, storeBefore, { mode: 0o600 });
    expect((await s.backend.verifyAuditTrail()).ok).toBe(true);
    await s.backend.rename('default', 'renamed-again');
    expect(await s.backend.verifyAuditTrail()).toMatchObject({ ok: true, events: 8 });
  });
});

describe('a new account in a directory with an old trail', () => {
  it('keeps the old trail aside instead of deleting it or chaining onto it', async () => {
    const home = tempHome();
    const dir = path.join(home, 'profiles', 'default');
    const env = { TOKENCTL_MASTER_KEY: newMasterKeyB64(), TOKENCTL_KEYCHAIN: 'off' };
    const warnings: string[] = [];
    const backend = new FileBackend({ dir, clock: manualClock('2026-04-01T00:00:00.000Z'), env, warn: (m) => warnings.push(m) });
    await backend.init({ accountName: 'first', defaultToken: true });
    const { rmSync, readdirSync } = await import('node:fs');
    rmSync(path.join(dir, 'store.json'));
    await backend.init({ accountName: 'second', defaultToken: true });
    expect(readdirSync(dir).filter((f) => f.startsWith('audit.log.orphaned-'))).toHaveLength(1);
    expect(warnings.join('\n')).toMatch(/kept as .*audit\.log\.orphaned-/);
    expect(await backend.verifyAuditTrail()).toMatchObject({ ok: true, events: 2 });
  });
});

describe('an interrupted append', () => {
  it('a torn last line (power cut, full disk) is discarded by the next change, not a dead end', async () => {
    const s = await busyAccount();
    const { appendFileSync } = await import('node:fs');
    appendFileSync(s.log, '{"seq":7,"at":"2026');
    expect(await s.backend.verifyAuditTrail()).toMatchObject({ ok: true, events: 6 });
    await s.backend.create({ type: 'onelink', name: 'after-crash' });
    expect(lines(s.log)).toHaveLength(7);
    expect(await s.backend.verifyAuditTrail()).toMatchObject({ ok: true, events: 7 });
  });

  it('a trail cut inside a committed event is still detected', async () => {
    const s = await busyAccount();
    const text = readFileSync(s.log, 'utf8');
    writeFileSync(s.log, text.slice(0, text.length - 20));
    expect(await s.backend.verifyAuditTrail()).toMatchObject({ ok: false, line: 6 });
    await expect(s.backend.create({ type: 'api', name: 'x' })).rejects.toThrow(/does not match the store/);
  });

  it('refuses a trail that other users can read or write', async () => {
    const s = await busyAccount();
    chmodSync(s.log, 0o666);
    await expect(s.backend.auditEvents()).rejects.toThrow(/chmod 600/);
    await expect(s.backend.create({ type: 'api', name: 'x' })).rejects.toThrow(/chmod 600/);
  });
});
