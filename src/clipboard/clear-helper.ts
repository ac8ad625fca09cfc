/**
 * What the detached clearing helper is told, on its fd 3 (a pipe). Never the value: a salted SHA-256 of it, which is
 * enough to recognise it on the clipboard.
 */
export interface ClearJob {
  delayMs: number;
  /** base64; null for OSC 52 (nothing to compare). */
  salt: string | null;
  digest: string | null;
  /** Reads the clipboard back; null: clear without comparing. */
  paste: string[] | null;
  /** Empties the clipboard (run with an empty stdin). */
  clear: string[] | null;
  pasteAddsNewline: boolean;
  /** OSC 52: the bytes that empty the terminal's clipboard, written to its stdout (the terminal). */
  osc: string | null;
  /** The latest-copy file and this copy's id in it: a later copy (even --no-clear) makes this helper stand down. */
  latest: { file: string; id: string } | null;
}

/**
 * The helper, run as `node -` with this script on stdin: it waits, reads the clipboard back, and empties it only
 * if it still holds the value (pass -c's behaviour: a value copied over it since is left alone). Plain CommonJS,
 * self-contained: it is not part of the bundle's module graph.
 */
export const CLEAR_HELPER_SOURCE = String.raw`'use strict';
process.title = 'tokenctl-clipboard-clear';
const fs = require('fs');
const cp = require('child_process');
const crypto = require('crypto');
let text = '';
const input = fs.createReadStream(null, { fd: 3, encoding: 'utf8' });
input.on('error', () => process.exit(0));
input.on('data', (chunk) => { text += chunk; });
input.on('end', () => {
  let job;
  try { job = JSON.parse(text); } catch { process.exit(0); }
  setTimeout(() => { try { clear(job); } catch {} process.exit(0); }, job.delayMs);
});
function clear(job) {
  if (job.latest !== null) {
    let current = null;
    try { current = fs.readFileSync(job.latest.file, 'utf8'); } catch {}
    if (current !== null && current !== job.latest.id) return;
  }
  if (job.osc !== null) { fs.writeSync(1, job.osc); return; }
  if (job.paste !== null) {
    const r = cp.spawnSync(job.paste[0], job.paste.slice(1), { timeout: 5000, maxBuffer: 1 << 20, stdio: ['ignore', 'pipe', 'ignore'], windowsHide: true });
    if (r.error || r.status !== 0) return;
    let out = r.stdout;
    if (job.pasteAddsNewline) out = Buffer.from(out.toString('utf8').replace(/\r?\n$/, ''), 'utf8');
    const digest = crypto.createHash('sha256').update(Buffer.from(job.salt, 'base64')).update(out).digest();
    const expected = Buffer.from(job.digest, 'base64');
    if (digest.length !== expected.length || !crypto.timingSafeEqual(digest, expected)) return;
  }
  cp.spawnSync(job.clear[0], job.clear.slice(1), { input: '', timeout: 5000, stdio: ['pipe', 'ignore', 'ignore'], windowsHide: true });
}
`;
