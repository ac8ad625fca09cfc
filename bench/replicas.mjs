#!/usr/bin/env node
// Replica benchmark (issue 10, "Performance"): the token service on PostgreSQL, two replicas, beside one replica on
// SQLite and a bare node:http hello-world, all measured in the same run. It starts its own throwaway PostgreSQL
// (Debian's binaries, initdb in a temporary directory owned by the postgres user, 127.0.0.1 on a free port,
// fsync off), removed at the end, on failure and on Ctrl-C too. Loopback traffic only. Sections:
//   1. Introspection (wrk, 1 thread, 50 keep-alive connections, as bench/introspect.mjs): bare node:http; SQLite
//      (one replica); replica A and replica B on PostgreSQL, wrk against each replica in turn (never both at
//      once). Repeated values: one active s2s token again and again. Never-issued values: a real s2s value minted
//      by a *different* database (the SQLite store's for the PostgreSQL replicas, PostgreSQL's for SQLite), so its
//      prefix, length and checksum are right and its fingerprint is in no index. The ratio is the median of the
//      per-round ratios to the bare server (measured in the same round). Targets: >= 0.6x, p99 < 10 ms.
//   2. The same introspection on a second database holding 100,000 more issued tokens (inserted with COPY, shaped
//      as the service's rows: see bulkRows()), measured in the same rounds as section 1; replica start time (spawn
//      to /readyz 200) and memory (RSS, heap used after a full GC; bench/lib/memory-probe.mjs) beside a replica on
//      an empty database; linearly extrapolated to 1,000,000 tokens of the same mix (printed as extrapolated).
//   3. Creates per second: 20 concurrent admin clients, one account each, each creating an s2s token and deleting
//      it again in a loop (so the 2-live-per-type limit is never hit); on PostgreSQL 10 clients on each replica,
//      on SQLite all 20 on the one replica; interleaved over the rounds.
//   4. Propagation: an s2s token created, renamed, deleted through replica P, polled on replica B until the change
//      shows; latency from P's answer to B's first answer showing it. Creates and deletes are polled by
//      introspection. P runs with TOKENCTL_NOW one day behind B, so that a token P creates is already past its
//      30 minutes of pending on B's clock and a deletion already past its 30 minutes of draining: both change B's
//      introspection answer at once (with equal clocks a new token stays {"active":false} for 30 minutes, which is
//      indistinguishable from "not there yet"). A rename changes nothing in an introspection answer (it carries no
//      name), so renames are polled on B's GET /v1/tokens/<id>, which reads the database: shown for reference.
// Bounded: --seconds (default 3, at most 30) per case per round, --rounds (default 3, at most 10), every request
// and wait has a deadline, and the whole run a watchdog. Run on demand, after `npm run build`:
//   node bench/replicas.mjs [--seconds 3] [--rounds 3]
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes, randomInt } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { crc32 } from 'node:zlib';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const bin = path.join(root, 'bin', 'tokenctl.js');
const probe = pathToFileURL(path.join(here, 'lib', 'memory-probe.mjs')).href;

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log('usage: node bench/replicas.mjs [--seconds N (3, <= 30)] [--rounds N (3, <= 10)]   (after npm run build; needs wrk, PostgreSQL, root)');
  process.exit(0);
}
const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  const v = i > 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(v) || v <= 0) {
    console.error(`${name} needs a positive number`);
    process.exit(2);
  }
  return v;
};
const seconds = Math.max(1, Math.min(Math.round(arg('--seconds', 3)), 30));
const rounds = Math.max(1, Math.min(Math.round(arg('--rounds', 3)), 10));
const CONNECTIONS = 50;
const CLIENTS = 20;
const BULK_TOKENS = 100_000;
const TOKENS_PER_ACCOUNT = 10; // 3 live (the default API token and two s2s), 7 deleted long ago
const PROPAGATION_CYCLES = 25; // 25 creates + 25 deletes seen by introspection (50 changes), 25 renames
const PROPAGATION_WAIT_MS = 5_000;
const DAY = 86_400_000;

// ---- what is needed: wrk, PostgreSQL's binaries, root and the postgres user, the build --------------------------
const fail = (message) => {
  console.error(`error: ${message}`);
  process.exit(1);
};
if (spawnSync('wrk', ['--version'], { stdio: 'ignore' }).error !== undefined) fail('wrk is not installed (apt-get install wrk): this benchmark needs it');
const pgBin = (() => {
  const dir = '/usr/lib/postgresql';
  if (!existsSync(dir)) return null;
  const v = readdirSync(dir).filter((x) => existsSync(path.join(dir, x, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a))[0];
  return v ? path.join(dir, v, 'bin') : null;
})();
if (!pgBin) fail("PostgreSQL's server binaries are not installed (/usr/lib/postgresql/<version>/bin; apt-get install postgresql)");
if (process.getuid?.() !== 0) fail('run as root: PostgreSQL is started as the postgres user (runuser)');
if (spawnSync('id', ['-u', 'postgres']).status !== 0) fail('there is no postgres user to run PostgreSQL as');
if (!existsSync(path.join(root, 'dist', 'tokenctl.js'))) fail('tokenctl is not built: run npm run build first');

// ---- cleanup: on success, failure, Ctrl-C, SIGTERM, and a watchdog ----------------------------------------------
const children = new Set();
const cleanups = [];
let cleanedUp = false;
function cleanup() {
  if (cleanedUp) return;
  cleanedUp = true;
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const f of cleanups.reverse()) {
    try {
      f();
    } catch (error) {
      console.error(`cleanup: ${error.message}`);
    }
  }
}
process.on('exit', cleanup);
for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]]) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping, removing the temporary PostgreSQL cluster and data`);
    cleanup();
    process.exit(code);
  });
}
const watchdogMs = 300_000 + rounds * seconds * 25_000;
setTimeout(() => {
  console.error(`error: the benchmark took more than ${Math.round(watchdogMs / 1000)} s; stopped`);
  cleanup();
  process.exit(1);
}, watchdogMs).unref();

const home = mkdtempSync(path.join(tmpdir(), 'tokenctl-bench-replicas-'));
cleanups.push(() => rmSync(home, { recursive: true, force: true }));
const serverKey = randomBytes(32).toString('base64');
const baseEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, TOKENCTL_HOME: home, TOKENCTL_KEYCHAIN: 'off', NO_COLOR: '1' };

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};
/** Nearest-rank percentile of a sorted copy. */
const pct = (xs, p) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length ? v[Math.min(v.length - 1, Math.ceil((p / 100) * v.length) - 1)] : NaN;
};
const f = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const mib = (bytes) => `${(bytes / 1048576).toFixed(1)} MiB`;

// ---- processes --------------------------------------------------------------------------------------------------
/** Runs a command to completion (bounded); resolves with stdout, rejects with stderr. */
function run(cmd, args, { env = baseEnv, input, timeoutMs = 60_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    children.add(child);
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      if (code === 0) resolve(out);
      else reject(new Error(`${path.basename(cmd)} ${args.slice(0, 4).join(' ')} failed (${code ?? signal}): ${err.trim().slice(0, 2000)}`));
    });
    if (input !== undefined) {
      child.stdin.on('error', () => undefined); // an early exit is reported by the exit code
      child.stdin.end(input);
    }
  });
}
const tk = async (args, extraEnv = {}) => (await run(process.execPath, [bin, ...args], { env: { ...baseEnv, ...extraEnv } })).trim();

/** Runs `count` jobs with at most `width` at once. */
async function pool(count, width, job) {
  const out = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, count) }, async () => {
      while (next < count) {
        const i = next++;
        out[i] = await job(i);
      }
    }),
  );
  return out;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function request(agent, port, { method, path: p, headers = {}, body }, timeoutMs = 10_000) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: p, headers: body === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(body) }, agent, timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${p}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}
const json = (text) => {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
};

/**
 * Starts a node process and resolves once its stderr matches `pattern` (the port is group 1). With `ready`, waits
 * then for GET /readyz 200: `startMs` is spawn to that answer.
 */
function startProcess(name, args, { env = baseEnv, pattern = /listening on http:\/\/127\.0\.0\.1:(\d+)/, ready = false, timeoutMs = 60_000 } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    children.add(child);
    let err = '';
    let found = false;
    const proc = { name, child, pid: child.pid, port: 0, startMs: NaN, stderr: () => err };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} did not start within ${timeoutMs / 1000} s:\n${err}`));
    }, timeoutMs);
    child.stderr.setEncoding('utf8').on('data', async (d) => {
      err += d;
      const m = !found && pattern.exec(err);
      if (!m) return;
      found = true;
      proc.port = Number(m[1]);
      if (ready) {
        const agent = new http.Agent({ keepAlive: false });
        for (;;) {
          const r = await request(agent, proc.port, { method: 'GET', path: '/readyz' }, 2_000).catch((e) => ({ status: 0, text: String(e) }));
          if (r.status === 200) break;
          if (performance.now() - t0 > timeoutMs) return; // the timer reports it
          await sleep(5);
        }
      }
      proc.startMs = performance.now() - t0;
      clearTimeout(timer);
      resolve(proc);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      reject(new Error(`${name} exited (${code ?? signal}):\n${err}`));
    });
  });
}

const stop = (proc) =>
  new Promise((resolve) => {
    const c = proc.child;
    if (c.exitCode !== null || c.signalCode !== null) return resolve();
    const timer = setTimeout(() => c.kill('SIGKILL'), 15_000);
    c.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    c.kill('SIGTERM');
  });

function serveArgs(storage, { nodeFlags = [] } = {}) {
  return [...nodeFlags, bin, 'serve', ...(storage.data ? ['--data', storage.data] : []), '--port', '0', '--log-level', 'silent'];
}
function serveEnv(storage, extra = {}) {
  return { ...baseEnv, ...(storage.url ? { TOKENCTL_DATABASE_URL: storage.url, TOKENCTL_SERVER_KEY: serverKey } : {}), ...extra };
}
const startServe = (name, storage, { extraEnv = {}, nodeFlags = [] } = {}) => startProcess(name, serveArgs(storage, { nodeFlags }), { env: serveEnv(storage, extraEnv), ready: true });

/** Full-GC memory of a replica started with the probe, and its peak RSS (VmHWM) from /proc. */
async function memoryOf(proc) {
  const before = proc.stderr().length;
  proc.child.kill('SIGUSR2');
  const deadline = performance.now() + 10_000;
  for (;;) {
    const m = /bench-memory (\{.*\})\n/.exec(proc.stderr().slice(before));
    if (m) {
      const mem = JSON.parse(m[1]);
      if (!mem.gc) throw new Error('the memory probe ran without --expose-gc');
      const status = readFileSync(`/proc/${proc.pid}/status`, 'utf8');
      mem.hwm = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) * 1024;
      return mem;
    }
    if (performance.now() > deadline) throw new Error(`${proc.name}: no answer from the memory probe within 10 s`);
    await sleep(10);
  }
}

/** CPU seconds (user + system) of a process, from /proc. */
function cpuSeconds(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

// ---- PostgreSQL: a throwaway cluster --------------------------------------------------------------------------
const pgUid = Number(execFileSync('id', ['-u', 'postgres']).toString());
const pgGid = Number(execFileSync('id', ['-g', 'postgres']).toString());
const asPostgres = (args, timeoutMs = 60_000) => run('runuser', ['-u', 'postgres', '--', ...args], { env: { PATH: baseEnv.PATH }, timeoutMs });

async function startPostgres() {
  const dir = mkdtempSync(path.join(tmpdir(), 'tokenctl-bench-pg-'));
  const data = path.join(dir, 'data');
  const log = path.join(dir, 'log');
  const pgCtl = path.join(pgBin, 'pg_ctl');
  cleanups.push(() => {
    // Stop at once (the data is thrown away), then remove the directory; a cluster already stopped is fine.
    if (existsSync(path.join(data, 'postmaster.pid'))) spawnSync('runuser', ['-u', 'postgres', '--', pgCtl, '-D', data, '-m', 'immediate', '-w', '-t', '20', 'stop'], { stdio: 'ignore', timeout: 30_000 });
    rmSync(dir, { recursive: true, force: true });
  });
  chownSync(dir, pgUid, pgGid);
  await asPostgres([path.join(pgBin, 'initdb'), '-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  // Other jobs on this machine start servers too: a port taken between freePort() and the bind is tried again.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const options = `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=off -c max_connections=200`;
    try {
      await asPostgres([pgCtl, '-D', data, '-w', '-t', '60', '-l', log, '-o', options, 'start'], 90_000);
      const version = (await run(path.join(pgBin, 'postgres'), ['--version'])).trim();
      return { port, version, url: (db) => `postgres://postgres@127.0.0.1:${port}/${db}` };
    } catch (error) {
      const text = existsSync(log) ? readFileSync(log, 'utf8') : '';
      if (attempt < 5 && /Address already in use/.test(text)) continue;
      throw new Error(`PostgreSQL did not start: ${error.message}\n${text.slice(-3000)}`);
    }
  }
}
let pg;
const psql = (db, { sql, input, timeoutMs = 120_000 }) =>
  run(path.join(pgBin, 'psql'), ['-X', '-q', '-t', '-A', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(pg.port), '-U', 'postgres', '-d', db, ...(sql ? ['-c', sql] : ['-f', '-'])], { env: { PATH: baseEnv.PATH }, input, timeoutMs });

// ---- values ------------------------------------------------------------------------------------------------------
const B62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const base62 = (n) => Array.from({ length: n }, () => B62[randomInt(62)]).join('');
/** The checksum of src/secrets/opaque.ts (CRC-32 of prefix and body, 6 base62 digits): used to check the values used. */
function opaqueChecksumOk(value) {
  const m = /^(tctl_s2s_[0-9A-Za-z]{28})([0-9A-Za-z]{6})$/.exec(value);
  if (!m) return false;
  let v = crc32(m[1]);
  let sum = '';
  for (let i = 0; i < 6; i++) {
    sum = B62[v % 62] + sum;
    v = Math.floor(v / 62);
  }
  return sum === m[2];
}
const b64url = (n) => randomBytes(n).toString('base64url');
/** The shape of a sealed value (secrets/seal.ts: v1.<iv>.<ciphertext+tag>): never opened by the benchmark. */
const sealedShape = (plainLength) => `v1.${b64url(12)}.${b64url(plainLength + 16)}`;

/**
 * 100,000 tokens as the service writes them (src/storage/sql/postgres/storage.ts insertToken), in 10,000 accounts, each with its
 * admin principal and its Ed25519 signing key (real public keys, kid = JWK thumbprint; sealed parts are random bytes of
 * the sealed shape). Per account: the `default` API token and two s2s tokens live (created 10 to 200 days ago), seven
 * tokens deleted 60 to 400 days ago (value gone: secret NULL). 30% live: a replica keeps the live ones (and those
 * deleted within the last 1.5 h, here none) in memory. No audit rows: replicas do not read them at start.
 */
function bulkRows(total) {
  const accounts = total / TOKENS_PER_ACCOUNT;
  const now = Date.now();
  const iso = (ms) => new Date(ms).toISOString();
  const A = [];
  const P = [];
  const K = [];
  const T = [];
  for (let a = 0; a < accounts; a++) {
    const accountId = `acc_${base62(16)}`;
    const name = `bulk${String(a).padStart(5, '0')}`;
    const accountCreated = now - (400 + randomInt(200)) * DAY;
    A.push([accountId, name, name, iso(accountCreated), '[]']);
    P.push([`prn_${base62(16)}`, accountId, 'admin', 'admin', 'admin', `\\\\x${randomBytes(32).toString('hex')}`, iso(accountCreated)]);
    const { publicKey } = generateKeyPairSync('ed25519');
    const x = publicKey.export({ format: 'jwk' }).x;
    const kid = createHash('sha256').update(JSON.stringify({ crv: 'Ed25519', kty: 'OKP', x })).digest('base64url');
    K.push([kid, accountId, JSON.stringify({ kty: 'OKP', crv: 'Ed25519', x }), sealedShape(119), iso(accountCreated)]);
    const token = (name, type, createdMs, deletedMs) => {
      const tail = base62(4);
      const live = deletedMs === null;
      const activates = name === 'default' ? createdMs : createdMs + 30 * 60_000;
      const lastUsed = randomInt(3) === 0 ? null : iso(Math.min(now - 60_000, (deletedMs ?? now) - randomInt(DAY)));
      T.push([
        `tok_${base62(16)}`,
        accountId,
        name,
        name,
        type,
        iso(createdMs),
        iso(activates),
        live ? null : iso(deletedMs),
        lastUsed !== null && Date.parse(lastUsed) > createdMs ? lastUsed : null,
        type === 'api' ? `eyJ…${tail}` : `tctl_s2s_…${tail}`,
        b64url(32), // keyed fingerprint: 43 base64url characters, unique
        live ? sealedShape(type === 'api' ? 520 : 43) : null,
      ]);
    };
    token('default', 'api', accountCreated, null);
    for (let i = 1; i <= 2; i++) token(`s2s-${i}`, 's2s', now - (10 + randomInt(190)) * DAY, null);
    for (let i = 1; i <= TOKENS_PER_ACCOUNT - 3; i++) {
      const deleted = now - (60 + randomInt(340)) * DAY;
      token(`old-${i}`, i % 3 === 0 ? 'api' : 's2s', deleted - (1 + randomInt(120)) * DAY, deleted);
    }
  }
  const copy = (head, rows) => `COPY ${head} FROM STDIN;\n${rows.map((r) => r.map((v) => (v === null ? '\\N' : v)).join('\t')).join('\n')}\n\\.\n`;
  return (
    'BEGIN;\n' +
    copy('accounts (id, name, name_key, created_at, features)', A) +
    copy('principals (id, account_id, name, name_key, role, credential_hash, created_at)', P) +
    copy('signing_keys (kid, account_id, public_jwk, private_key, created_at)', K) +
    copy('tokens (id, account_id, name, name_key, type, created_at, activates_at, deleted_at, last_used_at, masked, fingerprint, secret)', T) +
    'COMMIT;\nANALYZE;\n'
  );
}

// ---- introspection load (wrk, as bench/introspect.mjs) ------------------------------------------------------------
function wrkLoad(port, spec, secs, expected) {
  const script = path.join(home, `wrk-${randomBytes(6).toString('hex')}.lua`);
  const lua = [`wrk.method = ${JSON.stringify(spec.method)}`, `wrk.body = ${JSON.stringify(spec.body ?? '')}`];
  for (const [k, v] of Object.entries(spec.headers)) lua.push(`wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`);
  lua.push(
    'local threads = {}',
    'function setup(thread) table.insert(threads, thread) end',
    'function init(args) wrong = 0 end',
    `local prefix = ${JSON.stringify(expected)}`,
    'function response(status, headers, body) if status ~= 200 or body:sub(1, #prefix) ~= prefix then wrong = wrong + 1 end end',
    'function done(summary, latency, requests) local n = 0 for _, t in ipairs(threads) do n = n + t:get("wrong") end io.write(string.format("wrong answers: %d\\n", n)) end',
  );
  writeFileSync(script, lua.join('\n') + '\n', { mode: 0o600 });
  return run('wrk', ['-t1', `-c${CONNECTIONS}`, `-d${secs}s`, '--latency', '-s', script, `http://127.0.0.1:${port}${spec.path}`], { timeoutMs: (secs + 30) * 1000 }).then((out) => {
    const ms = (t) => (t.endsWith('us') ? parseFloat(t) / 1000 : t.endsWith('ms') ? parseFloat(t) : parseFloat(t) * 1000);
    const pick = (re) => re.exec(out)?.[1];
    const wrong = pick(/wrong answers: (\d+)/);
    if (wrong === undefined) throw new Error(`wrk did not report its answer check:\n${out}`);
    const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
    const errors = Number(wrong) + (socketErrors ? socketErrors.slice(1).reduce((s, x) => s + Number(x), 0) : 0);
    return { rps: Number(pick(/Requests\/sec:\s+([\d.]+)/)), p50: ms(pick(/50%\s+([\d.]+\w+)/) ?? 'NaN'), p99: ms(pick(/99%\s+([\d.]+\w+)/) ?? 'NaN'), n: Number(pick(/(\d+) requests in/) ?? NaN), errors };
  });
}

async function measure(c, secs) {
  const cpu0 = cpuSeconds(c.pid);
  const r = await wrkLoad(c.port, c.spec, secs, c.expected);
  r.cpuUs = ((cpuSeconds(c.pid) - cpu0) / r.n) * 1e6;
  return r;
}

const introspect = (credential, token) => ({
  method: 'POST',
  path: '/v1/introspect',
  headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams({ token }).toString(),
});
const ACTIVE = '{"active":true';
const INACTIVE = '{"active":false}';

/** An s2s token that is active now: created through a replica whose clock stands a day back (then stopped). */
async function activeS2s(storage, admin, name) {
  const past = await startServe(`${name} (a day back)`, storage, { extraEnv: { TOKENCTL_NOW: new Date(Date.now() - DAY).toISOString() } });
  try {
    const r = await request(new http.Agent(), past.port, { method: 'POST', path: '/v1/tokens', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify({ type: 's2s', name: 'bench' }) });
    const value = json(r.text)?.value;
    if (r.status !== 201 || typeof value !== 'string') throw new Error(`${name}: creating the s2s token answered ${r.status} ${r.text.slice(0, 200)}`);
    return value;
  } finally {
    await stop(past);
  }
}

// ---- creates per second ---------------------------------------------------------------------------------------
async function createLoad(targets, secs, round) {
  // targets[i] = { port, admin } for client i
  const deadline = performance.now() + secs * 1000;
  const started = performance.now();
  const latencies = [];
  const problems = [];
  let deletes = 0;
  await Promise.all(
    targets.map(async (t, i) => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const headers = { authorization: `Bearer ${t.admin}`, 'content-type': 'application/json' };
      for (let n = 0; performance.now() < deadline && problems.length < 20; n++) {
        const t0 = performance.now();
        const r = await request(agent, t.port, { method: 'POST', path: '/v1/tokens', headers, body: JSON.stringify({ type: 's2s', name: `c${round}-${i}-${n}` }) }).catch((e) => ({ status: 0, text: String(e) }));
        const t1 = performance.now();
        const id = json(r.text)?.token?.id;
        if (r.status !== 201 || !id) {
          problems.push(`create ${r.status} ${r.text.slice(0, 160)}`);
          continue;
        }
        if (t1 <= deadline) latencies.push(t1 - t0);
        const d = await request(agent, t.port, { method: 'DELETE', path: `/v1/tokens/${id}`, headers, body: JSON.stringify({ confirmation: 'Delete token' }) }).catch((e) => ({ status: 0, text: String(e) }));
        if (d.status === 200) {
          if (performance.now() <= deadline) deletes++;
        }
        else problems.push(`delete ${d.status} ${d.text.slice(0, 160)}`);
      }
      agent.destroy();
    }),
  );
  const elapsed = Math.min(performance.now(), deadline) - started;
  return { cps: latencies.length / (elapsed / 1000), creates: latencies.length, deletes, p50: pct(latencies, 50), p99: pct(latencies, 99), problems };
}

// ---- main --------------------------------------------------------------------------------------------------------
try {
  const t0 = performance.now();
  const stamp = (what) => console.error(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${what}`);
  stamp('starting PostgreSQL');
  pg = await startPostgres();
  for (const db of ['small', 'big', 'empty']) await psql('postgres', { sql: `CREATE DATABASE ${db}` });
  const small = { name: 'PostgreSQL', url: pg.url('small') };
  const big = { name: 'PostgreSQL, 100,000 tokens', url: pg.url('big') };
  const empty = { name: 'PostgreSQL, empty', url: pg.url('empty') };
  const sqlite = { name: 'SQLite', data: path.join(home, 'sqlite') };
  const server = (storage, args) => tk(['server', ...args, ...(storage.data ? ['--data', storage.data] : [])], storage.url ? { TOKENCTL_DATABASE_URL: storage.url, TOKENCTL_SERVER_KEY: serverKey } : {});

  stamp('accounts, principals and active s2s tokens');
  await server(empty, ['migrate']);
  const creds = {};
  for (const s of [sqlite, small, big]) {
    const admin = await server(s, ['init', '--account', 'acme']);
    const service = await server(s, ['add-principal', '--account', 'acme', '--role', 'service', '--name', 'rs']);
    creds[s.name] = { admin, service, s2s: await activeS2s(s, admin, s.name) };
  }
  // One account per create client (a1..a20): on SQLite one init at a time (one writer), on PostgreSQL four at once.
  const createAdmins = {
    [sqlite.name]: await pool(CLIENTS, 1, (i) => server(sqlite, ['init', '--account', `a${i + 1}`])),
    [small.name]: await pool(CLIENTS, 4, (i) => server(small, ['init', '--account', `a${i + 1}`])),
  };
  for (const c of Object.values(creds)) if (!opaqueChecksumOk(c.s2s)) throw new Error(`an s2s value minted by the service fails the checksum of src/secrets/opaque.ts: ${c.s2s.slice(0, 12)}…`);
  // Never issued in a database = issued by another one: real values, correct format and checksum.
  const neverIssued = { [sqlite.name]: creds[small.name].s2s, [small.name]: creds[sqlite.name].s2s, [big.name]: creds[sqlite.name].s2s };

  stamp(`inserting ${BULK_TOKENS.toLocaleString('en')} tokens into the second database`);
  const tBulk = performance.now();
  await psql('big', { input: bulkRows(BULK_TOKENS), timeoutMs: 300_000 });
  const counts = (await psql('big', { sql: "SELECT count(*) || ' ' || count(*) FILTER (WHERE deleted_at IS NULL) || ' ' || (SELECT count(*) FROM accounts) FROM tokens" }).then((o) => o.trim())).split(' ').map(Number);
  const bulkSeconds = (performance.now() - tBulk) / 1000;

  // Start time and memory: a replica on the empty database and one on the big one, started one after the other.
  stamp('replica start time and memory');
  const starts = { empty: [], big: [] };
  const mems = { empty: [], big: [] };
  for (let round = 0; round < rounds; round++) {
    for (const [key, storage] of [['empty', empty], ['big', big]]) {
      const r = await startServe(`${key} probe`, storage, { nodeFlags: ['--expose-gc', '--import', probe] });
      starts[key].push(r.startMs);
      mems[key].push(await memoryOf(r));
      await stop(r);
    }
  }

  stamp('starting the measured servers');
  const hello = await startProcess(
    'hello',
    ['-e', "const s=require('node:http').createServer((q,r)=>{r.setHeader('content-type','application/json');r.end('{\"hello\":\"world\"}')});s.keepAliveTimeout=5000;s.listen(0,'127.0.0.1',()=>process.stderr.write('port '+s.address().port+'\\n'))"],
    { pattern: /port (\d+)/ },
  );
  const sq = await startServe('SQLite', sqlite);
  const A = await startServe('A', small);
  const B = await startServe('B', small);
  const A2 = await startServe('A (100k)', big);
  const B2 = await startServe('B (100k)', big);
  starts.big.push(A2.startMs, B2.startMs);

  const c = (label, short, section, proc, storage, kind) => {
    const cred = creds[storage.name];
    const value = kind === 'repeated' ? cred.s2s : neverIssued[storage.name];
    return { label, short, section, kind, storage: storage.name, port: proc.port, pid: proc.pid, spec: introspect(cred.service, value), expected: kind === 'repeated' ? ACTIVE : INACTIVE };
  };
  const cases = [
    { label: 'bare node:http hello-world (GET)', short: 'bare', section: 0, port: hello.port, pid: hello.pid, spec: { method: 'GET', path: '/', headers: {} }, expected: '{"hello":"world"}' },
    c('SQLite, 1 replica: repeated s2s', 'SQLite rep', 1, sq, sqlite, 'repeated'),
    c('SQLite, 1 replica: never-issued s2s', 'SQLite new', 1, sq, sqlite, 'never-issued'),
    c('PostgreSQL replica A: repeated s2s', 'A rep', 1, A, small, 'repeated'),
    c('PostgreSQL replica A: never-issued s2s', 'A new', 1, A, small, 'never-issued'),
    c('PostgreSQL replica B: repeated s2s', 'B rep', 1, B, small, 'repeated'),
    c('PostgreSQL replica B: never-issued s2s', 'B new', 1, B, small, 'never-issued'),
    c('100k tokens, replica A: repeated s2s', 'A100k rep', 2, A2, big, 'repeated'),
    c('100k tokens, replica A: never-issued s2s', 'A100k new', 2, A2, big, 'never-issued'),
    c('100k tokens, replica B: repeated s2s', 'B100k rep', 2, B2, big, 'repeated'),
    c('100k tokens, replica B: never-issued s2s', 'B100k new', 2, B2, big, 'never-issued'),
  ];
  stamp('warm-up: 1 s of wrk per case');
  for (const x of cases) {
    const first = await request(new http.Agent(), x.port, x.spec);
    if (first.status !== 200 || !first.text.startsWith(x.expected)) throw new Error(`${x.label}: answered ${first.status} ${first.text.slice(0, 120)}, expected ${x.expected}`);
    await wrkLoad(x.port, x.spec, 1, x.expected); // warm-up: JIT, connections
  }
  stamp(`introspection: ${cases.length} cases x ${rounds} round(s) x ${seconds} s`);
  const results = cases.map(() => []);
  for (let round = 0; round < rounds; round++) {
    for (const [i, x] of cases.entries()) results[i].push(await measure(x, seconds));
    stamp(`  round ${round + 1}: ${cases.map((x, i) => `${x.short} ${results[i][round].rps.toFixed(0)}`).join(', ')} req/s`);
  }

  stamp(`creates: ${CLIENTS} admin clients x ${rounds} round(s) x ${seconds} s, PostgreSQL (10 on A, 10 on B) and SQLite`);
  const createResults = { pg: [], sqlite: [] };
  for (let round = 0; round < rounds; round++) {
    createResults.pg.push(await createLoad(createAdmins[small.name].map((admin, i) => ({ admin, port: i % 2 === 0 ? A.port : B.port })), seconds, round));
    createResults.sqlite.push(await createLoad(createAdmins[sqlite.name].map((admin) => ({ admin, port: sq.port })), seconds, round));
  }

  stamp(`propagation: ${PROPAGATION_CYCLES} creates, renames and deletes through replica P, seen on replica B`);
  const P = await startServe('P (a day back)', small, { extraEnv: { TOKENCTL_NOW: new Date(Date.now() - DAY).toISOString() } });
  const prop = { create: [], rename: [], delete: [], missed: [], polls: 0 };
  {
    const { admin, service } = creds[small.name];
    const onP = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const onB = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const adminHeaders = { authorization: `Bearer ${admin}`, 'content-type': 'application/json' };
    const change = async (kind, spec) => {
      const r = await request(onP, P.port, { ...spec, headers: adminHeaders });
      if (r.status !== (kind === 'create' ? 201 : 200)) throw new Error(`propagation: ${kind} on P answered ${r.status} ${r.text.slice(0, 200)}`);
      return r;
    };
    const waitOnB = async (kind, poll, shows) => {
      const acked = performance.now();
      for (;;) {
        const r = await poll();
        prop.polls++;
        if (shows(r)) return prop[kind].push(performance.now() - acked);
        if (performance.now() - acked > PROPAGATION_WAIT_MS) return prop.missed.push(`${kind}: not seen on B within ${PROPAGATION_WAIT_MS} ms (last answer ${r.status} ${r.text.slice(0, 100)})`);
      }
    };
    for (let i = 0; i < PROPAGATION_CYCLES; i++) {
      const created = json((await change('create', { method: 'POST', path: '/v1/tokens', body: JSON.stringify({ type: 's2s', name: `prop-${i}` }) })).text);
      const ask = () => request(onB, B.port, introspect(service, created.value));
      await waitOnB('create', ask, (r) => r.status === 200 && r.text.startsWith(ACTIVE));
      await change('rename', { method: 'PATCH', path: `/v1/tokens/${created.token.id}`, body: JSON.stringify({ name: `prop-${i}-renamed` }) });
      await waitOnB('rename', () => request(onB, B.port, { method: 'GET', path: `/v1/tokens/${created.token.id}`, headers: adminHeaders }), (r) => json(r.text)?.token?.name === `prop-${i}-renamed`);
      await change('delete', { method: 'DELETE', path: `/v1/tokens/${created.token.id}`, body: JSON.stringify({ confirmation: 'Delete token' }) });
      await waitOnB('delete', ask, (r) => r.status === 200 && r.text === INACTIVE);
    }
    onP.destroy();
    onB.destroy();
  }
  await Promise.all([hello, sq, A, B, A2, B2, P].map(stop));
  stamp('done');

  // ---- report -------------------------------------------------------------------------------------------------
  const med = results.map((rs) => ({
    rps: median(rs.map((r) => r.rps)),
    p50: median(rs.map((r) => r.p50)),
    p99: median(rs.map((r) => r.p99)),
    cpuUs: median(rs.map((r) => r.cpuUs)),
    errors: rs.reduce((s, r) => s + r.errors, 0),
  }));
  const ratios = results.map((rs) => rs.map((r, k) => r.rps / results[0][k].rps));
  const verdicts = [];
  console.log(
    `\ntokenctl replicas benchmark: node ${process.version}, ${availableParallelism()} cores, ${pg.version}, loopback only; wrk 1 thread, ${CONNECTIONS} keep-alive connections, ${seconds} s per case, ${rounds} round(s), cases interleaved in each round`,
  );
  console.log('wrk runs against one server at a time: each replica in turn, never both at once. Figures are medians of the rounds; the ratio is the median of the per-round ratios to the bare server.');
  const head = `${'case'.padEnd(42)} ${'req/s'.padStart(7)} ${'p50'.padStart(8)} ${'p99'.padStart(8)} ${'CPU/req'.padStart(8)} ${'ratio'.padStart(6)}  per-round ratios     target (>= 0.6x, p99 < 10 ms)`;
  const row = (i) => {
    const x = cases[i];
    const m = med[i];
    const ratio = median(ratios[i]);
    let target = '';
    if (x.section > 0) {
      const ok = ratio >= 0.6 && m.p99 < 10;
      verdicts.push({ label: x.label, ok });
      target = `${ok ? 'met' : 'NOT met'}${ratio < 0.6 ? ' (ratio)' : ''}${m.p99 >= 10 ? ' (p99)' : ''}`;
    }
    const perRound = x.section === 0 ? '' : ratios[i].map((r) => r.toFixed(2)).join(' ');
    console.log(
      `${x.label.padEnd(42)} ${m.rps.toFixed(0).padStart(7)} ${`${f(m.p50)} ms`.padStart(8)} ${`${f(m.p99)} ms`.padStart(8)} ${`${f(m.cpuUs, 0)} µs`.padStart(8)} ${`${ratio.toFixed(2)}x`.padStart(6)}  ${perRound.padEnd(20)} ${target}${m.errors ? `  ${m.errors} WRONG ANSWERS OR SOCKET ERRORS` : ''}`,
    );
  };
  console.log(`\n1. Introspection, database with 1 account (never-issued: an s2s value minted by the other database)\n${head}`);
  for (const i of cases.keys()) if (cases[i].section <= 1) row(i);

  console.log(
    `\n2. PostgreSQL database with ${counts[0].toLocaleString('en')} issued tokens (${BULK_TOKENS.toLocaleString('en')} inserted with COPY in ${bulkSeconds.toFixed(1)} s; ${counts[2].toLocaleString('en')} accounts; ${counts[1].toLocaleString('en')} live, the rest deleted 60 to 400 days ago)\n${head}`,
  );
  row(0);
  for (const i of cases.keys()) if (cases[i].section === 2) row(i);
  const st = { empty: median(starts.empty), big: median(starts.big) };
  const mem = (key, field) => median(mems[key].map((m) => m[field]));
  const d = { rss: mem('big', 'rss') - mem('empty', 'rss'), heap: mem('big', 'heapUsed') - mem('empty', 'heapUsed'), hwm: mem('big', 'hwm') - mem('empty', 'hwm') };
  const scale = 1_000_000 / BULK_TOKENS;
  console.log(`\n${'replica (medians; start = spawn to /readyz 200)'.padEnd(48)} ${'start'.padStart(9)} ${'RSS'.padStart(10)} ${'heap used'.padStart(10)} ${'peak RSS'.padStart(10)}   (memory after a full GC)`);
  console.log(`${'empty database'.padEnd(48)} ${`${st.empty.toFixed(0)} ms`.padStart(9)} ${mib(mem('empty', 'rss')).padStart(10)} ${mib(mem('empty', 'heapUsed')).padStart(10)} ${mib(mem('empty', 'hwm')).padStart(10)}   (${starts.empty.length} starts)`);
  console.log(`${'100,000 tokens'.padEnd(48)} ${`${st.big.toFixed(0)} ms`.padStart(9)} ${mib(mem('big', 'rss')).padStart(10)} ${mib(mem('big', 'heapUsed')).padStart(10)} ${mib(mem('big', 'hwm')).padStart(10)}   (${starts.big.length} starts, memory of ${mems.big.length})`);
  console.log(`${'100,000 tokens minus empty'.padEnd(48)} ${`${(st.big - st.empty).toFixed(0)} ms`.padStart(9)} ${mib(d.rss).padStart(10)} ${mib(d.heap).padStart(10)} ${mib(d.hwm).padStart(10)}   (heap ${((d.heap / BULK_TOKENS) * 1).toFixed(0)} B per issued token, ${(d.heap / counts[1]).toFixed(0)} B per live one)`);
  console.log(
    `${'1,000,000 tokens, EXTRAPOLATED (linear, same mix)'.padEnd(48)} ${`${(st.empty + (st.big - st.empty) * scale).toFixed(0)} ms`.padStart(9)} ${mib(mem('empty', 'rss') + d.rss * scale).padStart(10)} ${mib(mem('empty', 'heapUsed') + d.heap * scale).padStart(10)} ${mib(mem('empty', 'hwm') + d.hwm * scale).padStart(10)}   (not measured: extrapolated from the two rows above)`,
  );

  console.log(`\n3. Creates per second, ${CLIENTS} concurrent admin clients (one account each; each create is followed by a delete of the same token)`);
  for (const [key, label] of [['pg', 'PostgreSQL, 10 clients on A + 10 on B'], ['sqlite', 'SQLite, 20 clients on the one replica']]) {
    const rs = createResults[key];
    const problems = rs.flatMap((r) => r.problems);
    console.log(
      `${label.padEnd(42)} ${median(rs.map((r) => r.cps)).toFixed(0).padStart(7)} creates/s   create p50 ${f(median(rs.map((r) => r.p50)))} ms   p99 ${f(median(rs.map((r) => r.p99)))} ms   per round: ${rs.map((r) => r.cps.toFixed(0)).join(' ')}   (${rs.reduce((s, r) => s + r.creates, 0)} creates and ${rs.reduce((s, r) => s + r.deletes, 0)} deletes answered within the ${seconds} s, ${problems.length} errors)`,
    );
    for (const p of [...new Set(problems)].slice(0, 5)) console.log(`    error: ${p}`);
  }
  const cpsRatio = median(createResults.pg.map((r, k) => r.cps / createResults.sqlite[k].cps));
  console.log(`PostgreSQL (two replicas) / SQLite: ${cpsRatio.toFixed(2)}x (median of per-round ratios)`);

  const seen = [...prop.create, ...prop.delete];
  const p99 = pct(seen, 99);
  console.log(`\n4. Propagation: change through replica P, first answer on replica B showing it (ms from P's answer; ${prop.polls} polls in all)`);
  for (const [k, label] of [['create', 'created (introspection on B: active)'], ['delete', 'deleted (introspection on B: inactive)']]) {
    console.log(`${label.padEnd(42)} n ${String(prop[k].length).padStart(3)}   p50 ${f(pct(prop[k], 50))} ms   p99 ${f(pct(prop[k], 99))} ms   max ${f(Math.max(...prop[k]))} ms`);
  }
  console.log(
    `${'created + deleted'.padEnd(42)} n ${String(seen.length).padStart(3)}   p50 ${f(pct(seen, 50))} ms   p99 ${f(p99)} ms   target p99 < 100 ms: ${p99 < 100 && prop.missed.length === 0 ? 'met' : 'NOT met'}`,
  );
  console.log(
    `${'renamed (B GET /v1/tokens/<id>, database)'.padEnd(42)} n ${String(prop.rename.length).padStart(3)}   p50 ${f(pct(prop.rename, 50))} ms   p99 ${f(pct(prop.rename, 99))} ms   (reference only: an introspection answer has no name, so a rename cannot be seen there)`,
  );
  for (const m of prop.missed) console.log(`    ${m}`);
  console.log('P runs with TOKENCTL_NOW one day behind B, so that a created token is past pending and a deleted one past draining on B at once.');

  const notMet = verdicts.filter((v) => !v.ok);
  console.log(`\nintrospection targets: ${verdicts.length - notMet.length} of ${verdicts.length} cases met${notMet.length ? `; NOT met: ${notMet.map((v) => v.label).join('; ')}` : ''}`);
} catch (error) {
  console.error(`error: ${error.stack ?? error}`);
  process.exitCode = 1;
} finally {
  cleanup();
}
