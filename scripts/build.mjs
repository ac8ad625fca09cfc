// Bundles the CLI into dist/: an entry file, the chunk with everything the entry imports, and separate chunks for
// what only some commands load (prompts, jose, tables, the token service). The keychain binding (@napi-rs/keyring)
// and the token service's SQLite driver on Node.js 20 (better-sqlite3; 22.13 and later have node:sqlite built in) stay
// external native modules: everything else is in the bundle, so an installed tokenctl needs no other package (all of
// them are devDependencies). `npm pack` runs this first (the prepack script), and so does `npm ci` in a clone (the
// postprepare script: a `prepare` script would be listed by npm 11 as an install script of the packed tarball).
import { build } from 'esbuild';
import { isBuiltin } from 'node:module';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { postgresFixes } from './postgres-fixes.mjs';
import { rawText } from './raw-text.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

// commander requires child_process at load time, for executable subcommands tokenctl never uses. Loading it
// (and net, dgram with it) costs every command; this proxy loads it only if commander ever touches it.
const lazyChildProcessForCommander = {
  name: 'lazy-child-process-for-commander',
  setup(b) {
    b.onResolve({ filter: /^(node:)?child_process$/ }, (args) =>
      /node_modules[\\/]commander[\\/]/.test(args.importer) ? { path: 'child_process', namespace: 'lazy-builtin' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, () => ({
      contents: "let m; module.exports = new Proxy({}, { get: (_, key) => (m ??= require('node:child_process'))[key] });",
      loader: 'js',
    }));
  },
};

// Node's built-in modules, as process.getBuiltinModule gives them (Node 20.16 and later). An `import` of one (and a
// `require` through createRequire) first sets up its ES module facade, which reads every export, getters included:
// node:fs's stream getters then load the whole stream stack, which `tokenctl list --json | jq` never uses. Each
// importer gets a wrapper of its own (so that no chunk is made just for a wrapper). For our own modules the wrapper
// is an ES module with exactly the names they import (read from their import declarations; esbuild fails the build
// on a name the wrapper lacks), so no interop copy of the whole module is made for each of them, and a plain
// function among them loads its module on first call (node:os, say, is needed only when something is written); a
// package's import, and any `require`, gets the module object itself.
const builtinsWithoutFacade = {
  name: 'builtins-without-facade',
  setup(b) {
    b.onResolve({ filter: /^(node:)?[a-z_/]+$/ }, (args) => {
      if ((args.kind !== 'import-statement' && args.kind !== 'require-call') || !isBuiltin(args.path)) return undefined;
      const id = args.path.startsWith('node:') ? args.path : `node:${args.path}`;
      const esm = args.kind === 'import-statement' && args.namespace === 'file' && !/[\\/]node_modules[\\/]/.test(args.importer);
      return { path: id, namespace: 'builtin', suffix: `?from=${args.importer}`, pluginData: { importer: esm ? args.importer : null } };
    });
    b.onLoad({ filter: /.*/, namespace: 'builtin' }, async (args) => {
      const load = `process.getBuiltinModule(${JSON.stringify(args.path)})`;
      const imports = args.pluginData.importer && importedNames(await readFile(args.pluginData.importer, 'utf8'), args.path);
      if (!imports) return { contents: `module.exports = ${load};`, loader: 'js' };
      const real = process.getBuiltinModule(args.path);
      const lines = [`const m = () => ${load};`];
      if (imports.default) lines.push('export default m();');
      for (const name of imports.names) {
        lines.push(isPlainFunction(real, name) ? `export function ${name}(...args) { return m().${name}(...args); }` : `export const ${name} = m().${name};`);
      }
      return { contents: lines.join('\n'), loader: 'js' };
    });
  },
};

/**
 * A function that is only that, so it can be called through: no class, nothing an importer could use hung on it
 * (realpathSync.native, promisify's symbols). node:os's carry a string form (Symbol.toPrimitive) and an internal
 * variant (withoutStackTrace), which no importer uses.
 */
const PLAIN_FUNCTION_KEYS = new Set(['length', 'name', 'prototype', 'withoutStackTrace', Symbol.toPrimitive]);
function isPlainFunction(module, name) {
  const value = module[name];
  return typeof value === 'function' && /^[a-z]/.test(name) && Reflect.ownKeys(value).every((k) => PLAIN_FUNCTION_KEYS.has(k));
}

/**
 * What a module imports from a built-in module: its default, and its names; null when it imports it in a way this
 * does not read (`* as`).
 */
function importedNames(source, id) {
  const bare = id.slice('node:'.length).replace(/[/]/g, '\\/');
  const declarations = source.matchAll(new RegExp(`\\bimport\\s+(type\\s+)?([^'";]*?)\\s*from\\s*['"](?:node:)?${bare}['"]`, 'g'));
  const found = { default: false, names: new Set() };
  for (const [, typeOnly, clause] of declarations) {
    if (typeOnly) continue;
    const m = /^([\w$]+)?\s*,?\s*(?:\{([^}]*)\})?$/.exec(clause.trim());
    if (!m) return null;
    if (m[1]) found.default = true;
    for (const spec of (m[2] ?? '').split(',')) {
      const [name] = spec.trim().split(/\s+as\s+/);
      if (name && !/^type\s/.test(name)) found.names.add(name.trim());
    }
  }
  return found;
}

// CommonJS code in the bundle (the shim esbuild gives `require` calls, packages of the token service) needs a
// `require`; this gives it one, made on first use (creating one costs every start that loads the chunk, and the chunk
// with esbuild's helpers is always loaded), and only the chunks that name `require` keep it.
const BANNER =
  "let __rq; const __rqf = () => (__rq ??= process.getBuiltinModule('node:module').createRequire(import.meta.url)); " +
  'const require = new Proxy(() => {}, { apply: (_, self, args) => Reflect.apply(__rqf(), self, args), get: (_, key) => Reflect.get(__rqf(), key), has: (_, key) => Reflect.has(__rqf(), key) });';
const usesRequire = (code) => /(?<![\w$.])require(?![\w$])/.test(code);

const options = {
  absWorkingDir: root,
  entryPoints: { tokenctl: 'src/main.ts' },
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  chunkNames: 'chunks/[name]-[hash]',
  external: ['@napi-rs/keyring', 'better-sqlite3'],
  minifySyntax: true,
  minifyWhitespace: true,
  legalComments: 'none',
  logLevel: 'warning',
  banner: { js: BANNER },
};

// esbuild puts each module that the entry shares with lazily loaded modules into a chunk of its own, one per
// combination of sharers: several small files that every command would load one by one (each costs the ESM
// loader a resolve, a read and a compile). Making every lazily loaded module of ours import src/kernel.ts, which
// imports what the entry imports, gives all those modules the same sharers, hence one chunk. The lazily loaded
// modules (the targets of `await import(...)` in src/) are read from a first build's metafile, so a new directory
// or command needs no list here.
const first = await build({ ...options, write: false, metafile: true, logLevel: 'error', plugins: [lazyChildProcessForCommander, builtinsWithoutFacade, rawText, postgresFixes] });
const lazyOwnModules = new Set();
for (const { imports } of Object.values(first.metafile.inputs)) {
  for (const i of imports) {
    if (i.kind === 'dynamic-import' && !i.external && i.path.startsWith('src/') && i.path !== 'src/kernel.ts') lazyOwnModules.add(path.join(root, i.path));
  }
}
const kernel = path.join(root, 'src', 'kernel.ts');
const shareOneKernelChunk = {
  name: 'share-one-kernel-chunk',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, async (args) => {
      if (!lazyOwnModules.has(args.path)) return undefined;
      const source = await readFile(args.path, 'utf8');
      return { contents: `import ${JSON.stringify(kernel)};\n${source}`, loader: 'ts' };
    });
  },
};

await rm(path.join(root, 'dist'), { recursive: true, force: true });
const final = await build({ ...options, metafile: true, plugins: [lazyChildProcessForCommander, builtinsWithoutFacade, rawText, postgresFixes, shareOneKernelChunk] });
for (const file of Object.keys(final.metafile.outputs)) {
  if (!file.endsWith('.js')) continue;
  const full = path.join(root, file);
  const code = await readFile(full, 'utf8');
  if (!code.startsWith(`${BANNER}\n`)) throw new Error(`${file} does not start with the banner`);
  const rest = code.slice(BANNER.length + 1);
  if (!usesRequire(rest)) await writeFile(full, rest);
}
