import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyRewrite, rewriteKey, toUpperSnakeCase } from './rewrite.js';

describe('rewrite', () => {
  it.each([
    ['apiKey', 'API_KEY'], ['api-key', 'API_KEY'], ['api.key', 'API_KEY'], ['API_KEY', 'API_KEY'],
    ['openAIKey', 'OPEN_AI_KEY'], ['base url', 'BASE_URL'], ['__x__', 'X'],
  ])('UpperSnakeCase %s → %s', (input, out) => expect(toUpperSnakeCase(input)).toBe(out));

  it('regexp is anchored: a partial match does not rewrite', () => {
    expect(applyRewrite('openai_key', { regexp: { source: 'openai', target: 'X' } })).toBe('openai_key');
    expect(applyRewrite('openai_key', { regexp: { source: 'openai_(.*)', target: 'OPENAI_$1' } })).toBe('OPENAI_key');
  });

  it('steps apply in order', () => {
    expect(rewriteKey('apiKey', [{ prefix: 'my-' }, { transform: 'UpperSnakeCase' }])).toBe('MY_API_KEY');
  });

  it('UpperSnakeCase output is always a valid environment variable name (or empty)', () => {
    fc.assert(fc.property(fc.string(), (s) => {
      const out = toUpperSnakeCase(s);
      expect(out === '' || /^[A-Z0-9]+(_[A-Z0-9]+)*$/.test(out)).toBe(true);
    }));
  });

  it('UpperSnakeCase is idempotent', () => {
    fc.assert(fc.property(fc.string(), (s) => {
      const once = toUpperSnakeCase(s);
      expect(toUpperSnakeCase(once)).toBe(once);
    }));
  });

  it('a prefix step only prepends', () => {
    fc.assert(fc.property(fc.string(), fc.string({ minLength: 1 }), (key, prefix) => {
      expect(applyRewrite(key, { prefix })).toBe(prefix + key);
    }));
  });
});
