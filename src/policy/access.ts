// The access-rules document: which namespace may reach which secret with the operator's own
// identity, and which role through spec.auth.roleArn. Deny by default. Pure. Patterns match the
// WHOLE text (anchored; `*` matches any run of characters, `/` included); `${namespace}` in a
// secret pattern stands for the resource's namespace, so one rule can give every namespace its
// own prefix: {"namespaces": ["*"], "secrets": ["${namespace}/*"]}.
import { matchesGlob } from './glob.js';

export interface AccessRule {
  /** Namespace names or patterns (`team-*`). */
  namespaces: string[];
  /** Role ARN patterns the namespaces may assume through spec.auth.roleArn. */
  roles?: string[];
  /** Secret name or ARN patterns the namespaces may read with the operator's own identity. */
  secrets?: string[];
  /**
   * Kinds of key the namespaces may have the operator generate (spec.generate) from a session it
   * holds: the --generator-role (no spec.auth), or a spec.auth.roleArn on top of the operator's
   * identity (which also needs a roles grant). `bedrockApiKey`, `awsCredentials` or `*`.
   */
  generate?: string[];
}

export const GENERATE_KINDS = ['bedrockApiKey', 'awsCredentials'] as const;
export type GenerateKind = (typeof GENERATE_KINDS)[number];

export type Decision = { allowed: true } | { allowed: false; why: string };

const NAMESPACE_VARIABLE = '${namespace}';

/**
 * Whether `namespace` may read `secretId` with the operator's own identity. A name pattern
 * (`team-a/*`) matches a name, or the name part of an ARN (which carries AWS's 6-character
 * suffix: `team-a/openai` does not match `...:secret:team-a/openai-AbCdEf`, `team-a/openai*`
 * does); an ARN pattern (`arn:...`) matches only an ARN.
 */
export function decideSecret(rules: readonly AccessRule[], namespace: string, secretId: string): Decision {
  const arn = secretId.startsWith('arn:');
  const name = arn ? nameOfArn(secretId) : secretId;
  const ok = rules.some((r) => r.secrets && r.namespaces.some((n) => matchesGlob(n, namespace)) && r.secrets.some((raw) => {
    const pattern = raw.split(NAMESPACE_VARIABLE).join(namespace);
    if (pattern.startsWith('arn:')) return arn && matchesGlob(pattern, secretId);
    return name !== undefined && matchesGlob(pattern, name);
  }));
  return ok ? { allowed: true } : {
    allowed: false,
    why: `secret ${secretId} is not permitted for namespace ${namespace}: no access rule grants it to resources without spec.auth (the operator's own identity)`,
  };
}

/**
 * Whether `namespace` may assume `roleArn`. Through the namespace's own ServiceAccount a role
 * needs no rule (IAM's trust policy checks it); on top of the operator's identity it does.
 */
export function decideRole(rules: readonly AccessRule[], namespace: string, roleArn: string, viaServiceAccount: boolean): Decision {
  const withRoles = rules.filter((r) => r.roles);
  if (withRoles.length === 0 && viaServiceAccount) return { allowed: true };
  const ok = withRoles.some((r) => r.namespaces.some((n) => matchesGlob(n, namespace)) && r.roles!.some((p) => matchesGlob(p, roleArn)));
  if (ok) return { allowed: true };
  return {
    allowed: false,
    why: withRoles.length === 0
      ? `role ${roleArn} is not permitted: no access rule names roles, and roles on top of the operator's own identity need one`
      : `role ${roleArn} is not permitted for namespace ${namespace} by the operator's access rules`,
  };
}

/**
 * Whether `namespace` may have the operator generate a key of `kind` from a session the operator
 * holds. Handing out what a role mints is more than using the role to read a secret, so a roles
 * grant alone does not allow it. Through the namespace's own ServiceAccount no grant is needed:
 * the namespace can reach that role itself, and IAM decides.
 */
export function decideGenerate(rules: readonly AccessRule[], namespace: string, kind: GenerateKind, via: 'generator-role' | 'role'): Decision {
  const ok = rules.some((r) => r.generate && r.namespaces.some((n) => matchesGlob(n, namespace)) && r.generate.some((k) => k === '*' || k === kind));
  if (ok) return { allowed: true };
  return {
    allowed: false,
    why: `generating ${kind} is not permitted for namespace ${namespace}: no access rule grants it ("generate": ["${kind}"]) for ${via === 'role' ? 'a role assumed with the operator\'s identity' : 'resources without spec.auth'}`,
  };
}

/** The name part of a secret ARN (arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME). */
function nameOfArn(arn: string): string | undefined {
  const m = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]*:\d*:secret:(.+)$/.exec(arn);
  return m?.[1];
}

/** Parses the rules document: a JSON array of rules. Old role-rules documents are valid as they are. */
export function parseAccessRules(text: string): AccessRule[] {
  const parsed: unknown = JSON.parse(text);
  if (!Array.isArray(parsed)) throw new Error('access rules must be a JSON array of {"namespaces": [...], "secrets": [...], "roles": [...]}');
  const strings = (v: unknown) => Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string' && x.length > 0);
  return parsed.map((r, i) => {
    const rule = (r ?? {}) as Record<string, unknown>;
    const unknown = Object.keys(rule).filter((k) => !['namespaces', 'roles', 'secrets', 'generate'].includes(k));
    if (unknown.length) throw new Error(`rule ${i}: unknown field ${unknown.join(', ')} (fields: namespaces, secrets, roles, generate)`);
    if (!strings(rule.namespaces)) throw new Error(`rule ${i}: "namespaces" must be a non-empty array of names or patterns`);
    if (rule.roles === undefined && rule.secrets === undefined && rule.generate === undefined) throw new Error(`rule ${i}: needs "secrets", "roles" or "generate"`);
    for (const field of ['roles', 'secrets', 'generate'] as const) {
      if (rule[field] !== undefined && !strings(rule[field])) throw new Error(`rule ${i}: "${field}" must be a non-empty array of patterns`);
    }
    const badKind = ((rule.generate ?? []) as string[]).find((k) => k !== '*' && !(GENERATE_KINDS as readonly string[]).includes(k));
    if (badKind !== undefined) throw new Error(`rule ${i}: "generate" takes ${GENERATE_KINDS.join(', ')} or *, not "${badKind}"`);
    return {
      namespaces: rule.namespaces as string[],
      ...(rule.roles ? { roles: rule.roles as string[] } : {}),
      ...(rule.secrets ? { secrets: rule.secrets as string[] } : {}),
      ...(rule.generate ? { generate: rule.generate as string[] } : {}),
    };
  });
}
