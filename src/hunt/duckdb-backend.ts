/**
 * HuntBackend over the embedded DuckDB store, in SQL only through `store.sql()`.
 *
 * prepare() builds its temp tables once per analysis window (the learning window before it is only
 * aggregated, see BASELINE_SQL), then every search round is one aggregate over `hunt_hop`:
 * - `hunt_match`, `hunt_pair`: one row per mesh call. The client sidecar's line and the server
 *   sidecar's line of the same call are matched on x-request-id, or on the socket (the client's
 *   upstream_local_address is the server's downstream_remote_address) for TCP, and only when the
 *   client's chosen endpoint is the server's local address and the two start within five minutes:
 *   apps propagate x-request-id down a call chain, so the id alone would join different hops. The
 *   match runs on narrow rows; a full outer join of the wide lines ran as a nested loop.
 * - `hunt_alias`: `namespace/workload` → SPIFFE ID, learned from calls where both were visible (the
 *   server pod's envelope next to its own certificate; the client pod's envelope joined to the peer
 *   certificate the server saw), and `service.namespace` → identity (inventory first, then the
 *   identity that most often served the service).
 * - `hunt_hop`: each call with source and destination resolved to graph nodes and the signal used.
 */
import { EnvoyAuditError } from '../errors.js'
import { DENIAL_CODES_IN, DENIED_LINE, ISO, UNREACHED_FLAGS_LIST } from '../store/duckdb-aggregates.js'
import { EDGE_FACTS } from '../store/duckdb-schema.js'
import type { SqlResult } from '../store/duckdb-store.js'
import type {
  DeniedRow,
  ExpandRow,
  FlowEdge,
  FlowFilter,
  FrontierEntry,
  GraphNode,
  HopCall,
  HopClusters,
  HuntBackend,
  HuntRange,
  InventoryEntry,
  NodeKind,
} from './backend.js'
import { hopCallKey, pairKey } from './backend.js'
import { kindOfNode, spiffeParts } from './node-id.js'
import {
  CALLS_ALIAS_SQL,
  CALLS_SERVICE_MAP_SQL,
  GROUP_HOP_SQL,
  flowsSql as callsFlowsSql,
  frontierRowsSql,
  resolveSql,
} from './duckdb-backend-calls.js'
import {
  CLUSTER_LINE_FILTER,
  CLUSTERS_TABLE_SQL,
  edgeGroupClustersSql,
  edgeLinesSql,
  keepCrossing,
  lineClustersSql,
} from './duckdb-backend-clusters.js'
import { eastWestCandidatesSql, GATEWAY_PASSTHROUGH } from '../store/duckdb-calls.js'

/** What this backend needs from DuckDbStore (kept structural so tests and the bench can share it). */
export interface SqlRunner {
  sql(text: string, values?: (string | number)[]): Promise<SqlResult>
  /** A relation holding every stored line stamped at one of `times` (DuckDbStore.eventsAt); else `events` is read. */
  eventsAt?(times: readonly string[]): Promise<string>
}

const FAR_FUTURE = '9999-12-31T00:00:00.000Z'
/** Line ids bound per query when reading the clusters of flows edges. */
const CLUSTER_LINES_CHUNK = 1000
const HOUR_MS = 3_600_000

/** The store's STATUS_CLASS over hop rows, computed only when flows aggregates them. */
const STATUS_CLASS_OF = (t: string): string => `CASE
  WHEN ${t}.protocol = 'tcp' OR (coalesce(${t}.status_code, 0) = 0 AND ${t}.method IS NULL) THEN 'tcp'
  WHEN ${t}.status_code BETWEEN 100 AND 599 THEN (${t}.status_code // 100)::VARCHAR || 'xx'
  ELSE 'none' END`

const WORKLOAD = (ns: string, name: string): string =>
  `CASE WHEN ${ns} IS NOT NULL AND ${name} IS NOT NULL THEN ${ns} || '/' || ${name} END`

/**
 * Per-line projection: the identity facts one proxy line carries, and the keys that join a pair. A call
 * extends a path only if it got through: not denied by the mesh (is_denied), not a local reply that never
 * reached the app (unreached: the catalogue's UNREACHED_RESPONSE_FLAGS), and not refused with 401/403 by
 * the app itself (refused).
 */
const LINE = (side: 'client' | 'server', where = 'true'): string => `SELECT id AS rid, ts, request_id, mtls, method, status_code, protocol,
    coalesce(${DENIED_LINE}, false) AS is_denied,
    coalesce(list_has_any(response_flags, ${UNREACHED_FLAGS_LIST}), false) AS unreached, coalesce(status_code IN (401, 403), false) AS refused,
    CASE WHEN len(finding_codes) > 0 THEN finding_codes END AS findings, rbac_policy,
    src_spiffe_id AS src_id, src_signal AS src_sig,
    ${
      side === 'client'
        ? `coalesce(${WORKLOAD('src_namespace', 'coalesce(src_workload, src_service_account)')}, ${WORKLOAD('k8s_namespace', 'coalesce(k8s_app, k8s_pod)')})`
        : WORKLOAD('src_namespace', 'src_service_account')
    } AS src_wl,
    coalesce(source_ip, source_address) AS src_ip,
    dst_spiffe_id AS dst_id, dst_signal AS dst_sig,
    ${side === 'server' ? `coalesce(${WORKLOAD('k8s_namespace', 'coalesce(k8s_app, k8s_pod)')}, ${WORKLOAD('dst_namespace', 'dst_workload')})` : 'NULL::VARCHAR'} AS dst_wl,
    CASE WHEN dst_service IS NULL THEN NULL WHEN dst_namespace IS NULL OR contains(dst_service, '.') THEN dst_service
      ELSE dst_service || '.' || dst_namespace END AS dst_svc,
    dst_namespace AS dst_ns,
    coalesce(destination_domain, requested_server_name, destination_address, upstream_host) AS dst_addr
  FROM events WHERE ts >= CAST($1 AS TIMESTAMP) AND ts < CAST($2 AS TIMESTAMP)
    AND ${side === 'server' ? `reporter = 'destination'` : `reporter IS DISTINCT FROM 'destination'`} AND ${where}`

/** The narrow columns that match a client line to a server line (request id, socket, endpoint, time), and the few facts a match carries over. */
const KEYS = (side: 'client' | 'server'): string => `SELECT id AS rid, ts, request_id,
    ${side === 'server' ? 'downstream_remote_address' : 'upstream_local_address'} AS sock,
    ${side === 'server' ? 'downstream_local_address' : 'upstream_host'} AS ep,
    ${side === 'server' ? 'false' : GATEWAY_PASSTHROUGH} AS gw,
    CASE WHEN dst_service IS NULL THEN NULL WHEN dst_namespace IS NULL OR contains(dst_service, '.') THEN dst_service
      ELSE dst_service || '.' || dst_namespace END AS dst_svc,
    ${
      side === 'server'
        ? 'src_spiffe_id AS src_id'
        : `coalesce(${WORKLOAD('src_namespace', 'coalesce(src_workload, src_service_account)')}, ${WORKLOAD('k8s_namespace', 'coalesce(k8s_app, k8s_pod)')}) AS src_wl,
    coalesce(source_ip, source_address) AS src_ip, dst_spiffe_id AS dst_id, dst_signal AS dst_sig`
    }
  FROM events WHERE ts >= CAST($1 AS TIMESTAMP) AND ts < CAST($2 AS TIMESTAMP)
    AND ${side === 'server' ? `reporter = 'destination'` : `reporter IS DISTINCT FROM 'destination'`}`

/** The lines of the window, narrow, each side once: the match and the east-west candidates read them. */
const KEYS_SQL = [
  `CREATE OR REPLACE TEMP TABLE hunt_ck AS ${KEYS('client')}`,
  `CREATE OR REPLACE TEMP TABLE hunt_sk AS ${KEYS('server')}`,
  `CREATE OR REPLACE TEMP TABLE hunt_ew AS ${eastWestCandidatesSql('hunt_ck', 'hunt_sk', 'true', 'rid')}`,
]

/**
 * As the store's matchSql (src/store/duckdb-calls.ts), over the window: request id, socket, the calls
 * across an east-west gateway (hunt_ew, kept by keepCrossing), and a gateway's passthrough line to its
 * server line (join_key 'gateway', no client workload: it only keeps that line from being a call).
 */
const MATCH_SQL = `CREATE OR REPLACE TEMP TABLE hunt_match AS
  SELECT c.rid AS crid, s.rid AS srid, 'request_id' AS join_key, c.src_wl AS cli_wl, c.src_ip AS c_ip, c.dst_id AS c_dst_id,
      c.dst_sig AS c_dst_sig, s.src_id AS s_src_id
    FROM hunt_ck c JOIN hunt_sk s ON c.request_id = s.request_id
    WHERE NOT c.gw AND (c.ep IS NULL OR s.ep IS NULL OR c.ep = s.ep) AND abs(epoch(c.ts) - epoch(s.ts)) <= 300
  UNION ALL
  SELECT c.rid, s.rid, 'socket', c.src_wl, c.src_ip, c.dst_id, c.dst_sig, s.src_id
    FROM hunt_ck c JOIN hunt_sk s ON c.sock = s.sock
    WHERE NOT c.gw AND c.request_id IS NULL AND s.request_id IS NULL AND (c.ep IS NULL OR s.ep IS NULL OR c.ep = s.ep)
      AND abs(epoch(c.ts) - epoch(s.ts)) <= 300
  UNION ALL
  SELECT c.rid, s.rid, 'request_id', c.src_wl, c.src_ip, c.dst_id, c.dst_sig, s.src_id
    FROM hunt_ew x JOIN hunt_ck c ON c.rid = x.crid JOIN hunt_sk s ON s.rid = x.srid
  UNION ALL
  SELECT c.rid, s.rid, 'gateway', NULL, c.src_ip, c.dst_id, c.dst_sig, s.src_id
    FROM hunt_ck c JOIN hunt_sk s ON c.sock = s.sock
    WHERE c.gw AND (c.ep IS NULL OR s.ep IS NULL OR c.ep = s.ep) AND abs(epoch(c.ts) - epoch(s.ts)) <= 300`

/**
 * One row per call, timed by the server line when there is one (the same node clock as the server's
 * own onward calls). Server lines that name both ends by certificate need nothing from the client
 * line; the others take its facts through hunt_match; client lines without a server line stand alone.
 * Hash joins only ever build on the narrow match table.
 */
const PAIR_SQL = `CREATE OR REPLACE TEMP TABLE hunt_pair AS
  SELECT s.rid AS line_id, s.ts, false AS joined, 'none' AS join_key, s.request_id, s.src_id, s.src_sig, NULL::VARCHAR AS cli_wl, s.src_wl AS srv_src_wl,
    s.src_ip, s.dst_id, s.dst_sig, s.dst_wl, s.dst_svc, s.dst_ns, s.dst_addr, s.is_denied, s.is_denied OR s.unreached OR s.refused AS blocked,
    s.mtls, s.method, s.status_code, s.protocol, s.findings, s.rbac_policy
  FROM (${LINE('server', 'src_spiffe_id IS NOT NULL AND dst_spiffe_id IS NOT NULL')}) s
  UNION ALL
  SELECT s.rid, s.ts, m.srid IS NOT NULL, coalesce(m.join_key, 'none'), s.request_id, s.src_id, s.src_sig, m.cli_wl, s.src_wl,
    coalesce(m.c_ip, s.src_ip), coalesce(s.dst_id, m.c_dst_id), CASE WHEN s.dst_id IS NOT NULL THEN s.dst_sig ELSE m.c_dst_sig END,
    s.dst_wl, s.dst_svc, s.dst_ns, s.dst_addr, s.is_denied, s.is_denied OR s.unreached OR s.refused,
    s.mtls, s.method, s.status_code, s.protocol, s.findings, s.rbac_policy
  FROM (${LINE('server', '(src_spiffe_id IS NULL OR dst_spiffe_id IS NULL)')}) s
    LEFT JOIN hunt_match m ON m.srid = s.rid AND m.join_key <> 'gateway'
  UNION ALL
  SELECT c.rid, c.ts, false, 'none', c.request_id, c.src_id, c.src_sig, c.src_wl, NULL, c.src_ip, c.dst_id, c.dst_sig,
    NULL, c.dst_svc, c.dst_ns, c.dst_addr, c.is_denied, c.is_denied OR c.unreached OR c.refused,
    c.mtls, c.method, c.status_code, c.protocol, c.findings, c.rbac_policy
  FROM (${LINE('client', 'id NOT IN (SELECT crid FROM hunt_match)')}) c`

/** Most frequent mapping wins; ties by name so reruns agree. */
const ALIAS_SQL = `CREATE OR REPLACE TEMP TABLE hunt_alias AS
  WITH wl AS (
    SELECT alias, node, signal, n, row_number() OVER (PARTITION BY alias ORDER BY n DESC, node) AS rn FROM (
      SELECT cli_wl AS alias, s_src_id AS node, join_key || '+kubernetes' AS signal, count(*) AS n
        FROM hunt_match WHERE cli_wl IS NOT NULL AND s_src_id IS NOT NULL GROUP BY ALL
      UNION ALL
      SELECT dst_wl, dst_id, 'kubernetes', count(*) FROM hunt_pair WHERE dst_wl IS NOT NULL AND dst_id IS NOT NULL GROUP BY ALL))
  SELECT 'wl' AS kind, alias, node, signal FROM wl WHERE rn = 1`

const SERVICE_MAP_SQL = `INSERT INTO hunt_alias
  WITH resolved AS (
    SELECT p.dst_svc AS alias, coalesce(p.dst_id, a.node, p.dst_wl) AS node FROM hunt_pair p
    LEFT JOIN hunt_alias a ON a.alias = p.dst_wl WHERE p.dst_svc IS NOT NULL AND (p.dst_id IS NOT NULL OR p.dst_wl IS NOT NULL)),
  ranked AS (SELECT alias, node, count(*) AS n, row_number() OVER (PARTITION BY alias ORDER BY count(*) DESC, node) AS rn
    FROM resolved GROUP BY alias, node)
  SELECT 'svc', alias, node, 'service_map' FROM ranked WHERE rn = 1`

/**
 * The same resolution as the calls mode's (resolveSql), so the reference and the fast path cannot drift
 * apart. With --cluster only the calls whose line (the server's, else the lone client's) is of the
 * clusters become hops; the aliases and the service map are still learnt from every call of the window,
 * since a workload's identity does not depend on where it was seen.
 */
const HOP_SQL = (filtered: boolean): string => `CREATE OR REPLACE TEMP TABLE hunt_hop AS
  SELECT * FROM (${resolveSql(
    filtered
      ? `(SELECT * FROM hunt_pair WHERE line_id IN (SELECT id FROM events
          WHERE ts >= CAST($1 AS TIMESTAMP) AND ts < CAST($2 AS TIMESTAMP) AND ${CLUSTER_LINE_FILTER}))`
      : 'hunt_pair',
    'p.line_id, p.ts, p.request_id, p.is_denied, p.blocked, p.mtls, p.method, p.status_code, p.protocol, p.findings, ' +
      'p.rbac_policy, p.dst_ns, p.dst_wl',
  )})
  ORDER BY src, ts`

/**
 * The learning window only answers "was this edge seen before?", so it is aggregated, not joined:
 * lines are grouped by their raw identity facts (few groups; for whole hours already grouped at ingest
 * in edge_facts, for the partial hours at the window's ends from the events), each group resolved on its own with the
 * aliases, inventory and service map of the analysis window, and only min(ts) per (src, dst) is kept.
 * Without the client/server match a plaintext server line names its caller by address only; the
 * caller's own client line still records the edge. Every scanned column costs on millions of rows, so
 * the address fallbacks are reduced to source.ip and destination.address: an edge whose end is only
 * known by SNI or upstream host may be reported new although it was seen.
 */
const FACTS = EDGE_FACTS.join(', ')
const LINE_FACTS = (
  from: string,
  to: string,
  clusters = 'true',
): string => `SELECT coalesce(reporter = 'destination', false) AS srv, ${FACTS}, ts AS first
    FROM events WHERE ts >= CAST(${from} AS TIMESTAMP) AND ts < CAST(${to} AS TIMESTAMP) AND ${clusters}`
/**
 * edge_facts has no cluster: with --cluster the learning window's facts come from its filtered lines
 * (BASELINE_CLUSTERS_SQL, the whole window from the events; $1/$2 only).
 */
const baselineSql = (facts: string): string => `CREATE OR REPLACE TEMP TABLE hunt_baseline AS
  WITH facts AS (${facts}),
  t AS (SELECT srv, ${FACTS}, min(first) AS first FROM facts GROUP BY ALL),
  r AS (
    SELECT first, src_spiffe_id AS src_id,
      CASE WHEN srv THEN ${WORKLOAD('src_namespace', 'src_service_account')}
        ELSE coalesce(${WORKLOAD('src_namespace', 'coalesce(src_workload, src_service_account)')}, ${WORKLOAD('k8s_namespace', 'coalesce(k8s_app, k8s_pod)')}) END AS src_wl,
      source_ip AS src_ip, dst_spiffe_id AS dst_id,
      CASE WHEN srv THEN coalesce(${WORKLOAD('k8s_namespace', 'coalesce(k8s_app, k8s_pod)')}, ${WORKLOAD('dst_namespace', 'dst_workload')}) END AS dst_wl,
      CASE WHEN dst_service IS NULL THEN NULL WHEN dst_namespace IS NULL OR contains(dst_service, '.') THEN dst_service
        ELSE dst_service || '.' || dst_namespace END AS dst_svc,
      destination_address AS dst_addr
    FROM t)
  SELECT coalesce(r.src_id, sa.node, r.src_wl, r.src_ip, '(unknown)') AS src,
    coalesce(r.dst_id, da.node, inv.identity, sm.node, r.dst_wl, r.dst_svc, r.dst_addr, '(unknown)') AS dst, min(r.first) AS first
  FROM r
  LEFT JOIN hunt_alias sa ON sa.kind = 'wl' AND sa.alias = r.src_wl
  LEFT JOIN hunt_alias da ON da.kind = 'wl' AND da.alias = r.dst_wl
  LEFT JOIN hunt_inventory inv ON inv.service = r.dst_svc
  LEFT JOIN hunt_alias sm ON sm.kind = 'svc' AND sm.alias = r.dst_svc
  GROUP BY 1, 2`
export const BASELINE_SQL = baselineSql(`
    SELECT srv, ${FACTS}, first FROM edge_facts WHERE hour >= CAST($3 AS TIMESTAMP) AND hour < CAST($4 AS TIMESTAMP)
    UNION ALL ${LINE_FACTS('$1', '$3')}
    UNION ALL ${LINE_FACTS('$4', '$2')}`)
const BASELINE_CLUSTERS_SQL = baselineSql(LINE_FACTS('$1', '$2', CLUSTER_LINE_FILTER))

/**
 * Where the calls come from: `calls`, the per-call tables the store fills at ingest
 * (src/store/duckdb-calls.ts, queries in duckdb-backend-calls.ts); `events`, the client/server match
 * rebuilt from the raw lines at query time, kept as the reference the ingest-side tables are tested
 * against. They differ only at a window's edges: from the tables, a call whose client line is just
 * before `since` (within the five-minute match window) keeps what the client line told, and one
 * whose client line is just before `until` but whose server line is after it falls outside.
 */
export type CallSource = 'calls' | 'events'

export class DuckDbHuntBackend implements HuntBackend {
  readonly kind = 'duckdb' as const
  private window: { since: string; until: string } | undefined
  private readonly configured: CallSource
  /** The source of the prepared window: the query-time match when --cluster filters the lines. */
  private source: CallSource
  /** Calls mode: the resolved groups of the window (hunt_group_hop), built when first needed. */
  private groupHops: Promise<void> | undefined
  private groupHopParams: string[] = []

  constructor(
    private readonly store: SqlRunner,
    options: { source?: CallSource } = {},
  ) {
    this.configured = options.source ?? 'calls'
    this.source = this.configured
  }

  async prepare(range: HuntRange, inventory: readonly InventoryEntry[]): Promise<void> {
    const until = range.until ?? FAR_FUTURE
    this.window = { since: range.since, until }
    await this.store.sql('CREATE OR REPLACE TEMP TABLE hunt_inventory (service VARCHAR PRIMARY KEY, identity VARCHAR NOT NULL)')
    const values: string[] = []
    for (const entry of inventory) {
      // A bare name and its namespaced form both resolve, so `cart` and `cart.shop` find the same identity.
      values.push(
        entry.namespace === undefined || entry.service.includes('.') ? entry.service : `${entry.service}.${entry.namespace}`,
        entry.identity,
      )
    }
    if (values.length > 0) {
      const tuples = Array.from({ length: values.length / 2 }, (_, i) => `($${2 * i + 1}, $${2 * i + 2})`).join(', ')
      await this.store.sql(`INSERT OR REPLACE INTO hunt_inventory VALUES ${tuples}`, values)
    }
    const window = [range.since, until]
    const filtered = range.clusters !== undefined && range.clusters.length > 0
    this.source = filtered ? 'events' : this.configured
    if (filtered) {
      await this.store.sql(CLUSTERS_TABLE_SQL)
      const names = [...new Set(range.clusters)]
      await this.store.sql(`INSERT INTO hunt_clusters VALUES ${names.map((_, i) => `($${i + 1})`).join(', ')}`, names)
    }
    if (this.source === 'calls') {
      const params = [...window, ...wholeHours(range.since, until)]
      await this.store.sql(CALLS_ALIAS_SQL, params)
      await this.store.sql(CALLS_SERVICE_MAP_SQL, params)
      // flows reads the groups itself; nodes() and the search need them resolved once.
      this.groupHops = undefined
      this.groupHopParams = params
    } else {
      for (const statement of KEYS_SQL) await this.store.sql(statement, statement.includes('$1') ? window : undefined)
      await keepCrossing(this.store, 'hunt_ew', window)
      await this.store.sql(MATCH_SQL)
      await this.store.sql(PAIR_SQL, window)
      await this.store.sql(ALIAS_SQL)
      await this.store.sql(SERVICE_MAP_SQL)
      if (filtered) await this.store.sql(HOP_SQL(true), window)
      else await this.store.sql(HOP_SQL(false))
    }
    const learnFrom = range.baselineFrom !== undefined && range.baselineFrom < range.since ? range.baselineFrom : range.since
    if (filtered) await this.store.sql(BASELINE_CLUSTERS_SQL, [learnFrom, range.since])
    else await this.store.sql(BASELINE_SQL, [learnFrom, range.since, ...wholeHours(learnFrom, range.since)])
  }

  private hopTables(): Promise<void> {
    if (this.source === 'events') return Promise.resolve()
    this.groupHops ??= this.store.sql(GROUP_HOP_SQL, this.groupHopParams).then(() => undefined)
    return this.groupHops
  }

  /**
   * The window bound as $1/$2 of a round. In calls mode only the straddling groups' single calls read
   * it, and those lie in the arrival hours of the frontier: bounding the scan of `calls` to them lets
   * the ts zone maps skip the rest of a wide window.
   */
  private roundRange(frontier: readonly FrontierEntry[]): { since: string; until: string } {
    const range = this.range
    if (this.source === 'events') return range
    let lo = Infinity
    let hi = -Infinity
    for (const e of frontier) {
      const ms = Date.parse(e.since)
      lo = Math.min(lo, ms)
      hi = Math.max(hi, Math.floor(ms / HOUR_MS) * HOUR_MS + HOUR_MS)
    }
    return {
      since: lo > Date.parse(range.since) ? new Date(lo).toISOString() : range.since,
      until: hi < Date.parse(range.until) ? new Date(hi).toISOString() : range.until,
    }
  }

  private get range(): { since: string; until: string } {
    if (this.window === undefined) throw new EnvoyAuditError('EA_STORE_QUERY', 'hunt backend used before prepare()')
    return this.window
  }

  async nodes(): Promise<GraphNode[]> {
    await this.hopTables()
    const hop = this.source === 'calls' ? 'hunt_group_hop' : 'hunt_hop'
    const { rows } = await this.store
      .sql(`SELECT node, list_sort(list_distinct(list(name) FILTER (WHERE name IS NOT NULL AND name <> ''))) AS names FROM (
        SELECT src AS node, split_part(src_wl, '/', 2) AS name FROM ${hop}
        UNION ALL SELECT dst, split_part(dst_wl, '/', 2) FROM ${hop}
        UNION ALL SELECT dst, split_part(service, '.', 1) FROM ${hop}
        UNION ALL SELECT node, split_part(alias, CASE kind WHEN 'wl' THEN '/' ELSE '.' END, CASE kind WHEN 'wl' THEN 2 ELSE 1 END) FROM hunt_alias
        UNION ALL SELECT src, NULL FROM hunt_baseline UNION ALL SELECT dst, NULL FROM hunt_baseline)
      GROUP BY node ORDER BY node`)
    return rows.map((r) => graphNode(String(r.node), (r.names as string[] | null) ?? []))
  }

  async expand(frontier: readonly FrontierEntry[]): Promise<ExpandRow[]> {
    if (frontier.length === 0) return []
    await this.hopTables()
    const { values, cte } = frontierCte(frontier, this.roundRange(frontier))
    const { rows } = await this.store.sql(
      this.source === 'calls'
        ? `WITH ${cte}, h AS (${frontierRowsSql})
      SELECT h.src, h.dst, ${ISO('min(h.ts)')} AS first, sum(h.n)::INTEGER AS n,
        coalesce(sum(h.n) FILTER (WHERE h.mtls = false), 0)::INTEGER AS plaintext,
        arg_min(coalesce(h.mtls = false, false), h.ts) AS first_plaintext,
        arg_min(h.src_signal, h.ts) AS src_signal, arg_min(h.dst_signal, h.ts) AS dst_signal,
        arg_min(h.service, h.ts) AS service, arg_min(h.request_id, h.request_ts) AS request_id
      FROM h WHERE NOT h.blocked AND h.src <> h.dst
      GROUP BY h.src, h.dst ORDER BY h.src, h.dst`
        : `WITH ${cte}
      SELECT h.src, h.dst, ${ISO('min(h.ts)')} AS first, count(*)::INTEGER AS n,
        count(*) FILTER (WHERE h.mtls = false)::INTEGER AS plaintext,
        arg_min(coalesce(h.mtls = false, false), h.ts) AS first_plaintext,
        arg_min(h.src_signal, h.ts) AS src_signal, arg_min(h.dst_signal, h.ts) AS dst_signal,
        arg_min(h.service, h.ts) AS service, arg_min(h.request_id, h.ts) AS request_id
      FROM hunt_hop h JOIN f ON h.src = f.node AND h.ts >= f.since
      WHERE NOT h.blocked AND h.src <> h.dst AND h.ts >= CAST($1 AS TIMESTAMP) AND h.ts < CAST($2 AS TIMESTAMP)
      GROUP BY h.src, h.dst ORDER BY h.src, h.dst`,
      values,
    )
    return rows.map((r) => {
      const row: ExpandRow = {
        src: String(r.src),
        dst: String(r.dst),
        first: String(r.first),
        count: Number(r.n),
        plaintext: Number(r.plaintext),
        firstPlaintext: r.first_plaintext === true,
        srcSignal: String(r.src_signal),
        dstSignal: String(r.dst_signal),
      }
      if (r.service != null) row.service = String(r.service)
      if (r.request_id != null) row.requestId = String(r.request_id)
      return row
    })
  }

  async denied(frontier: readonly FrontierEntry[]): Promise<DeniedRow[]> {
    if (frontier.length === 0) return []
    await this.hopTables()
    const { values, cte } = frontierCte(frontier, this.roundRange(frontier))
    const { rows } = await this.store.sql(
      this.source === 'calls'
        ? `WITH ${cte}, h AS (${frontierRowsSql})
      SELECT h.src, h.dst, sum(h.n)::INTEGER AS n, ${ISO('min(h.ts)')} AS first, ${ISO('max(h.last)')} AS last, ${REASONS}, any_value(h.service) AS service
      FROM h WHERE h.is_denied GROUP BY h.src, h.dst ORDER BY h.src, first, h.dst`
        : `WITH ${cte}
      SELECT h.src, h.dst, count(*)::INTEGER AS n, ${ISO('min(h.ts)')} AS first, ${ISO('max(h.ts)')} AS last,
        ${REASONS},
        any_value(h.service) AS service
      FROM hunt_hop h JOIN f ON h.src = f.node AND h.ts >= f.since
      WHERE h.is_denied AND h.ts >= CAST($1 AS TIMESTAMP) AND h.ts < CAST($2 AS TIMESTAMP)
      GROUP BY h.src, h.dst ORDER BY h.src, first, h.dst`,
      values,
    )
    return rows.map((r) => {
      const row: DeniedRow = {
        src: String(r.src),
        dst: String(r.dst),
        count: Number(r.n),
        first: String(r.first),
        last: String(r.last),
        reasons: (r.reasons as string[] | null) ?? [],
      }
      if (r.service != null) row.service = String(r.service)
      return row
    })
  }

  async firstSeen(pairs: readonly { src: string; dst: string }[]): Promise<Map<string, string>> {
    const out = new Map<string, string>()
    if (pairs.length === 0) return out
    await this.hopTables()
    const values: string[] = []
    const tuples = pairs.map((p) => {
      values.push(p.src, p.dst)
      return `($${values.length - 1}, $${values.length})`
    })
    const { rows } = await this.store.sql(
      `WITH q(src, dst) AS (VALUES ${tuples.join(', ')}),
      seen AS (SELECT src, dst, ${this.source === 'calls' ? 'first FROM hunt_group_hop' : 'ts AS first FROM hunt_hop'} UNION ALL SELECT src, dst, first FROM hunt_baseline)
      SELECT h.src, h.dst, ${ISO('min(h.first)')} AS first FROM seen h JOIN q ON h.src = q.src AND h.dst = q.dst
      GROUP BY h.src, h.dst`,
      values,
    )
    for (const r of rows) out.set(pairKey(String(r.src), String(r.dst)), String(r.first))
    return out
  }

  async hopClusters(calls: readonly HopCall[]): Promise<Map<string, HopClusters>> {
    const out = new Map<string, HopClusters>()
    if (calls.length === 0) return out
    const values: string[] = []
    const tuples = calls.map((c, i) => {
      values.push(String(i), c.at, c.requestId ?? '', c.src, c.dst)
      const n = values.length
      return `(CAST($${n - 4} AS INTEGER), CAST($${n - 3} AS TIMESTAMP), $${n - 2}, $${n - 1}, $${n})`
    })
    // Each witness call's lines are stamped with its time: only the segments holding those times are read.
    const lines = (await this.store.eventsAt?.([...new Set(calls.map((c) => c.at))])) ?? 'events'
    const { rows } = await this.store.sql(
      `WITH q(i, t, rid, src, dst) AS (VALUES ${tuples.join(', ')})
      SELECT q.i, e.src_cluster AS sc, e.dst_cluster AS dc
      FROM q JOIN ${lines} e ON e.ts = q.t
        AND (CASE WHEN q.rid <> '' THEN e.request_id = q.rid ELSE e.src_spiffe_id = q.src OR e.dst_spiffe_id = q.dst END)
      ORDER BY q.i, coalesce(e.reporter = 'destination', false) DESC, e.id`,
      values,
    )
    for (const r of rows) {
      const key = hopCallKey(calls[Number(r.i)]!)
      const c = out.get(key) ?? {}
      if (c.source === undefined && r.sc != null) c.source = String(r.sc)
      if (c.destination === undefined && r.dc != null) c.destination = String(r.dc)
      out.set(key, c)
    }
    return out
  }

  async flows(filter: FlowFilter): Promise<FlowEdge[]> {
    const edges = this.source === 'calls' ? await this.callsFlows(filter) : await this.hopFlows(filter)
    return this.withClusters(edges, filter)
  }

  /** Each edge's source and destination clusters: those of its calls in the window. */
  private async withClusters(edges: FlowEdge[], filter: FlowFilter): Promise<FlowEdge[]> {
    if (edges.length === 0) return edges
    const window = [filter.since ?? this.range.since, filter.until ?? this.range.until]
    const values = [...window]
    const tuples = edges.map((e) => {
      values.push(e.source, e.destination)
      return `($${values.length - 1}, $${values.length})`
    })
    const byPair = new Map<string, { sc: Set<string>; dc: Set<string> }>()
    const add = (src: unknown, dst: unknown, sc: unknown, dc: unknown): void => {
      const key = pairKey(String(src), String(dst))
      const sets = byPair.get(key) ?? { sc: new Set<string>(), dc: new Set<string>() }
      if (sc != null) sets.sc.add(String(sc))
      if (dc != null) sets.dc.add(String(dc))
      byPair.set(key, sets)
    }
    if (this.source === 'calls') {
      await this.hopTables()
      const { rows } = await this.store.sql(edgeGroupClustersSql(tuples.join(', ')), values)
      for (const r of rows) add(r.src, r.dst, r.sc, r.dc)
    } else {
      const { rows: lines } = await this.store.sql(edgeLinesSql(tuples.join(', ')), values)
      const clusters = new Map<string, { sc: unknown; dc: unknown }>()
      const ids = [...new Set(lines.map((r) => String(r.line_id)))]
      for (let i = 0; i < ids.length; i += CLUSTER_LINES_CHUNK) {
        const chunk = ids.slice(i, i + CLUSTER_LINES_CHUNK)
        const { rows } = await this.store.sql(lineClustersSql(chunk.length), [...window, ...chunk])
        for (const r of rows) clusters.set(String(r.id), { sc: r.sc, dc: r.dc })
      }
      for (const r of lines) add(r.src, r.dst, clusters.get(String(r.line_id))?.sc, clusters.get(String(r.line_id))?.dc)
    }
    for (const e of edges) {
      const sets = byPair.get(pairKey(e.source, e.destination))
      e.sourceClusters = [...(sets?.sc ?? [])].sort()
      e.destinationClusters = [...(sets?.dc ?? [])].sort()
    }
    return edges
  }

  private async hopFlows(filter: FlowFilter): Promise<FlowEdge[]> {
    const values: (string | number)[] = []
    const bind = (v: string | number): string => {
      values.push(v)
      return `$${values.length}`
    }
    const where = [
      `h.ts >= CAST(${bind(filter.since ?? this.range.since)} AS TIMESTAMP)`,
      `h.ts < CAST(${bind(filter.until ?? this.range.until)} AS TIMESTAMP)`,
      ...identityFilters(filter, bind),
    ]
    const having = filter.finding === undefined ? '' : `HAVING list_contains(findings, ${bind(filter.finding)})`
    const limit = bind(filter.limit ?? 10_000)
    const { rows } = await this.store.sql(
      `SELECT h.src AS source, h.dst AS destination,
        mode(h.service) AS service, mode(h.dst_ns) AS dst_ns, count(*)::INTEGER AS n,
        ${ISO('min(h.ts)')} AS first_seen, ${ISO('max(h.ts)')} AS last_seen,
        list_sort(list_distinct(list(h.method) FILTER (WHERE h.method IS NOT NULL))) AS methods,
        histogram(${STATUS_CLASS_OF('h')}) AS status_classes,
        count(*) FILTER (WHERE h.mtls)::INTEGER AS mtls, count(*) FILTER (WHERE h.mtls = false)::INTEGER AS plaintext,
        count(*) FILTER (WHERE h.is_denied)::INTEGER AS denied,
        coalesce(list_sort(list_distinct(flatten(list(h.findings) FILTER (WHERE h.findings IS NOT NULL)))), []::VARCHAR[]) AS findings,
        list_transform(list_reverse_sort(list_transform(map_entries(histogram(h.dst_signal)), e -> {'n': e.value, 'k': e.key})), e -> e.k) AS signals
      FROM hunt_hop h WHERE ${where.join(' AND ')}
      GROUP BY h.src, h.dst ${having}
      ORDER BY denied DESC, n DESC, source, destination LIMIT ${limit}`,
      values,
    )
    return rows.map(flowEdge)
  }

  /** `flows` from the window's call groups (duckdb-backend-calls.ts): the same answer as over hunt_hop. */
  private async callsFlows(filter: FlowFilter): Promise<FlowEdge[]> {
    const since = filter.since ?? this.range.since
    const until = filter.until ?? this.range.until
    const values: (string | number)[] = [since, until, ...wholeHours(since, until)]
    const bind = (v: string | number): string => {
      values.push(v)
      return `$${values.length}`
    }
    const where = ['true', ...identityFilters(filter, bind)]
    const finding = filter.finding === undefined ? '' : `WHERE list_contains(e.findings, ${bind(filter.finding)})`
    const limit = bind(filter.limit ?? 10_000)
    const { rows } = await this.store.sql(callsFlowsSql(where.join(' AND '), finding, limit), values)
    return rows.map(flowEdge)
  }

  async close(): Promise<void> {
    this.groupHops = undefined
    // The temp tables belong to the store's connection; dropping them frees the memory of large windows.
    for (const t of [
      'hunt_baseline',
      'hunt_hop',
      'hunt_group_hop',
      'hunt_alias',
      'hunt_pair',
      'hunt_match',
      'hunt_ck',
      'hunt_sk',
      'hunt_ew',
      'hunt_inventory',
      'hunt_clusters',
    ])
      await this.store.sql(`DROP TABLE IF EXISTS ${t}`).catch(() => undefined)
  }
}

/** The `flows` filters on identities and namespace, over a relation `h` of resolved hops or groups. */
function identityFilters(filter: FlowFilter, bind: (v: string | number) => string): string[] {
  const where: string[] = []
  if (filter.nodes !== undefined) {
    const list = filter.nodes.map((n) => bind(n)).join(', ')
    where.push(filter.nodes.length === 0 ? 'false' : `(h.src IN (${list}) OR h.dst IN (${list}))`)
  }
  if (filter.namespace !== undefined) {
    const ns = bind(filter.namespace)
    where.push(`(h.dst_ns = ${ns} OR split_part(h.src_wl, '/', 1) = ${ns} OR split_part(h.dst_wl, '/', 1) = ${ns}
      OR contains(h.src, '/ns/' || ${ns} || '/') OR contains(h.dst, '/ns/' || ${ns} || '/'))`)
  }
  return where
}

/** The reasons a denied call names: its RBAC policy and its denial findings. */
const REASONS = `list_sort(list_distinct(flatten(list(list_concat(
          CASE WHEN h.rbac_policy IS NULL THEN []::VARCHAR[] ELSE ['rbac:' || h.rbac_policy] END,
          list_filter(coalesce(h.findings, []::VARCHAR[]), x -> x IN ${DENIAL_CODES_IN})))))) AS reasons`

/**
 * The whole hours [lo, hi) inside [from, to), read from edge_facts; the partial hours at both ends come
 * from the events themselves. A window inside one hour has no whole hour: lo = hi = to.
 */
export function wholeHours(from: string, to: string): [string, string] {
  const fromMs = Date.parse(from)
  const toMs = Date.parse(to)
  const lo = Math.ceil(fromMs / HOUR_MS) * HOUR_MS
  const hi = Math.floor(toMs / HOUR_MS) * HOUR_MS
  if (!(lo < hi)) return [to, to]
  return [new Date(lo).toISOString(), new Date(hi).toISOString()]
}

/** `f(node, since)` as bound VALUES; $1 and $2 are the analysis window. */
function frontierCte(frontier: readonly FrontierEntry[], range: { since: string; until: string }): { values: string[]; cte: string } {
  const values = [range.since, range.until]
  const tuples = frontier.map((e) => {
    values.push(e.node, e.since)
    return `($${values.length - 1}, CAST($${values.length} AS TIMESTAMP))`
  })
  return { values, cte: `f(node, since) AS (VALUES ${tuples.join(', ')})` }
}

function graphNode(id: string, names: string[]): GraphNode {
  const kind: NodeKind = kindOfNode(id)
  const node: GraphNode = { id, kind, names }
  const parts = kind === 'spiffe' ? spiffeParts(id) : undefined
  if (parts !== undefined) {
    node.namespace = parts.namespace
    node.serviceAccount = parts.serviceAccount
  } else if (kind === 'workload') {
    node.namespace = id.slice(0, id.indexOf('/'))
  } else if (kind === 'service' && id.includes('.')) {
    node.namespace = id.split('.')[1]
  }
  return node
}

function flowEdge(r: Record<string, unknown>): FlowEdge {
  const statusClasses: Record<string, number> = Object.create(null) as Record<string, number>
  for (const entry of (r.status_classes as { key: string; value: number }[] | null) ?? []) statusClasses[entry.key] = Number(entry.value)
  const source = String(r.source)
  const destination = String(r.destination)
  const edge: FlowEdge = {
    source,
    sourceKind: kindOfNode(source),
    destination,
    destinationKind: kindOfNode(destination),
    count: Number(r.n),
    firstSeen: String(r.first_seen),
    lastSeen: String(r.last_seen),
    methods: (r.methods as string[] | null) ?? [],
    statusClasses,
    mtls: Number(r.mtls),
    plaintext: Number(r.plaintext),
    denied: Number(r.denied),
    findings: (r.findings as string[] | null) ?? [],
    signals: (r.signals as string[] | null) ?? [],
  }
  if (r.service != null) edge.service = String(r.service)
  if (r.dst_ns != null) edge.destinationNamespace = String(r.dst_ns)
  return edge
}
