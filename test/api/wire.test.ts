import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { namedSchemas, parseWire, violation, wire, type Wire, type WireAuditEvent, type WireRotation, type WireTokenView } from '../../src/api/wire.js';
import type { AuditEvent } from '../../src/core/audit.js';
import type { RotationRecord } from '../../src/core/rotation.js';
import type { TokenView } from '../../src/core/tokens.js';
import type { AccountKeys, AuditVerification } from '../../src/backends/token-backend.js';

// The service validates requests with ajv (fastify's options) and serialises responses through the same schemas;
// the HTTP client checks them with wire.ts's small checker. Both must accept exactly the same values.
const ajv = new Ajv({ schemas: [...namedSchemas], strict: false, allErrors: false, coerceTypes: false, useDefaults: false, removeAdditional: false });
(addFormats as unknown as (a: Ajv) => void)(ajv);

type Node = Record<string, any>;
const byRef = new Map(namedSchemas.map((s) => [`${s.$id}#`, s as Node]));
const resolve = (s: Node): Node => (s.$ref ? resolve(byRef.get(s.$ref)!) : s);

/** A value the schema accepts. */
function sample(schema: Node): unknown {
  const s = resolve(schema);
  if (s.anyOf) return sample(s.anyOf[s.anyOf.length - 1]);
  if (s.enum) return s.enum[0];
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  switch (type) {
    case 'string':
      return s.format === 'date-time' ? '2026-03-01T10:00:00.000Z' : 'x';
    case 'integer':
      return 3;
    case 'boolean':
      return true;
    case 'null':
      return null;
    case 'array':
      return [sample(s.items)];
    case 'object':
      if (s.properties) return Object.fromEntries(Object.entries(s.properties as Record<string, Node>).map(([k, v]) => [k, sample(v)]));
      return { a: sample(s.additionalProperties) };
    default:
      return 'x';
  }
}

/** The sample and values near it: each field missing, of another type, too long, an extra field, at any depth. */
function variants(schema: Node, value: unknown = sample(schema)): unknown[] {
  const s = resolve(schema);
  const out: unknown[] = [value, null, 'x', 3, 1.5, true, [], {}, '2026-13-45T99:00:00Z', 'x'.repeat(9000)];
  if (s.anyOf) for (const branch of s.anyOf) out.push(...variants(branch, sample(branch)));
  if (Array.isArray(value) && s.items) for (const v of variants(s.items, value[0])) out.push([v], [value[0], v]);
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    out.push({ ...value, extra: 'x' });
    for (const [k, v] of Object.entries(value)) {
      const { [k]: _, ...without } = value as Record<string, unknown>;
      out.push(without);
      const fieldSchema = s.properties?.[k] ?? s.additionalProperties;
      if (fieldSchema) for (const w of variants(fieldSchema, v)) out.push({ ...value, [k]: w });
    }
  }
  return out;
}

describe('the client checker accepts exactly what ajv accepts', () => {
  const schemas = [...namedSchemas.map((s) => [s.$id, s] as const), ...Object.entries(wire)];
  it.each(schemas)('%s', (_name, schema) => {
    const validate = ajv.compile({ ...(schema as object), $id: undefined });
    const values = variants(schema as Node);
    const verdicts = values.map((value) => {
      const accepted = validate(value);
      expect(violation(schema, value) === null, JSON.stringify(value)?.slice(0, 300)).toBe(accepted);
      return accepted;
    });
    expect(verdicts).toContain(true);
    expect(verdicts).toContain(false);
  });
});

it('words a violation as ajv does (the introspection fast path and the route give the same 400)', () => {
  const body = wire.introspectBody;
  expect(violation(body, {})).toBe("must have required property 'token'");
  expect(violation(body, { token: ['a', 'b'] })).toBe('/token must be string');
  expect(violation(body, { token: 'x'.repeat(8193) })).toBe('/token must NOT have more than 8192 characters');
  expect(violation(body, { token: '😀'.repeat(8192) })).toBeNull();
  expect(violation(body, { token: 'x', token_type_hint: 'y'.repeat(65) })).toBe('/token_type_hint must NOT have more than 64 characters');
  expect(violation(body, { token_type_hint: 'y'.repeat(65), token: 3 })).toBe('/token must be string');
  expect(violation(wire.createBody, { type: 'api', name: 'n', extra: 1 })).toBe('must NOT have additional properties');
});

it('parseWire returns the value typed, or undefined', () => {
  const token = sample(namedSchemas[0]);
  expect(parseWire(wire.oneToken, { token })).toEqual({ token });
  expect(parseWire(wire.oneToken, { token: { ...(token as object), createdAt: 'yesterday' } })).toBeUndefined();
  expect(parseWire(wire.identified, { token: null })).toEqual({ token: null });
});

it('the types derived from the wire schemas are the types the rest of the code uses', () => {
  expectTypeOf<WireTokenView>().toEqualTypeOf<TokenView>();
  expectTypeOf<WireRotation>().toEqualTypeOf<RotationRecord>();
  expectTypeOf<Omit<WireAuditEvent, 'action'>>().toEqualTypeOf<Omit<AuditEvent, 'action'>>();
  expectTypeOf<Wire<'accountKeys'>>().toEqualTypeOf<AccountKeys>();
  expectTypeOf<Wire<'auditVerification'>>().toEqualTypeOf<AuditVerification>();
});

/** Modules reached from `from` through static imports (not `import type`, not `await import(...)`). */
function staticImports(from: string, seen = new Set<string>()): Set<string> {
  if (seen.has(from)) return seen;
  seen.add(from);
  const source = readFileSync(from, 'utf8');
  const specifiers = [...source.matchAll(/^\s*(?:import|export)\s+(?!type\b)(?:[^'";]*?\sfrom\s+)?['"](\.[^'"]+)['"]/gm)].map((m) => m[1]!);
  for (const spec of specifiers) staticImports(path.resolve(path.dirname(from), spec.replace(/\.js$/, '.ts')), seen);
  return seen;
}

it('the CLI loads src/api only with the HTTP backend (a local `list --json` never does)', () => {
  const root = path.resolve(import.meta.dirname, '../..');
  const eager = [...staticImports(path.join(root, 'src/main.ts'))].map((f) => path.relative(root, f));
  expect(eager.length).toBeGreaterThan(10);
  expect(eager.filter((f) => f.startsWith('src/api/') || f.startsWith('src/backends/http/'))).toEqual([]);
  const http = [...staticImports(path.join(root, 'src/backends/http/select.ts'))].map((f) => path.relative(root, f));
  expect(http).toContain('src/api/wire.ts');
  // The client takes the shapes, not the server's route table (nor any validator library).
  expect(http).not.toContain('src/api/routes.ts');
  expect(readFileSync(path.join(root, 'src/api/wire.ts'), 'utf8')).not.toMatch(/from ['"](?!\.)/);
});
