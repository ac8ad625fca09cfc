// The Tokens page's script is imported as text (`import script from './x.js?raw'`, which vite reads the same way in
// tests): bundled as a string, so the package needs no file beside the bundle. For scripts/build.mjs, and for the
// benchmarks that bundle parts of src/ (bench/introspect.mjs --isolation).
import { readFile } from 'node:fs/promises';
import path from 'node:path';

export const rawText = {
  name: 'raw-text',
  setup(b) {
    b.onResolve({ filter: /\?raw$/ }, (args) => ({ path: path.join(args.resolveDir, args.path.slice(0, -'?raw'.length)), namespace: 'raw-text' }));
    b.onLoad({ filter: /.*/, namespace: 'raw-text' }, async (args) => ({ contents: await readFile(args.path, 'utf8'), loader: 'text' }));
  },
};
