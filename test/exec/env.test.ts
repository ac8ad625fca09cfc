import { describe, expect, it } from 'vitest';
import { defaultVariableFor, parseTokenBinding } from '../../src/exec/env.js';
import { mintOpaqueToken } from '../../src/secrets/opaque.js';

describe('--token bindings', () => {
  it.each([
    ['ci-deploy', { ref: 'ci-deploy' }],
    ['ci-deploy=API_TOKEN', { ref: 'ci-deploy', variable: 'API_TOKEN' }],
    ['tok_abc=_x1', { ref: 'tok_abc', variable: '_x1' }],
    ['a=b=C', { ref: 'a=b', variable: 'C' }],
  ])('%s', (spec, expected) => {
    expect(parseTokenBinding(spec)).toEqual(expected);
  });

  it.each(['=X', 'ci=1X', 'ci=A-B', 'ci='])('refuses %s', (spec) => {
    expect(() => parseTokenBinding(spec)).toThrow(/variable|token name/);
  });

  it('refuses a value where a name belongs, without echoing it', () => {
    const value = mintOpaqueToken('s2s');
    for (const spec of [`ci=${value}`, `${value}=X`]) {
      let message = '';
      try {
        parseTokenBinding(spec);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toMatch(/never a value/);
      expect(message).not.toContain(value.slice(0, 16));
    }
  });

  it('derives TOKENCTL_<NAME> from the token name', () => {
    expect(defaultVariableFor('default')).toBe('TOKENCTL_DEFAULT');
    expect(defaultVariableFor('ci deploy-2')).toBe('TOKENCTL_CI_DEPLOY_2');
    expect(defaultVariableFor('Café.prod')).toBe('TOKENCTL_CAF__PROD');
  });
});
