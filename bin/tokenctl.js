#!/usr/bin/env node
if (typeof process.getBuiltinModule !== 'function') {
  // The bundle takes Node's built-in modules from process.getBuiltinModule (Node 20.16 and later).
  process.stderr.write(`error: tokenctl needs Node.js 20.19 or later; this is ${process.version}\n`);
  process.exit(1);
}

/**
 * Node 22.1 and later keep the compiled bundle between runs (faster start-up). The cache lives in this user's own
 * cache directory, never in a shared one such as the OS temp directory: code cached where another user can write is
 * code they could make you run. NODE_COMPILE_CACHE chooses another directory, NODE_DISABLE_COMPILE_CACHE=1 turns it
 * off; a directory that cannot be made or written only means no cache.
 */
function compileCacheDir(env) {
  if (env.NODE_COMPILE_CACHE) return env.NODE_COMPILE_CACHE;
  const path = process.getBuiltinModule('node:path');
  const absolute = (dir) => (dir && path.isAbsolute(dir) ? dir : undefined);
  const home = absolute(env.HOME);
  const base =
    process.platform === 'win32'
      ? absolute(env.LOCALAPPDATA)
      : process.platform === 'darwin'
        ? home && path.join(home, 'Library', 'Caches')
        : (absolute(env.XDG_CACHE_HOME) ?? (home && path.join(home, '.cache')));
  return base && path.join(base, 'tokenctl', 'node-compile-cache');
}

try {
  const { enableCompileCache } = process.getBuiltinModule('node:module');
  const dir = enableCompileCache && compileCacheDir(process.env);
  if (dir) enableCompileCache(dir);
} catch {
  // no cache: only start-up is slower
}

import('../dist/tokenctl.js').catch((error) => {
  if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !String(error.message).includes('dist/tokenctl.js')) throw error;
  process.stderr.write('error: tokenctl is not built; run: npm run build\n');
  process.exit(1);
});
