// The SQLite driver (better-sqlite3) is a native module and no dependency of the CLI: `tokenctl` installs without a
// compiler, and only the token service (`serve`, `server ...`) needs the driver. This module finds it, proves that its
// native binding loads in this Node.js, and otherwise says in one line what to install or rebuild, and where.
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type BetterSqlite3 from 'better-sqlite3';
import { BackendUnavailableError } from '../../core/errors.js';

/** The driver the service is tested with. package.json names the same version (devDependencies, peerDependencies). */
export const SQLITE_DRIVER = { name: 'better-sqlite3', version: '12.11.1', major: 12 } as const;

export type SqliteDatabaseConstructor = typeof BetterSqlite3;

/** Node.js majors by NODE_MODULE_VERSION (the ABI of native modules), for messages. */
const NODE_BY_ABI: Record<string, string> = { '108': '18', '115': '20', '120': '21', '127': '22', '131': '23', '137': '24', '141': '25' };

/** Where the code runs from and how to reach the driver; tests pass their own. */
export interface DriverSite {
  /** A file of tokenctl's own (this module, or the bundle chunk it ended up in). */
  moduleFile: string;
  /** Resolves a module specifier as the code at moduleFile would; throws MODULE_NOT_FOUND. */
  resolve(specifier: string): string;
  /** Loads the driver module (its default export is the Database constructor). */
  load(): Promise<unknown>;
  execPath: string;
  platform: NodeJS.Platform;
  nodeVersion: string;
  abi: string;
  env: Record<string, string | undefined>;
}

function defaultSite(): DriverSite {
  const moduleFile = fileURLToPath(import.meta.url);
  const require = createRequire(import.meta.url);
  return {
    moduleFile,
    resolve: (specifier) => require.resolve(specifier),
    load: () => import('better-sqlite3'),
    execPath: process.execPath,
    platform: process.platform,
    nodeVersion: process.version,
    abi: process.versions.modules,
    env: process.env,
  };
}

let loaded: Promise<SqliteDatabaseConstructor> | undefined;

/**
 * Loads better-sqlite3 and opens (and closes) an in-memory database, so that a missing driver, one of another
 * version, or a binary built for another Node.js fails here, as BackendUnavailableError (exit 8) with the command
 * that fixes it, rather than deep inside the service. Returns the Database constructor.
 */
export function loadSqliteDriver(site?: DriverSite): Promise<SqliteDatabaseConstructor> {
  if (site) return load(site);
  loaded ??= load(defaultSite()).catch((error: unknown) => {
    loaded = undefined;
    throw error;
  });
  return loaded;
}

async function load(site: DriverSite): Promise<SqliteDatabaseConstructor> {
  const wanted = `${SQLITE_DRIVER.name}@${SQLITE_DRIVER.version}`;
  let packageJson: string;
  try {
    packageJson = site.resolve(`${SQLITE_DRIVER.name}/package.json`);
  } catch (error) {
    throw new BackendUnavailableError(`the token service needs its SQLite driver, ${SQLITE_DRIVER.name}, which is not installed; install it with: ${installCommand(site, wanted)}`, { cause: error });
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

/** The npm command that installs `spec` where tokenctl (this installation of it) finds it. */
export function installCommand(site: DriverSite, spec: string): string {
  const own = ownPackageDir(site);
  const root = own === undefined ? undefined : (rootOfPackageDir(own, site) ?? { kind: 'project' as const, dir: own });
  // --allow-scripts: npm 11 asks before running a global package's install script (better-sqlite3 downloads or
  // builds its binary there); npm 10 accepts the flag silently. A project's own allowScripts covers a local install.
  if (root?.kind === 'global') return `npm install -g${root.defaultPrefix ? '' : ` --prefix ${shellQuote(root.prefix)}`} --allow-scripts=${SQLITE_DRIVER.name} ${spec}`;
  if (root?.kind === 'project') return `npm install --prefix ${shellQuote(root.dir)} ${spec}`;
  return `npm install ${spec}`;
}

/** The npm command that rebuilds the driver installed in driverDir for the Node.js that runs tokenctl. */
export function rebuildCommand(site: DriverSite, driverDir: string): string {
  const root = rootOfPackageDir(driverDir, site);
  if (root?.kind === 'global') return `npm rebuild -g${root.defaultPrefix ? '' : ` --prefix ${shellQuote(root.prefix)}`} --allow-scripts=${SQLITE_DRIVER.name} ${SQLITE_DRIVER.name}`;
  if (root?.kind === 'project') return `npm rebuild --prefix ${shellQuote(root.dir)} ${SQLITE_DRIVER.name}`;
  return `npm rebuild ${SQLITE_DRIVER.name}`;
}

function shellQuote(text: string): string {
  return /^[\w@%+=:,./\\-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}
