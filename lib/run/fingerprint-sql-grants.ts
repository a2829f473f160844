/**
 * The owners-and-grants part of the fingerprint query (lib/run/fingerprint-sql.ts), added only
 * when asked for: role names differ between servers, so it is off by default. It reads the `obj`
 * rows of the main query (their `owner` and `acl` columns).
 */

/** An ACL as "PRIVILEGE to ROLE[ with grant option], …", sorted by role and privilege. */
function aclText(acl: string): string {
  return `(SELECT string_agg(format('%s to %s%s', g.privilege_type, CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(g.grantee)::text END,
                                   CASE WHEN g.is_grantable THEN ' with grant option' ELSE '' END), ', '
                            ORDER BY CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(g.grantee)::text END COLLATE "C", g.privilege_type COLLATE "C")
          FROM aclexplode(${acl}) g)`;
}

/**
 * Owners and grants of the objects that have them (schemas, tables, views, sequences, functions,
 * types, collations, statistics, operators, event triggers; columns' grants), and the default
 * privileges (ALTER DEFAULT PRIVILEGES) for all schemas or for a listed one.
 */
export const OWNERS_AND_GRANTS = `
UNION ALL
  SELECT 'owner', o.object, o.member, pg_get_userbyid(o.owner), NULL, NULL FROM obj o WHERE o.owner IS NOT NULL
UNION ALL
  SELECT 'grant', o.object, o.member, ${aclText('o.acl')}, NULL, NULL
  FROM obj o WHERE o.acl IS NOT NULL
UNION ALL
  SELECT 'grant',
         'default privileges of ' || format('%I', pg_get_userbyid(da.defaclrole)) || coalesce(' in schema ' || format('%I', dn.nspname), '') || ' on '
           || CASE da.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences' WHEN 'f' THEN 'functions' WHEN 'T' THEN 'types' WHEN 'n' THEN 'schemas' WHEN 'L' THEN 'large objects' ELSE da.defaclobjtype::text END,
         NULL, ${aclText('da.defaclacl')}, NULL, NULL
  FROM pg_default_acl da LEFT JOIN ns dn ON dn.oid = da.defaclnamespace
  WHERE da.defaclnamespace = 0 OR dn.oid IS NOT NULL`;
