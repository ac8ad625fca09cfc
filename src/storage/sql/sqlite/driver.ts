// The token service's SQLite driver. Node.js 22.13 and later have SQLite built in (node:sqlite): the service uses it
// there, and `npm install -g tokenctl && tokenctl serve` needs nothing else. Node.js 20 has none, so there the service
// needs better-sqlite3, a native module that is no dependency of the CLI (`tokenctl` installs without a compiler, and
// only `serve` and `server ...` need a driver): this module finds it, proves that its native binding loads in this
// Node.js, and otherwise says in one line what to install or rebuild, and where. TOKENCTL_SQLITE_DRIVER chooses one
// (to compare them, say). Both drivers pass the same storage contract suite (test/storage).
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type BetterSqlite3 from 'better-sqlite3';
import { BackendUnavailableError, UsageError } from '../../../core/errors.js';
import { sqliteErrorCode } from './errors.js';

/** better-sqlite3, as the service is tested with it. package.json names the same version (devDependencies, peerDependencies). */
export const SQLITE_DRIVER = { name: 'better-sqlite3', version: '12.11.1', major: 12 } as const;

export const SQLITE_DRIVER_NAMES = ['node:sqlite', 'better-sqlite3'] as const;
export type SqliteDriverName = (typeof SQLITE_DRIVER_NAMES)[number];

/** A prepared statement, as both drivers have it. */
export interface SqliteStatement<P extends unknown[] = unknown[], R = unknown> {
  get(...params: P): R | undefined;
  all(...params: P): R[];
  run(...params: P): { changes: number | bigint };
}

/**
 * A connection to one database file: what the storage (storage.ts) uses of either driver. BLOBs come back as
 * a Buffer (better-sqlite3) or a Uint8Array (node:sqlite).
 */
export interface SqliteConnection {
  prepare<P extends unknown[] = unknown[], R = unknown>(sql: string): SqliteStatement<P, R>;
  /** Runs statements that return nothing the caller needs (PRAGMA settings, BEGIN, COMMIT). */
  exec(sql: string): void;
  /** Ends the open transaction, if there is one (SQLite ends some itself when a statement fails). */
  rollback(): void;
  readonly open: boolean;
  close(): void;
}

export interface SqliteDriver {
  readonly name: SqliteDriverName;
  /** Opens the database file, creating it when it does not exist. */
  open(file: string): SqliteConnection;
}

/** What node:sqlite's DatabaseSync offers (Node.js 22.13 and later; typed here: @types/node 20 does not know it). */
interface NodeSqliteDatabase {
  prepare(sql: string): unknown;
  exec(sql: string): void;
  close(): void;
  /** Node.js 22.16 and later. */
  readonly isTransaction?: boolean;
}
export interface NodeSqliteModule {
  DatabaseSync: new (file: string) => NodeSqliteDatabase;
}

export type SqliteDatabaseConstructor = typeof BetterSqlite3;

/** Node.js majors by NODE_MODULE_VERSION (the ABI of native modules), for messages. */
const NODE_BY_ABI: Record<string, string> = { '108': '18', '115': '20', '120': '21', '127': '22', '131': '23', '137': '24', '141': '25' };

/** Where the code runs from and how to reach the drivers; tests pass their own. */
export interface DriverSite {
  /** A file of tokenctl's own (this module, or the bundle chunk it ended up in). */
  moduleFile: string;
  /** Resolves a module specifier as the code at moduleFile would; throws MODULE_NOT_FOUND. */
  resolve(specifier: string): string;
  /** Loads better-sqlite3 (its default export is the Database constructor). */
  load(): Promise<unknown>;
  /** node:sqlite, when this Node.js has it (without the ExperimentalWarning Node.js 22 prints); else undefined. */
  builtin(): NodeSqliteModule | undefined;
  execPath: string;
  platform: NodeJS.Platform;
  nodeVersion: string;
  abi: string;
  env: Record<string, string | undefined>;
}

/**
 * node:sqlite, if this Node.js has it without a flag (22.13 and later). Node.js 22 announces it with an
 * ExperimentalWarning on stderr when it is first loaded: that line is the runtime's, not the user's business, so it
 * is kept from them (every other warning still goes out).
 */
function builtinSqlite(): NodeSqliteModule | undefined {
  const emitWarning = process.emitWarning;
  process.emitWarning = function (this: unknown, warning: string | Error, ...rest: unknown[]) {
    const type = typeof rest[0] === 'string' ? rest[0] : (rest[0] as { type?: unknown } | undefined)?.type;
    const text = typeof warning === 'string' ? warning : warning.message;
    if (type === 'ExperimentalWarning' && /^SQLite is an experimental feature/.test(text)) return;
    return Reflect.apply(emitWarning, process, [warning, ...rest]);
  } as typeof process.emitWarning;
  try {
    return process.getBuiltinModule('node:sqlite') as NodeSqliteModule | undefined;
  } catch {
    return undefined;
  } finally {
    process.emitWarning = emitWarning;
  }
}

function defaultSite(env: Record<string, string | undefined>): DriverSite {
  const moduleFile = fileURLToPath(import.meta.url);
  const require = createRequire(import.meta.url);
  return {
    moduleFile,
    resolve: (specifier) => require.resolve(specifier),
    load: () => import('better-sqlite3'),
    builtin: builtinSqlite,
    execPath: process.execPath,
    platform: process.platform,
    nodeVersion: process.version,
    abi: process.versions.modules,
    env,
  };
}

// ---- the connections ------------------------------------------------------------------------------------------

/** SQLite's answer to a ROLLBACK with no transaction open. */
const noTransaction = (error: unknown) => sqliteErrorCode(error) === 'SQLITE_ERROR' && /no transaction is active/.test(String((error as Error).message));

class NodeSqliteConnection implements SqliteConnection {
  private closed = false;
  constructor(private readonly db: NodeSqliteDatabase) {}
  prepare<P extends unknown[], R>(sql: string): SqliteStatement<P, R> {
    return this.db.prepare(sql) as SqliteStatement<P, R>;
  }
  exec(sql: string): void {
    this.db.exec(sql);
  }
  rollback(): void {
    if (this.db.isTransaction === false) return;
    try {
      this.db.exec('ROLLBACK');
    } catch (error) {
      // Before Node.js 22.16 a connection cannot say whether a transaction is open: SQLite then says it was not.
      if (!noTransaction(error)) throw error;
    }
  }
  get open(): boolean {
    return !this.closed;
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}

class BetterSqliteConnection implements SqliteConnection {
  constructor(private readonly db: BetterSqlite3.Database) {}
  prepare<P extends unknown[], R>(sql: string): SqliteStatement<P, R> {
    const statement = this.db.prepare<unknown[], unknown>(sql);
    return {
      get: (...params: P) => statement.get(...params) as R | undefined,
      all: (...params: P) => statement.all(...params) as R[],
      run: (...params: P) => statement.run(...params),
    };
  }
  exec(sql: string): void {
    this.db.exec(sql);
  }
  rollback(): void {
    if (this.db.inTransaction) this.db.exec('ROLLBACK');
  }
  get open(): boolean {
    return this.db.open;
  }
  close(): void {
    if (this.db.open) this.db.close();
  }
}

export function nodeSqliteDriver(sqlite: NodeSqliteModule): SqliteDriver {
  return { name: 'node:sqlite', open: (file) => new NodeSqliteConnection(new sqlite.DatabaseSync(file)) };
}

export function betterSqliteDriver(Database: SqliteDatabaseConstructor): SqliteDriver {
  return { name: 'better-sqlite3', open: (file) => new BetterSqliteConnection(new Database(file)) };
}

// ---- choosing and loading one -------------------------------------------------------------------------------

/** TOKENCTL_SQLITE_DRIVER: `node:sqlite`, `better-sqlite3`, or unset (node:sqlite where Node.js has it). */
export function chosenSqliteDriver(env: Record<string, string | undefined>): SqliteDriverName | undefined {
  const raw = env.TOKENCTL_SQLITE_DRIVER?.trim();
  if (raw === undefined || raw === '') return undefined;
  const name = raw.toLowerCase();
  if (name === 'sqlite' || name === 'node:sqlite') return 'node:sqlite';
  if (name === 'better-sqlite3') return 'better-sqlite3';
  throw new UsageError(`TOKENCTL_SQLITE_DRIVER='${raw.slice(0, 30)}' is not a driver; use node:sqlite or better-sqlite3, or leave it unset`);
}

const loaded = new Map<SqliteDriverName, Promise<SqliteDriver>>();

/**
 * The SQLite driver of the token service: node:sqlite where this Node.js has it (22.13 and later), better-sqlite3
 * otherwise (Node.js 20), or the one TOKENCTL_SQLITE_DRIVER names. A driver that cannot be used fails here, as
 * BackendUnavailableError (exit 8) with the command that fixes it, rather than deep inside the service.
 */
export function loadSqliteDriver(env: Record<string, string | undefined> = process.env, site?: DriverSite): Promise<SqliteDriver> {
  const s = site ?? defaultSite(env);
  const chosen = chosenSqliteDriver(env);
  if (site) return load(s, chosen);
  const key = chosen ?? (s.builtin() ? 'node:sqlite' : 'better-sqlite3');
  let promise = loaded.get(key);
  if (!promise) {
    promise = load(s, chosen);
    loaded.set(key, promise);
    promise.catch(() => loaded.delete(key));
  }
  return promise;
}

async function load(site: DriverSite, chosen: SqliteDriverName | undefined): Promise<SqliteDriver> {
  const builtin = chosen === 'better-sqlite3' ? undefined : site.builtin();
  if (builtin) return nodeSqliteDriver(builtin);
  if (chosen === 'node:sqlite') {
    throw new BackendUnavailableError(
      `TOKENCTL_SQLITE_DRIVER=node:sqlite, but this Node.js (${site.nodeVersion}) has no node:sqlite (it comes with Node.js 22.13 and later); unset TOKENCTL_SQLITE_DRIVER, or run tokenctl on Node.js 22 or 24`,
    );
  }
  return betterSqliteDriver(await loadBetterSqlite3(site, chosen === 'better-sqlite3' ? 'chosen' : 'no-builtin'));
}

/**
 * Loads better-sqlite3 and opens (and closes) an in-memory database, so that a missing driver, one of another
 * version, or a binary built for another Node.js fails here with the command that fixes it. `why`: chosen by
 * TOKENCTL_SQLITE_DRIVER, or needed because this Node.js has no SQLite of its own. Returns the Database constructor.
 */
export async function loadBetterSqlite3(site: DriverSite, why: 'chosen' | 'no-builtin' = 'no-builtin'): Promise<SqliteDatabaseConstructor> {
  const wanted = `${SQLITE_DRIVER.name}@${SQLITE_DRIVER.version}`;
  let packageJson: string;
  try {
    packageJson = site.resolve(`${SQLITE_DRIVER.name}/package.json`);
  } catch (error) {
    throw new BackendUnavailableError(
      why === 'chosen'
        ? `TOKENCTL_SQLITE_DRIVER=${SQLITE_DRIVER.name}, but ${SQLITE_DRIVER.name} is not installed; install it with: ${installCommand(site, wanted)}, or unset TOKENCTL_SQLITE_DRIVER to use the SQLite built into this Node.js (node:sqlite)`
        : `the token service needs an SQLite driver: Node.js ${site.nodeVersion} has none built in (node:sqlite comes with Node.js 22.13 and later), and ${SQLITE_DRIVER.name} is not installed; install it with: ${installCommand(site, wanted)}, or run tokenctl on Node.js 22 or 24`,
      { cause: error },
    );
  }
  const driverDir = path.dirname(packageJson);
  const version = installedVersion(packageJson);
  if (version === undefined || Number(version.split('.')[0]) !== SQLITE_DRIVER.major || compareVersions(version, SQLITE_DRIVER.version) < 0) {
    throw new BackendUnavailableError(
      `${SQLITE_DRIVER.name} ${version ?? '(unknown version)'} is installed in ${driverDir}, but the token service needs ${SQLITE_DRIVER.major}.x (at least ${SQLITE_DRIVER.version}); install it with: ${installCommand(site, wanted)}`,
    );
  }
  let Database: SqliteDatabaseConstructor;
  try {
    const mod = (await site.load()) as { default?: SqliteDatabaseConstructor };
    Database = (mod.default ?? mod) as SqliteDatabaseConstructor;
    // better-sqlite3 loads its native binding when the first database opens.
    new Database(':memory:').close();
  } catch (error) {
    throw bindingError(error, site, driverDir);
  }
  return Database;
}

function bindingError(error: unknown, site: DriverSite, driverDir: string): BackendUnavailableError {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  const fix = rebuildCommand(site, driverDir);
  const abi = /NODE_MODULE_VERSION (\d+)\. This version of Node\.js requires\s+NODE_MODULE_VERSION (\d+)/.exec(message);
  if (abi) {
    const builtFor = NODE_BY_ABI[abi[1]!] ? `Node.js ${NODE_BY_ABI[abi[1]!]}` : 'another Node.js';
    return new BackendUnavailableError(
      `${SQLITE_DRIVER.name} in ${driverDir} was built for ${builtFor} (NODE_MODULE_VERSION ${abi[1]}), not for this Node.js ${site.nodeVersion} (NODE_MODULE_VERSION ${abi[2]}); rebuild it with: ${fix}`,
      { cause: error },
    );
  }
  if (/Could not locate the bindings file/.test(message)) {
    return new BackendUnavailableError(`${SQLITE_DRIVER.name} in ${driverDir} has no native binding (was it installed with --ignore-scripts?); build it with: ${fix}`, { cause: error });
  }
  if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
    return new BackendUnavailableError(`${SQLITE_DRIVER.name} in ${driverDir} is incomplete (a module it needs is missing); reinstall it with: ${installCommand(site, `${SQLITE_DRIVER.name}@${SQLITE_DRIVER.version}`)}`, { cause: error });
  }
  if (code === 'ERR_DLOPEN_FAILED' || /\.node\b/.test(message)) {
    // Another platform or architecture, an older C library, a damaged file: the first line says which.
    const reason = message.split('\n')[0]!.replace(/^.*?\.node: /, '').slice(0, 160);
    return new BackendUnavailableError(`the native binding of ${SQLITE_DRIVER.name} in ${driverDir} does not load on this machine (${reason}); rebuild it with: ${fix}`, { cause: error });
  }
  return new BackendUnavailableError(`${SQLITE_DRIVER.name} in ${driverDir} failed to open a database (${message.split('\n')[0]!.slice(0, 160)}); rebuild it with: ${fix}`, { cause: error });
}

function installedVersion(packageJson: string): string | undefined {
  try {
    const version = (JSON.parse(readFileSync(packageJson, 'utf8')) as { version?: unknown }).version;
    return typeof version === 'string' && /^\d+\.\d+\.\d+/.test(version) ? version : undefined;
  } catch {
    return undefined;
  }
}

function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.+-]/).slice(0, 3).map(Number);
  const pb = b.split(/[.+-]/).slice(0, 3).map(Number);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

/** How a directory holding node_modules was installed: a global prefix, or a project (a dependency, or a clone). */
type InstallRoot = { kind: 'global'; prefix: string; defaultPrefix: boolean } | { kind: 'project'; dir: string };

/**
 * The install root of a package directory inside node_modules: `<prefix>/lib/node_modules/<pkg>` (POSIX) or
 * `<prefix>\node_modules\<pkg>` (Windows) is a global install, any other `<dir>/node_modules/<pkg>` a project's.
 */
function rootOfPackageDir(pkgDir: string, site: DriverSite): InstallRoot | undefined {
  const p = site.platform === 'win32' ? path.win32 : path.posix;
  let nodeModules = p.dirname(pkgDir);
  if (p.basename(nodeModules).startsWith('@')) nodeModules = p.dirname(nodeModules);
  if (p.basename(nodeModules) !== 'node_modules') return undefined;
  const above = p.dirname(nodeModules);
  if (existsSync(p.join(above, 'package.json'))) return { kind: 'project', dir: above };
  if (site.platform === 'win32') {
    const appData = site.env.APPDATA;
    const defaultPrefix = appData !== undefined && p.resolve(above).toLowerCase() === p.join(appData, 'npm').toLowerCase();
    return { kind: 'global', prefix: above, defaultPrefix };
  }
  if (p.basename(above) === 'lib') {
    const prefix = p.dirname(above);
    // npm's default global prefix is the directory above the one holding the node binary.
    return { kind: 'global', prefix, defaultPrefix: prefix === p.dirname(p.dirname(site.execPath)) };
  }
  return { kind: 'project', dir: above };
}

/** tokenctl's own package directory: the nearest directory above moduleFile with tokenctl's package.json. */
function ownPackageDir(site: DriverSite): string | undefined {
  const p = site.platform === 'win32' ? path.win32 : path.posix;
  let dir = p.dirname(site.moduleFile);
  for (;;) {
    const file = p.join(dir, 'package.json');
    if (existsSync(file)) {
      try {
        if ((JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown }).name === 'tokenctl') return dir;
      } catch {
        // not ours; keep looking
      }
    }
    const up = p.dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

/**
 * A clone of tokenctl itself: its own package.json, with the script that builds the driver there (npm never runs
 * better-sqlite3's install script in a clone: its allowScripts denies it, so that Node.js 22 and 24 compile nothing).
 */
function isClone(dir: string): boolean {
  try {
    const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown; scripts?: Record<string, unknown> };
    return pkg.name === 'tokenctl' && typeof pkg.scripts?.['sqlite-driver'] === 'string';
  } catch {
    return false;
  }
}

/** The npm command that installs `spec` where tokenctl (this installation of it) finds it. */
export function installCommand(site: DriverSite, spec: string): string {
  const own = ownPackageDir(site);
  const root = own === undefined ? undefined : (rootOfPackageDir(own, site) ?? { kind: 'project' as const, dir: own });
  // A clone has it among its development dependencies: installing them again brings it (and builds it on Node.js 20).
  if (root?.kind === 'project' && isClone(root.dir)) return `npm ci --prefix ${shellQuote(root.dir)}`;
  // --allow-scripts: npm 11 asks before running a global package's install script (better-sqlite3 downloads or
  // builds its binary there); npm 10 accepts the flag silently. A project's own allowScripts covers a local install.
  if (root?.kind === 'global') return `npm install -g${root.defaultPrefix ? '' : ` --prefix ${shellQuote(root.prefix)}`} --allow-scripts=${SQLITE_DRIVER.name} ${spec}`;
  if (root?.kind === 'project') return `npm install --prefix ${shellQuote(root.dir)} ${spec}`;
  return `npm install ${spec}`;
}

/** The npm command that rebuilds the driver installed in driverDir for the Node.js that runs tokenctl. */
export function rebuildCommand(site: DriverSite, driverDir: string): string {
  const root = rootOfPackageDir(driverDir, site);
  if (root?.kind === 'project' && isClone(root.dir)) return `npm run --prefix ${shellQuote(root.dir)} sqlite-driver`;
  if (root?.kind === 'global') return `npm rebuild -g${root.defaultPrefix ? '' : ` --prefix ${shellQuote(root.prefix)}`} --allow-scripts=${SQLITE_DRIVER.name} ${SQLITE_DRIVER.name}`;
  if (root?.kind === 'project') return `npm rebuild --prefix ${shellQuote(root.dir)} ${SQLITE_DRIVER.name}`;
  return `npm rebuild ${SQLITE_DRIVER.name}`;
}

function shellQuote(text: string): string {
  return /^[\w@%+=:,./\\-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}
