/** Pure helpers for database URLs. A password never leaves this module unmasked. */

/** The URL scheme, lower-cased, without ':' (e.g. 'postgres', 'pglite'), or null. */
export function urlScheme(url: string): string | null {
  const match = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(url);
  return match ? match[1]!.toLowerCase() : null;
}

/** The password in a URL (decoded), or null. Used to scrub it from any text. */
export function urlPassword(url: string): string | null {
  try {
    const parsed = new URL(url);
    if (parsed.password) return decodeURIComponent(parsed.password);
    const fromQuery = parsed.searchParams.get('password');
    return fromQuery || null;
  } catch {
    const match = /^[a-z]+:\/\/[^:/@]*:([^@]*)@/i.exec(url);
    return match ? match[1]! : null;
  }
}

/** The URL with its password replaced by `***`, safe to print and log. */
export function maskUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    if (parsed.searchParams.has('password')) parsed.searchParams.set('password', '***');
    return parsed.toString();
  } catch {
    return url.replace(/^([a-z]+:\/\/[^:/@]*:)[^@]*@/i, '$1***@').replace(/([?&]password=)[^&]*/i, '$1***');
  }
}
