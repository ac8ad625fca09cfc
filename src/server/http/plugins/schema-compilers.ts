import type { FastifySchemaValidationError } from 'fastify';
import { CHECKED_KEYWORDS, declaredOnly, firstViolation } from '../../../api/wire.js';

/**
 * The service's schema compilers for fastify: request bodies and parameters are checked, and responses written, by
 * walking their JSON schemas (src/api/wire.ts, the checker the CLI reads answers with), not by code generated per
 * schema.
 *
 * Why not fastify's defaults (Ajv for validation, fast-json-stringify for responses): both generate a function per
 * schema, and once a process holds fastify's routes together with that generated code, every request of every
 * server in it costs 3 to 5 µs more (bench/ceiling.mjs: a bare node:http POST handler beside 45 routes with
 * Ajv-compiled body schemas took 25.3 µs of CPU per request; beside the same routes with a walking validator, 20.2
 * µs; alone, 22.0 µs). Introspection shares the process with the API, and costs about 20 µs a request in all. The
 * schemas are small and the API's traffic is light: walking them costs the API nothing it would notice.
 *
 * A schema with a keyword the checker does not know is refused when the route is built, so that a new keyword can
 * never be silently ignored.
 */
function checkKeywords(schema: unknown, where: string): void {
  if (typeof schema !== 'object' || schema === null) return;
  for (const [key, value] of Object.entries(schema)) {
    if (!CHECKED_KEYWORDS.has(key)) throw new Error(`the schema at ${where} uses '${key}', which the checker in src/api/wire.ts does not know`);
    if (key === 'properties') for (const [name, sub] of Object.entries(value as Record<string, unknown>)) checkKeywords(sub, `${where}/properties/${name}`);
    else if (key === 'items' || key === 'additionalProperties') checkKeywords(value, `${where}/${key}`);
    else if (key === 'anyOf') (value as unknown[]).forEach((sub, i) => checkKeywords(sub, `${where}/anyOf/${i}`));
  }
}

/** fastify's validatorCompiler: true, or false with `errors` as Ajv's (the first one), which the error handler words. */
export function validatorCompiler({ schema, url, httpPart }: { schema: unknown; url: string; httpPart?: string }) {
  checkKeywords(schema, `${url} ${httpPart ?? ''}`.trim());
  const validate = Object.assign(
    (data: unknown): boolean => {
      const v = firstViolation(schema, data);
      validate.errors = v === null ? null : [{ instancePath: v.path, message: v.message, keyword: '', schemaPath: '', params: {} }];
      return v === null;
    },
    { errors: null as FastifySchemaValidationError[] | null },
  );
  return validate;
}

/** fastify's serializerCompiler: the JSON of what the response schema declares, nothing else. */
export function serializerCompiler({ schema, url }: { schema: unknown; url: string }) {
  checkKeywords(schema, `${url} response`);
  return (data: unknown): string => JSON.stringify(declaredOnly(schema, data));
}
