// The token service's SQLite driver: node:sqlite where Node.js has it (22.13 and later), better-sqlite3 on Node.js 20,
// or the one TOKENCTL_SQLITE_DRIVER names; and what each way of not having a working better-sqlite3 says, for each
// way tokenctl can be installed (a global prefix, the default one or another; a project's dependency; a clone).
// Installs are laid out as directories with package.json files; the driver's loading is faked where a real failure
// cannot be had here.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BackendUnavailableError, exitCodeFor } from '../../src/core/errors.js';
import { loadSqliteDriver, SQLITE_DRIVER, type DriverSite, type NodeSqliteModule } from '../../src/storage/sql/sqlite/driver.js';
import { BIN, ROOT } from '../helpers/bin.js';
import { accountEnv } from '../helpers/env.js';

const base = mkdtempSync(path.join(tmpdir(), 'tokenctl-driver-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

function pkgAt(dir: string, json: object): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify(json));
  return dir;
}

/** A layout: tokenctl's package directory, and where better-sqlite3 is (or undefined: not installed). */
function site(own: string, driverDir: string | undefined, extra: Partial<DriverSite> = {}): DriverSite {
  const moduleFile = path.join(own, 'dist', 'chunks', 'sqlite-driver-X.js');
  return {
    moduleFile,
    resolve: (specifier) => {
      if (!driverDir) throw Object.assign(new Error(`Cannot find module '${specifier}'`), { code: 'MODULE_NOT_FOUND' });
      return path.join(driverDir, 'package.json');
    },
    load: async () => ({ default: class { close() {} } }),
    builtin: () => undefined, // Node.js 20: no SQLite of its own
    execPath: '/usr/bin/node',
    platform: 'linux',
    nodeVersion: 'v20.20.2',
    abi: '115',
    env: {},
    ...extra,
  };
}

async function failure(s: DriverSite): Promise<string> {
  const error = await loadSqliteDriver(s.env, s).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BackendUnavailableError);
  expect((error as BackendUnavailableError).exitCode).toBe(8);
  const message = (error as Error).message;
  expect(message).not.toContain('\n');
  return message;
}

const wanted = `${SQLITE_DRIVER.name}@${SQLITE_DRIVER.version}`;

describe('loadSqliteDriver', () => {
  it('names the version package.json pins', async () => {
    const { readFileSync } = await import('node:fs');
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    expect(pkg.devDependencies['better-sqlite3']).toBe(SQLITE_DRIVER.version);
    expect(pkg.peerDependencies['better-sqlite3']).toBe(`^${SQLITE_DRIVER.version}`);
    expect(pkg.peerDependenciesMeta['better-sqlite3']).toEqual({ optional: true });
    expect(pkg.dependencies['better-sqlite3']).toBeUndefined();
  });

  it("uses node:sqlite where this Node.js has it, else better-sqlite3, and opens a database with it", async () => {
    const driver = await loadSqliteDriver({});
    const builtin = process.getBuiltinModule('node:sqlite' as never) !== undefined;
    expect(driver.name).toBe(builtin ? 'node:sqlite' : 'better-sqlite3');
    expect(builtin).toBe(Number(process.versions.node.split('.')[0]) >= 22);
    const db = driver.open(':memory:');
    expect(db.prepare('select 1 as x').get()).toEqual({ x: 1 });
    db.close();
    expect(db.open).toBe(false);
  });

  it('the built binary sets up a service with it, and Node.js 22 says nothing of SQLite being experimental', async () => {
    const env = accountEnv(mkdtempSync(path.join(base, 'home-')));
    // A relative --data: the next step names the directory itself.
    const r = spawnSync(process.execPath, [BIN, 'server', 'init', '--data', 'data'], { env, cwd: env.TOKENCTL_HOME, encoding: 'utf8', timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^tctl_key_\w+\n$/);
    expect(r.stderr).not.toMatch(/ExperimentalWarning|experimental feature/i);
    expect(r.stderr).toContain(`Next: tokenctl serve --data ${path.join(env.TOKENCTL_HOME!, 'data')} (it prints the URL it listens on), then on an admin machine: tokenctl login --server <that URL>\n`);
  });

  it('TOKENCTL_SQLITE_DRIVER chooses one; node:sqlite without a Node.js that has it, or another name, is refused', async () => {
    const own = pkgAt(path.join(base, 'choice', 'lib', 'node_modules', 'tokenctl'), { name: 'tokenctl' });
    const builtin = { DatabaseSync: class {} } as unknown as NodeSqliteModule;
    const node22 = (env: Record<string, string>) => site(own, undefined, { builtin: () => builtin, nodeVersion: 'v22.23.5', abi: '127', env });
    expect((await loadSqliteDriver({}, node22({}))).name).toBe('node:sqlite');
    expect((await loadSqliteDriver({ TOKENCTL_SQLITE_DRIVER: 'node:sqlite' }, node22({}))).name).toBe('node:sqlite');
    expect(await failure(node22({ TOKENCTL_SQLITE_DRIVER: 'better-sqlite3' }))).toBe(
      `TOKENCTL_SQLITE_DRIVER=better-sqlite3, but better-sqlite3 is not installed; install it with: npm install -g --prefix ${path.join(base, 'choice')} --allow-scripts=better-sqlite3 ${wanted}, or unset TOKENCTL_SQLITE_DRIVER to use the SQLite built into this Node.js (node:sqlite)`,
    );
    const driver = pkgAt(path.join(base, 'choice', 'lib', 'node_modules', 'better-sqlite3'), { name: 'better-sqlite3', version: SQLITE_DRIVER.version });
    const chosen = await loadSqliteDriver({ TOKENCTL_SQLITE_DRIVER: 'Better-SQLite3' }, { ...site(own, driver), builtin: () => builtin });
    expect(chosen.name).toBe('better-sqlite3');
    expect(await failure(site(own, undefined, { env: { TOKENCTL_SQLITE_DRIVER: 'node:sqlite' } }))).toBe(
      'TOKENCTL_SQLITE_DRIVER=node:sqlite, but this Node.js (v20.20.2) has no node:sqlite (it comes with Node.js 22.13 and later); unset TOKENCTL_SQLITE_DRIVER, or run tokenctl on Node.js 22 or 24',
    );
    const wrong = await Promise.resolve()
      .then(() => loadSqliteDriver({ TOKENCTL_SQLITE_DRIVER: 'mysql' }, node22({})))
      .then(() => null, (e: unknown) => e);
    expect(exitCodeFor(wrong)).toBe(2);
    expect((wrong as Error).message).toBe("TOKENCTL_SQLITE_DRIVER='mysql' is not a driver; use node:sqlite or better-sqlite3, or leave it unset");
  });

  it('missing on Node.js 20: the install command for where tokenctl is (a global prefix, the default one, a project, a clone)', async () => {
    const other = path.join(base, 'other-prefix');
    const own = pkgAt(path.join(other, 'lib', 'node_modules', 'tokenctl'), { name: 'tokenctl' });
    expect(await failure(site(own, undefined))).toBe(
      `the token service needs an SQLite driver: Node.js v20.20.2 has none built in (node:sqlite comes with Node.js 22.13 and later), and better-sqlite3 is not installed; install it with: npm install -g --prefix ${other} --allow-scripts=better-sqlite3 ${wanted}, or run tokenctl on Node.js 22 or 24`,
    );
    expect(await failure(site(own, undefined, { execPath: path.join(other, 'bin', 'node') }))).toMatch(/install it with: npm install -g --allow-scripts=better-sqlite3 better-sqlite3@[\d.]+, or run tokenctl on Node.js 22 or 24$/);

    const spaced = path.join(base, 'my project');
    pkgAt(spaced, { name: 'app' });
    const dep = pkgAt(path.join(spaced, 'node_modules', 'tokenctl'), { name: 'tokenctl' });
    expect(await failure(site(dep, undefined))).toMatch(new RegExp(`install it with: npm install --prefix '${spaced}' better-sqlite3@[\\d.]+, or run`));

    const bare = pkgAt(path.join(base, 'bare'), { name: 'tokenctl' });
    expect(await failure(site(bare, undefined))).toMatch(new RegExp(`install it with: npm install --prefix ${bare} better-sqlite3@[\\d.]+, or run`));
    // A clone of tokenctl has it among its development dependencies.
    const clone = pkgAt(path.join(base, 'clone'), { name: 'tokenctl', scripts: { 'sqlite-driver': 'node scripts/sqlite-driver.mjs' } });
    expect(await failure(site(clone, undefined))).toMatch(new RegExp(`install it with: npm ci --prefix ${clone}, or run`));
  });

  it('another major version: refused before it is loaded (better-sqlite3 13 crashes Node 20), with the install command', async () => {
    const prefix = path.join(base, 'p13');
    const own = pkgAt(path.join(prefix, 'lib', 'node_modules', 'tokenctl'), { name: 'tokenctl' });
    const driver = pkgAt(path.join(prefix, 'lib', 'node_modules', 'better-sqlite3'), { name: 'better-sqlite3', version: '13.0.0' });
    let loaded = false;
    const message = await failure(site(own, driver, { load: async () => ((loaded = true), {}) }));
    expect(loaded).toBe(false);
    expect(message).toBe(
      `better-sqlite3 13.0.0 is installed in ${driver}, but the token service needs 12.x (at least ${SQLITE_DRIVER.version}); install it with: npm install -g --prefix ${prefix} --allow-scripts=better-sqlite3 ${wanted}`,
    );
  });

  it('built for another Node.js, or never built: the rebuild command for where the driver is', async () => {
    const prefix = path.join(base, 'pabi');
    const own = pkgAt(path.join(prefix, 'lib', 'node_modules', 'tokenctl'), { name: 'tokenctl' });
    const driver = pkgAt(path.join(prefix, 'lib', 'node_modules', 'better-sqlite3'), { name: 'better-sqlite3', version: SQLITE_DRIVER.version });
    const failing = (error: Error) => async () => ({
      default: class {
        constructor() {
          throw error;
        }
      },
    });
    const abi = Object.assign(
      new Error(
        `The module '${driver}/build/Release/better_sqlite3.node'\nwas compiled against a different Node.js version using\nNODE_MODULE_VERSION 115. This version of Node.js requires\nNODE_MODULE_VERSION 127. Please try re-compiling or re-installing\nthe module (for instance, using \`npm rebuild\` or \`npm install\`).`,
      ),
      { code: 'ERR_DLOPEN_FAILED' },
    );
    const node22 = { nodeVersion: 'v22.23.5', abi: '127', env: { TOKENCTL_SQLITE_DRIVER: 'better-sqlite3' } };
    expect(await failure(site(own, driver, { load: failing(abi), ...node22 }))).toBe(
      `better-sqlite3 in ${driver} was built for Node.js 20 (NODE_MODULE_VERSION 115), not for this Node.js v22.23.5 (NODE_MODULE_VERSION 127); rebuild it with: npm rebuild -g --prefix ${prefix} --allow-scripts=better-sqlite3 better-sqlite3`,
    );
    const unbuilt = new Error('Could not locate the bindings file. Tried:\n → /x/build/better_sqlite3.node');
    expect(await failure(site(own, driver, { load: failing(unbuilt) }))).toMatch(/has no native binding \(was it installed with --ignore-scripts\?\); build it with: npm rebuild -g --prefix \S+ --allow-scripts=better-sqlite3 better-sqlite3$/);
    const elf = Object.assign(new Error(`${driver}/build/Release/better_sqlite3.node: invalid ELF header`), { code: 'ERR_DLOPEN_FAILED' });
    expect(await failure(site(own, driver, { load: failing(elf) }))).toMatch(/does not load on this machine \(invalid ELF header\); rebuild it with: npm rebuild -g/);

    const project = pkgAt(path.join(base, 'proj'), { name: 'app' });
    const dep = pkgAt(path.join(project, 'node_modules', 'tokenctl'), { name: 'tokenctl' });
    const localDriver = pkgAt(path.join(project, 'node_modules', 'better-sqlite3'), { name: 'better-sqlite3', version: SQLITE_DRIVER.version });
    expect(await failure(site(dep, localDriver, { load: failing(abi), ...node22 }))).toMatch(new RegExp(`rebuild it with: npm rebuild --prefix ${project} better-sqlite3$`));

    // In a clone, npm never runs its install script (allowScripts denies it): the clone's own script builds it.
    const clone = pkgAt(path.join(base, 'clone-built'), { name: 'tokenctl', scripts: { 'sqlite-driver': 'node scripts/sqlite-driver.mjs' } });
    const cloneDriver = pkgAt(path.join(clone, 'node_modules', 'better-sqlite3'), { name: 'better-sqlite3', version: SQLITE_DRIVER.version });
    expect(await failure(site(clone, cloneDriver, { load: failing(unbuilt) }))).toMatch(new RegExp(`has no native binding .*; build it with: npm run --prefix ${clone} sqlite-driver$`));
  });
});
