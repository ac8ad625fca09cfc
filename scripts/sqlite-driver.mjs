// Builds better-sqlite3's native binding in this clone, for the Node.js that runs this script. The token service
// needs it only on Node.js 20, which has no SQLite of its own (22.13 and later use node:sqlite). npm never runs
// better-sqlite3's install script here (package.json's allowScripts denies it), so that `npm ci` compiles nothing
// on Node.js 22 and 24; `npm ci` runs this with --if-needed (the postprepare script), which builds the binding only
// on a Node.js without node:sqlite, and only when it does not load yet. By hand: `npm run sqlite-driver`, e.g. to
// compare both drivers on Node.js 22 (bench/introspect.mjs --drivers both). Like better-sqlite3's own install
// script, it downloads a prebuilt binary where one exists for this platform and Node.js (prebuild-install), and
// compiles it otherwise (python3, make and a C++ compiler).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gypEnv } from './node-headers.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const driverDir = path.join(root, 'node_modules', 'better-sqlite3');
const ifNeeded = process.argv.includes('--if-needed');

/** Node.js 22.13 and later have node:sqlite without a flag (asked by version: loading it would print a warning on 22). */
function hasBuiltinSqlite() {
  const [major, minor] = process.versions.node.split('.').map(Number);
  return major > 22 || (major === 22 && minor >= 13);
}

/** Whether the binding loads and opens a database in this Node.js (in a child: a failed load cannot be retried here). */
function bindingLoads() {
  const probe = "const D = require('better-sqlite3'); new D(':memory:').close();";
  return spawnSync(process.execPath, ['-e', probe], { cwd: root, stdio: 'ignore' }).status === 0;
}

if (ifNeeded && hasBuiltinSqlite()) process.exit(0);
if (!existsSync(path.join(driverDir, 'package.json'))) {
  console.error('error: better-sqlite3 is not installed in this clone; run: npm ci');
  process.exit(1);
}
if (ifNeeded && bindingLoads()) process.exit(0);

console.error(`Building better-sqlite3 for Node.js ${process.version} (the token service's SQLite driver on Node.js 20)...`);
// npm run sets up what better-sqlite3's install script expects: prebuild-install from this clone's node_modules/.bin,
// and npm's own node-gyp.
const npm = process.env.npm_execpath;
const built = npm
  ? spawnSync(process.execPath, [npm, 'run', 'install'], { cwd: driverDir, stdio: 'inherit', env: gypEnv(process.env, process.execPath, process.versions.node) })
  : spawnSync('npm', ['run', 'install'], { cwd: driverDir, stdio: 'inherit', shell: process.platform === 'win32', env: gypEnv(process.env, process.execPath, process.versions.node) });
if (built.status !== 0 || !bindingLoads()) {
  console.error(
    'error: better-sqlite3 could not be built; compiling it needs python3, make and a C++ compiler (Debian/Ubuntu: apt-get install python3 make g++). ' +
      'Node.js 22 and 24 need none of this: the token service uses their built-in SQLite.',
  );
  process.exit(1);
}
console.error(`better-sqlite3 is built for Node.js ${process.version}.`);
