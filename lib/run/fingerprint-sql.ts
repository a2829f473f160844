/**
 * The one query that takes a schema fingerprint: every object as a JSON row built on the server
 * from pg_catalog, returned as one text value. Parameters: $1 the history table's schema (null:
 * the current schema), $2 the history table, $3 its log, $4 the log's guard function — pgpair's
 * own objects, which are left out.
 *
 * What the server prints depends on session settings the user did not write into a migration:
 * format_type and pg_get_*def qualify a name only when the search_path does not find it, constants
 * in defaults print by DateStyle, TimeZone, IntervalStyle, extra_float_digits. The query sets them
 * to fixed values (transaction-local) before it reads the catalog and sets them back to what they
 * were as its last step, so the fingerprint is the same from any session, also inside a
 * transaction. Lists inside a definition are ordered with COLLATE "C", never by the database's
 * collation. Catalog columns that not every supported version has (12–18) are read only where
 * the server has them (`since`).
 */

import { OWNERS_AND_GRANTS } from './fingerprint-sql-grants.js';

/** Settings pinned while the fingerprint is read, with their fixed values. */
const PINNED: readonly (readonly [string, string])[] = [
  ['search_path', ''],
  ['DateStyle', 'ISO, MDY'],
  ['IntervalStyle', 'postgres'],
  ['TimeZone', 'UTC'],
  ['extra_float_digits', '1'],
  ['bytea_output', 'hex'],
  ['quote_all_identifiers', 'off'],
];

export interface FingerprintSqlOptions {
  serverVersionNum: number;
  ownersAndGrants: boolean;
}

/** Text for a catalog column or expression that exists from `version` on; `otherwise` before. */
function since(serverVersionNum: number, version: number, text: string, otherwise: string): string {
  return serverVersionNum >= version ? text : otherwise;
}

const SYSTEM_SCHEMAS = `n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%'`;

/** Relation kinds as a word that starts an object's name. */
const REL_WORD = `CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'f' THEN 'foreign table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence' WHEN 'i' THEN 'index' WHEN 'I' THEN 'index' WHEN 'c' THEN 'type' ELSE 'relation' END`;

/** A collation's name (schema-qualified unless in pg_catalog), never its provider or locale: those are the server's. */
function collationName(oid: string): string {
  return `(SELECT CASE WHEN cn.nspname = 'pg_catalog' THEN format('%I', co.collname) ELSE format('%I.%I', cn.nspname, co.collname) END
           FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace WHERE co.oid = ${oid})`;
}

function objectsSql(v: number): string {
  const compression = since(v, 140000, `|| CASE WHEN a.attcompression <> '' THEN ' COMPRESSION ' || CASE a.attcompression WHEN 'p' THEN 'pglz' WHEN 'l' THEN 'lz4' ELSE a.attcompression::text END ELSE '' END`, '');
  const generated = since(v, 180000, `CASE a.attgenerated WHEN 's' THEN ' STORED' ELSE ' VIRTUAL' END`, `' STORED'`);
  const clonedTrigger = since(v, 130000, 'AND g.tgparentid = 0', '');
  return `
ext_member AS (SELECT d.classid, d.objid FROM pg_depend d WHERE d.deptype = 'e'),
ns AS (
  SELECT n.oid, n.nspname, n.nspowner AS owner, n.nspacl AS acl FROM pg_namespace n
  WHERE ${SYSTEM_SCHEMAS}
    AND NOT EXISTS (SELECT 1 FROM ext_member e WHERE e.classid = 'pg_catalog.pg_namespace'::regclass AND e.objid = n.oid)
),
rel AS (
  SELECT c.oid, c.relname, c.relkind, c.relpersistence, c.relispartition,
         -- In one order whatever order the options were set in (an ALTER … SET adds, RESET removes).
         (SELECT array_agg(o ORDER BY o COLLATE "C") FROM unnest(c.reloptions) AS u(o)) AS reloptions, c.relowner AS owner, c.relacl AS acl,
         c.relrowsecurity, c.relforcerowsecurity, c.relispopulated, c.relam, n.nspname,
         ${REL_WORD} || ' ' || format('%I.%I', n.nspname, c.relname) AS object
  FROM pg_class c JOIN ns n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S', 'i', 'I')
    AND NOT EXISTS (SELECT 1 FROM ext_member e WHERE e.classid = 'pg_catalog.pg_class'::regclass AND e.objid = c.oid)
    AND NOT (n.nspname = (SELECT nsp FROM own) AND c.relname IN ((SELECT history FROM own), (SELECT log FROM own)))
),
tab AS (SELECT * FROM rel WHERE relkind IN ('r', 'p', 'f')),
obj AS (
  SELECT 'pg_catalog.pg_namespace'::regclass AS classid, n.oid AS objid, 0 AS subid, 'schema' AS category, 'schema ' || format('%I', n.nspname) AS object,
         NULL::text AS member, '' AS definition, NULL::int AS position, NULL::text[] AS labels, n.owner, n.acl
  FROM ns n
UNION ALL
  SELECT 'pg_catalog.pg_class'::regclass, t.oid, 0, 'table', t.object, NULL,
         concat_ws(', ',
           CASE WHEN t.relkind = 'p' THEN 'partitioned by ' || pg_get_partkeydef(t.oid) END,
           CASE WHEN t.relispartition THEN 'partition of ' || (
             SELECT format('%I.%I', pn.nspname, pc.relname) || ' ' || pg_get_expr(c.relpartbound, c.oid)
             FROM pg_inherits i JOIN pg_class pc ON pc.oid = i.inhparent JOIN pg_namespace pn ON pn.oid = pc.relnamespace JOIN pg_class c ON c.oid = t.oid
             WHERE i.inhrelid = t.oid) END,
           CASE WHEN NOT t.relispartition THEN (
             SELECT 'inherits ' || string_agg(format('%I.%I', pn.nspname, pc.relname), ', ' ORDER BY i.inhseqno)
             FROM pg_inherits i JOIN pg_class pc ON pc.oid = i.inhparent JOIN pg_namespace pn ON pn.oid = pc.relnamespace
             WHERE i.inhrelid = t.oid) END,
           CASE t.relpersistence WHEN 'u' THEN 'unlogged' END,
           (SELECT 'using ' || am.amname FROM pg_am am WHERE am.oid = t.relam AND am.amname <> 'heap'),
           CASE WHEN t.reloptions IS NOT NULL THEN 'with (' || array_to_string(t.reloptions, ', ') || ')' END),
         NULL, NULL, t.owner, t.acl
  FROM tab t
UNION ALL
  SELECT 'pg_catalog.pg_class'::regclass, a.attrelid, a.attnum, 'column', t.object, 'column ' || format('%I', a.attname),
         format_type(a.atttypid, a.atttypmod)
         || CASE WHEN a.attcollation <> 0 AND a.attcollation <> ty.typcollation THEN ' COLLATE ' || ${collationName('a.attcollation')} ELSE '' END
         || CASE a.attidentity WHEN 'a' THEN ' GENERATED ALWAYS AS IDENTITY' WHEN 'd' THEN ' GENERATED BY DEFAULT AS IDENTITY' ELSE '' END
         || CASE WHEN a.attidentity <> '' THEN coalesce((
              SELECT format(' (%s START %s INCREMENT %s MINVALUE %s MAXVALUE %s CACHE %s%s)', format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, CASE WHEN s.seqcycle THEN ' CYCLE' ELSE '' END)
              FROM pg_depend d JOIN pg_sequence s ON s.seqrelid = d.objid
              WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = a.attrelid AND d.refobjsubid = a.attnum AND d.deptype = 'i'), '') ELSE '' END
         || CASE WHEN a.attgenerated <> '' THEN ' GENERATED ALWAYS AS (' || pg_get_expr(ad.adbin, ad.adrelid) || ')' || ${generated}
                 WHEN ad.adbin IS NOT NULL THEN ' DEFAULT ' || pg_get_expr(ad.adbin, ad.adrelid) ELSE '' END
         || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
         -- From 18 a NOT NULL is a constraint that may be NOT VALID (attnotnull is set all the same); its name is left out.
         || CASE WHEN a.attnotnull AND EXISTS (SELECT 1 FROM pg_constraint nn WHERE nn.conrelid = a.attrelid AND nn.contype = 'n' AND nn.conkey = ARRAY[a.attnum] AND NOT nn.convalidated) THEN ' NOT VALID' ELSE '' END
         || CASE WHEN a.attstorage <> ty.typstorage THEN ' STORAGE ' || CASE a.attstorage WHEN 'p' THEN 'plain' WHEN 'e' THEN 'external' WHEN 'm' THEN 'main' WHEN 'x' THEN 'extended' ELSE a.attstorage::text END ELSE '' END
         ${compression},
         (row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum))::int, NULL, NULL, a.attacl
  FROM tab t JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
  JOIN pg_type ty ON ty.oid = a.atttypid
  LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
UNION ALL
  SELECT 'pg_catalog.pg_constraint'::regclass, k.oid, 0, 'constraint', coalesce(t.object, dom.object), 'constraint ' || format('%I', k.conname),
         pg_get_constraintdef(k.oid, true), NULL, NULL, NULL, NULL
  FROM pg_constraint k
  LEFT JOIN tab t ON t.oid = k.conrelid
  LEFT JOIN (SELECT ty.oid, 'type ' || format('%I.%I', n.nspname, ty.typname) AS object FROM pg_type ty JOIN ns n ON n.oid = ty.typnamespace WHERE ty.typtype = 'd') dom ON dom.oid = k.contypid
  WHERE (t.oid IS NOT NULL OR dom.oid IS NOT NULL) AND k.contype <> 'n'
UNION ALL
  SELECT 'pg_catalog.pg_class'::regclass, i.oid, 0, 'index', i.object, NULL,
         pg_get_indexdef(i.oid) || CASE WHEN x.indisvalid THEN '' ELSE ' (invalid)' END, NULL, NULL, NULL, NULL
  FROM rel i JOIN pg_index x ON x.indexrelid = i.oid JOIN rel t ON t.oid = x.indrelid
  WHERE i.relkind IN ('i', 'I')
UNION ALL
  SELECT 'pg_catalog.pg_class'::regclass, w.oid, 0, 'view', w.object, NULL,
         concat_ws(' ', CASE WHEN w.reloptions IS NOT NULL THEN 'WITH (' || array_to_string(w.reloptions, ', ') || ')' END,
                   CASE WHEN w.relkind = 'm' AND NOT w.relispopulated THEN '(not populated)' END)
         || CASE WHEN w.reloptions IS NOT NULL OR (w.relkind = 'm' AND NOT w.relispopulated) THEN E'\\n' ELSE '' END
         || pg_get_viewdef(w.oid, true), NULL, NULL, w.owner, w.acl
  FROM rel w WHERE w.relkind IN ('v', 'm')
UNION ALL
  SELECT 'pg_catalog.pg_class'::regclass, s.oid, 0, 'sequence', s.object, NULL,
         format('%s START %s INCREMENT %s MINVALUE %s MAXVALUE %s CACHE %s%s', format_type(q.seqtypid, NULL), q.seqstart, q.seqincrement, q.seqmin, q.seqmax, q.seqcache, CASE WHEN q.seqcycle THEN ' CYCLE' ELSE '' END)
         || CASE s.relpersistence WHEN 'u' THEN ' UNLOGGED' ELSE '' END
         || coalesce((SELECT ' OWNED BY ' || format('%I.%I.%I', on_.nspname, oc.relname, oa.attname)
                      FROM pg_depend d JOIN pg_class oc ON oc.oid = d.refobjid JOIN pg_namespace on_ ON on_.oid = oc.relnamespace
                      JOIN pg_attribute oa ON oa.attrelid = d.refobjid AND oa.attnum = d.refobjsubid
                      WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = s.oid AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.deptype = 'a'), ''),
         NULL, NULL, s.owner, s.acl
  FROM rel s JOIN pg_sequence q ON q.seqrelid = s.oid
  WHERE s.relkind = 'S'
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = s.oid AND d.deptype = 'i')
UNION ALL
  SELECT 'pg_catalog.pg_proc'::regclass, p.oid, 0, 'function',
         CASE p.prokind WHEN 'p' THEN 'procedure ' WHEN 'a' THEN 'aggregate ' ELSE 'function ' END
           || format('%I.%I', n.nspname, p.proname) || '(' || oidvectortypes(p.proargtypes) || ')',
         NULL,
         CASE WHEN p.prokind = 'a' THEN (
           SELECT format('aggregate returns %s: sfunc %s, stype %s, finalfunc %s, combinefunc %s, initcond %s, kind %s',
                         format_type(p.prorettype, NULL), ag.aggtransfn::regprocedure, format_type(ag.aggtranstype, NULL), ag.aggfinalfn::regprocedure,
                         ag.aggcombinefn::regprocedure, coalesce(ag.agginitval, '-'), ag.aggkind)
           FROM pg_aggregate ag WHERE ag.aggfnoid = p.oid)
         ELSE pg_get_functiondef(p.oid) END,
         NULL, NULL, p.proowner, p.proacl
  FROM pg_proc p JOIN ns n ON n.oid = p.pronamespace
  WHERE NOT EXISTS (SELECT 1 FROM ext_member e WHERE e.classid = 'pg_catalog.pg_proc'::regclass AND e.objid = p.oid)
    -- A range type's constructors come with it (an internal dependency): the type stands for them.
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'i')
    AND NOT (n.nspname = (SELECT nsp FROM own) AND p.proname = (SELECT guard FROM own) AND p.pronargs = 0)
UNION ALL
  SELECT 'pg_catalog.pg_trigger'::regclass, g.oid, 0, 'trigger', t.object, 'trigger ' || format('%I', g.tgname),
         pg_get_triggerdef(g.oid, true) || CASE g.tgenabled WHEN 'O' THEN '' WHEN 'D' THEN ' (disabled)' WHEN 'R' THEN ' (enabled on replica)' WHEN 'A' THEN ' (enabled always)' ELSE '' END,
         NULL, NULL, NULL, NULL
  FROM pg_trigger g JOIN rel t ON t.oid = g.tgrelid
  WHERE NOT g.tgisinternal ${clonedTrigger}
UNION ALL
  SELECT 'pg_catalog.pg_class'::regclass, t.oid, -1, 'policy', t.object, 'row level security',
         CASE WHEN t.relforcerowsecurity THEN 'enabled, forced' ELSE 'enabled' END, NULL, NULL, NULL, NULL
  FROM tab t WHERE t.relrowsecurity OR t.relforcerowsecurity
UNION ALL
  SELECT 'pg_catalog.pg_policy'::regclass, po.oid, 0, 'policy', t.object, 'policy ' || format('%I', po.polname),
         concat_ws(' ',
           CASE WHEN po.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END,
           'FOR ' || CASE po.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
           'TO ' || (SELECT string_agg(CASE WHEN r.rid = 0 THEN 'PUBLIC' ELSE format('%I', ro.rolname) END, ', ' ORDER BY CASE WHEN r.rid = 0 THEN 'PUBLIC' ELSE ro.rolname::text END COLLATE "C")
                     FROM unnest(po.polroles) AS r(rid) LEFT JOIN pg_roles ro ON ro.oid = r.rid),
           'USING (' || pg_get_expr(po.polqual, po.polrelid) || ')',
           'WITH CHECK (' || pg_get_expr(po.polwithcheck, po.polrelid) || ')'),
         NULL, NULL, NULL, NULL
  FROM pg_policy po JOIN tab t ON t.oid = po.polrelid
UNION ALL
  SELECT 'pg_catalog.pg_type'::regclass, ty.oid, 0, 'type', 'type ' || format('%I.%I', n.nspname, ty.typname), NULL,
         CASE ty.typtype
           WHEN 'e' THEN 'enum (' || coalesce((SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = ty.oid), '') || ')'
           WHEN 'd' THEN 'domain over ' || format_type(ty.typbasetype, ty.typtypmod)
             || CASE WHEN ty.typcollation <> 0 AND ty.typcollation <> (SELECT b.typcollation FROM pg_type b WHERE b.oid = ty.typbasetype) THEN ' COLLATE ' || ${collationName('ty.typcollation')} ELSE '' END
             || CASE WHEN ty.typdefaultbin IS NOT NULL THEN ' DEFAULT ' || pg_get_expr(ty.typdefaultbin, 0) ELSE '' END
             || CASE WHEN ty.typnotnull THEN ' NOT NULL' ELSE '' END
           WHEN 'c' THEN 'composite (' || coalesce((
             SELECT string_agg(format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY a.attnum)
             FROM pg_attribute a WHERE a.attrelid = ty.typrelid AND a.attnum > 0 AND NOT a.attisdropped), '') || ')'
           WHEN 'r' THEN (
             SELECT 'range of ' || format_type(rg.rngsubtype, NULL)
               || CASE WHEN rg.rngcollation <> 0 AND rg.rngcollation <> (SELECT st.typcollation FROM pg_type st WHERE st.oid = rg.rngsubtype) THEN ' collation ' || ${collationName('rg.rngcollation')} ELSE '' END
               || ' opclass ' || (SELECT format('%I', oc.opcname) FROM pg_opclass oc WHERE oc.oid = rg.rngsubopc)
               || CASE WHEN rg.rngcanonical <> 0 THEN ' canonical ' || rg.rngcanonical::regprocedure::text ELSE '' END
               || CASE WHEN rg.rngsubdiff <> 0 THEN ' subtype_diff ' || rg.rngsubdiff::regprocedure::text ELSE '' END
               ${since(v, 140000, `|| ' multirange ' || format_type(rg.rngmultitypid, NULL)`, '')}
             FROM pg_range rg WHERE rg.rngtypid = ty.oid)
           ELSE 'base type, input ' || ty.typinput::regprocedure::text || ', output ' || ty.typoutput::regprocedure::text || ', length ' || ty.typlen
         END,
         NULL,
         CASE WHEN ty.typtype = 'e' THEN ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = ty.oid ORDER BY e.enumsortorder) END,
         ty.typowner, ty.typacl
  FROM pg_type ty JOIN ns n ON n.oid = ty.typnamespace
  WHERE ty.typtype IN ('e', 'd', 'c', 'r', 'b') AND ty.typisdefined
    AND NOT EXISTS (SELECT 1 FROM ext_member e WHERE e.classid = 'pg_catalog.pg_type'::regclass AND e.objid = ty.oid)
    AND NOT EXISTS (SELECT 1 FROM pg_type arr WHERE arr.typarray = ty.oid)
    AND (ty.typtype <> 'c' OR EXISTS (SELECT 1 FROM pg_class tc WHERE tc.oid = ty.typrelid AND tc.relkind = 'c'))
UNION ALL
  -- Views' columns are in their definitions; listed only so that their comments and grants are.
  SELECT 'pg_catalog.pg_class'::regclass, a.attrelid, a.attnum, 'view-column', w.object, 'column ' || format('%I', a.attname), '', NULL, NULL, NULL, a.attacl
  FROM rel w JOIN pg_attribute a ON a.attrelid = w.oid AND a.attnum > 0 AND NOT a.attisdropped
  WHERE w.relkind IN ('v', 'm')
UNION ALL
  SELECT 'pg_catalog.pg_rewrite'::regclass, r.oid, 0, 'rule', t.object, 'rule ' || format('%I', r.rulename),
         pg_get_ruledef(r.oid, true) || CASE r.ev_enabled WHEN 'O' THEN '' WHEN 'D' THEN ' (disabled)' WHEN 'R' THEN ' (enabled on replica)' WHEN 'A' THEN ' (enabled always)' ELSE '' END,
         NULL, NULL, NULL, NULL
  FROM pg_rewrite r JOIN rel t ON t.oid = r.ev_class
  WHERE r.rulename <> '_RETURN'
UNION ALL
  SELECT 'pg_catalog.pg_statistic_ext'::regclass, st.oid, 0, 'statistics', 'statistics ' || format('%I.%I', n.nspname, st.stxname), NULL,
         pg_get_statisticsobjdef(st.oid), NULL, NULL, st.stxowner, NULL
  FROM pg_statistic_ext st JOIN ns n ON n.oid = st.stxnamespace JOIN rel t ON t.oid = st.stxrelid
UNION ALL
  SELECT 'pg_catalog.pg_collation'::regclass, co.oid, 0, 'collation', 'collation ' || format('%I.%I', n.nspname, co.collname), NULL,
         concat_ws(', ',
           'provider ' || CASE co.collprovider WHEN 'c' THEN 'libc' WHEN 'i' THEN 'icu' WHEN 'b' THEN 'builtin' ELSE co.collprovider::text END,
           'lc_collate ' || co.collcollate, 'lc_ctype ' || co.collctype,
           ${since(v, 170000, `'locale ' || co.colllocale`, since(v, 150000, `'locale ' || co.colliculocale`, 'NULL'))},
           ${since(v, 160000, `'rules ' || co.collicurules`, 'NULL')},
           CASE WHEN NOT co.collisdeterministic THEN 'nondeterministic' END),
         NULL, NULL, co.collowner, NULL
  FROM pg_collation co JOIN ns n ON n.oid = co.collnamespace
  WHERE NOT EXISTS (SELECT 1 FROM ext_member e WHERE e.classid = 'pg_catalog.pg_collation'::regclass AND e.objid = co.oid)
UNION ALL
  SELECT 'pg_catalog.pg_operator'::regclass, op.oid, 0, 'operator',
         'operator ' || format('%I.%s', n.nspname, op.oprname) || '(' || coalesce(format_type(nullif(op.oprleft, 0), NULL), 'NONE') || ', ' || format_type(op.oprright, NULL) || ')', NULL,
         concat_ws(', ', 'function ' || op.oprcode::regprocedure::text, 'returns ' || format_type(op.oprresult, NULL),
           CASE WHEN op.oprcom <> 0 THEN 'commutator ' || op.oprcom::regoperator::text END, CASE WHEN op.oprnegate <> 0 THEN 'negator ' || op.oprnegate::regoperator::text END,
           CASE WHEN op.oprrest <> 0 THEN 'restrict ' || op.oprrest::regproc::text END, CASE WHEN op.oprjoin <> 0 THEN 'join ' || op.oprjoin::regproc::text END,
           CASE WHEN op.oprcanhash THEN 'hashes' END, CASE WHEN op.oprcanmerge THEN 'merges' END),
         NULL, NULL, op.oprowner, NULL
  FROM pg_operator op JOIN ns n ON n.oid = op.oprnamespace
  WHERE NOT EXISTS (SELECT 1 FROM ext_member e WHERE e.classid = 'pg_catalog.pg_operator'::regclass AND e.objid = op.oid)
UNION ALL
  -- Casts belong to no schema: the user's are those made after initdb (oid 16384 on) and by no extension.
  SELECT 'pg_catalog.pg_cast'::regclass, ca.oid, 0, 'cast', 'cast (' || format_type(ca.castsource, NULL) || ' AS ' || format_type(ca.casttarget, NULL) || ')', NULL,
         concat_ws(', ', CASE ca.castmethod WHEN 'f' THEN 'with function ' || ca.castfunc::regprocedure::text WHEN 'i' THEN 'with inout' ELSE 'without function' END,
           CASE ca.castcontext WHEN 'i' THEN 'implicit' WHEN 'a' THEN 'in assignment' ELSE 'explicit' END),
         NULL, NULL, NULL, NULL
  FROM pg_cast ca
  WHERE ca.oid >= 16384
    AND NOT EXISTS (SELECT 1 FROM ext_member e WHERE e.classid = 'pg_catalog.pg_cast'::regclass AND e.objid = ca.oid)
    -- A range type's cast to its multirange comes with it.
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_catalog.pg_cast'::regclass AND d.objid = ca.oid AND d.deptype = 'i')
UNION ALL
  SELECT 'pg_catalog.pg_event_trigger'::regclass, et.oid, 0, 'event-trigger', 'event trigger ' || format('%I', et.evtname), NULL,
         concat_ws(' ', 'ON ' || et.evtevent, CASE WHEN et.evttags IS NOT NULL THEN 'WHEN TAG IN (' || array_to_string(et.evttags, ', ') || ')' END,
           'EXECUTE FUNCTION ' || et.evtfoid::regprocedure::text,
           CASE et.evtenabled WHEN 'O' THEN NULL WHEN 'D' THEN '(disabled)' WHEN 'R' THEN '(enabled on replica)' WHEN 'A' THEN '(enabled always)' END),
         NULL, NULL, et.evtowner, NULL
  FROM pg_event_trigger et
  WHERE NOT EXISTS (SELECT 1 FROM ext_member e WHERE e.classid = 'pg_catalog.pg_event_trigger'::regclass AND e.objid = et.oid)
UNION ALL
  SELECT 'pg_catalog.pg_extension'::regclass, x.oid, 0, 'extension', 'extension ' || format('%I', x.extname), NULL,
         'version ' || x.extversion || ', schema ' || format('%I', xn.nspname), NULL, NULL, NULL, NULL
  FROM pg_extension x JOIN pg_namespace xn ON xn.oid = x.extnamespace
)`;
}

/**
 * The fingerprint query: one row, column `body` (a JSON array of {c, o, m, d, p, l}: category,
 * object, member, definition, position, labels), then the restored settings.
 */
export function fingerprintSql(options: FingerprintSqlOptions): string {
  const before = PINNED.map(([name], i) => `current_setting('${name}') AS s${i}`).join(', ');
  const pin = PINNED.map(([name, value], i) => `set_config('${name}', '${value}', true) AS p${i}`).join(', ');
  const restore = PINNED.map(([name], i) => `set_config('${name}', settings.s${i}, true) AS r${i}`).join(', ');
  return `SELECT fp.body, ${restore}
FROM (SELECT before.*, ${pin} FROM (SELECT current_schema() AS current_nsp, ${before} OFFSET 0) AS before OFFSET 0) AS settings
CROSS JOIN LATERAL (
  WITH own AS (SELECT coalesce($1::text, settings.current_nsp)::name AS nsp, $2::text::name AS history, $3::text::name AS log, $4::text::name AS guard),
  ${objectsSql(options.serverVersionNum).trimStart()},
  listed AS (
    SELECT o.category AS c, o.object AS o, o.member AS m, o.definition AS d, o.position AS p, o.labels AS l FROM obj o WHERE o.category <> 'view-column'
  UNION ALL
    SELECT 'comment', o.object, o.member, ds.description, NULL, NULL
    FROM obj o JOIN pg_description ds ON ds.classoid = o.classid AND ds.objoid = o.objid AND ds.objsubid = o.subid
    WHERE o.subid >= 0${options.ownersAndGrants ? OWNERS_AND_GRANTS : ''}
  )
  SELECT coalesce(json_agg(listed), '[]')::text AS body FROM listed WHERE settings.p0 IS NOT NULL
) AS fp`;
}
