/**
 * The hunt/flows statements over the per-call tables the store fills at ingest (src/store/duckdb-calls.ts),
 * used by DuckDbHuntBackend unless it is asked for the query-time match (its reference).
 *
 * A window [since, until) reads whole hours from `call_groups` / `call_link_groups` and only the
 * partial hours at its two ends from `calls` / `call_links`, grouped the same way. Aliases, the
 * service map and `flows` work on those groups (a few rows per hour and edge), weighting every count
 * by the group's size, so they give what the per-call rows would. The search rounds read resolved
 * groups too (`hunt_group_hop`); only a group that straddles a node's arrival time is refined from its
 * single calls (frontierRowsSql).
 *
 * Parameters: $1/$2 the window, $3/$4 its whole hours (wholeHours in duckdb-backend.ts).
 */
import { GROUP_KEYS } from '../store/duckdb-calls.js'
import { ISO } from '../store/duckdb-aggregates.js'

const KEYS = GROUP_KEYS.join(', ')
const RANGE = (col: string, from: string, to: string): string =>
  `${col} >= CAST(${from} AS TIMESTAMP) AND ${col} < CAST(${to} AS TIMESTAMP)`

/** The window's call groups per hour: n, first, last and the first call's request id per group of GROUP_KEYS. */
const AGG = `date_trunc('hour', ts) AS hour, gkey, ${KEYS}, count(*) AS n, min(ts) AS first, max(ts) AS last, arg_min(request_id, ts) AS first_request_id,
  min(ts) FILTER (WHERE request_id IS NOT NULL) AS first_request_ts`
export const windowGroupsSql = (since: string, until: string, lo: string, hi: string): string => `
    SELECT hour, gkey, ${KEYS}, n, first, last, first_request_id, first_request_ts FROM call_groups WHERE ${RANGE('hour', lo, hi)}
    UNION ALL SELECT ${AGG} FROM calls WHERE ${RANGE('ts', since, lo)} GROUP BY ALL
    UNION ALL SELECT ${AGG} FROM calls WHERE ${RANGE('ts', hi, until)} GROUP BY ALL`

const windowLinksSql = `
    SELECT cli_wl, s_src_id, join_key, n FROM call_link_groups WHERE ${RANGE('hour', '$3', '$4')}
    UNION ALL SELECT cli_wl, s_src_id, join_key, count(*) FROM call_links
      WHERE ${RANGE('s_ts', '$1', '$3')} AND ${RANGE('c_ts', '$1', '$2')} AND cli_wl IS NOT NULL AND s_src_id IS NOT NULL GROUP BY ALL
    UNION ALL SELECT cli_wl, s_src_id, join_key, count(*) FROM call_links
      WHERE ${RANGE('s_ts', '$4', '$2')} AND ${RANGE('c_ts', '$1', '$2')} AND cli_wl IS NOT NULL AND s_src_id IS NOT NULL GROUP BY ALL`

const WINDOW_GROUPS = `(${windowGroupsSql('$1', '$2', '$3', '$4')})`

/** Most frequent mapping wins, ties by name (as the query-time ALIAS_SQL, with counts summed over groups). */
export const CALLS_ALIAS_SQL = `CREATE OR REPLACE TEMP TABLE hunt_alias AS
  WITH wl AS (
    SELECT alias, node, signal, n, row_number() OVER (PARTITION BY alias ORDER BY n DESC, node) AS rn FROM (
      SELECT cli_wl AS alias, s_src_id AS node, join_key || '+kubernetes' AS signal, sum(n) AS n FROM (${windowLinksSql}) GROUP BY ALL
      UNION ALL
      SELECT dst_wl, dst_id, 'kubernetes', sum(n) FROM ${WINDOW_GROUPS} WHERE dst_wl IS NOT NULL AND dst_id IS NOT NULL GROUP BY ALL))
  SELECT 'wl' AS kind, alias, node, signal FROM wl WHERE rn = 1`

export const CALLS_SERVICE_MAP_SQL = `INSERT INTO hunt_alias
  WITH resolved AS (
    SELECT g.dst_svc AS alias, coalesce(g.dst_id, a.node, g.dst_wl) AS node, g.n FROM ${WINDOW_GROUPS} g
    LEFT JOIN hunt_alias a ON a.alias = g.dst_wl WHERE g.dst_svc IS NOT NULL AND (g.dst_id IS NOT NULL OR g.dst_wl IS NOT NULL)),
  ranked AS (SELECT alias, node, row_number() OVER (PARTITION BY alias ORDER BY sum(n) DESC, node) AS rn FROM resolved GROUP BY alias, node)
  SELECT 'svc', alias, node, 'service_map' FROM ranked WHERE rn = 1`

/** Graph nodes and signals of the rows of `rel` (calls or groups), with the aliases and inventory of the window. */
export const resolveSql = (rel: string, cols: string): string => `SELECT ${cols},
    coalesce(p.src_id, sa.node, p.cli_wl, p.srv_src_wl, p.src_ip, '(unknown)') AS src,
    CASE WHEN p.src_id IS NOT NULL THEN coalesce(p.src_sig, 'certificate')
      WHEN sa.node IS NOT NULL THEN 'kubernetes+alias'
      WHEN p.cli_wl IS NOT NULL THEN CASE WHEN p.joined THEN p.join_key || '+kubernetes' ELSE 'kubernetes' END
      WHEN p.srv_src_wl IS NOT NULL THEN 'principal'
      WHEN p.src_ip IS NOT NULL THEN 'address' ELSE 'none' END AS src_signal,
    coalesce(p.dst_id, da.node, inv.identity, sm.node, p.dst_wl, p.dst_svc, p.dst_addr, '(unknown)') AS dst,
    CASE WHEN p.dst_id IS NOT NULL THEN coalesce(p.dst_sig, 'certificate')
      WHEN p.dst_wl IS NOT NULL THEN CASE WHEN p.joined THEN p.join_key || '+kubernetes' ELSE 'kubernetes' END
      WHEN inv.identity IS NOT NULL THEN 'inventory'
      WHEN sm.node IS NOT NULL THEN 'service_map'
      WHEN p.dst_svc IS NOT NULL THEN 'service'
      WHEN p.dst_addr IS NOT NULL THEN 'address' ELSE 'none' END AS dst_signal,
    p.dst_svc AS service, coalesce(p.cli_wl, p.srv_src_wl) AS src_wl
  FROM ${rel} p
  LEFT JOIN hunt_alias sa ON sa.kind = 'wl' AND sa.alias = p.cli_wl
  LEFT JOIN hunt_alias da ON da.kind = 'wl' AND da.alias = p.dst_wl
  LEFT JOIN hunt_inventory inv ON inv.service = p.dst_svc
  LEFT JOIN hunt_alias sm ON sm.kind = 'svc' AND sm.alias = p.dst_svc`

/** The window's groups per hour, resolved and sorted by source: what nodes(), the search rounds and firstSeen read. */
export const GROUP_HOP_SQL = `CREATE OR REPLACE TEMP TABLE hunt_group_hop AS
  SELECT * FROM (${resolveSql(
    WINDOW_GROUPS,
    'p.hour, p.gkey, p.n, p.first, p.last, p.first_request_id, p.first_request_ts, p.is_denied, p.blocked, p.mtls, p.findings, p.rbac_policy, p.dst_wl, p.sc, p.dc',
  )})
  ORDER BY src, hour`

/**
 * The rows a search round aggregates for frontier `f(node, since)`, as (src, dst, ts, n, ...): the
 * groups out of each frontier node with all their calls at or after its arrival as one row each, and
 * for the few groups that straddle the arrival (first call before it, last at or after), their single
 * calls at or after it. Every call of a group resolves the same, so the group's nodes and signals
 * apply to them: from `calls` only time and request id are read, found by the group's (hour, gkey).
 * $1/$2 are the analysis window.
 */
export const frontierRowsSql = `
  SELECT h.src, h.dst, h.first AS ts, h.last, h.n, h.first_request_id AS request_id, h.first_request_ts AS request_ts, h.is_denied, h.blocked,
      h.mtls, h.findings, h.rbac_policy, h.src_signal, h.dst_signal, h.service
    FROM hunt_group_hop h JOIN f ON h.src = f.node AND h.first >= f.since
  UNION ALL
  SELECT h.src, h.dst, c.ts, c.ts, 1, c.request_id, c.ts, h.is_denied, h.blocked, h.mtls, h.findings, h.rbac_policy, h.src_signal, h.dst_signal, h.service
    FROM (SELECT h.*, f.since FROM hunt_group_hop h JOIN f ON h.src = f.node AND h.first < f.since AND h.last >= f.since) h
    JOIN calls c ON c.gkey = h.gkey AND date_trunc('hour', c.ts) = h.hour AND c.ts >= h.since
    WHERE ${RANGE('c.ts', '$1', '$2')}`

/**
 * `flows` over the groups of [$1, $2) (whole hours $3, $4), resolved and filtered by `where` (over
 * src, dst, src_wl, dst_wl, dst_ns), then summed per edge: every count weighted by the group's size,
 * service and destination namespace the most frequent (as mode() over calls).
 */
export const flowsSql = (where: string, findingWhere: string, limit: string): string => `WITH
  f AS (SELECT * FROM (${resolveSql(`(${windowGroupsSql('$1', '$2', '$3', '$4')})`, 'p.*')}) h WHERE ${where}),
  e AS (SELECT src, dst, sum(n)::INTEGER AS n, min(first) AS first_seen, max(last) AS last_seen,
      list_sort(list_distinct(list(method) FILTER (WHERE method IS NOT NULL))) AS methods,
      coalesce(sum(n) FILTER (WHERE mtls), 0)::INTEGER AS mtls, coalesce(sum(n) FILTER (WHERE mtls = false), 0)::INTEGER AS plaintext,
      coalesce(sum(n) FILTER (WHERE is_denied), 0)::INTEGER AS denied,
      coalesce(list_sort(list_distinct(flatten(list(findings) FILTER (WHERE findings IS NOT NULL)))), []::VARCHAR[]) AS findings
    FROM f GROUP BY src, dst),
  sc AS (SELECT src, dst, map_from_entries(list({'k': status_class, 'v': n} ORDER BY status_class)) AS status_classes
    FROM (SELECT src, dst, status_class, sum(n) AS n FROM f GROUP BY ALL) GROUP BY src, dst),
  sg AS (SELECT src, dst, list_transform(list_reverse_sort(list({'n': n, 'k': dst_signal})), e -> e.k) AS signals
    FROM (SELECT src, dst, dst_signal, sum(n) AS n FROM f GROUP BY ALL) GROUP BY src, dst),
  sv AS (SELECT src, dst, arg_max(service, n) AS service FROM (SELECT src, dst, service, sum(n) AS n FROM f WHERE service IS NOT NULL GROUP BY ALL) GROUP BY src, dst),
  ns AS (SELECT src, dst, arg_max(dst_ns, n) AS dst_ns FROM (SELECT src, dst, dst_ns, sum(n) AS n FROM f WHERE dst_ns IS NOT NULL GROUP BY ALL) GROUP BY src, dst)
  SELECT e.src AS source, e.dst AS destination, sv.service, ns.dst_ns, e.n, ${ISO('e.first_seen')} AS first_seen,
    ${ISO('e.last_seen')} AS last_seen, e.methods, sc.status_classes, e.mtls, e.plaintext, e.denied, e.findings, sg.signals
  FROM e JOIN sc USING (src, dst) JOIN sg USING (src, dst) LEFT JOIN sv USING (src, dst) LEFT JOIN ns USING (src, dst)
  ${findingWhere}
  ORDER BY e.denied DESC, e.n DESC, source, destination LIMIT ${limit}`
