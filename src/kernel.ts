// What the entry imports, as one module. Nothing imports this file in the source: the build adds an import of it to
// every lazily loaded module of ours (scripts/build.mjs), so that everything the entry shares with them lands in one
// chunk instead of several, each of which the ESM loader would resolve and read separately at every start.
import './cli.js';
