import { describe, expect, it } from 'vitest';
import { decideGenerate, decideRole, decideSecret, parseAccessRules } from './access.js';

const roles = [{ namespaces: ['team-a'], roles: ['arn:aws:iam::111111111111:role/team-a'] }, { namespaces: ['ml-*'], roles: ['arn:aws:iam::222222222222:role/llm-*'] }];

describe('decideRole', () => {
  it.each([
    ['team-a', 'arn:aws:iam::111111111111:role/team-a', true],
    ['team-a', 'arn:aws:iam::111111111111:role/team-a-admin', false],
    ['team-a', 'xarn:aws:iam::111111111111:role/team-a', false],
    ['team-b', 'arn:aws:iam::111111111111:role/team-a', false],
    ['ml-prod', 'arn:aws:iam::222222222222:role/llm-reader', true],
    ['ml-prod', 'arn:aws:iam::333333333333:role/llm-reader', false],
    ['xml-prod', 'arn:aws:iam::222222222222:role/llm-reader', false],
  ])('namespace %s, role %s → %s (anchored)', (ns, role, allowed) => {
    expect(decideRole(roles, ns, role, false).allowed).toBe(allowed);
  });

  it('without role rules: refuses roles on the operator identity, allows them through a ServiceAccount', () => {
    expect(decideRole([], 'a', 'arn:aws:iam::111111111111:role/x', false).allowed).toBe(false);
    expect(decideRole([{ namespaces: ['*'], secrets: ['*'] }], 'a', 'arn:aws:iam::111111111111:role/x', false).allowed).toBe(false);
    expect(decideRole([], 'a', 'arn:aws:iam::111111111111:role/x', true).allowed).toBe(true);
  });

  it('regexp metacharacters in patterns are literal', () => {
    expect(decideRole([{ namespaces: ['a.b'], roles: ['*'] }], 'axb', 'r', false).allowed).toBe(false);
  });
});

describe('decideSecret (the operator identity, deny by default)', () => {
  const own = [{ namespaces: ['*'], secrets: ['${namespace}/*', 'arn:aws:secretsmanager:us-east-1:111111111111:secret:${namespace}/*'] }];
  it.each([
    ['team-a', 'team-a/openai', true],
    ['team-a', 'team-a/nested/key', true],
    ['team-a', 'team-b/openai', false],
    ['team-a', 'team-a-evil/openai', false],
    ['team-a-evil', 'team-a/openai', false],
    ['team-a', 'team-a', false],
    ['team-a', '/team-a/openai', false],
    ['team-a', 'arn:aws:secretsmanager:us-east-1:111111111111:secret:team-a/openai-AbCdEf', true],
    ['team-a', 'arn:aws:secretsmanager:us-east-1:111111111111:secret:team-b/openai-AbCdEf', false],
    ['team-a', 'arn:aws:secretsmanager:us-east-1:111111111111:secret:team-b/openai', false],
    ['team-a', 'arn:aws:secretsmanager:us-east-1:999999999999:secret:team-b/x', false],
  ])('namespace %s reads %s → %s', (ns, id, allowed) => {
    expect(decideSecret(own, ns, id).allowed).toBe(allowed);
  });

  it('no rules: nothing', () => {
    const d = decideSecret([], 'team-a', 'team-a/openai');
    expect(d.allowed).toBe(false);
    expect(d.allowed ? '' : d.why).toMatch(/not permitted for namespace team-a/);
  });

  it('a name pattern matches the name part of an ARN (with its suffix); an ARN pattern never matches a bare name', () => {
    const names = [{ namespaces: ['team-a'], secrets: ['team-a/openai*'] }];
    expect(decideSecret(names, 'team-a', 'arn:aws:secretsmanager:eu-west-1:1:secret:team-a/openai-AbCdEf').allowed).toBe(true);
    expect(decideSecret([{ namespaces: ['team-a'], secrets: ['team-a/openai'] }], 'team-a', 'arn:aws:secretsmanager:eu-west-1:1:secret:team-a/openai-AbCdEf').allowed).toBe(false);
    expect(decideSecret([{ namespaces: ['team-a'], secrets: ['arn:*'] }], 'team-a', 'team-a/openai').allowed).toBe(false);
  });

  it('role-only rules grant no secrets', () => {
    expect(decideSecret(roles, 'team-a', 'team-a/openai').allowed).toBe(false);
  });
});

describe('parseAccessRules', () => {
  it('accepts old role-rules documents as they are, and secrets rules', () => {
    expect(parseAccessRules('[{"namespaces":["a"],"roles":["r"]}]')).toEqual([{ namespaces: ['a'], roles: ['r'] }]);
    expect(parseAccessRules('[{"namespaces":["*"],"secrets":["${namespace}/*"]}]')).toEqual([{ namespaces: ['*'], secrets: ['${namespace}/*'] }]);
  });

  it.each([
    ['{"namespaces":[]}', /array/],
    ['[{"namespaces":["a"]}]', /"secrets", "roles" or "generate"/],
    ['[{"namespaces":[],"secrets":["x"]}]', /namespaces/],
    ['[{"namespaces":["a"],"secrets":[]}]', /"secrets" must be/],
    ['[{"namespaces":["a"],"secret":["x"]}]', /unknown field secret/],
  ])('refuses %s', (text, error) => {
    expect(() => parseAccessRules(text)).toThrow(error);
  });
});

describe('decideGenerate', () => {
  const rules = [{ namespaces: ['team-a'], generate: ['bedrockApiKey'] }, { namespaces: ['ml-*'], generate: ['*'] }, { namespaces: ['*'], secrets: ['*'], roles: ['*'] }];
  it.each([
    ['team-a', 'bedrockApiKey', true],
    ['team-a', 'awsCredentials', false],
    ['ml-prod', 'awsCredentials', true],
    ['team-b', 'bedrockApiKey', false],
  ] as const)('%s may generate %s: %s (secrets and roles grants do not count)', (ns, kind, allowed) => {
    expect(decideGenerate(rules, ns, kind, 'role').allowed).toBe(allowed);
  });

  it('parses generate grants, refusing unknown kinds', () => {
    expect(parseAccessRules('[{"namespaces":["a"],"generate":["bedrockApiKey","*"]}]')).toEqual([{ namespaces: ['a'], generate: ['bedrockApiKey', '*'] }]);
    expect(() => parseAccessRules('[{"namespaces":["a"],"generate":["openai"]}]')).toThrow(/"generate" takes bedrockApiKey, awsCredentials or \*/);
  });
});
