/**
 * The per-call tables of the embedded store, filled at ingest so `hunt` and `flows` do not rebuild
 * calls from raw lines at query time (docs/hunt.md, "Stores"):
 * - `call_links`: one row per match between a client sidecar's line and a server sidecar's line:
 *   same x-request-id, or (both without one) the same socket (client upstream_local_address = server
 *   downstream_remote_address); the client's chosen endpoint is the server's local address when both
 *   are known; the two start within five minutes. Apps propagate x-request-id down a call chain, so
 *   the id alone would join different hops. Across an east-west gateway the client dialled the
 *   gateway, so there the request id, the destination service and the lines' clusters match them
 *   (eastWestCandidatesSql); the gateway's passthrough line is matched to the server line too, so
 *   it is no call of its own.
 * - `calls`: one row per call. A server line gives one row per matched client line (the client's
 *   workload, address and peer certificate fill what the server line lacks) or one row alone; a
 *   server line whose certificates name both ends takes nothing from a client; a client line with no
 *   matching server line is a call of its own. Timed by the server line when there is one.
 * - `call_groups`: calls grouped per hour by every fact `flows`, the search and the identity resolution
 *   read, with count, first/last time and the first call's request id, so a wide `flows` or hunt reads
 *   a few rows per hour and edge.
 * - `call_link_groups`: link counts per hour and (client workload, server's peer certificate), what the
 *   `namespace/workload` → SPIFFE ID aliases are learned from.
 *
 * A batch is matched against the lines stored within five minutes of it (and itself) when it is
 * stored: the later of a call's two lines makes the link, whichever batch it comes in. The rows of
 * every line a batch touched (its own lines and their partners) are deleted and computed again from
 * the links, which upgrades a client line stored alone before its server line arrived, and makes a
 * replayed batch change nothing. The groups of every (hour, group) whose calls changed are recomputed
 * from `calls`. The same SQL over the whole events table is the backfill (stores written before these
 * tables, bulk loads). test/store/duckdb-calls.test.ts checks both against the query-time match in
 * src/hunt/duckdb-backend.ts for any split of the lines into batches and any batch order.
 */
import type { DuckDBConnection } from '@duckdb/node-api'
import { DENIED_LINE, RECORD_CLUSTERS, UNREACHED_FLAGS_LIST } from './duckdb-aggregates.js'
import { appendRows } from './duckdb-appender.js'

/** Seconds between a call's client and server line start times beyond which they are not one call. */
export const MATCH_WINDOW_S = 300
const MATCH_WINDOW_MS = MATCH_WINDOW_S * 1000

const WORKLOAD = (ns: string, name: string): string =>
  `CASE WHEN ${ns} IS NOT NULL AND ${name} IS NOT NULL THEN ${ns} || '/' || ${name} END`
const SERVER = `coalesce(reporter = 'destination', false)`
/**
 * A gateway's line of a stream it passes through by SNI without terminating it (an east-west gateway,
 * AUTO_PASSTHROUGH; Istio's SNI `outbound_.PORT_._.FQDN`): not a call of its own but a leg of the call
 * the server sidecar logged, whose downstream socket is the gateway's upstream one.
 */
export const GATEWAY_PASSTHROUGH = `coalesce(reporter = 'gateway' AND starts_with(requested_server_name, 'outbound_.'), false)`
const DST_SVC = `CASE WHEN dst_service IS NULL THEN NULL WHEN dst_namespace IS NULL OR contains(dst_service, '.') THEN dst_service
      ELSE dst_service || '.' || dst_namespace END`
/** The clusters a stored line names (RECORD_CLUSTERS: [its proxy's, the source's, the destination's]). */
export const LINE_CLUSTERS = RECORD_CLUSTERS
/**
 * A line's source and destination cluster: each end's from the peer metadata, else the proxy's own
 * cluster for the end it runs beside (the server sidecar is the destination, any other the source).
 */
export const LINE_SOURCE_CLUSTER = `coalesce(src_cluster, CASE WHEN reporter IS DISTINCT FROM 'destination' THEN cluster END)`
export const LINE_DESTINATION_CLUSTER = `coalesce(dst_cluster, CASE WHEN reporter = 'destination' THEN cluster END)`
/**
 * Client line clusters `c`, server line clusters `s` (LINE_CLUSTERS lists): each names the other's
 * cluster as its peer's, and they are different clusters (the call crossed an east-west gateway).
 */
export const CROSSES = (c: string, s: string): string => `${c}[3] = ${s}[1] AND ${s}[2] = ${c}[1] AND ${c}[1] <> ${s}[1]`
const CLIENT_WL = `coalesce(${WORKLOAD('src_namespace', 'coalesce(src_workload, src_service_account)')}, ${WORKLOAD('k8s_namespace', 'coalesce(k8s_app, k8s_pod)')})`

/** The narrow columns that match a client line to a server line, and the facts a match carries over. */
const KEY_COLUMNS = `id, ts, ${SERVER} AS srv, request_id,
    CASE WHEN ${SERVER} THEN downstream_remote_address ELSE upstream_local_address END AS sock,
    CASE WHEN ${SERVER} THEN downstream_local_address ELSE upstream_host END AS ep,
    ${CLIENT_WL} AS cli_wl, coalesce(source_ip, source_address) AS src_ip, dst_spiffe_id AS dst_id, dst_signal AS dst_sig,
    src_spiffe_id AS src_id, ${GATEWAY_PASSTHROUGH} AS gw, ${DST_SVC} AS dst_svc`

/** With LINE_COLUMNS, what matchSql reads. */
const PAIRING_COLUMNS = `CASE WHEN ${SERVER} THEN downstream_remote_address ELSE upstream_local_address END AS sock,
    CASE WHEN ${SERVER} THEN downstream_local_address ELSE upstream_host END AS ep, ${CLIENT_WL} AS cli_wl, ${GATEWAY_PASSTHROUGH} AS gw`

/** Everything a call row needs from one line, either side. */
const LINE_COLUMNS = `id, ts, ${SERVER} AS srv, request_id, mtls, method, status_code, protocol,
    coalesce(${DENIED_LINE}, false) AS is_denied,
    coalesce(${DENIED_LINE}, false) OR coalesce(list_has_any(response_flags, ${UNREACHED_FLAGS_LIST}), false) OR coalesce(status_code IN (401, 403), false) AS blocked,
    CASE WHEN len(finding_codes) > 0 THEN finding_codes END AS findings, rbac_policy,
    src_spiffe_id AS src_id, src_signal AS src_sig,
    CASE WHEN ${SERVER} THEN ${WORKLOAD('src_namespace', 'src_service_account')} ELSE ${CLIENT_WL} END AS src_wl,
    coalesce(source_ip, source_address) AS src_ip, dst_spiffe_id AS dst_id, dst_signal AS dst_sig,
    CASE WHEN ${SERVER} THEN coalesce(${WORKLOAD('k8s_namespace', 'coalesce(k8s_app, k8s_pod)')}, ${WORKLOAD('dst_namespace', 'dst_workload')}) END AS dst_wl,
    ${DST_SVC} AS dst_svc,
    dst_namespace AS dst_ns, ${LINE_SOURCE_CLUSTER} AS sc, ${LINE_DESTINATION_CLUSTER} AS dc,
    coalesce(destination_domain, requested_server_name, destination_address, upstream_host) AS dst_addr`

/** The call facts a group is keyed by: what identity resolution and the `flows` aggregates read. */
export const GROUP_KEYS = [
  'joined',
  'join_key',
  'src_id',
  'src_sig',
  'cli_wl',
  'srv_src_wl',
  'src_ip',
  'dst_id',
  'dst_sig',
  'dst_wl',
  'dst_svc',
  'dst_ns',
  'dst_addr',
  'is_denied',
  'blocked',
  'mtls',
  'method',
  'status_class',
  'findings',
  'rbac_policy',
  'sc',
  'dc',
] as const

/** The store's STATUS_CLASS (same buckets as `flows` prints). */
const STATUS_CLASS = `CASE
  WHEN protocol = 'tcp' OR (coalesce(status_code, 0) = 0 AND method IS NULL) THEN 'tcp'
  WHEN status_code BETWEEN 100 AND 599 THEN (status_code // 100)::VARCHAR || 'xx'
  ELSE 'none' END`

export function callsDdl(): string[] {
  return [
    `CREATE TABLE IF NOT EXISTS call_links (crid VARCHAR NOT NULL, srid VARCHAR NOT NULL, c_ts TIMESTAMP NOT NULL, s_ts TIMESTAMP NOT NULL,
      join_key VARCHAR NOT NULL, cli_wl VARCHAR, c_ip VARCHAR, c_dst_id VARCHAR, c_dst_sig VARCHAR, s_src_id VARCHAR)`,
    `CREATE TABLE IF NOT EXISTS calls (srid VARCHAR, crid VARCHAR, ts TIMESTAMP NOT NULL, joined BOOLEAN NOT NULL, join_key VARCHAR NOT NULL,
      request_id VARCHAR, src_id VARCHAR, src_sig VARCHAR, cli_wl VARCHAR, srv_src_wl VARCHAR, src_ip VARCHAR, dst_id VARCHAR, dst_sig VARCHAR,
      dst_wl VARCHAR, dst_svc VARCHAR, dst_ns VARCHAR, dst_addr VARCHAR, is_denied BOOLEAN NOT NULL, blocked BOOLEAN NOT NULL, mtls BOOLEAN,
      method VARCHAR, status_code INTEGER, protocol VARCHAR, status_class VARCHAR NOT NULL, findings VARCHAR[], rbac_policy VARCHAR, sc VARCHAR, dc VARCHAR,
      gkey UBIGINT NOT NULL)`,
    `CREATE TABLE IF NOT EXISTS call_groups (hour TIMESTAMP NOT NULL, gkey UBIGINT NOT NULL, joined BOOLEAN NOT NULL, join_key VARCHAR NOT NULL,
      src_id VARCHAR, src_sig VARCHAR, cli_wl VARCHAR, srv_src_wl VARCHAR, src_ip VARCHAR, dst_id VARCHAR, dst_sig VARCHAR, dst_wl VARCHAR,
      dst_svc VARCHAR, dst_ns VARCHAR, dst_addr VARCHAR, is_denied BOOLEAN NOT NULL, blocked BOOLEAN NOT NULL, mtls BOOLEAN, method VARCHAR,
      status_class VARCHAR NOT NULL, findings VARCHAR[], rbac_policy VARCHAR, sc VARCHAR, dc VARCHAR, n BIGINT NOT NULL, first TIMESTAMP NOT NULL, last TIMESTAMP NOT NULL,
      first_request_id VARCHAR, first_request_ts TIMESTAMP)`,
    `CREATE TABLE IF NOT EXISTS call_link_groups (hour TIMESTAMP NOT NULL, cli_wl VARCHAR NOT NULL, s_src_id VARCHAR NOT NULL, join_key VARCHAR NOT NULL, n BIGINT NOT NULL)`,
  ]
}

/**
 * The version of the match the call tables were built with (store_meta `call_tables_version`): a store
 * whose tables an older one built gets them rebuilt once when a writer opens it. 2: calls across an
 * east-west gateway are one call (client and server line matched by request id, service and clusters),
 * and a gateway's passthrough line is no call of its own. 3: every call and group carries its source
 * and destination cluster (`sc`, `dc`), which `flows` read from the stored lines before.
 */
export const CALLS_VERSION = '3'

/** The tables callsDdl creates, for the store's "written before these existed" check. */
export const CALL_TABLES = ['call_links', 'calls', 'call_groups', 'call_link_groups'] as const

/**
 * Matches between client lines `c` and server lines `s` (relations with KEY_COLUMNS), restricted by
 * `extra`; `ew` holds the (crid, srid) pairs of calls across an east-west gateway (eastWestPairsSql).
 * A gateway's passthrough line is matched to the server line by the gateway's upstream socket, with
 * no client workload (join_key 'gateway'): the match only keeps it from standing as a call of its own.
 */
const matchSql = (c: string, s: string, extra: string, ew: string): string => `
  SELECT c.id AS crid, s.id AS srid, c.ts AS c_ts, s.ts AS s_ts, 'request_id' AS join_key, c.cli_wl, c.src_ip AS c_ip,
      c.dst_id AS c_dst_id, c.dst_sig AS c_dst_sig, s.src_id AS s_src_id
    FROM ${c} c JOIN ${s} s ON c.request_id = s.request_id
    WHERE NOT c.gw AND (c.ep IS NULL OR s.ep IS NULL OR c.ep = s.ep) AND abs(epoch(c.ts) - epoch(s.ts)) <= ${MATCH_WINDOW_S} AND ${extra}
  UNION ALL
  SELECT c.id, s.id, c.ts, s.ts, 'socket', c.cli_wl, c.src_ip, c.dst_id, c.dst_sig, s.src_id
    FROM ${c} c JOIN ${s} s ON c.sock = s.sock
    WHERE NOT c.gw AND c.request_id IS NULL AND s.request_id IS NULL AND (c.ep IS NULL OR s.ep IS NULL OR c.ep = s.ep)
      AND abs(epoch(c.ts) - epoch(s.ts)) <= ${MATCH_WINDOW_S} AND ${extra}
  UNION ALL
  SELECT c.id, s.id, c.ts, s.ts, 'request_id', c.cli_wl, c.src_ip, c.dst_id, c.dst_sig, s.src_id
    FROM ${ew} x JOIN ${c} c ON c.id = x.crid JOIN ${s} s ON s.id = x.srid WHERE ${extra}
  UNION ALL
  SELECT c.id, s.id, c.ts, s.ts, 'gateway', NULL, c.src_ip, c.dst_id, c.dst_sig, s.src_id
    FROM ${c} c JOIN ${s} s ON c.sock = s.sock
    WHERE c.gw AND (c.ep IS NULL OR s.ep IS NULL OR c.ep = s.ep) AND abs(epoch(c.ts) - epoch(s.ts)) <= ${MATCH_WINDOW_S} AND ${extra}`

/**
 * Client and server lines of one request id and destination service whose endpoints differ (the client
 * dialled a gateway, the server saw it as its downstream): the calls that may have crossed an east-west
 * gateway. `c`/`s` have id (named `idCol`), ts, request_id, ep, gw and dst_svc.
 */
export const eastWestCandidatesSql = (c: string, s: string, extra: string, idCol = 'id'): string => `
  SELECT c.${idCol} AS crid, s.${idCol} AS srid FROM ${c} c JOIN ${s} s ON c.request_id = s.request_id
  WHERE NOT c.gw AND c.ep <> s.ep AND c.dst_svc = s.dst_svc AND abs(epoch(c.ts) - epoch(s.ts)) <= ${MATCH_WINDOW_S} AND ${extra}`

/**
 * The candidates `cand` (crid, srid) whose two lines name each other's cluster (CROSSES), the
 * candidates' lines read from `events` where `range`.
 */
export const eastWestPairsSql = (cand: string, range: string): string => `
  WITH cl AS (SELECT id, ${LINE_CLUSTERS} AS cl FROM events
    WHERE ${range} AND id IN (SELECT crid FROM ${cand} UNION ALL SELECT srid FROM ${cand}))
  SELECT x.crid, x.srid FROM ${cand} x JOIN cl c ON c.id = x.crid JOIN cl s ON s.id = x.srid WHERE ${CROSSES('c.cl', 's.cl')}`

const CALL_COLUMNS = `srid, crid, ts, joined, join_key, request_id, src_id, src_sig, cli_wl, srv_src_wl, src_ip, dst_id, dst_sig, dst_wl, dst_svc,
  dst_ns, dst_addr, is_denied, blocked, mtls, method, status_code, protocol, status_class, findings, rbac_policy, sc, dc`

/**
 * Call rows for the lines in `lines` (a relation with LINE_COLUMNS) from the links in `links`: the
 * same three cases as the query-time PAIR_SQL. `clientAlone` excludes client lines with any link.
 */
const callRowsSql = (lines: string, links: string): string => `SELECT ${CALL_COLUMNS}, hash(${GROUP_KEYS.join(', ')}) AS gkey FROM (
  SELECT *, ${STATUS_CLASS} AS status_class FROM (
  SELECT s.id AS srid, NULL::VARCHAR AS crid, s.ts, false AS joined, 'none' AS join_key, s.request_id, s.src_id, s.src_sig, NULL::VARCHAR AS cli_wl,
    s.src_wl AS srv_src_wl, s.src_ip, s.dst_id, s.dst_sig, s.dst_wl, s.dst_svc, s.dst_ns, s.dst_addr, s.is_denied, s.blocked,
    s.mtls, s.method, s.status_code, s.protocol, s.findings, s.rbac_policy, s.sc, s.dc
  FROM ${lines} s WHERE s.srv AND s.src_id IS NOT NULL AND s.dst_id IS NOT NULL
  UNION ALL
  SELECT s.id, m.crid, s.ts, m.srid IS NOT NULL, coalesce(m.join_key, 'none'), s.request_id, s.src_id, s.src_sig, m.cli_wl, s.src_wl,
    coalesce(m.c_ip, s.src_ip), coalesce(s.dst_id, m.c_dst_id), CASE WHEN s.dst_id IS NOT NULL THEN s.dst_sig ELSE m.c_dst_sig END,
    s.dst_wl, s.dst_svc, s.dst_ns, s.dst_addr, s.is_denied, s.blocked, s.mtls, s.method, s.status_code, s.protocol, s.findings, s.rbac_policy,
    s.sc, s.dc
  FROM ${lines} s LEFT JOIN ${links} m ON m.srid = s.id AND m.join_key <> 'gateway' WHERE s.srv AND (s.src_id IS NULL OR s.dst_id IS NULL)
  UNION ALL
  SELECT NULL, c.id, c.ts, false, 'none', c.request_id, c.src_id, c.src_sig, c.src_wl, NULL, c.src_ip, c.dst_id, c.dst_sig,
    NULL, c.dst_svc, c.dst_ns, c.dst_addr, c.is_denied, c.blocked, c.mtls, c.method, c.status_code, c.protocol, c.findings, c.rbac_policy,
    c.sc, c.dc
  FROM ${lines} c WHERE NOT c.srv AND NOT EXISTS (SELECT 1 FROM ${links} m WHERE m.crid = c.id)
) r)`

const GROUP_SELECT = `date_trunc('hour', ts) AS hour, gkey, ${GROUP_KEYS.join(', ')}, count(*) AS n, min(ts) AS first, max(ts) AS last,
  arg_min(request_id, ts) AS first_request_id, min(ts) FILTER (WHERE request_id IS NOT NULL) AS first_request_ts`
const LINK_GROUP_SELECT = `date_trunc('hour', s_ts) AS hour, cli_wl, s_src_id, join_key, count(*) AS n`

/** Fills the call tables from the stored events in one pass each (stores that predate them, bulk loads). */
export function callsBackfillSql(): string[] {
  return [
    'DELETE FROM call_links',
    'DELETE FROM calls',
    'DELETE FROM call_groups',
    'DELETE FROM call_link_groups',
    `CREATE OR REPLACE TEMP TABLE call_keys AS SELECT ${KEY_COLUMNS} FROM events`,
    `CREATE OR REPLACE TEMP TABLE call_ew AS
      ${eastWestCandidatesSql('(SELECT * FROM call_keys WHERE NOT srv)', '(SELECT * FROM call_keys WHERE srv)', 'true')}`,
    `CREATE OR REPLACE TEMP TABLE call_ew AS ${eastWestPairsSql('call_ew', 'true')}`,
    `INSERT INTO call_links WITH ck AS (SELECT * FROM call_keys WHERE NOT srv), sk AS (SELECT * FROM call_keys WHERE srv)
      ${matchSql('ck', 'sk', 'true', 'call_ew')}`,
    'DROP TABLE call_keys',
    'DROP TABLE call_ew',
    `INSERT INTO calls WITH l AS (SELECT ${LINE_COLUMNS} FROM events) ${callRowsSql('l', 'call_links')}`,
    `INSERT INTO call_groups SELECT ${GROUP_SELECT} FROM calls GROUP BY ALL`,
    `INSERT INTO call_link_groups SELECT ${LINK_GROUP_SELECT} FROM call_links WHERE cli_wl IS NOT NULL AND s_src_id IS NOT NULL GROUP BY ALL`,
  ]
}

/**
 * The statements one batch runs, after its events are in `events` and its ids in the temp table
 * `call_batch`, with $1/$2 the batch's first/last time widened by the match window (every line that
 * can match a batch line, and every call row of those lines, is inside it: the scans use the ts zone
 * maps); for the first one, which reads the batch's own lines, $1/$2 are its first/last time itself,
 * a far smaller scan than the widened range when lines are dense. In order: the batch's lines; the stored lines that can pair with them (same request id or
 * socket); the new links (a replay finds them stored already); the touched lines; their old call rows
 * out and new ones in; the groups of every (hour, group) that changed recomputed.
 */
const RANGE = 'ts >= CAST($1 AS TIMESTAMP) AND ts <= CAST($2 AS TIMESTAMP)'
const LINKS_NEAR = `(SELECT * FROM call_links WHERE s_ts >= CAST($1 AS TIMESTAMP) - INTERVAL ${MATCH_WINDOW_S} SECOND
  AND s_ts <= CAST($2 AS TIMESTAMP) + INTERVAL ${MATCH_WINDOW_S} SECOND)`
const OWN_LINES = (own: string): string => `CREATE OR REPLACE TEMP TABLE call_new AS SELECT ${LINE_COLUMNS}, ${PAIRING_COLUMNS}, true AS new
    FROM ${own} WHERE ${RANGE} AND id IN (SELECT id FROM call_batch)`
const BATCH_KEYS = 'id, ts, srv, request_id, sock, ep, cli_wl, src_ip, dst_id, dst_sig, src_id, gw, dst_svc, new'
/** The batch's lines and the stored lines near them (`k`), split into client and server sides. */
const BATCH_SIDES = `k AS (SELECT ${BATCH_KEYS} FROM call_new UNION ALL SELECT ${BATCH_KEYS} FROM call_near),
    ck AS (SELECT * FROM k WHERE NOT srv), sk AS (SELECT * FROM k WHERE srv)`
/** Up to the east-west candidates (`call_ew`), whose clusters appendCalls reads before the links. */
const BATCH_PAIRING_SQL: readonly string[] = [
  OWN_LINES('events'),
  // The stored lines that can pair with the batch's (same request id, or socket for lines without one, or
  // a gateway's passthrough line and the server line downstream of it), read once: the links are matched
  // on them, and the partners the links name are among them.
  `CREATE OR REPLACE TEMP TABLE call_near AS SELECT ${LINE_COLUMNS}, ${PAIRING_COLUMNS}, false AS new
    FROM events WHERE ${RANGE} AND id NOT IN (SELECT id FROM call_new)
      AND (request_id IN (SELECT request_id FROM call_new)
        OR (request_id IS NULL AND CASE WHEN ${SERVER} THEN downstream_remote_address ELSE upstream_local_address END
          IN (SELECT sock FROM call_new WHERE request_id IS NULL OR srv))
        OR (${SERVER} AND downstream_remote_address IN (SELECT sock FROM call_new WHERE gw)))`,
  `CREATE OR REPLACE TEMP TABLE call_ew AS WITH ${BATCH_SIDES} ${eastWestCandidatesSql('ck', 'sk', '(c.new OR s.new)')}`,
]
const BATCH_SQL: readonly string[] = [
  `CREATE OR REPLACE TEMP TABLE call_new_links AS
    WITH ${BATCH_SIDES},
    m AS (${matchSql('ck', 'sk', '(c.new OR s.new)', 'call_ew')})
    SELECT * FROM m WHERE NOT EXISTS (SELECT 1 FROM call_links l WHERE l.s_ts >= CAST($1 AS TIMESTAMP) AND l.s_ts <= CAST($2 AS TIMESTAMP)
      AND l.crid = m.crid AND l.srid = m.srid)`,
  'INSERT INTO call_links SELECT * FROM call_new_links',
  `INSERT INTO call_link_groups SELECT ${LINK_GROUP_SELECT} FROM call_new_links WHERE cli_wl IS NOT NULL AND s_src_id IS NOT NULL GROUP BY ALL`,
  // The lines whose call rows change: the batch's, and their partners in the new links.
  `INSERT INTO call_new SELECT * FROM call_near WHERE id IN (SELECT crid FROM call_new_links UNION ALL SELECT srid FROM call_new_links)`,
  `CREATE OR REPLACE TEMP TABLE call_old AS SELECT rowid AS rid, date_trunc('hour', ts) AS hour, gkey FROM calls WHERE ${RANGE}
    AND (srid IN (SELECT id FROM call_new WHERE srv) OR (srid IS NULL AND crid IN (SELECT id FROM call_new WHERE NOT srv)))`,
  'DELETE FROM calls WHERE rowid IN (SELECT rid FROM call_old)',
  `CREATE OR REPLACE TEMP TABLE call_rows AS ${callRowsSql('call_new', LINKS_NEAR)}`,
  `INSERT INTO calls SELECT ${CALL_COLUMNS}, gkey FROM call_rows`,
  `CREATE OR REPLACE TEMP TABLE call_touched_groups AS
    SELECT DISTINCT hour, gkey FROM (SELECT hour, gkey FROM call_old UNION ALL SELECT date_trunc('hour', ts), gkey FROM call_rows)`,
  `DELETE FROM call_groups g WHERE g.hour >= date_trunc('hour', CAST($1 AS TIMESTAMP)) AND g.hour <= CAST($2 AS TIMESTAMP)
    AND EXISTS (SELECT 1 FROM call_touched_groups t WHERE t.hour = g.hour AND t.gkey = g.gkey)`,
  `INSERT INTO call_groups SELECT ${GROUP_SELECT} FROM calls c
    WHERE c.ts >= date_trunc('hour', CAST($1 AS TIMESTAMP)) AND c.ts < date_trunc('hour', CAST($2 AS TIMESTAMP)) + INTERVAL 1 HOUR
      AND EXISTS (SELECT 1 FROM call_touched_groups t WHERE t.hour = date_trunc('hour', c.ts) AND t.gkey = c.gkey)
    GROUP BY ALL`,
]

/** Candidate lines whose clusters are read per statement, bound by id. */
const EAST_WEST_CHUNK = 500

const SCRATCH = ['call_new', 'call_near', 'call_ew', 'call_new_links', 'call_old', 'call_rows', 'call_touched_groups']

/**
 * Matches and stores the calls of one stored batch, inside the caller's transaction: `ids` are the
 * batch's event ids (stored now, or already stored when it is a replay), `minMs`/`maxMs` its first and
 * last event time.
 */
export async function appendCalls(
  conn: DuckDBConnection,
  ids: readonly string[],
  minMs: number,
  maxMs: number,
  lines = 'events',
): Promise<void> {
  if (ids.length === 0) return
  await conn.run('CREATE OR REPLACE TEMP TABLE call_batch (id VARCHAR)')
  await appendRows(conn, 'call_batch', (appender) => {
    for (const id of ids) {
      appender.appendVarchar(id)
      appender.endRow()
    }
  })
  const own = [new Date(minMs).toISOString(), new Date(maxMs).toISOString()]
  const widened = [new Date(minMs - MATCH_WINDOW_MS).toISOString(), new Date(maxMs + MATCH_WINDOW_MS).toISOString()]
  const run = (statement: string): Promise<unknown> => conn.run(statement, statement.includes('$1') ? widened : undefined)
  await conn.run(lines === 'events' ? BATCH_PAIRING_SQL[0]! : OWN_LINES(lines), own)
  for (const statement of BATCH_PAIRING_SQL.slice(1)) await run(statement)
  await keepCrossing(conn, widened)
  for (const statement of BATCH_SQL) await run(statement)
  // Dropped, not kept: each would otherwise hold the last batch's rows in memory.
  for (const t of ['call_batch', ...SCRATCH]) await conn.run(`DROP TABLE IF EXISTS ${t}`)
}

/**
 * Keeps in `call_ew` the candidates whose two lines name each other's cluster (CROSSES), reading those
 * lines only, bound by id, and nothing in the usual batch without candidates.
 */
async function keepCrossing(conn: DuckDBConnection, widened: string[]): Promise<void> {
  const reader = await conn.runAndReadAll('SELECT DISTINCT id FROM (SELECT crid AS id FROM call_ew UNION ALL SELECT srid FROM call_ew)')
  const ids = reader.getRows().map((r) => String(r[0]))
  if (ids.length === 0) return
  await conn.run('CREATE OR REPLACE TEMP TABLE call_ew_cl (id VARCHAR, cl VARCHAR[])')
  for (let i = 0; i < ids.length; i += EAST_WEST_CHUNK) {
    const chunk = ids.slice(i, i + EAST_WEST_CHUNK)
    await conn.run(
      `INSERT INTO call_ew_cl SELECT id, ${LINE_CLUSTERS} FROM events WHERE ${RANGE}
        AND id IN (${chunk.map((_, j) => `$${j + 3}`).join(', ')})`,
      [...widened, ...chunk],
    )
  }
  await conn.run(`CREATE OR REPLACE TEMP TABLE call_ew AS SELECT x.crid, x.srid FROM call_ew x
    JOIN call_ew_cl c ON c.id = x.crid JOIN call_ew_cl s ON s.id = x.srid WHERE ${CROSSES('c.cl', 's.cl')}`)
  await conn.run('DROP TABLE call_ew_cl')
}
