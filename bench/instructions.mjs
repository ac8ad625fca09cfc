#!/usr/bin/env node
// Introspection counted in instructions, not time: the user-space instructions each server executes per request
// (valgrind's callgrind; every thread, the kernel's work not counted), for the bare node:http POST handler that
// answers the same bytes (bench/lib/bare-server.mjs) and for `tokenctl serve`: a repeated s2s value and a never-issued
// one with the request log off, the s2s value with the request log on (the default). A count
// does not move with the machine's speed, which on this 2-core machine moves CPU-time ratios by more than the effects
// bench/introspect.mjs tries to measure; it does not see cache misses or the kernel either, so it bounds what
// tokenctl's code adds, not what it costs in time. Each server runs under callgrind; after a warm-up of 2n requests
// (JIT), its counters are zeroed, n requests are sent (50 keep-alive connections, every answer checked), and its
// counters dumped. Needs valgrind (Debian: apt-get install valgrind) and `npm run build`; about two minutes per server
// at the default n (at least 3,000: with fewer, the compiler's own work shows in the count; it still does somewhat at 3,000). Run on demand:
// node bench/instructions.mjs [--requests 3000]
import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { unknownS2s } from './lib/values.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin', 'tokenctl.js');
const i = process.argv.indexOf('--requests');
const n = Math.max(3000, Math.min(i > 0 ? Number(process.argv[i + 1]) : 3000, 20_000));
if (spawnSync('valgrind', ['--version'], { stdio: 'ignore' }).error !== undefined) {
  console.error('bench/instructions.mjs needs valgrind: apt-get install valgrind');
  process.exit(2);
}

const home = mkdtempSync(path.join(tmpdir(), 'tokenctl-bench-instructions-'));
const data = path.join(home, 'data');
const env = { ...process.env, TOKENCTL_HOME: home, TOKENCTL_KEYCHAIN: 'off', NO_COLOR: '1' };
const tk = (args) => {
  const r = spawnSync(process.execPath, [bin, ...args], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`setup failed: tokenctl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
};

function post(agent, port, path_, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: path_, headers, agent }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** `count` introspections over 50 keep-alive connections; throws on any wrong answer. */
async function load(port, spec, count) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 50 });
  let sent = 0;
  try {
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        while (sent < count) {
          sent++;
          const r = await post(agent, port, spec.path, spec.headers, spec.body);
          if (r.status !== 200 || !r.text.startsWith(spec.expected)) throw new Error(`unexpected answer ${r.status} ${r.text.slice(0, 80)}`);
        }
      }),
    );
  } finally {
    agent.destroy();
  }
}

/** One server under callgrind: its instructions per request over `n` requests after a warm-up. */
async function count(name, args, pattern, spec) {
  const out = path.join(home, `callgrind-${name.replace(/\W+/g, '-')}`);
  const child = spawn('valgrind', ['--tool=callgrind', '--smc-check=all-non-file', `--callgrind-out-file=${out}.%p`, process.execPath, ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  // Stopped whatever happens (a server left under valgrind would keep this process, and a CPU, busy).
  try {
    return await measure(name, child, pattern, spec, out);
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

async function measure(name, child, pattern, spec, out) {
  const port = await new Promise((resolve, reject) => {
    let text = '';
    // Until it says where it listens; what it writes after (the request log) is read and dropped.
    const seen = (d) => {
      if (text === null) return;
      text += d;
      const m = pattern.exec(text);
      if (m) {
        text = null;
        resolve(Number(m[1]));
      }
    };
    child.stdout.setEncoding('utf8').on('data', seen);
    child.stderr.setEncoding('utf8').on('data', seen);
    child.on('exit', (code) => reject(new Error(`${name} exited (${code}): ${(text ?? '').slice(-400)}`)));
    setTimeout(() => reject(new Error(`${name} did not start under valgrind within 300 s`)), 300_000).unref();
  });
  await load(port, spec, 2 * n);
  spawnSync('callgrind_control', ['-z', String(child.pid)], { stdio: 'ignore' });
  await load(port, spec, n);
  spawnSync('callgrind_control', ['-d', String(child.pid)], { stdio: 'ignore' });
  // The dump is the newest file of this process beside the one it writes at exit.
  const prefix = `${path.basename(out)}.${child.pid}.`;
  const dumps = readdirSync(home).filter((f) => f.startsWith(prefix));
  const newest = dumps.map((f) => path.join(home, f)).sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
  const summary = newest && /^summary:\s+(\d+)/m.exec(readFileSync(newest, 'utf8'));
  if (!summary) throw new Error(`${name}: no callgrind dump`);
  return Number(summary[1]) / n;
}

/** `tokenctl serve` on the data, outside valgrind, for the setup: its port, and a stop that waits for its exit. */
async function plainService(extraEnv = {}) {
  const child = spawn(process.execPath, [bin, 'serve', '--data', data, '--port', '0', '--log-level', 'silent'], { env: { ...env, ...extraEnv }, stdio: ['ignore', 'ignore', 'pipe'] });
  const port = await new Promise((resolve, reject) => {
    let text = '';
    child.stderr.setEncoding('utf8').on('data', (d) => {
      text += d;
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(text);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`tokenctl serve exited (${code}): ${text}`)));
  });
  const stop = () => {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    return exited;
  };
  return { port, stop };
}

try {
  const admin = tk(['server', 'init', '--data', data, '--account', 'bench']);
  const service = tk(['server', 'add-principal', '--data', data, '--account', 'bench', '--role', 'service', '--name', 'gateway']);
  // An s2s token active now: created by a service whose clock says a day ago.
  const past = await plainService({ TOKENCTL_NOW: new Date(Date.now() - 86_400_000).toISOString() });
  const created = await post(undefined, past.port, '/v1/tokens', { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, JSON.stringify({ type: 's2s', name: 'bench' }));
  const s2s = JSON.parse(created.text).value;
  await past.stop();

  const spec = {
    path: '/v1/introspect',
    headers: { authorization: `Bearer ${service}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: s2s }).toString(),
    expected: '{"active":true',
  };
  // The bare handler answers the service's own bytes: read from a service outside valgrind.
  const answerFile = path.join(home, 'answer.json');
  const probe = await plainService();
  writeFileSync(answerFile, (await post(undefined, probe.port, spec.path, spec.headers, spec.body)).text);
  await probe.stop();

  console.log(`node ${process.version}; user-space instructions per request under callgrind, ${n} requests after ${2 * n} of warm-up, 50 connections`);
  const listening = /listening on http:\/\/127\.0\.0\.1:(\d+)/;
  const bare = await count('bare', [path.join(root, 'bench', 'lib', 'bare-server.mjs'), '--mode', 'post', '--answer', answerFile], /port (\d+)/, { ...spec, path: '/' });
  console.log(`bare node:http POST handler, same bytes     ${Math.round(bare).toLocaleString('en-US').padStart(9)}`);
  const never = { ...spec, body: new URLSearchParams({ token: unknownS2s() }).toString(), expected: '{"active":false}' };
  for (const [name, args, asked] of [
    ['tokenctl: s2s, request log off', ['--log-level', 'warn'], spec],
    ['tokenctl: never issued, request log off', ['--log-level', 'warn'], never],
    ['tokenctl: s2s, request log on (default)', [], spec],
  ]) {
    const x = await count(name, [bin, 'serve', '--data', data, '--port', '0', ...args], listening, asked);
    console.log(`${name.padEnd(42)} ${Math.round(x).toLocaleString('en-US').padStart(9)}   bare / this = ${(bare / x).toFixed(3)}`);
  }
} finally {
  rmSync(home, { recursive: true, force: true });
}
