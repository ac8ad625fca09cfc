#!/usr/bin/env node
// The Tokens page's benchmark: `tokenctl serve` (the built binary) with an account of 6 tokens, an admin signed in;
// GET / requested again and again (one at a time, keep-alive, loopback). Reports the median and p95 of the time
// the service itself spent on the request (the `ms` of its request log lines: routing, session lookup, SQLite
// reads, rendering) and of the time the client saw, and the weight of the page with its script and stylesheet.
// Targets (issue 13): median server-side time < 5 ms; page + script + stylesheet < 50 KB.
// Run on demand, after `npm run build`:  node bench/page.mjs [--requests 500]
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin', 'tokenctl.js');
const i = process.argv.indexOf('--requests');
const requests = Math.max(50, Math.min(i > 0 ? Number(process.argv[i + 1]) : 500, 10_000));

const home = mkdtempSync(path.join(tmpdir(), 'tokenctl-bench-page-'));
const data = path.join(home, 'data');
const env = { ...process.env, TOKENCTL_HOME: home, TOKENCTL_KEYCHAIN: 'off', NO_COLOR: '1', TOKENCTL_NOW: '2026-03-01T10:00:00Z' };

function tk(args, extra = {}) {
  const r = spawnSync(process.execPath, [bin, ...args], { env: { ...env, ...extra }, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tokenctl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const p95 = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.95)];

let child;
try {
  const admin = tk(['server', 'init', '--data', data, '--account', 'acme']);
  child = spawn(process.execPath, [bin, 'serve', '--data', data, '--port', '0', '--log-level', 'info'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
  const url = await new Promise((resolve, reject) => {
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d) => {
      err += d;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(err);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${err}`)));
  });
  const remote = { TOKENCTL_SERVER: url, TOKENCTL_ADMIN_KEY: admin };
  for (const [type, name] of [
    ['api', 'ci-deploy'],
    ['s2s', 'events'],
    ['s2s', 'events-2026'],
    ['onelink', 'campaign-links'],
    ['onelink', 'partner-links'],
  ]) {
    tk(['create', '--type', type, '--name', name], remote);
  }

  // Sign in as a browser would: the sign-in form's cookie and field, this service's Origin.
  const first = await fetch(url);
  const signInCookie = first.headers.getSetCookie()[0].split(';')[0];
  const csrf = /name="_csrf" value="([^"]+)"/.exec(await first.text())[1];
  const signedIn = await fetch(`${url}/sign-in`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: signInCookie, origin: url, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ _csrf: csrf, credential: admin }).toString(),
  });
  const session = signedIn.headers.getSetCookie().find((c) => c.startsWith('__Host-tokenctl-session=')).split(';')[0];

  const client = [];
  let page = '';
  for (let n = 0; n < requests + 50; n++) {
    const t0 = performance.now();
    const r = await fetch(url, { headers: { cookie: session } });
    page = await r.text();
    if (n >= 50) client.push(performance.now() - t0);
    if (!page.includes('<span class="name" title="partner-links">partner-links</span>')) throw new Error('the page does not list the 6 tokens');
  }
  const assets = [...page.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]);
  let weight = Buffer.byteLength(page);
  for (const a of assets) weight += (await (await fetch(url + a)).arrayBuffer()).byteLength;

  await new Promise((resolve) => {
    child.once('exit', resolve);
    child.kill('SIGTERM');
  });
  const server = out
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .filter((l) => l.msg === 'request' && l.route === '/' && l.status === 200)
    .map((l) => l.ms)
    .slice(51);
  console.log(`Tokens page, ${requests} requests of GET / (an account of 6 tokens, an admin signed in):`);
  console.log(`  server-side (request log): median ${median(server).toFixed(2)} ms, p95 ${p95(server).toFixed(2)} ms  (target: median < 5 ms)`);
  console.log(`  client-observed (loopback): median ${median(client).toFixed(2)} ms, p95 ${p95(client).toFixed(2)} ms`);
  console.log(`  weight: page ${Buffer.byteLength(page)} B + script and stylesheet = ${weight} B (${(weight / 1024).toFixed(1)} KB; target < 50 KB)`);
  if (median(server) >= 5 || weight >= 50 * 1024) process.exitCode = 1;
} finally {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  rmSync(home, { recursive: true, force: true });
}
