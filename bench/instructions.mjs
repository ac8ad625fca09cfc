#!/usr/bin/env node
// Introspection counted in instructions, not time: the user-space instructions each server executes per request
// (valgrind's callgrind; the kernel's work not counted), for the bare node:http POST handler that answers the same
// bytes (bench/lib/bare-server.mjs) and for `tokenctl serve`: a repeated s2s value and a never-issued one with the
// request log off, the s2s value with the request log on (the default). A count does not move with the machine's
// speed, which on this 2-core machine moves CPU-time ratios by more than the effects bench/introspect.mjs tries to
// measure; it does not see cache misses or the kernel either, so it bounds what tokenctl's code adds, not what it
// costs in time. Each server runs under callgrind (each thread counted apart); after a warm-up of 2n requests (JIT),
// its counters are zeroed, n requests are sent (50 keep-alive connections, every answer checked), and its counters
// dumped. Counts per server: its main thread, where every request is handled; of that, the work on its connections
// (libuv's uv__stream_io: reading, handling and answering requests, with the garbage collection they cause), the
// figure to compare, and its timers (tokenctl's sweeps every second and usage writes every 5 s, whose cost per
// request is a hundred times its real share under valgrind, which runs about a hundred times slower); and all its
// threads (V8's compiler and GC helpers too, whose work still falls as n grows: at 3,000 they are about half of it). With --by-function, the main thread's instructions per request by
// function (JavaScript named from node's --perf-basic-prof map), and for each tokenctl case the functions where it
// spends most beyond the bare handler. Needs valgrind (Debian: apt-get install valgrind) and `npm run build`; about
// two minutes per server at the default n (at least 3,000). Run on demand:
// node bench/instructions.mjs [--requests 3000] [--by-function]
import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { unknownS2s } from './lib/values.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin', 'tokenctl.js');
const i = process.argv.indexOf('--requests');
const n = Math.max(3000, Math.min(i > 0 ? Number(process.argv[i + 1]) : 3000, 20_000));
const byFunction = process.argv.includes('--by-function');
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

/**
 * One server under callgrind: its instructions per request over `n` requests after a warm-up, on its main thread and
 * on all its threads, and (--by-function) the main thread's by function.
 */
async function count(name, args, pattern, spec) {
  const out = path.join(home, `callgrind-${name.replace(/\W+/g, '-')}`);
  const node = byFunction ? [process.execPath, '--perf-basic-prof'] : [process.execPath];
  const child = spawn('valgrind', ['--tool=callgrind', '--smc-check=all-non-file', '--separate-threads=yes', `--callgrind-out-file=${out}.%p`, ...node, ...args], {
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
    rmSync(`/tmp/perf-${child.pid}.map`, { force: true });
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
  // The dump: one file per thread, `<out>.<pid>.1-<thread>` (thread 01 is the main one).
  const prefix = `${path.basename(out)}.${child.pid}.1-`;
  const files = readdirSync(home).filter((f) => f.startsWith(prefix)).sort();
  const summary = (file) => Number(/^summary:\s+(\d+)/m.exec(readFileSync(path.join(home, file), 'utf8'))?.[1] ?? NaN);
  if (files[0] !== `${prefix}01` || files.some((f) => Number.isNaN(summary(f)))) throw new Error(`${name}: no callgrind dump`);
  const main = costs(readFileSync(path.join(home, files[0]), 'utf8'), byFunction ? readPerfMap(child.pid) : []);
  if (!main.calls.has('uv__stream_io')) throw new Error(`${name}: libuv's uv__stream_io is not named in the dump (a node without its symbol table?)`);
  return {
    main: summary(files[0]) / n,
    all: files.reduce((sum, f) => sum + summary(f), 0) / n,
    // The main thread's work on its connections (reading, handling and answering requests), apart from its timers
    // (tokenctl's sweeps every second and usage writes every 5 s: the same work per second whatever the load, so
    // under valgrind, at about 1 % of the real request rate, a hundred times its real share per request) and the
    // rest (accepting the connections, V8's tasks).
    requests: main.calls.get('uv__stream_io') ?? 0,
    timers: main.calls.get('uv__run_timers') ?? 0,
    functions: byFunction ? main.self : null,
  };
}

/** node's --perf-basic-prof map: the address ranges of its generated code and what each is, sorted by start. */
function readPerfMap(pid) {
  const ranges = [];
  for (const line of readFileSync(`/tmp/perf-${pid}.map`, 'utf8').split('\n')) {
    const m = /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(line);
    if (m) ranges.push({ start: Number.parseInt(m[1], 16), end: Number.parseInt(m[1], 16) + Number.parseInt(m[2], 16), name: m[3] });
  }
  return ranges.sort((a, b) => a.start - b.start);
}

/** A function's name for the report: JavaScript as the perf map names it (without the paths of this machine). */
function nameOf(name, ranges) {
  const m = /^0x([0-9a-f]+)/.exec(name);
  if (m) {
    const at = Number.parseInt(m[1], 16);
    let lo = 0;
    let hi = ranges.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (ranges[mid].start <= at) lo = mid + 1;
      else hi = mid - 1;
    }
    const r = ranges[hi];
    if (r && at < r.end) name = r.name;
  }
  return name
    .replace(/^JS:[*~^]?/, 'JS ')
    .replace(/file:\/\/\S*\/(dist\/chunks|bench\/lib)\/(\S+?)(-[A-Z0-9]{8})?\.(m?js)/, '$2.$4')
    .replace(/'\d+$/, '');
}

/**
 * From a callgrind dump, per request: the instructions each function executed itself (its cost lines; the line after
 * a `calls=` line is the callee's inclusive cost, not the caller's own), and each function's inclusive cost as
 * callee (the sum of its calls' costs: for functions that are not recursive, everything done within them). Names are
 * compressed: `(id) name` once, `(id)` after.
 */
function costs(text, ranges) {
  const names = new Map();
  const resolve = (token) => {
    const m = /^\((\d+)\)(?: (.*))?$/.exec(token);
    if (!m) return token;
    if (m[2] !== undefined) names.set(m[1], m[2]);
    return names.get(m[1]) ?? token;
  };
  const self = new Map();
  const calls = new Map();
  let fn = '';
  let callee = '';
  let callCost = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('fn=')) {
      fn = nameOf(resolve(line.slice(3).trim()), ranges);
      callCost = false;
    } else if (line.startsWith('cfn=')) callee = resolve(line.slice(4).trim());
    else if (line.startsWith('calls=')) callCost = true;
    else if (/^[0-9+\-*]/.test(line)) {
      const cost = Number(line.split(/\s+/)[1]) / n;
      if (Number.isNaN(cost)) continue;
      if (callCost) calls.set(callee, (calls.get(callee) ?? 0) + cost);
      else self.set(fn, (self.get(fn) ?? 0) + cost);
      callCost = false;
    }
  }
  return { self, calls };
}

/** The functions where a case spends most beyond the bare handler (main thread, instructions per request). */
function printBeyond(bare, x) {
  const rows = [...new Set([...bare.keys(), ...x.keys()])].map((k) => [k, (x.get(k) ?? 0) - (bare.get(k) ?? 0)]).sort((a, b) => b[1] - a[1]);
  for (const [k, d] of rows.slice(0, 15)) console.log(`      ${`+${Math.round(d).toLocaleString('en-US')}`.padStart(7)}  ${k.slice(0, 110)}`);
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
  console.log(`${''.padEnd(42)} ${'main thread'.padStart(11)}   ${'connections'.padStart(11)} ${'bare / this'.padStart(11)}   ${'timers'.padStart(7)}   ${'all threads'.padStart(11)} ${'bare / this'.padStart(11)}`);
  const f = (x, w = 11) => Math.round(x).toLocaleString('en-US').padStart(w);
  const listening = /listening on http:\/\/127\.0\.0\.1:(\d+)/;
  const bare = await count('bare', [path.join(root, 'bench', 'lib', 'bare-server.mjs'), '--mode', 'post', '--answer', answerFile], /port (\d+)/, { ...spec, path: '/' });
  console.log(`${'bare node:http POST handler, same bytes'.padEnd(42)} ${f(bare.main)}   ${f(bare.requests)} ${''.padStart(11)}   ${f(bare.timers, 7)}   ${f(bare.all)}`);
  const never = { ...spec, body: new URLSearchParams({ token: unknownS2s() }).toString(), expected: '{"active":false}' };
  for (const [name, args, asked] of [
    ['tokenctl: s2s, request log off', ['--log-level', 'warn'], spec],
    ['tokenctl: never issued, request log off', ['--log-level', 'warn'], never],
    ['tokenctl: s2s, request log on (default)', [], spec],
  ]) {
    const x = await count(name, [bin, 'serve', '--data', data, '--port', '0', ...args], listening, asked);
    const ratio = (a, b) => (a / b).toFixed(3).padStart(11);
    console.log(`${name.padEnd(42)} ${f(x.main)}   ${f(x.requests)} ${ratio(bare.requests, x.requests)}   ${f(x.timers, 7)}   ${f(x.all)} ${ratio(bare.all, x.all)}`);
    if (byFunction) printBeyond(bare.functions, x.functions);
  }
} finally {
  rmSync(home, { recursive: true, force: true });
}
