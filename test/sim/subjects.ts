/**
 * NATS subject rules for the simulated bus: dot-separated tokens, `*` matching one token and `>`
 * one or more trailing tokens in subscriptions. Kept apart from the bus so the rules can be
 * tested on their own.
 */

/** Why `subject` cannot be published to, or undefined when it can. */
export function badPublishSubject(subject: string): string | undefined {
  const tokens = subject.split('.');
  if (subject.length === 0 || tokens.some((t) => t.length === 0)) return `empty token in subject "${subject}"`;
  if (tokens.some((t) => t === '*' || t === '>')) return `wildcard in publish subject "${subject}"`;
  if (/\s/.test(subject)) return `whitespace in subject "${subject}"`;
  return undefined;
}

/** Why `pattern` cannot be subscribed to, or undefined when it can. */
export function badSubscribeSubject(pattern: string): string | undefined {
  const tokens = pattern.split('.');
  if (pattern.length === 0 || tokens.some((t) => t.length === 0)) return `empty token in subject "${pattern}"`;
  if (/\s/.test(pattern)) return `whitespace in subject "${pattern}"`;
  const full = tokens.indexOf('>');
  if (full !== -1 && full !== tokens.length - 1) return `">" must be the last token in "${pattern}"`;
  return undefined;
}

export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    const token = p[i]!;
    if (token === '>') return s.length > i;
    if (i >= s.length) return false;
    if (token !== '*' && token !== s[i]) return false;
  }
  return p.length === s.length;
}
