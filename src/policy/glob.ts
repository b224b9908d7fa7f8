// Name patterns for ACL rules: `*` stays within one path segment, `**` crosses segments,
// `/regex/` is taken as written (anchored), anything else is literal.

export type Matcher = (text: string) => boolean;

export function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/** The regular-expression source of a glob, unanchored. */
export function globSource(pattern: string): string {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' && pattern[i + 1] === '*') {
      source += '.*';
      i++;
    } else if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else source += escapeRegex(c);
  }
  return source;
}

export function compileGlob(pattern: string): RegExp {
  return new RegExp(`^${globSource(pattern)}$`);
}

/** A `/regex/` pattern, or null when the text is a glob. */
export function regexPattern(pattern: string): RegExp | null {
  if (pattern.length < 2 || !pattern.startsWith('/') || !pattern.endsWith('/')) return null;
  return new RegExp(`^(?:${pattern.slice(1, -1)})$`);
}

export function compilePattern(pattern: string): Matcher {
  const regex = regexPattern(pattern) ?? compileGlob(pattern);
  return (text) => regex.test(text);
}
