// Bundles the CLI into dist/: one entry file with everything a fast command needs, and separate chunks for
// what only some commands load (prompts, jose, tables, the keychain binding stays an external native module).
import { build } from 'esbuild';
import { readFile, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

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

// esbuild puts each module shared by the entry and some lazily loaded modules into a chunk of its own, one per
// combination of sharers: a dozen tiny files that every command would load one by one. Making every lazily
// loaded module of ours reach src/kernel.ts gives those modules the same sharers, hence one chunk.
const kernel = fileURLToPath(new URL('../src/kernel.ts', import.meta.url));
const lazyDirs = /[\\/]src[\\/](server|scan|exec|completion|backends[\\/]http|secrets|config)[\\/]/;
const shareOneKernelChunk = {
  name: 'share-one-kernel-chunk',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, async (args) => {
      if (!lazyDirs.test(args.path)) return undefined;
      const source = await readFile(args.path, 'utf8');
      return { contents: `import ${JSON.stringify(kernel)};\n${source}`, loader: 'ts' };
    });
  },
};

await rm(new URL('../dist', import.meta.url), { recursive: true, force: true });
await build({
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
  legalComments: 'none',
  logLevel: 'warning',
  plugins: [lazyChildProcessForCommander, shareOneKernelChunk],
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
});
