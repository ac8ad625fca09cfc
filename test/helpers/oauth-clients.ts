// The OAuth clients resource servers already run, as the tests run them against a real `tokenctl serve`: Node's
// openid-client and jose (npm), Python's Authlib and PyJWT (Debian's python3-authlib, python3-jwt, python3-requests),
// Apache httpd with mod_oauth2 (apache2, libapache2-mod-oauth2) and nginx with njs (nginx, libnginx-mod-http-js), each
// with the configuration the project documents (docs/resource-servers/). Apache and nginx run from temporary prefixes
// on free loopback ports (their workers as nobody when the tests run as root). A missing client skips its test;
// TOKENCTL_REQUIRE_OAUTH_CLIENTS=1 (CI) makes that a failure.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { NGINX_BIN, runNginx, type Nginx } from './nginx.js';
import { freePort } from './postgres.js';

export const oauthClientsRequired = process.env.TOKENCTL_REQUIRE_OAUTH_CLIENTS === '1';
export const RECIPES = path.resolve(import.meta.dirname, '../../docs/resource-servers');
export const recipe = (name: string) => path.join(RECIPES, name);

const isRoot = process.getuid?.() === 0;

/** Debian's Python (its python3-* packages), not whichever python3 comes first on PATH. */
export const PYTHON = '/usr/bin/python3';
const pythonHas = (modules: string) => existsSync(PYTHON) && spawnSync(PYTHON, ['-c', `import ${modules}`], { stdio: 'ignore' }).status === 0;

const resolvable = (name: string) => {
  try {
    createRequire(import.meta.url).resolve(name);
    return true;
  } catch {
    return false;
  }
};

const APACHE_BIN = ['/usr/sbin/apache2', '/usr/sbin/httpd'].find((p) => existsSync(p)) ?? null;
const APACHE_MODULES = '/usr/lib/apache2/modules';
const NJS_MODULE = '/usr/lib/nginx/modules/ngx_http_js_module.so';

/** Each client: whether it is here, and what is missing when it is not (the test's failure under the require variable). */
export const clients = {
  openidClient: { available: resolvable('openid-client'), missing: 'openid-client is not installed (npm devDependency openid-client@6.9.1: npm ci)' },
  jose: { available: resolvable('jose'), missing: 'jose is not installed (npm ci)' },
  authlib: { available: pythonHas('authlib, requests'), missing: `Authlib is not available to ${PYTHON} (Debian: apt-get install python3-authlib python3-requests)` },
  pyjwt: { available: pythonHas('jwt, cryptography'), missing: `PyJWT is not available to ${PYTHON} (Debian: apt-get install python3-jwt)` },
  modOauth2: {
    available: APACHE_BIN !== null && existsSync(path.join(APACHE_MODULES, 'mod_oauth2.so')) && existsSync(path.join(APACHE_MODULES, 'mod_cgi.so')),
    missing: 'Apache httpd with mod_oauth2 is not available (Debian: apt-get install apache2 libapache2-mod-oauth2)',
  },
  njs: { available: NGINX_BIN !== null && existsSync(NJS_MODULE), missing: 'nginx with njs is not available (Debian: apt-get install nginx libnginx-mod-http-js)' },
} as const;

/** Skip a client's test where it is missing, unless CI requires every client (then the test fails, saying what is missing). */
export const skipWithout = (client: keyof typeof clients) => !clients[client].available && !oauthClientsRequired;
export function requireClient(client: keyof typeof clients): void {
  if (!clients[client].available) throw new Error(`${clients[client].missing}; TOKENCTL_REQUIRE_OAUTH_CLIENTS=1 makes a missing client a failure`);
}

/**
 * A documented configuration with the test's values for its example ones; throws when the file no longer has one of
 * them (the test would otherwise run another configuration than the one documented).
 */
export function rendered(source: string, replacements: readonly [string, string][]): string {
  let text = source;
  for (const [example, actual] of replacements) {
    if (!text.includes(example)) throw new Error(`the documented configuration no longer contains '${example}'`);
    text = text.split(example).join(actual);
  }
  return text;
}

/**
 * Runs a client script with `lines` on stdin (one token each); resolves with the JSON line it wrote for each. The
 * environment is only what is given (and PATH): secrets reach the script through it, never through its arguments.
 */
export function runScript(command: string, args: readonly string[], env: Record<string, string>, lines: readonly string[]): Promise<any[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`${path.basename(args[0] ?? command)} exited with ${code}:\n${stderr}`));
      const out = stdout.split('\n').filter((l) => l.trim() !== '');
      if (out.length !== lines.length) return reject(new Error(`expected ${lines.length} answers, got ${out.length}:\n${stdout}\n${stderr}`));
      resolve(out.map((l) => JSON.parse(l)));
    });
    child.stdin.end(lines.map((l) => `${l}\n`).join(''));
  });
}

export interface WebServer {
  url: string;
  /** GET `path` with `Authorization: Bearer <token>`: the status and body. */
  get(path: string, token: string): Promise<{ status: number; body: string }>;
  errorLog(): string;
  stop(): Promise<void>;
}

async function bearerGet(url: string, token: string): Promise<{ status: number; body: string }> {
  const r = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(20_000) });
  return { status: r.status, body: await r.text() };
}

async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

/**
 * Apache httpd (prefork; children as nobody when run as root) on a free loopback port with `recipe` included as it
 * is, and a CGI script behind `paths` that prints who mod_oauth2 let in (REMOTE_USER and the token's claims).
 */
export async function startApache(recipeText: string, paths: readonly string[]): Promise<WebServer> {
  if (!APACHE_BIN) throw new Error(clients.modOauth2.missing);
  const prefix = mkdtempSync(path.join(tmpdir(), 'tapache-'));
  chmodSync(prefix, 0o755);
  for (const d of ['run', 'logs', 'cgi', 'htdocs']) mkdirSync(path.join(prefix, d));
  const p = (name: string) => path.join(prefix, name);
  writeFileSync(p('cgi/echo.sh'), "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\necho \"user=$REMOTE_USER sub=$OAUTH2_CLAIM_sub\"\n");
  chmodSync(p('cgi/echo.sh'), 0o755);
  writeFileSync(p('recipe.conf'), recipeText);
  const port = await freePort();
  const modules = ['mpm_prefork', 'authn_core', 'authz_core', 'authz_user', 'alias', 'cgi', 'oauth2'];
  writeFileSync(
    p('httpd.conf'),
    [
      `ServerRoot ${prefix}`,
      ...modules.map((m) => `LoadModule ${m}_module ${APACHE_MODULES}/mod_${m}.so`),
      `Listen 127.0.0.1:${port}`,
      'ServerName 127.0.0.1',
      `PidFile ${p('run/httpd.pid')}`,
      `Mutex file:${p('run')}`,
      `DefaultRuntimeDir ${p('run')}`,
      `ErrorLog ${p('logs/error.log')}`,
      'LogLevel warn oauth2:info',
      `DocumentRoot ${p('htdocs')}`,
      'StartServers 1',
      ...(isRoot ? ['User nobody', 'Group nogroup'] : []),
      ...paths.map((at) => `ScriptAlias ${at} ${p('cgi')}/`),
      `Include ${p('recipe.conf')}`,
      '',
    ].join('\n'),
  );
  const check = spawnSync(APACHE_BIN, ['-t', '-f', p('httpd.conf')], { encoding: 'utf8' });
  if (check.status !== 0) {
    rmSync(prefix, { recursive: true, force: true });
    throw new Error(`apache2 -t refused the configuration:\n${check.stderr}\n${recipeText}`);
  }
  // A process group of its own: Apache signals its whole group when it stops (prefork's children), which would
  // otherwise be the test runner's.
  const child: ChildProcess = spawn(APACHE_BIN, ['-f', p('httpd.conf'), '-DFOREGROUND'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const read = () => (existsSync(p('logs/error.log')) ? readFileSync(p('logs/error.log'), 'utf8') : '');
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(prefix, { recursive: true, force: true });
  };
  process.once('exit', () => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const deadline = Date.now() + 10_000;
  while (!(await listening(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      const log = read();
      await stop();
      throw new Error(`apache2 did not listen on 127.0.0.1:${port}:\n${output}\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const url = `http://127.0.0.1:${port}`;
  return { url, get: (at, token) => bearerGet(`${url}${at}`, token), errorLog: read, stop };
}

/**
 * nginx with njs on a free loopback port: `recipeText` (an http-level configuration, given where to listen, the prefix
 * and the API's address), `files` written into the prefix first (the njs script), and an API behind it on another
 * port that prints the account the recipe passed on.
 */
export async function startNginxNjs(
  recipeText: (at: { prefix: string; listen: string; backend: string }) => string,
  files: Record<string, string>,
): Promise<WebServer & { nginx: Nginx }> {
  const [port, backendPort] = [await freePort(), await freePort()];
  const nginx = await runNginx(
    (prefix) => {
      for (const [name, content] of Object.entries(files)) {
        writeFileSync(path.join(prefix, name), content);
        chmodSync(path.join(prefix, name), 0o644);
      }
      mkdirSync(path.join(prefix, 'cache'));
      chmodSync(path.join(prefix, 'cache'), 0o777);
      const api = `server {\n    listen 127.0.0.1:${backendPort};\n    location / { default_type text/plain; return 200 "account=$http_x_tokenctl_account\\n"; }\n}\n`;
      return `${recipeText({ prefix, listen: `127.0.0.1:${port}`, backend: `127.0.0.1:${backendPort}` })}\n${api}`;
    },
    { port, mainLines: [`load_module ${NJS_MODULE};`] },
  );
  return { url: nginx.url, get: (at, token) => bearerGet(`${nginx.url}${at}`, token), errorLog: nginx.errorLog, stop: nginx.stop, nginx };
}
