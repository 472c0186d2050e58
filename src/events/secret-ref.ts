// Which secret an identifier names, in a form two identifiers can be compared in: a region, an
// account when the identifier says so, and the candidate names. A secret is named by its name,
// its full ARN (name + "-" + 6 random characters) or a partial ARN (no suffix); from an ARN alone
// the suffix cannot always be told apart from the end of a name, so both readings are candidates.
// Matching errs on the side of a match: a false match costs one change check, a missed one a
// stale Secret until the next poll.

export interface SecretRef {
  region: string;
  /** Set when the identifier is an ARN. */
  account?: string;
  /** Candidate secret names. */
  names: string[];
}

const ARN = /^arn:aws[a-z-]*:secretsmanager:([a-z0-9-]+):(\d{12}):secret:(.+)$/;
const SUFFIX = /-[A-Za-z0-9]{6}$/;

/** `id` as a resource or an event names it; a plain name lives in `region`. */
export function refOf(id: string, region: string): SecretRef {
  const m = ARN.exec(id);
  if (!m) return { region, names: [id] };
  const name = m[3]!;
  return { region: m[1]!, account: m[2]!, names: SUFFIX.test(name) ? [name, name.replace(SUFFIX, '')] : [name] };
}

/** Both could name the same secret. */
export function sameSecret(a: SecretRef, b: SecretRef): boolean {
  if (a.region !== b.region) return false;
  if (a.account !== undefined && b.account !== undefined && a.account !== b.account) return false;
  return a.names.some((n) => b.names.includes(n));
}

/** region|name keys of a ref, for indexes. */
export const refKeys = (r: SecretRef): string[] => r.names.map((n) => `${r.region}|${n}`);
