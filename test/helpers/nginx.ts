// Debian's nginx in front of test servers, run with the configuration the project ships (docs/deploy/nginx.conf):
// only its upstream addresses and its listen address are replaced, so tests exercise exactly that file. Everything
// nginx writes (pid, logs, temporary files) is in a temporary prefix: it never touches /etc/nginx, /var/log/nginx,
// /var/lib/nginx or port 80. Without nginx the tests skip; TOKENCTL_REQUIRE_NGINX=1 (CI) makes that a failure.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './postgres.js';

export const NGINX_BIN = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p)) ?? null;
export const nginxAvailable = NGINX_BIN !== null && spawnSync(NGINX_BIN, ['-v']).status === 0;
export const nginxRequired = process.env.TOKENCTL_REQUIRE_NGINX === '1';
export const nginxMissing = `nginx is not available here (needs Debian's nginx package: /usr/sbin/nginx)`;

/** The example configuration the project ships. */
export const SHIPPED_CONF = path.resolve(import.meta.dirname, '../../docs/deploy/nginx.conf');

/**
 * The shipped file with the test's addresses: every `server <host>:<port> <params>;` line of the upstream block is
 * replaced by one line per upstream, with the same parameters, and `listen <anything>;` by the loopback port.
 * Throws when the file no longer has what is replaced (the test would otherwise run another configuration).
 */
export function renderShippedConf(upstreams: readonly string[], listenPort: number, source = readFileSync(SHIPPED_CONF, 'utf8')): string {
  const upstream = /(upstream\s+tokenctl\s*\{)([\s\S]*?)(\n\})/.exec(source);
  if (!upstream) throw new Error(`${SHIPPED_CONF} has no "upstream tokenctl { ... }" block`);
  const serverLine = /^([ \t]*)server[ \t]+\S+:\d+([^;\n]*);[ \t]*\n/gm;
  const lines = [...upstream[2]!.matchAll(serverLine)];
  if (lines.length === 0) throw new Error(`the upstream block of ${SHIPPED_CONF} has no "server <host>:<port> ...;" line`);
  const [, indent, params] = lines[0]!;
  const ours = upstreams.map((u) => `${indent}server ${u}${params};\n`).join('');
  let replaced = false;
  const body = upstream[2]!.replace(serverLine, () => {
    if (replaced) return '';
    replaced = true;
    return ours;
  });
  const out = source.slice(0, upstream.index) + upstream[1] + body + upstream[3] + source.slice(upstream.index + upstream[0].length);
  const listens = out.match(/^[ \t]*listen[ \t]+[^;\n]+;/gm) ?? [];
  if (listens.length !== 1) throw new Error(`${SHIPPED_CONF} must have exactly one listen directive (found ${listens.length})`);
  return out.replace(/^([ \t]*)listen[ \t]+[^;\n]+;/m, `$1listen 127.0.0.1:${listenPort};`);
}

export interface Nginx {
  /** http://127.0.0.1:<port> */
  url: string;
  port: number;
  prefix: string;
  /** The configuration nginx runs (the shipped file with the test's addresses). */
  conf: string;
  errorLog(): string;
  accessLog(): string;
  stop(): Promise<void>;
}

/**
 * Starts nginx (master and one worker, in the foreground) with the shipped configuration proxying to `upstreams`
 * (`127.0.0.1:<port>` each), on a free loopback port; resolves once it accepts connections. The shipped file is
 * included inside a minimal http { } block that puts every path nginx writes in the temporary prefix, as
 * Debian's nginx.conf includes conf.d/*.conf.
 */
export async function startNginx(upstreams: readonly string[], options: { source?: string } = {}): Promise<Nginx> {
  const port = await freePort();
  return runNginx(() => renderShippedConf(upstreams, port, options.source), { port });
}

/**
 * nginx in a temporary prefix with an http-level configuration of the caller's (`conf`, given the prefix so it can put
 * files there), listening on `port`; `mainLines` go before the events { } block (load_module). Resolves once it
 * accepts connections on `port`.
 */
export async function runNginx(conf: (prefix: string) => string, options: { port: number; mainLines?: readonly string[] }): Promise<Nginx> {
  if (!NGINX_BIN) throw new Error(nginxMissing);
  const { port } = options;
  const prefix = mkdtempSync(path.join(tmpdir(), 'tnginx-'));
  // The worker runs as nobody: it must reach the temp paths.
  chmodSync(prefix, 0o755);
  for (const d of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi', 'logs']) {
    mkdirSync(path.join(prefix, d));
    chmodSync(path.join(prefix, d), 0o777);
  }
  const p = (name: string) => path.join(prefix, name);
  let text: string;
  try {
    text = conf(prefix);
  } catch (error) {
    rmSync(prefix, { recursive: true, force: true });
    throw error;
  }
  writeFileSync(p('tokenctl.conf'), text);
  writeFileSync(
    p('nginx.conf'),
    [
      ...(options.mainLines ?? []),
      'worker_processes 1;',
      `lock_file ${p('nginx.lock')};`,
      'events { worker_connections 512; }',
      'http {',
      `  access_log ${p('logs/access.log')};`,
      `  client_body_temp_path ${p('client_body')};`,
      `  proxy_temp_path ${p('proxy')};`,
      `  fastcgi_temp_path ${p('fastcgi')};`,
      `  uwsgi_temp_path ${p('uwsgi')};`,
      `  scgi_temp_path ${p('scgi')};`,
      `  include ${p('tokenctl.conf')};`,
      '}',
      '',
    ].join('\n'),
  );
  const errorLog = p('logs/error.log');
  const args = ['-p', `${prefix}/`, '-e', errorLog, '-c', p('nginx.conf'), '-g', `daemon off; pid ${p('nginx.pid')}; error_log ${errorLog} info;`];
  const test = spawnSync(NGINX_BIN, ['-t', ...args], { encoding: 'utf8' });
  if (test.status !== 0) {
    rmSync(prefix, { recursive: true, force: true });
    throw new Error(`nginx -t refused the configuration:\n${test.stderr}\n${text}`);
  }
  const child: ChildProcess = spawn(NGINX_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '');
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM'); // fast shutdown
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(prefix, { recursive: true, force: true });
  };
  process.once('exit', () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(prefix, { recursive: true, force: true });
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) {
      const log = read(errorLog);
      await stop();
      throw new Error(`nginx exited with ${child.exitCode}:\n${output}\n${log}`);
    }
    // A TCP connection, not a request: a request would reach the upstreams and count in their passive checks.
    const up = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (up) break;
    if (Date.now() > deadline) {
      const log = read(errorLog);
      await stop();
      throw new Error(`nginx did not listen on ${url} within 10 s:\n${output}\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url, port, prefix, conf: text, errorLog: () => read(errorLog), accessLog: () => read(p('logs/access.log')), stop };
}
