import { describe, expect, it } from 'vitest';
import { decideRole, parseRoleRules } from './roles.js';

const rules = [{ namespaces: ['team-a'], roles: ['arn:aws:iam::111111111111:role/team-a'] }, { namespaces: ['ml-*'], roles: ['arn:aws:iam::222222222222:role/llm-*'] }];

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
    expect(decideRole(rules, ns, role, false).allowed).toBe(allowed);
  });

  it('without rules: refuses roles on the operator identity, allows them through a ServiceAccount', () => {
    expect(decideRole(undefined, 'a', 'arn:aws:iam::111111111111:role/x', false).allowed).toBe(false);
    expect(decideRole([], 'a', 'arn:aws:iam::111111111111:role/x', true).allowed).toBe(true);
  });

  it('regexp metacharacters in patterns are literal', () => {
    expect(decideRole([{ namespaces: ['a.b'], roles: ['*'] }], 'axb', 'r', false).allowed).toBe(false);
  });

  it('parses and validates rules', () => {
    expect(parseRoleRules('[{"namespaces":["a"],"roles":["r"]}]')).toHaveLength(1);
    expect(() => parseRoleRules('{"namespaces":[]}')).toThrow(/array/);
    expect(() => parseRoleRules('[{"namespaces":["a"]}]')).toThrow(/roles/);
  });
});
