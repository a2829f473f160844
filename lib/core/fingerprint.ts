/**
 * A database schema's fingerprint and the comparison of two of them (pure). The fingerprint is
 * taken by lib/run/fingerprint.ts in one query; here it is only data: a list of objects keyed by
 * their names (never OIDs), each with a definition as the server spells it. Two databases built
 * by the same SQL on the same server give equal fingerprints; comparing two gives the
 * differences a person reads ("table public.orders: column note (text) is present in A, missing
 * in B"), sorted so that the same two fingerprints always give the same list.
 */

export type FingerprintCategory =
  | 'schema'
  | 'table'
  | 'column'
  | 'constraint'
  | 'index'
  | 'view'
  | 'function'
  | 'trigger'
  | 'sequence'
  | 'type'
  | 'extension'
  | 'policy'
  | 'rule'
  | 'statistics'
  | 'collation'
  | 'operator'
  | 'cast'
  | 'event-trigger'
  | 'comment'
  | 'owner'
  | 'grant';

/** 'enum-value': an enum whose two sides differ only by labels one side lacks (what ALTER TYPE … ADD VALUE does, and no down can undo). */
export type DifferenceCategory = FingerprintCategory | 'enum-value';

export interface FingerprintObject {
  category: FingerprintCategory;
  /** The object, by name, with the names quoted as the server's quote_ident does: 'table public.orders', 'function public.f(integer)'. */
  object: string;
  /** A part of that object ('column note', 'constraint orders_pkey', 'trigger audit'), or null for the object itself. */
  member: string | null;
  /** What it is, as the server prints it (pg_get_constraintdef, pg_get_indexdef, format_type…): compared as text. */
  definition: string;
  /** Columns: the 1-based position among the table's live columns (dropped columns are not counted). */
  position?: number;
  /** Enums: their labels in their order (the definition lists them too). */
  labels?: string[];
}

export interface Fingerprint {
  /** server_version_num of the server the fingerprint was taken on, e.g. 150004. */
  serverVersionNum: number;
  /** Sorted by key (category, object, member); no two share one. */
  objects: FingerprintObject[];
}

export type DifferenceChange = 'missing-in-a' | 'missing-in-b' | 'changed';

export interface SchemaDifference {
  category: DifferenceCategory;
  /** Readable, names only: 'table public.orders', 'index public.orders_note_idx'. */
  object: string;
  change: DifferenceChange;
  /** The definition on side A (null when A lacks it). For 'enum-value', the labels A lacks or has in addition, comma-separated. */
  a: string | null;
  b: string | null;
  /** One line a person reads: "table public.orders: column note (text) is present in B, missing in A". */
  message: string;
}

export interface SideLabels {
  a: string;
  b: string;
}

/** The key an object is matched by across two fingerprints. */
export function objectKey(o: Pick<FingerprintObject, 'category' | 'object' | 'member'>): string {
  return `${o.category}\u0000${o.object}\u0000${o.member ?? ''}`;
}

/** Plain code-unit order: the same everywhere, whatever the locale. */
export function compareText(x: string, y: string): number {
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The objects in key order, as a Fingerprint holds them. */
export function sortObjects(objects: FingerprintObject[]): FingerprintObject[] {
  return [...objects].sort((x, y) => compareText(objectKey(x), objectKey(y)));
}

const SHORT = 80;

/** A definition as one short line for a message, or null when it is too long to read there. */
function summary(definition: string): string | null {
  const line = definition.replace(/\s+/g, ' ').trim();
  return line.length <= SHORT ? line : null;
}

/** Comments, owners and grants are about an object (or a member): the message says which. */
const ABOUT: Partial<Record<FingerprintCategory, string>> = { comment: 'comment', owner: 'owner', grant: 'grants' };

function subject(o: Pick<FingerprintObject, 'category' | 'object' | 'member'>): string {
  const about = ABOUT[o.category];
  if (about !== undefined) return o.member === null ? `${o.object}: ${about}` : `${o.object}: ${about} on ${o.member}`;
  return o.member === null ? o.object : `${o.object}: ${o.member}`;
}

function presence(o: FingerprintObject, present: string, missing: string): string {
  const short = summary(o.definition);
  return `${subject(o)}${short === null || short === '' ? '' : ` (${short})`} is present in ${present}, missing in ${missing}`;
}

/** Where two long definitions first differ, as "line N: A `…`, B `…`". */
function firstDifference(a: string, b: string, labels: SideLabels): string {
  const linesA = a.split('\n');
  const linesB = b.split('\n');
  for (let i = 0; i < Math.max(linesA.length, linesB.length); i++) {
    const x = linesA[i];
    const y = linesB[i];
    if (x !== y) {
      // Both lines shown from a little before the first character that differs, so a long line shows where.
      let same = 0;
      while (x !== undefined && y !== undefined && same < x.length && x[same] === y[same]) same++;
      const from = same > SHORT / 2 ? same - 20 : 0;
      const show = (line: string | undefined) => (line === undefined ? '(no line)' : `\`${clip(line, from)}\``);
      return `first difference at line ${i + 1}: ${labels.a} ${show(x)}, ${labels.b} ${show(y)}`;
    }
  }
  return 'they differ';
}

/** At most SHORT characters of `line` from `from` on, with … where some were cut. */
function clip(line: string, from: number): string {
  const text = from > 0 ? `…${line.slice(from).trimEnd()}` : line.trim();
  return text.length <= SHORT ? text : `${text.slice(0, SHORT - 1)}…`;
}

function changed(a: FingerprintObject, b: FingerprintObject, labels: SideLabels): string {
  const shortA = summary(a.definition);
  const shortB = summary(b.definition);
  if (shortA !== null && shortB !== null) return `${subject(a)} differs: ${labels.a} has ${shortA || '(nothing)'}, ${labels.b} has ${shortB || '(nothing)'}`;
  return `${subject(a)} differs: ${firstDifference(a.definition, b.definition, labels)}`;
}

function quoteLabel(label: string): string {
  return `'${label.replace(/'/g, "''")}'`;
}

/**
 * Two enums: when one side's labels are the other's plus some more, in the same order, the
 * difference is 'enum-value' naming the labels the other side lacks; any other change of an enum
 * (a label renamed, the order changed) is a 'type' change.
 */
function enumDifferences(a: FingerprintObject, b: FingerprintObject, labels: SideLabels): SchemaDifference[] | null {
  if (a.labels === undefined || b.labels === undefined) return null;
  const inB = new Set(b.labels);
  const inA = new Set(a.labels);
  const common = (list: string[], other: Set<string>) => list.filter((l) => other.has(l));
  const commonA = common(a.labels, inB);
  const commonB = common(b.labels, inA);
  if (commonA.join('\u0000') !== commonB.join('\u0000')) return null;
  const onlyA = a.labels.filter((l) => !inB.has(l));
  const onlyB = b.labels.filter((l) => !inA.has(l));
  // Labels on both sides that the other lacks: a rename or a replacement, which a down can undo.
  if (onlyA.length > 0 && onlyB.length > 0) return null;
  const out: SchemaDifference[] = [];
  const say = (values: string[], present: string, missing: string) =>
    `${a.object}: enum value${values.length === 1 ? '' : 's'} ${values.map(quoteLabel).join(', ')} ${values.length === 1 ? 'is' : 'are'} present in ${present}, missing in ${missing}`;
  if (onlyA.length > 0) out.push({ category: 'enum-value', object: a.object, change: 'missing-in-b', a: onlyA.join(', '), b: null, message: say(onlyA, labels.a, labels.b) });
  if (onlyB.length > 0) out.push({ category: 'enum-value', object: a.object, change: 'missing-in-a', a: null, b: onlyB.join(', '), message: say(onlyB, labels.b, labels.a) });
  return out;
}

/** The tables' column order, compared among the columns both sides have (a missing column is its own difference). */
function columnOrderDifferences(a: FingerprintObject[], b: FingerprintObject[], labels: SideLabels): SchemaDifference[] {
  const byTable = (objects: FingerprintObject[]) => {
    const map = new Map<string, FingerprintObject[]>();
    for (const o of objects) {
      if (o.category !== 'column' || o.position === undefined) continue;
      const list = map.get(o.object) ?? [];
      list.push(o);
      map.set(o.object, list);
    }
    for (const list of map.values()) list.sort((x, y) => x.position! - y.position!);
    return map;
  };
  const tablesA = byTable(a);
  const tablesB = byTable(b);
  const out: SchemaDifference[] = [];
  for (const [table, columnsA] of tablesA) {
    const columnsB = tablesB.get(table);
    if (columnsB === undefined) continue;
    const namesB = new Set(columnsB.map((c) => c.member));
    const namesA = new Set(columnsA.map((c) => c.member));
    const orderA = columnsA.filter((c) => namesB.has(c.member)).map((c) => c.member!.replace(/^column /, ''));
    const orderB = columnsB.filter((c) => namesA.has(c.member)).map((c) => c.member!.replace(/^column /, ''));
    if (orderA.join('\u0000') === orderB.join('\u0000')) continue;
    const listA = orderA.join(', ');
    const listB = orderB.join(', ');
    out.push({ category: 'column', object: table, change: 'changed', a: listA, b: listB, message: `${table}: column order differs: ${labels.a} has (${listA}), ${labels.b} has (${listB})` });
  }
  return out;
}

function orderDifferences(x: SchemaDifference, y: SchemaDifference): number {
  return compareText(x.object, y.object) || compareText(x.category, y.category) || compareText(x.message, y.message);
}

/**
 * Every difference between two fingerprints, sorted by object, category and message. Empty when
 * the schemas are the same. `labels` name the two sides in the messages (default A and B).
 */
export function compareFingerprints(a: Fingerprint, b: Fingerprint, labels: SideLabels = { a: 'A', b: 'B' }): SchemaDifference[] {
  const mapA = new Map(a.objects.map((o) => [objectKey(o), o]));
  const mapB = new Map(b.objects.map((o) => [objectKey(o), o]));
  const out: SchemaDifference[] = [];
  for (const [key, oa] of mapA) {
    const ob = mapB.get(key);
    if (ob === undefined) {
      out.push({ category: oa.category, object: oa.object, change: 'missing-in-b', a: oa.definition, b: null, message: presence(oa, labels.a, labels.b) });
      continue;
    }
    if (oa.definition === ob.definition) continue;
    const enums = enumDifferences(oa, ob, labels);
    if (enums !== null) {
      out.push(...enums);
      continue;
    }
    out.push({ category: oa.category, object: oa.object, change: 'changed', a: oa.definition, b: ob.definition, message: changed(oa, ob, labels) });
  }
  for (const [key, ob] of mapB) {
    if (mapA.has(key)) continue;
    out.push({ category: ob.category, object: ob.object, change: 'missing-in-a', a: null, b: ob.definition, message: presence(ob, labels.b, labels.a) });
  }
  out.push(...columnOrderDifferences(a.objects, b.objects, labels));
  for (const d of out) d.message = printable(d.message);
  return out.sort(orderDifferences);
}

/**
 * A message as one line of printable text: a quoted identifier or an enum label may hold a line
 * break or a terminal escape, which are written as \n, \x1b… (the object and definitions keep them).
 */
function printable(message: string): string {
  return message.replace(/[\x00-\x1f\x7f]/g, (c) => (c === '\n' ? '\\n' : c === '\t' ? '\\t' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}
