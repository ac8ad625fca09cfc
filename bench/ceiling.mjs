#!/usr/bin/env node
// What bounds introspection before any code of tokenctl runs: a bare node:http handler answering the request
// resource servers send (a POST with a credential and a form body; the answer's bytes and headers), beside the bare
// GET hello-world the other benchmarks divide by, and the same handler in processes that have built a fastify app
// with 45, 15 or 5 routes with body schemas, or 45 without (about what the service has). Side by side in one run,
// interleaved over rounds; ratios are medians of the per-round ratios to the bare GET. Needs wrk (Debian's
// package). Run on demand: node bench/ceiling.mjs [--seconds 3] [--rounds 3]
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const seconds = Math.min(arg('--seconds', 3), 30);
const rounds = Math.max(1, Math.min(arg('--rounds', 3), 10));

if (spawnSync('wrk', ['--version'], { stdio: 'ignore' }).error !== undefined) {
  console.error('bench/ceiling.mjs needs wrk: apt-get install wrk');
  process.exit(2);
}

const home = mkdtempSync(path.join(tmpdir(), 'tokenctl-bench-ceiling-'));
const children = [];

function start(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(here, 'lib', 'bare-server.mjs'), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(child);
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d) => {
      err += d;
      const m = /port (\d+)/.exec(err);
      if (m) resolve({ child, port: Number(m[1]) });
    });
    child.on('exit', (code) => reject(new Error(`server exited (${code}): ${err}`)));
    setTimeout(() => reject(new Error(`server did not start: ${err}`)), 20_000).unref();
  });
}

/** The request resource servers send (bench/introspect.mjs): the value and credential are only bytes here. */
const post = path.join(home, 'post.lua');
writeFileSync(
  post,
  [
    'wrk.method = "POST"',
    `wrk.body = "token=tctl_s2s_${'A'.repeat(28)}BBBBBB"`,
    `wrk.headers["authorization"] = "Bearer tctl_key_${'k'.repeat(40)}"`,
    'wrk.headers["content-type"] = "application/x-www-form-urlencoded"',
  ].join('\n') + '\n',
);

const cpuSeconds = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};

function measure(c, secs) {
  const cpu0 = cpuSeconds(c.child.pid);
  const args = ['-t1', '-c50', `-d${secs}s`, ...(c.script ? ['-s', c.script] : []), `http://127.0.0.1:${c.port}/`];
  const out = spawnSync('wrk', args, { encoding: 'utf8', timeout: (secs + 30) * 1000 }).stdout ?? '';
  const n = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
  const errors = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0) + Number(/Socket errors: .*?(\d+)/.exec(out)?.[1] ?? 0);
  return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN), cpuUs: ((cpuSeconds(c.child.pid) - cpu0) / n) * 1e6, errors };
}

const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};

try {
  const cases = [
    { name: 'bare node:http hello-world (GET)', args: ['--mode', 'get'] },
    { name: 'bare POST handler', args: ['--mode', 'post'], script: post },
    { name: 'bare POST, beside fastify with 45 schema routes', args: ['--mode', 'post', '--routes', '45'], script: post },
    { name: 'bare POST, beside fastify with 15 schema routes', args: ['--mode', 'post', '--routes', '15'], script: post },
    { name: 'bare POST, beside fastify with 5 schema routes', args: ['--mode', 'post', '--routes', '5'], script: post },
    { name: 'bare POST, beside fastify with 45 plain routes', args: ['--mode', 'post', '--routes', '45', '--no-schemas'], script: post },
  ];
  for (const c of cases) Object.assign(c, await start(c.args));
  for (const c of cases) measure(c, 1); // JIT, connections
  console.log(`node ${process.version}, wrk (1 thread, 50 connections), ${seconds} s per case, ${rounds} round(s), loopback\n`);
  const results = cases.map(() => []);
  for (let round = 0; round < rounds; round++) for (const [i, c] of cases.entries()) results[i].push(measure(c, seconds));
  for (const [i, c] of cases.entries()) {
    const rs = results[i];
    const ratio = median(rs.map((r, k) => r.rps / results[0][k].rps));
    const errors = rs.reduce((a, r) => a + r.errors, 0);
    console.log(
      `${c.name.padEnd(50)} ${median(rs.map((r) => r.rps)).toFixed(0).padStart(7)} req/s   CPU ${median(rs.map((r) => r.cpuUs)).toFixed(1).padStart(5)} µs/req   ${ratio.toFixed(2)}x of the bare GET${errors ? `   ${errors} ERRORS` : ''}`,
    );
  }
} finally {
  for (const c of children) c.kill('SIGKILL');
  rmSync(home, { recursive: true, force: true });
}
