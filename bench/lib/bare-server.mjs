// A bare node:http server for bench/ceiling.mjs: `get` answers a hello-world; `post` reads the body and answers the
// bytes an introspection answer has, with the service's headers. `--routes N` first builds a fastify app (never
// listening) with N routes that have a body schema (`--no-schemas`: without), to measure what that does to a
// handler beside it. `--answer <file>`: the answer's bytes (bench/introspect.mjs passes the service's own). Prints
// "port <n>" on stderr once it listens.
import http from 'node:http';

const arg = (name) => process.argv[process.argv.indexOf(name) + 1];
const mode = arg('--mode');
const routes = process.argv.includes('--routes') ? Number(arg('--routes')) : 0;

if (routes > 0) {
  const { default: Fastify } = await import('fastify');
  const app = Fastify();
  const schemas = !process.argv.includes('--no-schemas');
  for (let i = 0; i < routes; i++) {
    const body = { type: 'object', properties: { [`field${i}`]: { type: 'string', maxLength: 64 }, count: { type: 'integer' } }, required: ['count'] };
    app.post(`/route-${i}`, schemas ? { schema: { body } } : {}, async () => ({}));
  }
  await app.ready();
  globalThis.keptApp = app;
}

const answerFile = process.argv.includes('--answer') ? arg('--answer') : null;
const answer = answerFile
  ? (await import('node:fs')).readFileSync(answerFile, 'utf8')
  : '{"active":true,"type":"s2s","status":"active","sub":"acc_UbR4fwUag3y0zF8s","iss":"urn:tokenctl:account:acc_UbR4fwUag3y0zF8s","jti":"tok_G7fHrWPM9eVLrf2o","iat":1796093725,"nbf":1796095525}';
const headers = [
  'cache-control', 'no-store',
  'x-content-type-options', 'nosniff',
  'referrer-policy', 'no-referrer',
  'content-type', 'application/json; charset=utf-8',
  'content-length', String(Buffer.byteLength(answer)),
];
// The service's server timeouts (src/server/app.ts), which cost a little per request too.
const server = http.createServer({ requestTimeout: 15_000, headersTimeout: 10_000 }, (req, res) => {
  if (mode === 'get') {
    res.setHeader('content-type', 'application/json');
    res.end('{"hello":"world"}');
    return;
  }
  req.on('data', () => undefined);
  req.on('end', () => {
    res.writeHead(200, headers);
    res.end(answer);
  });
});
if (mode === 'post') server.setTimeout(60_000);
server.keepAliveTimeout = 5_000;
process.on('SIGTERM', () => process.exit(0));
server.listen(0, '127.0.0.1', () => process.stderr.write(`port ${server.address().port}\n`));
