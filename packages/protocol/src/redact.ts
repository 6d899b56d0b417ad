/**
 * A URL fit for logs and error messages: a password (or a token in the user part) is
 * replaced by `***`. Anything that does not parse as a URL is replaced whole.
 */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (!u.username && !u.password) return url;
    if (u.password) u.password = '***';
    else u.username = '***';
    return u.toString();
  } catch {
    return '***';
  }
}
