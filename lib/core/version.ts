/**
 * Migration versions are strings of ASCII digits of any length. They compare
 * numerically, and leading zeros do not make a different version. They are
 * never converted to a number: 20-digit versions would lose precision.
 */

/** The canonical key of a version: its digits without leading zeros ("0" for all zeros). */
export function versionKey(version: string): string {
  const stripped = version.replace(/^0+/, '');
  return stripped === '' ? '0' : stripped;
}

/** Numeric comparison of two digit strings: negative, zero or positive. */
export function compareVersions(a: string, b: string): number {
  const ka = versionKey(a);
  const kb = versionKey(b);
  if (ka.length !== kb.length) return ka.length - kb.length;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

export function isVersion(text: string): boolean {
  return /^[0-9]+$/.test(text);
}
