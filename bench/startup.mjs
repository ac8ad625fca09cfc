#!/usr/bin/env node
// Startup benchmark: median wall time of `tokenctl list --json` (6 tokens, master key from the environment)
// and `tokenctl --help`, measured side by side with `node -e 0` in one run (interleaved, so machine noise hits
// all alike), plus peak memory, and the installed size of the CLI (what `npm install -g tokenctl` puts on disk:
// the package's files and its runtime dependencies, no SQLite driver). Run on demand, after `npm run build`:
// npm run bench:startup [-- --runs 40]
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin', 'tokenctl.js');
const runsArg = process.argv.indexOf('--runs');
const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 30;

const home = mkdtempSync(path.join(tmpdir(), 'tokenctl-bench-'));
const env = { ...process.env, TOKENCTL_HOME: home, TOKENCTL_MASTER_KEY: randomBytes(32).toString('base64'), TOKENCTL_KEYCHAIN: 'off', NO_COLOR: '1' };
const tk = (...args) => {
  const r = spawnSync(process.execPath, [bin, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`setup failed: tokenctl ${args.join(' ')}: ${r.stderr}`);
};
tk('init');
tk('create', '--type', 'api', '--name', 'api-2');
for (const t of ['onelink', 's2s']) for (const n of [1, 2]) tk('create', '--type', t, '--name', `${t}-${n}`);

const rssHook = `data:text/javascript,process.on('exit',()=>process.stderr.write('\\nRSS='+process.resourceUsage().maxRSS))`;
const cases = {
  'node -e 0': ['-e', '0'],
  'tokenctl list --json': [bin, 'list', '--json'],
  'tokenctl --help': [bin, '--help'],
};
const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
const rss = Object.fromEntries(Object.keys(cases).map((k) => [k, 0]));
for (let i = 0; i < runs + 3; i++) {
  for (const [name, args] of Object.entries(cases)) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`${name} failed: ${r.stderr}`);
    if (i >= 3) times[name].push(ms); // the first runs warm the file cache
  }
}
// Peak memory in separate runs: the measuring hook itself costs time, so it stays out of the timings.
for (const [name, args] of Object.entries(cases)) {
  const r = spawnSync(process.execPath, ['--import', rssHook, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  rss[name] = Number(/RSS=(\d+)/.exec(r.stderr)?.[1] ?? 0);
}
rmSync(home, { recursive: true, force: true });

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const base = median(times['node -e 0']);
console.log(`node ${process.version}, ${runs} runs each, interleaved`);
console.log('case                     median ms   ratio vs node -e 0   peak RSS MiB');
for (const name of Object.keys(cases)) {
  const m = median(times[name]);
  console.log(`${name.padEnd(24)} ${m.toFixed(1).padStart(9)}   ${(m / base).toFixed(2).padStart(18)}x   ${(rss[name] / 1024).toFixed(1).padStart(12)}`);
}
const TARGET = 1.35;
for (const name of ['tokenctl list --json', 'tokenctl --help']) {
  const ratio = median(times[name]) / base;
  console.log(`target: ${name.slice('tokenctl '.length)} <= ${TARGET}x node -e 0 -> ${ratio <= TARGET ? 'met' : 'NOT met'} (${ratio.toFixed(2)}x)`);
}

// Installed size: the files `npm pack` would ship, plus the runtime dependencies as installed here (the keychain
// binding and its binary for this platform; the lockfile's packages that are neither dev nor missing).
function duBytes(p) {
  const st = lstatSync(p);
  if (!st.isDirectory()) return st.size;
  return readdirSync(p).reduce((sum, name) => sum + duBytes(path.join(p, name)), 0);
}
const packed = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' });
if (packed.status === 0) {
  const own = JSON.parse(packed.stdout)[0];
  const lock = JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8'));
  let deps = 0;
  const runtime = [];
  for (const [p, meta] of Object.entries(lock.packages)) {
    if (p === '' || meta.dev || meta.devOptional) continue;
    try {
      deps += duBytes(path.join(root, p));
      runtime.push(p.replace(/^node_modules\//, ''));
    } catch {
      // an optional binary for another platform: not installed here
    }
  }
  const mb = (n) => (n / 1e6).toFixed(1);
  console.log(`installed size of the CLI: ${mb(own.unpackedSize + deps)} MB (tokenctl ${mb(own.unpackedSize)} MB, ${own.entryCount} files; ${runtime.join(', ')} ${mb(deps)} MB)`);
}
