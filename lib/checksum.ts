import { createHash } from 'node:crypto';

/** The tag stored in front of every checksum, so the algorithm can change without invalidating history. */
export const CHECKSUM_ALGORITHM = 'sha256';

/**
 * The text a checksum is computed over and a migration is run from: a leading
 * BOM removed and every CRLF or lone CR turned into LF. A file re-saved with
 * other line endings therefore keeps its checksum.
 */
export function normaliseSql(text: string): string {
  const withoutBom = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  return withoutBom.replace(/\r\n?/g, '\n');
}

/** `sha256:<hex>` of the normalised text (UTF-8). */
export function checksum(text: string): string {
  return checksumOfNormalised(normaliseSql(text));
}

/** `checksum` of text that normaliseSql has already been applied to. */
export function checksumOfNormalised(normalised: string): string {
  return `${CHECKSUM_ALGORITHM}:${createHash('sha256').update(normalised, 'utf8').digest('hex')}`;
}

/** Short form for tables and messages: algorithm and the first 12 hex digits. */
export function shortChecksum(value: string | null | undefined): string {
  if (!value) return '-';
  const [algorithm, hex] = value.includes(':') ? value.split(':', 2) as [string, string] : ['?', value];
  return `${algorithm}:${hex.slice(0, 12)}`;
}
