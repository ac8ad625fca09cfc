// The package as users get it: `npm pack`, then `npm install -g` of the tarball into a temporary prefix with no
// compiler and no reachable prebuilt binary (no warning, no --ignore-scripts), then the CLI's flows from there. The
// token service: on Node.js 22 and 24, `server init` and `serve` from the prefix with Node's own SQLite and no
// better-sqlite3 anywhere; on Node.js 20, `serve` without its SQLite driver (exit 8, one line naming what to
// install), then that very command, with better-sqlite3's prebuilt binary served on loopback (built from this tree's
// own), then `server init` and `serve` from the prefix. These tests install from the npm registry: they skip when it
// cannot be reached, unless TOKENCTL_REQUIRE_PACKAGE_TESTS=1 (CI) makes that a failure.
// TOKENCTL_TEST_OTHER_NODE=<path of a node binary of another major version> runs the installed CLI's service with
// it too: from Node.js 20's run, a Node.js 22 or 24 ignores the better-sqlite3 built for 20 beside it; from 22's or
// 24's, a Node.js 20 says what to install.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/bin.js';

const REQUIRED = process.env.TOKENCTL_REQUIRE_PACKAGE_TESTS === '1';
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
  files: string[];
};
const DRIVER = `better-sqlite3@${pkg.devDependencies['better-sqlite3']}`;
const NODE_DIR = path.dirname(process.execPath);
/** node:sqlite without a flag: Node.js 22.13 and later. */
const hasBuiltinSqlite = (version: string) => {
  const [major, minor] = version.replace(/^v/, '').split('.').map(Number);
  return major! > 22 || (major === 22 && minor! >= 13);
};
const BUILTIN_SQLITE = hasBuiltinSqlite(process.versions.node);
const NPM_TIMEOUT_MS = 240_000;

function registryReachable(): boolean {
  const r = spawnSync('npm', ['view', `@napi-rs/keyring@${pkg.dependencies['@napi-rs/keyring']}`, 'version'], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, PATH: `${NODE_DIR}${path.delimiter}${process.env.PATH ?? ''}` },
  });
  return r.status === 0 && r.stdout.trim() !== '';
}
const reachable = registryReachable();
if (!reachable && REQUIRED) throw new Error('TOKENCTL_REQUIRE_PACKAGE_TESTS=1, but the npm registry cannot be reached (npm view failed)');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command with stdin at /dev/null, bounded in time. */
function run(cmd: string, args: string[], opts: { env: Record<string, string | undefined>; cwd?: string; timeoutMs?: number }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env as NodeJS.ProcessEnv, cwd: opts.cwd ?? tmpdir(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} did not finish within ${opts.timeoutMs ?? 30_000} ms\n${stderr}`));
    }, opts.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

let work: string;
let tarball: string;
let packedFiles: string[];
let prefix: string;
let installLog: Run;
/** The environment of every npm install here: no compiler, the driver's prebuilt binary host unreachable. */
let npmEnv: Record<string, string | undefined>;
const children: ChildProcess[] = [];

/** An environment for the installed CLI: the node running the tests first on PATH, a fresh home, no keychain. */
function cliEnv(extra: Record<string, string> = {}): Record<string, string> {
  const home = mkdtempSync(path.join(work, 'home-'));
  return {
    PATH: `${path.join(prefix, 'bin')}${path.delimiter}${NODE_DIR}${path.delimiter}${process.env.PATH ?? '/usr/bin:/bin'}`,
    HOME: home,
    TOKENCTL_HOME: home,
    TOKENCTL_KEYCHAIN: 'off',
    TOKENCTL_MASTER_KEY: randomBytes(32).toString('base64'),
    NO_COLOR: '1',
    ...extra,
  };
}

const installed = (): string => path.join(prefix, 'bin', 'tokenctl');
const tk = (args: string[], env: Record<string, string>, timeoutMs = 30_000) => run(installed(), args, { env, timeoutMs });

/** `tokenctl serve` (the given launcher) on 127.0.0.1, port 0; resolves with its URL once it listens. */
function startServe(launcher: string[], data: string, env: Record<string, string>): Promise<{ url: string; child: ChildProcess; stderr: () => string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(launcher[0]!, [...launcher.slice(1), 'serve', '--data', data, '--port', '0', '--log-level', 'warn'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let stderr = '';
    child.stdout!.resume();
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${stderr}`)), 20_000);
    child.stderr!.setEncoding('utf8').on('data', (d) => {
      stderr += d;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1]!, child, stderr: () => stderr });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}:\n${stderr}`));
    });
  });
}

function stop(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });
}

function duBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) total += duBytes(p);
    else if (entry.isFile()) total += statSync(p).size;
  }
  return total;
}

describe.skipIf(!reachable)('the package, installed as users install a CLI (npm pack, npm install -g, no compiler)', () => {
  beforeAll(async () => {
    if (!existsSync(path.join(ROOT, 'dist', 'tokenctl.js'))) throw new Error('dist/ is not built; run: npm run build');
    work = mkdtempSync(path.join(tmpdir(), 'tokenctl-package-'));
    prefix = path.join(work, 'prefix');
    npmEnv = {
      ...process.env,
      PATH: `${NODE_DIR}${path.delimiter}${process.env.PATH ?? ''}`,
      CC: '/bin/false',
      CXX: '/bin/false',
      npm_config_cache: path.join(work, 'npm-cache'),
      npm_config_update_notifier: 'false',
      npm_config_fund: 'false',
      npm_config_audit: 'false',
    };
    // --ignore-scripts: dist/ is already built by `npm test`; the prepack script would rebuild it under other tests.
    const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { env: npmEnv, cwd: ROOT, timeoutMs: 60_000 });
    expect(packed.code, packed.stderr).toBe(0);
    const info = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
    tarball = path.join(work, info[0]!.filename);
    packedFiles = info[0]!.files.map((f) => f.path);
    // As the README installs it, without --ignore-scripts: the packed package.json has no install script (no prepare).
    installLog = await run('npm', ['install', '-g', '--prefix', prefix, tarball], { env: npmEnv, timeoutMs: NPM_TIMEOUT_MS });
  }, NPM_TIMEOUT_MS + 60_000);

  afterAll(async () => {
    await Promise.all(children.map(stop));
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('packs the built CLI, its launcher, the OpenAPI document, README, CHANGELOG and LICENSE, and nothing of the sources or tests', () => {
    for (const f of ['package.json', 'bin/tokenctl.js', 'dist/tokenctl.js', 'api/openapi.yaml', 'README.md', 'CHANGELOG.md', 'LICENSE']) expect(packedFiles).toContain(f);
    expect(packedFiles.some((f) => f.startsWith('dist/chunks/'))).toBe(true);
    const outside = packedFiles.filter((f) => !/^(dist\/|bin\/|api\/openapi\.yaml$|README\.md$|CHANGELOG\.md$|LICENSE$|package\.json$)/.test(f));
    expect(outside).toEqual([]);
  });

  it('installs without a compiler or a warning, runs no install script, and brings exactly the pinned keychain binding', () => {
    expect(installLog.code, installLog.stderr).toBe(0);
    // npm 11 would list a prepare script of the tarball's package.json here (npm warn install-scripts ...).
    expect(installLog.stderr).not.toMatch(/warn|install-scripts|allowScripts|gyp|EBADENGINE/i);
    const packedScripts = (JSON.parse(readFileSync(path.join(prefix, 'lib', 'node_modules', 'tokenctl', 'package.json'), 'utf8')) as { scripts?: Record<string, string> }).scripts ?? {};
    for (const script of ['preinstall', 'install', 'postinstall', 'prepare']) expect(packedScripts[script], script).toBeUndefined();
    const own = path.join(prefix, 'lib', 'node_modules', 'tokenctl');
    expect(existsSync(path.join(own, 'dist', 'tokenctl.js'))).toBe(true);
    // The runtime tree: the keychain binding and its prebuilt binary for this platform, at the pinned versions.
    const nodeModules = path.join(own, 'node_modules');
    const names = readdirSync(nodeModules).flatMap((n) => (n.startsWith('@') ? readdirSync(path.join(nodeModules, n)).map((m) => `${n}/${m}`) : n.startsWith('.') ? [] : [n]));
    expect(names.every((n) => n.startsWith('@napi-rs/keyring'))).toBe(true);
    for (const n of names) {
      expect(JSON.parse(readFileSync(path.join(nodeModules, n, 'package.json'), 'utf8')).version).toBe(pkg.dependencies['@napi-rs/keyring']);
    }
    expect(existsSync(path.join(prefix, 'lib', 'node_modules', 'better-sqlite3'))).toBe(false);
    expect(existsSync(path.join(nodeModules, 'better-sqlite3'))).toBe(false);
    const mb = duBytes(own) / 1e6;
    const keychain = duBytes(path.join(nodeModules, '@napi-rs')) / 1e6;
    process.stderr.write(`installed size of the CLI (${path.relative(prefix, own)}): ${mb.toFixed(2)} MB (tokenctl ${(mb - keychain).toFixed(2)} MB, the keychain binding ${keychain.toFixed(2)} MB)\n`);
    expect(mb).toBeLessThan(15);
    // The README's figures are this measurement, in both places it gives them.
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8').replace(/\s+/g, ' ');
    const install = /whole installed tree \((\d+\.\d) MB/.exec(readme);
    const perf = /Installed size of the CLI \([^)]*\): (\d+\.\d) MB \(tokenctl (\d+\.\d) MB, the keychain binding (\d+\.\d) MB/.exec(readme);
    expect(install, 'README, Install: "whole installed tree (N.N MB"').not.toBeNull();
    expect(perf, 'README, Performance: "Installed size of the CLI (...): N.N MB (tokenctl N.N MB, the keychain binding N.N MB"').not.toBeNull();
    expect(install![1]).toBe(perf![1]);
    expect(Math.abs(Number(perf![1]) - mb), `README says ${perf![1]} MB, measured ${mb.toFixed(2)} MB`).toBeLessThanOrEqual(0.1);
    expect(Math.abs(Number(perf![2]) - (mb - keychain))).toBeLessThanOrEqual(0.1);
    expect(Math.abs(Number(perf![3]) - keychain)).toBeLessThanOrEqual(0.1);
  });

  it('runs init, create, list, get, rotate, exec and scan from the prefix with stdin at /dev/null', { timeout: 120_000 }, async () => {
    const env = cliEnv();
    const version = await tk(['--version'], env);
    expect(version).toMatchObject({ code: 0, stdout: `${pkg.version}\n` });
    expect((await tk(['init'], env)).code).toBe(0);
    const created = await tk(['create', '--type', 's2s', '--name', 'events'], env);
    expect(created.code, created.stderr).toBe(0);
    const value = created.stdout.trim();
    expect(value).toMatch(/^tctl_s2s_\w+$/);
    const listed = await tk(['list', '--json'], env);
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout).map((t: { name: string }) => t.name)).toEqual(['default', 'events']);
    expect(listed.stdout).not.toContain(value);
    const got = await tk(['get', 'default'], env);
    expect(got.code).toBe(0);
    expect(got.stdout).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
    const rotated = await tk(['rotate', 'default', '--name', 'default-2'], env);
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.stdout).toMatch(/^eyJ/);
    const exec = await tk(['exec', '--allow-pending', '--token', 'events=EVENTS_TOKEN', '--', process.execPath, '-e', `process.exit(process.env.EVENTS_TOKEN === ${JSON.stringify(value)} ? 0 : 3)`], env);
    expect(exec.code, exec.stderr).toBe(0);
    const leak = path.join(env.TOKENCTL_HOME!, 'leak.txt');
    writeFileSync(leak, `config: token=${value}\n`);
    const scan = await tk(['scan', leak], env);
    expect(scan.code).toBe(6);
    expect(scan.stdout + scan.stderr).toContain('events');
    expect(scan.stdout + scan.stderr).not.toContain(value);
  });

  it('uses the HTTP backend of a token service', { timeout: 120_000 }, async () => {
    // The service runs from this tree (which has the driver); the installed CLI talks to it.
    const serverEnv = cliEnv();
    const data = path.join(serverEnv.TOKENCTL_HOME!, 'data');
    const repoBin = [process.execPath, path.join(ROOT, 'bin', 'tokenctl.js')];
    const init = await run(repoBin[0]!, [repoBin[1]!, 'server', 'init', '--data', data], { env: serverEnv });
    expect(init.code, init.stderr).toBe(0);
    const { url, child } = await startServe(repoBin, data, serverEnv);
    const env = cliEnv({ TOKENCTL_SERVER: url, TOKENCTL_ADMIN_KEY: init.stdout.trim() });
    const created = await tk(['create', '--type', 'api', '--name', 'remote'], env);
    expect(created.code, created.stderr).toBe(0);
    const listed = await tk(['list', '--json'], env);
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout).map((t: { name: string }) => t.name)).toEqual(['default', 'remote']);
    expect((await tk(['get', 'default'], env)).stdout).toMatch(/^eyJ/);
    expect(await stop(child)).toBe(0);
  });

  it.runIf(BUILTIN_SQLITE)('server init and serve with Node.js\'s own SQLite: no better-sqlite3 anywhere, no warning', { timeout: 120_000 }, async () => {
    const serverEnv = cliEnv();
    const data = path.join(serverEnv.TOKENCTL_HOME!, 'data');
    const init = await tk(['server', 'init', '--data', data, '--account', 'acme'], serverEnv);
    expect(init.code, init.stderr).toBe(0);
    expect(init.stdout).toMatch(/^tctl_key_\w+\n$/);
    expect(init.stderr).not.toMatch(/ExperimentalWarning|experimental feature|better-sqlite3/);
    const { url, child, stderr } = await startServe([installed()], data, serverEnv);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const env = cliEnv({ TOKENCTL_SERVER: url, TOKENCTL_ADMIN_KEY: init.stdout.trim() });
    const created = await tk(['create', '--type', 's2s', '--name', 'events'], env);
    expect(created.code, created.stderr).toBe(0);
    const listed = await tk(['list', '--json'], env);
    expect(JSON.parse(listed.stdout).map((t: { name: string }) => t.name)).toEqual(['default', 'events']);
    expect(await stop(child)).toBe(0);
    expect(stderr()).not.toMatch(/ExperimentalWarning|experimental feature/);
    expect(existsSync(path.join(prefix, 'lib', 'node_modules', 'better-sqlite3'))).toBe(false);
    expect(existsSync(path.join(prefix, 'lib', 'node_modules', 'tokenctl', 'node_modules', 'better-sqlite3'))).toBe(false);
  });

  const otherNode = process.env.TOKENCTL_TEST_OTHER_NODE;
  const otherVersion = otherNode ? spawnSync(otherNode, ['-p', 'process.version'], { encoding: 'utf8' }).stdout.trim() : '';

  it.runIf(BUILTIN_SQLITE && otherNode !== undefined && !hasBuiltinSqlite(otherVersion))(
    'on Node.js 20 (TOKENCTL_TEST_OTHER_NODE), the same prefix says what to install: exit 8, one line',
    async () => {
      const env = cliEnv();
      const data = path.join(env.TOKENCTL_HOME!, 'data');
      const r = await run(otherNode!, [path.join(prefix, 'lib', 'node_modules', 'tokenctl', 'bin', 'tokenctl.js'), 'server', 'init', '--data', data], { env });
      expect(r).toMatchObject({
        code: 8,
        stdout: '',
        stderr: `error: the token service needs an SQLite driver: Node.js ${otherVersion} has none built in (node:sqlite comes with Node.js 22.13 and later), and better-sqlite3 is not installed; install it with: npm install -g --prefix ${prefix} --allow-scripts=better-sqlite3 ${DRIVER}, or run tokenctl on Node.js 22 or 24\n`,
      });
    },
  );

  it.skipIf(BUILTIN_SQLITE)('serve and server init without the driver on Node.js 20: exit 8, one line naming the command that installs it into this prefix', async () => {
    const env = cliEnv();
    const data = path.join(env.TOKENCTL_HOME!, 'data');
    const expected = `error: the token service needs an SQLite driver: Node.js ${process.version} has none built in (node:sqlite comes with Node.js 22.13 and later), and better-sqlite3 is not installed; install it with: npm install -g --prefix ${prefix} --allow-scripts=better-sqlite3 ${DRIVER}, or run tokenctl on Node.js 22 or 24\n`;
    for (const args of [['serve', '--data', data, '--port', '0'], ['server', 'init', '--data', data]]) {
      const r = await tk(args, env);
      expect(r, args.join(' ')).toMatchObject({ code: 8, stdout: '', stderr: expected });
    }
  });

  describe.skipIf(BUILTIN_SQLITE)('on Node.js 20, with the driver installed by the command serve printed', () => {
    let host: Server;
    let downloads = 0;
    let driverInstall: Run;

    beforeAll(async () => {
      // better-sqlite3's install script downloads a prebuilt binary (prebuild-install) before compiling. Serve it one
      // on loopback, packed from this tree's own build, at the path and name it asks for.
      const abi = process.versions.modules;
      const driverVersion = pkg.devDependencies['better-sqlite3']!;
      const asset = `better-sqlite3-v${driverVersion}-node-v${abi}-${process.platform}-${process.arch}.tar.gz`;
      const tgz = path.join(work, asset);
      const packedBinary = spawnSync('tar', ['-czf', tgz, '-C', path.join(ROOT, 'node_modules', 'better-sqlite3'), 'build/Release/better_sqlite3.node']);
      expect(packedBinary.status, String(packedBinary.stderr)).toBe(0);
      host = createServer((req, res) => {
        if (req.url === `/v${driverVersion}/${asset}`) {
          downloads++;
          res.writeHead(200, { 'content-type': 'application/gzip' }).end(readFileSync(tgz));
        } else res.writeHead(404).end();
      });
      await new Promise<void>((resolve) => host.listen(0, '127.0.0.1', resolve));
      const port = (host.address() as { port: number }).port;
      const printed = (await tk(['serve', '--data', path.join(work, 'nowhere')], cliEnv())).stderr;
      const command = /install it with: (.*), or run tokenctl on Node\.js 22 or 24$/m.exec(printed)?.[1];
      expect(command).toBe(`npm install -g --prefix ${prefix} --allow-scripts=better-sqlite3 ${DRIVER}`);
      const [npm, ...args] = command!.split(' ');
      driverInstall = await run(npm!, args, { env: { ...npmEnv, npm_config_better_sqlite3_binary_host: `http://127.0.0.1:${port}` }, timeoutMs: NPM_TIMEOUT_MS });
    }, NPM_TIMEOUT_MS + 30_000);

    afterAll(() => new Promise<void>((resolve) => (host ? host.close(() => resolve()) : resolve())));

    it('installs it (its prebuilt binary, no compiler), then server init and serve run from the prefix', { timeout: 120_000 }, async () => {
      expect(driverInstall.code, driverInstall.stderr).toBe(0);
      expect(driverInstall.stderr).not.toMatch(/install-scripts|allowScripts|gyp/);
      expect(downloads).toBe(1);
      const serverEnv = cliEnv();
      const data = path.join(serverEnv.TOKENCTL_HOME!, 'data');
      const init = await tk(['server', 'init', '--data', data, '--account', 'acme'], serverEnv);
      expect(init.code, init.stderr).toBe(0);
      expect(init.stdout).toMatch(/^tctl_key_\w+\n$/);
      const { url, child } = await startServe([installed()], data, serverEnv);
      const health = await fetch(`${url}/healthz`);
      expect(health.status).toBe(200);
      const spec = await fetch(`${url}/openapi.yaml`);
      expect(spec.status).toBe(200);
      const env = cliEnv({ TOKENCTL_SERVER: url, TOKENCTL_ADMIN_KEY: init.stdout.trim() });
      const listed = await tk(['list', '--json'], env);
      expect(listed.code, listed.stderr).toBe(0);
      expect(JSON.parse(listed.stdout).map((t: { name: string }) => t.name)).toEqual(['default']);
      expect(await stop(child)).toBe(0);
    });

    it.runIf(otherNode !== undefined && hasBuiltinSqlite(otherVersion))(
      'on Node.js 22 or 24 (TOKENCTL_TEST_OTHER_NODE), the same prefix uses node:sqlite and ignores the better-sqlite3 built for 20 beside it',
      async () => {
        expect(driverInstall.code).toBe(0);
        const env = cliEnv();
        const data = path.join(env.TOKENCTL_HOME!, 'data');
        const r = await run(otherNode!, [path.join(prefix, 'lib', 'node_modules', 'tokenctl', 'bin', 'tokenctl.js'), 'server', 'init', '--data', data], { env });
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toMatch(/^tctl_key_\w+\n$/);
        expect(r.stderr).not.toMatch(/better-sqlite3|NODE_MODULE_VERSION|ExperimentalWarning|experimental feature/);
      },
    );
  });
});
