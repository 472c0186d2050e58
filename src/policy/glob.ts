// Glob patterns for the access rules (access.ts): anchored, `*` matches any run of characters;
// a partial match is no match, unlike the unanchored regexp of kubernetes-external-secrets.
export function globToRegExp(glob: string): RegExp {
  const body = glob.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, '\\$&')).join('.*');
  return new RegExp(`^${body}$`);
}

export const matchesGlob = (glob: string, text: string): boolean => globToRegExp(glob).test(text);
