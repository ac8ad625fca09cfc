// Preloaded into a replica by bench/replicas.mjs (`node --expose-gc --import <this file> bin/tokenctl.js serve ...`):
// on SIGUSR2, runs two full garbage collections and writes one line to stderr,
//   bench-memory {"rss":...,"heapUsed":...,"heapTotal":...,"external":...,"arrayBuffers":...}
// (bytes). Inert until signalled: the replica does nothing else differently. Never used outside the benchmark.
process.on('SIGUSR2', () => {
  globalThis.gc?.();
  globalThis.gc?.();
  const m = process.memoryUsage();
  const out = { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers, gc: typeof globalThis.gc === 'function' };
  process.stderr.write(`bench-memory ${JSON.stringify(out)}\n`);
});
