// Output into a pipe or a file is written directly (no stream is set up for it); a pipe that someone made
// non-blocking and that is full (EAGAIN) hands the rest to the process's stream, and nothing is lost or reordered.
// A reader that goes away ends the output quietly, as before.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { FileBackend } from '../../src/backends/file/file-backend.js';
import { manualClock } from '../../src/core/clock.js';
import { BIN, runBin } from '../helpers/bin.js';
import { accountEnv } from '../helpers/env.js';

// The reader: a pipe whose write end is non-blocking, read only after the writer has filled it (64 KiB).
const SLOW_NONBLOCKING_READER = `
import fcntl, os, subprocess, sys, time
r, w = os.pipe()
fcntl.fcntl(w, fcntl.F_SETFL, fcntl.fcntl(w, fcntl.F_GETFL) | os.O_NONBLOCK)
child = subprocess.Popen(sys.argv[1:], stdout=w, stdin=subprocess.DEVNULL)
os.close(w)
time.sleep(1.0)
data = b''
while True:
    chunk = os.read(r, 65536)
    if not chunk:
        break
    data += chunk
sys.stdout.buffer.write(data)
sys.exit(child.wait())
`;

describe('stdout into pipes', () => {
  let env: Record<string, string>;
  let expected = '';
  beforeAll(async () => {
    const home = mkdtempSync(path.join(tmpdir(), 'tokenctl-test-'));
    env = accountEnv(home);
    expect((await runBin(['init'], { env })).code).toBe(0);
    // Enough audit events for `log --json` to be larger than a pipe's buffer (64 KiB).
    const backend = new FileBackend({ dir: path.join(home, 'profiles', 'default'), clock: manualClock('2026-06-01T12:00:00.000Z'), env, warn: () => undefined });
    for (let i = 0; i < 400; i++) await backend.rename(i % 2 === 0 ? 'default' : 'renamed', i % 2 === 0 ? 'renamed' : 'default');
    const r = await runBin(['log', '--json'], { env });
    expect(r.code).toBe(0);
    expected = r.stdout;
    expect(expected.length).toBeGreaterThan(100_000);
    return () => rmSync(home, { recursive: true, force: true });
  }, 60_000);

  it('writes everything into a full non-blocking pipe, in order (EAGAIN: the rest goes through the stream)', () => {
    const r = spawnSync('python3', ['-c', SLOW_NONBLOCKING_READER, process.execPath, BIN, 'log', '--json'], { env, encoding: 'utf8', maxBuffer: 10_000_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(expected);
  });

  it('a reader that goes away ends the output quietly: exit 0, nothing on stderr', () => {
    const errFile = path.join(tmpdir(), `tokenctl-epipe-${process.pid}`);
    const r = spawnSync('bash', ['-c', '"$0" "$1" log --json 2>"$2" | head -c 10 >/dev/null; s=${PIPESTATUS[0]}; echo "status=$s"; cat "$2"', process.execPath, BIN, errFile], { env, encoding: 'utf8' });
    rmSync(errFile, { force: true });
    expect(r.stdout).toBe('status=0\n');
  });
});
