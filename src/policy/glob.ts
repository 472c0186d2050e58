// Glob patterns for the access rules (access.ts): anchored, `*` matches any run of characters;
// a partial match is no match, unlike the unanchored regexp of kubernetes-external-secrets.
export function globToRegExp(glob: string): RegExp {
  const body = glob.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, '\\$&')).join('.*');
  return new RegExp(`^${body}$`);
}

// Rules are checked on every reconcile; the patterns come from the operator's own flags, so
// the set is small and fixed, and each is compiled once.
const compiled = new Map<string, RegExp>();

export function matchesGlob(glob: string, text: string): boolean {
  let re = compiled.get(glob);
  if (!re) {
    if (compiled.size >= 1_000) compiled.clear(); // bounded, should rules ever come from elsewhere
    compiled.set(glob, (re = globToRegExp(glob)));
  }
  return re.test(text);
}
