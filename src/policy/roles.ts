// Which namespace may make the operator assume which role. Pure. Patterns match the WHOLE ARN
// (anchored; `*` matches any run of characters): a partial match is no match, unlike the
// unanchored regexp of kubernetes-external-secrets.
export interface RoleRule {
  /** Namespace names or glob patterns (`team-*`). */
  namespaces: string[];
  /** Role ARN glob patterns. */
  roles: string[];
}

export function globToRegExp(glob: string): RegExp {
  const body = glob.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, '\\$&')).join('.*');
  return new RegExp(`^${body}$`);
}

export const matchesGlob = (glob: string, text: string): boolean => globToRegExp(glob).test(text);

export type RoleDecision = { allowed: true } | { allowed: false; why: string };

/**
 * Decides whether `namespace` may assume `roleArn`.
 * - With rules: some rule must match both the namespace and the role.
 * - Without rules: a role on top of the operator's own identity is refused (a tenant must not
 *   borrow the operator's trust); a role reached through the namespace's own ServiceAccount is
 *   allowed, because IAM's trust policy checks it.
 */
export function decideRole(rules: readonly RoleRule[] | undefined, namespace: string, roleArn: string, viaServiceAccount: boolean): RoleDecision {
  if (!rules || rules.length === 0) {
    return viaServiceAccount
      ? { allowed: true }
      : { allowed: false, why: `role ${roleArn} is not permitted: no role rules are configured, and roles on top of the operator's own identity need one` };
  }
  const ok = rules.some((r) => r.namespaces.some((n) => matchesGlob(n, namespace)) && r.roles.some((p) => matchesGlob(p, roleArn)));
  return ok ? { allowed: true } : { allowed: false, why: `role ${roleArn} is not permitted for namespace ${namespace} by the operator's role rules` };
}

/** Parses the rules file/flag: JSON `[{"namespaces": [...], "roles": [...]}]`. Throws on bad input. */
export function parseRoleRules(text: string): RoleRule[] {
  const parsed: unknown = JSON.parse(text);
  if (!Array.isArray(parsed)) throw new Error('role rules must be a JSON array');
  return parsed.map((r, i) => {
    const rule = r as Partial<RoleRule>;
    const strings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string' && x.length > 0);
    if (!strings(rule.namespaces) || !strings(rule.roles)) {
      throw new Error(`role rule ${i}: needs non-empty string arrays "namespaces" and "roles"`);
    }
    return { namespaces: rule.namespaces!, roles: rule.roles! };
  });
}
