// Three fixes to postgres.js 3.4.9 (the PostgreSQL client bundled into dist/), applied when the bundle is built, until
// a release has them. All were found by the replicas' fault tests (test/replicas/) and are known upstream:
//
// 1. nextWrite() after the connection closed dereferences a null socket and throws from a setImmediate callback:
//    an uncaught TypeError that kills the whole replica (porsager/postgres#1066, #1154, #1208; PRs #1168, #1209).
//    Guarded, and the queries waiting on that connection are rejected (CONNECTION_CLOSED), as PR #1209 does: just
//    dropping the write would leave their callers waiting for ever.
// 2. A query handed to a connection between its socket's 'error' and 'close' events is never settled: closed()
//    rejects waiting queries only when the close had no error. It now always does (rejecting an already rejected
//    query changes nothing).
// 3. The types query every new connection sends first (fetch_types) is run by an async function whose promise is
//    dropped: a connection reset (or an error) while it runs rejects it unhandled, and Node.js ends the process
//    (porsager/postgres#1192, #1205, #1223). The rejection is caught; the query that opened the connection is
//    rejected with the connection's error as before, and its caller handles it.
//
// The build fails if the pinned source no longer reads as expected, so an upgrade cannot silently drop a fix.
import { readFile } from 'node:fs/promises';

const FIXES = [
  {
    name: 'nextWrite on a closed connection',
    before: `  function nextWrite(fn) {
    const x = socket.write(chunk, fn)`,
    after: `  function nextWrite(fn) {
    if (!socket) {
      nextWriteTimer !== null && clearImmediate(nextWriteTimer)
      chunk = nextWriteTimer = null
      const err = Errors.connection('CONNECTION_CLOSED', options)
      errored(err)
      while (sent.length)
        queryError(sent.shift(), err)
      return false
    }
    const x = socket.write(chunk, fn)`,
  },
  {
    name: 'queries left on a connection closed with an error',
    before: `    !hadError && (query || sent.length) && error(Errors.connection('CONNECTION_CLOSED', options, socket))`,
    // The leading semicolon: postgres.js has no semicolons, and the line before is `return reconnect()`.
    after: `    ;(query || sent.length) && error(Errors.connection('CONNECTION_CLOSED', options, socket))`,
  },
  {
    name: 'the types query rejected unhandled',
    before: `        return fetchArrayTypes()`,
    after: `        return fetchArrayTypes().catch(noop)`,
  },
];

/** The esbuild plugin: patches postgres/src/connection.js as it is loaded. */
export const postgresFixes = {
  name: 'postgres-fixes',
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/]postgres[\\/]src[\\/]connection\.js$/ }, async (args) => {
      let contents = await readFile(args.path, 'utf8');
      for (const fix of FIXES) {
        const at = contents.indexOf(fix.before);
        if (at < 0 || contents.indexOf(fix.before, at + 1) >= 0) {
          throw new Error(`postgres.js changed: cannot apply the fix "${fix.name}" (scripts/postgres-fixes.mjs); check whether the new version still needs it`);
        }
        contents = contents.replace(fix.before, fix.after);
      }
      return { contents, loader: 'js' };
    });
  },
};
