#!/usr/bin/env node
// Introspection benchmark: what POST /v1/introspect costs on `tokenctl serve` (the built binary), with 50 keep-alive
// connections on loopback, measured side by side in one run against:
//   - a bare node:http handler that reads the same POST (credential, form body) and answers the same bytes with the
//     same headers (bench/lib/bare-server.mjs): what the HTTP request itself costs; the targets are against it;
//   - the bare node:http GET hello-world the earlier figures were divided by;
//   - panva's oidc-provider 9 (in-memory adapter, client credentials, introspection; bench/lib/oidc-peer.mjs): the
//     peer a user could run instead, introspecting an access token it issued, with client_secret_basic.
// Cases: the same s2s value and the same API token again and again, as a resource server presents them; a well-formed
// s2s value the service never issued, presented again and again; the same s2s value on a service with the request
// log on (`--log-level info`, the default; to /dev/null). The figure to trust is the server's CPU time per request
// (user + system, from /proc): the load generator shares this 2-core machine, so requests per second move with it.
// Targets (issue 18): for the s2s, never-issued and request-log cases, CPU per introspection at most 1/0.85 of the bare
// POST handler's (a ratio >= 0.85), and p99 under 5 ms. Each round measures the bare POST handler before and after
// every other case (bare, case, bare, case, ..., bare; the order of the cases alternates from round to round), and a
// case's ratio in a round is to the mean of the two bare windows beside it; every ratio is the median of the
// per-round ratios. Every answer is checked, under wrk too.
// With --drivers both (node:sqlite and better-sqlite3; or a comma-separated list), the s2s and never-issued cases run
// once per SQLite driver, each on its own copy of the data (TOKENCTL_SQLITE_DRIVER), side by side in the same rounds,
// and so do writes through the API (create, then delete, one client: each write a transaction on SQLite):
// on Node.js 22 and 24, where both can run (better-sqlite3 built for it: npm run sqlite-driver). Default: the driver
// the service uses on this Node.js.
// With --isolation, tokenctl's introspection door runs in three more settings, side by side in the same rounds (the s2s
// and never-issued cases; bench/lib/door-server.ts, bundled from src/ with esbuild): alone in a process of its own (no
// fastify loaded), beside the service's fastify app in one process after that app has answered admin requests, and in
// a worker thread beside that app (an isolate of its own): where the cost beyond the bare handler comes from.
// Bounded in time (default 5 rounds of 3 s per case, after 1 s of warm-up each). Run on demand, on a quiet machine,
// after `npm run build`:  node bench/introspect.mjs [--seconds 3] [--rounds 5] [--connections 50] [--drivers both] [--pin] [--profile] [--isolation]
import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import { chmodSync, cpSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { unknownS2s } from './lib/values.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin', 'tokenctl.js');
const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const seconds = Math.min(arg('--seconds', 3), 60);
const rounds = Math.max(1, Math.min(arg('--rounds', 5), 15));
const connections = Math.min(arg('--connections', 50), 200);
const DRIVERS = ['node:sqlite', 'better-sqlite3'];
// --pin: every server on CPU 1 and the load generator on CPU 0 (taskset), so that they do not take turns on one core:
// the figures move less from round to round. Off by default (a machine with one core, or no taskset).
const pin = process.argv.includes('--pin') && spawnSync('taskset', ['-c', '0', 'true']).status === 0;
/** The command that runs `file args` on one CPU when pinning, else as it is. */
const onCpu = (cpu, file, args) => (pin ? ['taskset', ['-c', String(cpu), file, ...args]] : [file, args]);
// --profile: after the rounds, a CPU profile of the s2s case with the request log off and on (Linux perf, sampling with
// call stacks; the services then run with --perf-basic-prof so that perf can name their JavaScript): what share of the
// server's CPU is tokenctl's own JavaScript (frames of its bundle, less the response's write that any server does),
// the kernel's, and the garbage collector's. Shares of one process's samples hold still when the machine's speed moves.
const profile = process.argv.includes('--profile');
if (profile && spawnSync('perf', ['--version'], { stdio: 'ignore' }).status !== 0) throw new Error('--profile needs Linux perf (Debian: apt-get install linux-perf)');
const perfMap = profile ? ['--perf-basic-prof'] : [];
const isolation = process.argv.includes('--isolation');
const DOOR_MODES = ['alone', 'beside', 'worker'];
const driversArg = process.argv.includes('--drivers') ? process.argv[process.argv.indexOf('--drivers') + 1] ?? '' : '';
const drivers = driversArg === '' ? [] : driversArg === 'both' ? DRIVERS : driversArg.split(',').map((d) => d.trim());
for (const d of drivers) if (!DRIVERS.includes(d)) throw new Error(`--drivers: '${d}' is not one of ${DRIVERS.join(', ')} (or both)`);

const home = mkdtempSync(path.join(tmpdir(), 'tokenctl-bench-introspect-'));
const data = path.join(home, 'data');
const env = { ...process.env, TOKENCTL_HOME: home, TOKENCTL_KEYCHAIN: 'off', NO_COLOR: '1' };
const children = [];

function tk(args) {
  const r = spawnSync(process.execPath, [bin, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`setup failed: tokenctl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

/** Starts a server process and resolves with its port once it says where it listens. */
function startProcess(args, extraEnv, pattern, stdout = 'ignore') {
  return new Promise((resolve, reject) => {
    const child = spawn(...onCpu(1, process.execPath, args), { env: { ...env, ...extraEnv }, stdio: ['ignore', stdout, 'pipe'] });
    children.push(child);
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d) => {
      err += d;
      const m = pattern.exec(err);
      if (m) resolve({ child, port: Number(m[1]) });
    });
    child.on('exit', (code) => reject(new Error(`server exited (${code}): ${err}`)));
    setTimeout(() => reject(new Error(`server did not start: ${err}`)), 15_000).unref();
  });
}

const stop = (child) =>
  new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', resolve);
    child.kill('SIGTERM');
  });

function request(agent, port, { method, path: p, headers, body }) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: p, headers, agent }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** `connections` concurrent keep-alive loops for `ms`; returns req/s and latency percentiles. */
async function load(port, spec, ms, check) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const latencies = [];
  let errors = 0;
  const until = performance.now() + ms;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < until) {
        const t0 = performance.now();
        try {
          const r = await request(agent, port, spec);
          if (!check(r)) errors++;
        } catch {
          errors++;
        }
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
  return { rps: latencies.length / elapsed, p50: pct(50), p99: pct(99), n: latencies.length, errors };
}

/** wrk (C, from Debian's package) when installed: the load generator then costs the servers far less CPU. */
const hasWrk = spawnSync('wrk', ['--version'], { stdio: 'ignore' }).error === undefined;

function wrkLoad(port, spec, secs, expected) {
  const script = path.join(home, `wrk-${Math.random().toString(36).slice(2)}.lua`);
  const lua = [`wrk.method = ${JSON.stringify(spec.method)}`, `wrk.body = ${JSON.stringify(spec.body ?? '')}`];
  for (const [k, v] of Object.entries(spec.headers)) lua.push(`wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`);
  // Every answer is checked (status, start of the body); the count of wrong ones is reported at the end.
  lua.push(
    'local threads = {}',
    'function setup(thread) table.insert(threads, thread) end',
    'function init(args) wrong = 0 end',
    `local prefix = ${JSON.stringify(expected)}`,
    'function response(status, headers, body) if status ~= 200 or body:sub(1, #prefix) ~= prefix then wrong = wrong + 1 end end',
    'function done(summary, latency, requests) local n = 0 for _, t in ipairs(threads) do n = n + t:get("wrong") end io.write(string.format("wrong answers: %d\\n", n)) end',
  );
  writeFileSync(script, lua.join('\n') + '\n', { mode: 0o600 });
  const r = spawnSync(...onCpu(0, 'wrk', ['-t1', `-c${connections}`, `-d${secs}s`, '--latency', '-s', script, `http://127.0.0.1:${port}${spec.path}`]), {
    encoding: 'utf8',
    timeout: (secs + 30) * 1000,
  });
  const out = r.stdout ?? '';
  const ms = (text) => (text.endsWith('us') ? parseFloat(text) / 1000 : text.endsWith('ms') ? parseFloat(text) : parseFloat(text) * 1000);
  const pick = (re) => re.exec(out)?.[1];
  const n = Number(pick(/(\d+) requests in/) ?? NaN);
  const wrong = pick(/wrong answers: (\d+)/);
  if (wrong === undefined) throw new Error(`wrk did not report its answer check:\n${out}\n${r.stderr ?? ''}`);
  const errors = Number(wrong) + Number((/Socket errors: .*?(\d+)/.exec(out) ?? [0, 0])[1]);
  return { rps: Number(pick(/Requests\/sec:\s+([\d.]+)/)), p50: ms(pick(/50%\s+([\d.]+\w+)/) ?? 'NaN'), p99: ms(pick(/99%\s+([\d.]+\w+)/) ?? 'NaN'), n, errors };
}

/**
 * CPU seconds a process has used, every thread together: from each thread's schedstat (nanoseconds, Linux), else from
 * /proc/<pid>/stat (user + system in ticks of 10 ms, coarse for windows of a second or two); null elsewhere.
 */
function cpuSeconds(pid) {
  try {
    let ns = 0;
    for (const t of readdirSync(`/proc/${pid}/task`)) ns += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
    if (ns > 0) return ns / 1e9;
  } catch {
    // no schedstat: the ticks below
  }
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks (USER_HZ = 100)
  } catch {
    return null;
  }
}

const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};

/** The lowest and highest of the rounds' figures. */
const spread = (xs) => `${Math.min(...xs).toFixed(2)} to ${Math.max(...xs).toFixed(2)}`;

function report(name, r) {
  console.log(
    `${name.padEnd(50)} ${r.rps.toFixed(0).padStart(7)} req/s   p50 ${r.p50.toFixed(2).padStart(6)} ms   p99 ${r.p99.toFixed(2).padStart(6)} ms   server CPU ${r.cpuUs.toFixed(0).padStart(4)} µs/req   (${r.n} requests, ${r.errors} errors)`,
  );
}

async function warmUp(c) {
  const first = await request(new http.Agent(), c.port, c.spec);
  if (!c.check(first)) throw new Error(`${c.name}: unexpected answer ${first.status} ${first.text.slice(0, 100)}`);
  if (hasWrk) wrkLoad(c.port, c.spec, 1, c.expected); // JIT, connections
  else await load(c.port, c.spec, 1000, c.check);
}

async function measure(c) {
  const cpu0 = cpuSeconds(c.pid);
  const r = hasWrk ? wrkLoad(c.port, c.spec, seconds, c.expected) : await load(c.port, c.spec, seconds * 1000, c.check);
  const cpu1 = cpuSeconds(c.pid);
  // Server CPU per request: what the server itself spends, much less sensitive to other load on the machine.
  r.cpuUs = cpu0 === null || cpu1 === null ? NaN : ((cpu1 - cpu0) / r.n) * 1e6;
  return r;
}

/** oidc-provider on a port of its own, with the access token it issued and the client's Basic credential. */
async function startPeer() {
  const child = spawn(...onCpu(1, process.execPath, [path.join(root, 'bench', 'lib', 'oidc-peer.mjs')]), { env, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  let err = '';
  return new Promise((resolve, reject) => {
    child.stderr.setEncoding('utf8').on('data', (d) => {
      err += d;
      const m = /port (\d+)\ntoken (\S+)\nauthorization (Basic \S+)\n/.exec(err);
      if (m) resolve({ child, port: Number(m[1]), token: m[2], authorization: m[3] });
    });
    child.on('exit', (code) => reject(new Error(`oidc-provider exited (${code}): ${err}`)));
    setTimeout(() => reject(new Error(`oidc-provider did not start: ${err}`)), 20_000).unref();
  });
}


const DOOR_BUNDLE_NAME = 'door-server.mjs';

/**
 * bench/lib/door-server.ts bundled from src/ (esbuild, a devDependency), into node_modules/.cache so that its native
 * modules (the SQLite driver) resolve as the service's do.
 */
async function bundleDoorServer() {
  const { build } = await import('esbuild');
  const { rawText } = await import('../scripts/raw-text.mjs');
  const outfile = path.join(root, 'node_modules', '.cache', 'tokenctl-bench', DOOR_BUNDLE_NAME);
  await build({
    entryPoints: [path.join(root, 'bench', 'lib', 'door-server.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: `node${process.versions.node.split('.')[0]}`,
    outfile,
    external: ['better-sqlite3', '@napi-rs/keyring', 'postgres'],
    plugins: [rawText],
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    logLevel: 'error',
  });
  return outfile;
}

/** perf's sampling rate: each sample stands for 1/PERF_HZ s of the server's CPU. */
const PERF_HZ = 2999;
/** Frames of the response's write (node:http, the stream, the system call): what any server answering the same bytes does. */
const WRITE_FRAMES = /_http_outgoing|internal\/streams\/writable|StreamBase|writev/i;

/** One case under load while perf samples its server with call stacks; prints the shares. */
async function profileCase(c) {
  const file = path.join(home, `perf-${c.pid}.data`);
  const rec = spawn('perf', ['record', '-q', '-e', 'cpu-clock', '-F', String(PERF_HZ), '-g', '-p', String(c.pid), '-o', file, '--', 'sleep', String(seconds)], { stdio: 'ignore' });
  const recorded = new Promise((resolve) => rec.once('exit', resolve));
  const r = wrkLoad(c.port, c.spec, seconds, c.expected);
  await recorded;
  const done = spawnSync('perf', ['script', '-i', file], { encoding: 'utf8', maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'ignore'] });
  let samples = 0;
  let ours = 0;
  let kernel = 0;
  let gc = 0;
  // Disjoint, for the CPU per request by part: kernel (the leaf in the kernel), GC, tokenctl's (as above), the rest.
  const part = { kernel: 0, gc: 0, ours: 0, rest: 0 };
  const where = new Map();
  for (const sample of done.stdout.split('\n\n')) {
    const frames = sample.split('\n').slice(1).map((l) => l.trim()).filter(Boolean);
    if (frames.length === 0) continue;
    samples++;
    const inKernel = frames[0].includes('kernel.kallsyms');
    const inGc = frames.some((f) => /Heap::|Scavenge|MarkCompact/.test(f));
    if (inKernel) kernel++;
    if (inGc) gc++;
    const first = frames.findIndex((f) => f.includes('/dist/chunks/') || f.includes(DOOR_BUNDLE_NAME));
    const isOurs = first >= 0 && !frames.slice(0, first).some((f) => WRITE_FRAMES.test(f));
    part[inKernel ? 'kernel' : inGc ? 'gc' : isOurs ? 'ours' : 'rest']++;
    if (isOurs) {
      ours++;
      // The bundle's function (as perf names it: its name, or its place in the bundle) and what it called.
      const fn = /JS:[*~^]?(\S*)\s+file:\/\/\S*\/(?:dist|tokenctl-bench)\/(\S+?)(?:\+0x|\s|$)/.exec(frames[first]);
      const callee = first === 0 ? '(itself)' : frames[first - 1].replace(/^[0-9a-f]+\s+/, '').replace(/\+0x[0-9a-f]+.*$/, '').replace(/\s+\(.*$/, '');
      const key = `${fn ? `${fn[1] || '(anonymous)'} ${fn[2]}` : frames[first]} -> ${callee}`.slice(0, 140);
      where.set(key, (where.get(key) ?? 0) + 1);
    }
  }
  rmSync(file, { force: true });
  const pct = (n) => `${((n / samples) * 100).toFixed(1)} %`;
  if (c.key !== 'bare POST') {
    console.log(`${c.name.padEnd(50)} tokenctl's JavaScript ${pct(ours).padStart(6)}   kernel ${pct(kernel).padStart(6)}   GC ${pct(gc).padStart(6)}   (${samples} samples, ${r.n} requests)`);
    // Where tokenctl's share is: its functions (inlined ones count in their caller) and what they called.
    for (const [key, n] of [...where].sort((a, b) => b[1] - a[1]).slice(0, 8)) console.log(`    ${pct(n).padStart(6)}  ${key}`);
  }
  // Each sample stands for 1/PERF_HZ s of the server's CPU: the parts in µs per request (absolute, so this window's
  // speed is in them; compare them with the bare handler's in the windows beside).
  const us = (n) => (n * (1e6 / PERF_HZ)) / r.n;
  return { name: c.name, kernel: us(part.kernel), gc: us(part.gc), ours: us(part.ours), rest: us(part.rest) };
}

/**
 * The parts of the CPU per request of each profiled case (rows: bare, case, bare, case, ..., bare), then each case's
 * parts less the mean of the two bare windows beside it: where tokenctl's extra CPU goes.
 */
function reportParts(rows) {
  const f = (x) => x.toFixed(1).padStart(6);
  const line = (name, x) => `${name.padEnd(50)} ${f(x.kernel)} | ${f(x.gc)} | ${f(x.ours)} | ${f(x.rest)}   = ${f(x.kernel + x.gc + x.ours + x.rest)}`;
  console.log(`\nthe server's CPU per request by part (µs, from the samples: kernel | GC | tokenctl's JavaScript | the rest, Node's HTTP and V8's own)`);
  for (const x of rows) console.log(line(x.name, x));
  console.log(`beyond the bare handler (each case less the mean of the bare windows beside it)`);
  for (let i = 1; i < rows.length; i += 2) {
    const [before, x, after] = [rows[i - 1], rows[i], rows[i + 1]];
    const less = (k) => x[k] - (before[k] + after[k]) / 2;
    console.log(line(x.name, { kernel: less('kernel'), gc: less('gc'), ours: less('ours'), rest: less('rest') }));
  }
}

/**
 * Writes per SQLite driver (with --drivers): one admin client creating an s2s token and deleting it (with the typed
 * phrase) through the API, each write a transaction, WRITE_CYCLES times per driver per round, interleaved: the same
 * count for each driver, so both data copies hold as many tokens at every round (deleted tokens stay in the account,
 * and a write reads the account's tokens: later rounds cost more, for both). Reports milliseconds per create and per
 * delete (medians of the rounds' medians) and the server's CPU per write.
 */
const WRITE_CYCLES = 150;
async function measureWrites(byDriver, auth) {
  const perDriver = byDriver.map(() => []);
  console.log(`\nwrites: create an s2s token, then delete it; one client, ${WRITE_CYCLES} times per driver per round`);
  for (let round = 1; round <= rounds; round++) {
    for (const [i, d] of byDriver.entries()) {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const creates = [];
      const deletes = [];
      const cpu0 = cpuSeconds(d.child.pid);
      for (let n = 0; n < WRITE_CYCLES; n++) {
        let t0 = performance.now();
        const c = await request(agent, d.port, { method: 'POST', path: '/v1/tokens', headers: auth, body: JSON.stringify({ type: 's2s', name: `w${round}-${n}` }) });
        creates.push(performance.now() - t0);
        const id = c.status === 201 ? JSON.parse(c.text).token?.id : undefined;
        if (!id) throw new Error(`writes (${d.driver}): create answered ${c.status} ${c.text.slice(0, 160)}`);
        t0 = performance.now();
        // Node sends a DELETE's body without a length unless told (it chunks only POST-like methods by default).
        const phrase = JSON.stringify({ confirmation: 'Delete token' });
        const r = await request(agent, d.port, { method: 'DELETE', path: `/v1/tokens/${id}`, headers: { ...auth, 'content-length': String(Buffer.byteLength(phrase)) }, body: phrase });
        deletes.push(performance.now() - t0);
        if (r.status !== 200) throw new Error(`writes (${d.driver}): delete answered ${r.status} ${r.text.slice(0, 160)}`);
      }
      const cpu1 = cpuSeconds(d.child.pid);
      agent.destroy();
      const r = { create: median(creates), delete: median(deletes), n: creates.length, cpuUs: ((cpu1 - cpu0) / (creates.length + deletes.length)) * 1e6 };
      perDriver[i].push(r);
      console.log(`round ${round}: ${d.driver.padEnd(15)} create ${r.create.toFixed(2)} ms   delete ${r.delete.toFixed(2)} ms   server CPU ${r.cpuUs.toFixed(0)} µs/write   (${r.n} creates and deletes)`);
    }
  }
  console.log('');
  for (const [i, d] of byDriver.entries()) {
    const rs = perDriver[i];
    console.log(
      `writes, ${d.driver}: create ${median(rs.map((r) => r.create)).toFixed(2)} ms (rounds ${spread(rs.map((r) => r.create))}), delete ${median(rs.map((r) => r.delete)).toFixed(2)} ms (rounds ${spread(rs.map((r) => r.delete))}), server CPU ${median(rs.map((r) => r.cpuUs)).toFixed(0)} µs per write`,
    );
  }
}

try {
  // An account with an active API token (the default) and an s2s token made active by creating it "a day ago".
  const admin = tk(['server', 'init', '--data', data, '--account', 'bench']);
  const service = tk(['server', 'add-principal', '--data', data, '--account', 'bench', '--role', 'service', '--name', 'gateway']);
  const listening = /listening on http:\/\/127\.0\.0\.1:(\d+)/;
  const past = await startProcess([bin, 'serve', '--data', data, '--port', '0', '--log-level', 'silent'], { TOKENCTL_NOW: new Date(Date.now() - 86_400_000).toISOString() }, listening);
  const auth = { authorization: `Bearer ${admin}`, 'content-type': 'application/json' };
  const agent = new http.Agent({ keepAlive: false });
  const s2s = JSON.parse((await request(agent, past.port, { method: 'POST', path: '/v1/tokens', headers: auth, body: JSON.stringify({ type: 's2s', name: 'bench' }) })).text).value;
  await stop(past.child);
  // One serve per SQLite data directory: the request-logging server gets a copy of the same data.
  const loggedData = `${data}-logged`;
  cpSync(data, loggedData, { recursive: true });
  chmodSync(loggedData, 0o700);
  const driverCopies = drivers.map((driver) => [driver, `${data}-${driver.replace(/\W/g, '-')}`]);
  const doorCopies = isolation ? DOOR_MODES.map((mode) => [mode, `${data}-door-${mode}`]) : [];
  for (const [, copy] of [...driverCopies, ...doorCopies]) {
    cpSync(data, copy, { recursive: true });
    chmodSync(copy, 0o700);
  }

  const hello = await startProcess(
    ['-e', "const s=require('node:http').createServer((q,r)=>{r.setHeader('content-type','application/json');r.end('{\"hello\":\"world\"}')});s.keepAliveTimeout=5000;s.listen(0,'127.0.0.1',()=>process.stderr.write('port '+s.address().port+'\\n'))"],
    {},
    /port (\d+)/,
  );
  const serve = await startProcess([...perfMap, bin, 'serve', '--data', data, '--port', '0', '--log-level', 'warn'], {}, listening);
  const logged = await startProcess([...perfMap, bin, 'serve', '--data', loggedData, '--port', '0'], {}, listening, openSync('/dev/null', 'w'));
  // One service per driver asked for, on a copy of the same data (one serve per data directory), copied before any
  // service runs on it (a running service's directory holds its claim on it).
  const byDriver = [];
  for (const [driver, copy] of driverCopies) {
    byDriver.push({ driver, ...(await startProcess([bin, 'serve', '--data', copy, '--port', '0', '--log-level', 'warn'], { TOKENCTL_SQLITE_DRIVER: driver }, listening)) });
  }
  const jwt = JSON.parse((await request(agent, serve.port, { method: 'POST', path: '/v1/tokens/default/reveal', headers: auth, body: '{}' })).text).value;

  const introspect = (token) => ({
    method: 'POST',
    path: '/v1/introspect',
    headers: { authorization: `Bearer ${service}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }).toString(),
  });
  // The bare POST handler answers exactly what the service answers for the s2s value.
  const s2sAnswer = (await request(agent, serve.port, introspect(s2s))).text;
  const answerFile = path.join(home, 'answer.json');
  writeFileSync(answerFile, s2sAnswer);
  const barePost = await startProcess([...perfMap, path.join(root, 'bench', 'lib', 'bare-server.mjs'), '--mode', 'post', '--answer', answerFile], {}, /port (\d+)/);
  const peer = await startPeer();
  const doors = [];
  if (isolation) {
    const script = await bundleDoorServer();
    for (const [mode, copy] of doorCopies) doors.push({ mode, ...(await startProcess([...perfMap, script, '--mode', mode, '--data', copy], { DOOR_SERVER_ADMIN: admin }, /port (\d+)/)) });
  }

  const ACTIVE = '{"active":true';
  const INACTIVE = '{"active":false}';
  const answers = (prefix) => (r) => r.status === 200 && r.text.startsWith(prefix);

  console.log(
    `node ${process.version}, ${connections} connections, ${seconds} s per case, ${rounds} round(s), loopback; load from ${hasWrk ? 'wrk (1 thread)' : 'one Node process (install wrk for a lighter load generator)'} on the same machine` +
      `${drivers.length > 0 ? `; SQLite drivers: ${drivers.join(', ')} (the default service uses this Node.js's own choice)` : ''}\n`,
  );
  const cases = [
    { key: 'bare POST', name: 'bare node:http POST handler, same bytes', port: barePost.port, spec: { ...introspect(s2s), path: '/' }, expected: s2sAnswer, pid: barePost.child.pid },
    { key: 'bare GET', name: 'bare node:http hello-world (GET)', port: hello.port, spec: { method: 'GET', path: '/', headers: {} }, expected: '{"hello":"world"}', pid: hello.child.pid },
    { key: 's2s', target: true, name: 'tokenctl: s2s, the same value again', port: serve.port, spec: introspect(s2s), expected: ACTIVE, pid: serve.child.pid },
    { key: 'api', name: 'tokenctl: api (JWT), the same token again', port: serve.port, spec: introspect(jwt), expected: ACTIVE, pid: serve.child.pid },
    { key: 'never issued', target: true, name: 'tokenctl: a value never issued, again', port: serve.port, spec: introspect(unknownS2s()), expected: INACTIVE, pid: serve.child.pid },
    { key: 's2s, request log on', target: true, name: 'tokenctl: s2s, request log on (default)', port: logged.port, spec: introspect(s2s), expected: ACTIVE, pid: logged.child.pid },
    {
      key: 'oidc-provider',
      name: 'oidc-provider 9: its own access token again',
      port: peer.port,
      spec: { method: 'POST', path: '/token/introspection', headers: { authorization: peer.authorization, 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${peer.token}` },
      expected: ACTIVE,
      pid: peer.child.pid,
    },
    ...doors.flatMap((d) => [
      { key: `door ${d.mode}: s2s`, name: `door ${d.mode}: s2s, the same value again`, port: d.port, spec: introspect(s2s), expected: ACTIVE, pid: d.child.pid },
      { key: `door ${d.mode}: never issued`, name: `door ${d.mode}: a value never issued, again`, port: d.port, spec: introspect(unknownS2s()), expected: INACTIVE, pid: d.child.pid },
    ]),
    ...byDriver.flatMap((d) => [
      { key: `s2s, ${d.driver}`, name: `tokenctl: s2s (${d.driver})`, port: d.port, spec: introspect(s2s), expected: ACTIVE, pid: d.child.pid },
      { key: `never issued, ${d.driver}`, name: `tokenctl: never issued (${d.driver})`, port: d.port, spec: introspect(unknownS2s()), expected: INACTIVE, pid: d.child.pid },
    ]),
  ].map((c) => ({ ...c, check: answers(c.expected) }));
  for (const c of cases) await warmUp(c);
  const bare = cases.findIndex((c) => c.key === 'bare POST');
  const results = cases.map(() => []);
  /**
   * Each round measures the bare POST handler between every two other cases (bare, case, bare, case, ..., bare), so
   * that every case's ratio is to the bare handler's windows right before and after it, seconds apart: this machine's
   * speed moves over tens of seconds (every server at once), and a ratio across a whole round caught those moves.
   * The order of the other cases alternates from round to round.
   */
  const bracketing = cases.map(() => []);
  const others = cases.map((_, i) => i).filter((i) => i !== bare);
  for (let round = 1; round <= rounds; round++) {
    console.log(`round ${round} of ${rounds}`);
    const order = round % 2 ? others : [...others].reverse();
    let before = await measure(cases[bare]);
    results[bare].push(before);
    report(cases[bare].name, before);
    for (const i of order) {
      const r = await measure(cases[i]);
      results[i].push(r);
      report(cases[i].name, r);
      const after = await measure(cases[bare]);
      results[bare].push(after);
      report(cases[bare].name, after);
      bracketing[i].push((before.cpuUs + after.cpuUs) / 2);
      before = after;
    }
  }
  const med = results.map((rs) => ({
    rps: median(rs.map((r) => r.rps)),
    p50: median(rs.map((r) => r.p50)),
    p99: median(rs.map((r) => r.p99)),
    cpuUs: median(rs.map((r) => r.cpuUs)),
    n: rs.reduce((a, r) => a + r.n, 0),
    errors: rs.reduce((a, r) => a + r.errors, 0),
  }));
  console.log(`\nmedians of ${rounds} round(s)`);
  for (const [i, c] of cases.entries()) report(c.name, med[i]);
  console.log('');
  const oidc = cases.findIndex((c) => c.key === 'oidc-provider');
  const perRound = (i, j) => results[i].map((x, k) => results[j][k].cpuUs / x.cpuUs);
  for (const [i, c] of cases.entries()) {
    if (i === bare || c.key === 'bare GET') continue;
    // The bare handler's CPU in the windows beside this case's, over this case's.
    const ratio = results[i].map((x, k) => bracketing[i][k] / x.cpuUs);
    const r = median(ratio);
    const p99 = med[i].p99;
    const vsPeer = c.key === 'oidc-provider' ? '' : `; ${median(perRound(i, oidc)).toFixed(1)}x less CPU than oidc-provider's`;
    const verdict = c.target ? ` (target >= 0.85: ${r >= 0.85 ? 'met' : 'NOT met'}; p99 target < 5 ms: ${p99 < 5 ? 'met' : 'NOT met'})` : '';
    console.log(
      `${c.key}: the bare POST handler's CPU per request / this one's = ${r.toFixed(2)} (rounds ${spread(ratio)}; ${(1 / r).toFixed(2)}x its CPU), p99 ${p99.toFixed(2)} ms${verdict}${vsPeer}` +
        `${med[i].errors ? `; ${med[i].errors} WRONG ANSWERS OR ERRORS` : ''}`,
    );
  }
  if (profile) {
    console.log(`\nwhere the server's CPU goes (perf, ${seconds} s per case; shares of the server's samples)`);
    // The bare POST handler is profiled before and after each case: where tokenctl's extra CPU per request goes.
    const rows = [await profileCase(cases[bare])];
    for (const key of ['s2s', 's2s, request log on', 'never issued', ...(isolation ? ['door alone: s2s', 'door worker: s2s'] : [])]) {
      rows.push(await profileCase(cases.find((c) => c.key === key)));
      rows.push(await profileCase(cases[bare]));
    }
    reportParts(rows);
  }
  if (byDriver.length > 0) await measureWrites(byDriver, auth);
  await Promise.all([hello, serve, logged, barePost, peer, ...byDriver, ...doors].map((p) => stop(p.child)));
} finally {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  // --perf-basic-prof's symbol maps (V8 writes them in /tmp, whatever TMPDIR says).
  if (profile) for (const c of children) rmSync(`/tmp/perf-${c.pid}.map`, { force: true });
  rmSync(home, { recursive: true, force: true });
}
