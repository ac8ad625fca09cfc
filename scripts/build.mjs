// Bundles the CLI into dist/: an entry file, the chunk with everything the entry imports, and separate chunks for
// what only some commands load (prompts, jose, tables, the token service). The keychain binding (@napi-rs/keyring)
// and the token service's SQLite driver (better-sqlite3) stay external native modules: everything else is in the
// bundle, so an installed tokenctl needs no other package (all of them are devDependencies).
import { build } from 'esbuild';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

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

// The Tokens page's script is imported as text (`import script from './x.js?raw'`, which vite reads the same way in
// tests): bundled as a string, so the package needs no file beside the bundle.
const rawText = {
  name: 'raw-text',
  setup(b) {
    b.onResolve({ filter: /\?raw$/ }, (args) => ({ path: path.join(args.resolveDir, args.path.slice(0, -'?raw'.length)), namespace: 'raw-text' }));
    b.onLoad({ filter: /.*/, namespace: 'raw-text' }, async (args) => ({ contents: await readFile(args.path, 'utf8'), loader: 'text' }));
  },
};

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
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
};

// esbuild puts each module that the entry shares with lazily loaded modules into a chunk of its own, one per
// combination of sharers: several small files that every command would load one by one (each costs the ESM
// loader a resolve, a read and a compile). Making every lazily loaded module of ours import src/kernel.ts, which
// imports what the entry imports, gives all those modules the same sharers, hence one chunk. The lazily loaded
// modules (the targets of `await import(...)` in src/) are read from a first build's metafile, so a new directory
// or command needs no list here.
const first = await build({ ...options, write: false, metafile: true, logLevel: 'error', plugins: [lazyChildProcessForCommander, rawText] });
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
await build({ ...options, plugins: [lazyChildProcessForCommander, rawText, shareOneKernelChunk] });
