import { createHash } from 'node:crypto';

/** The tag stored in front of every checksum, so the algorithm can change without invalidating history. */
export const CHECKSUM_ALGORITHM = 'sha256';

/**
 * The text a checksum is computed over: a leading BOM removed and every CRLF or
 * lone CR turned into LF. A file re-saved with other line endings therefore
 * keeps its checksum. Only the checksum normalises: what runs is sqlAsWritten.
 */
export function normaliseSql(text: string): string {
  const withoutBom = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  return withoutBom.replace(/\r\n?/g, '\n');
}

/**
 * The text a migration runs from, as psql sends it: the file as written, line ends and all (a
 * string literal that spans a CRLF line end holds "\r\n", under psql as under pgpair), with only
 * a leading BOM removed (psql skips it too; it is no SQL).
 */
export function sqlAsWritten(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** `sha256:<hex>` of the normalised text (UTF-8). */
export function checksum(text: string): string {
  return checksumOfNormalised(normaliseSql(text));
}

/** `checksum` of text that normaliseSql has already been applied to. */
function checksumOfNormalised(normalised: string): string {
  return `${CHECKSUM_ALGORITHM}:${createHash('sha256').update(normalised, 'utf8').digest('hex')}`;
}

/** Short form for tables and messages: algorithm and the first 12 hex digits. */
export function shortChecksum(value: string | null | undefined): string {
  if (!value) return '-';
  const [algorithm, hex] = value.includes(':') ? value.split(':', 2) as [string, string] : ['?', value];
  return `${algorithm}:${hex.slice(0, 12)}`;
}
