/**
 * Clusters in the DuckDB hunt backend. The lines carry their clusters in typed columns (`cluster`,
 * `src_cluster`, `dst_cluster`: orchestrator.cluster.name and mesh.source/destination.cluster), so:
 * - `--cluster` keeps the lines whose proxy ran in one of the clusters or that name one as either end
 *   (`hunt_clusters` holds the names, bound, never spliced); the ingest-side call tables have no
 *   cluster, so a filtered hunt or `flows` rebuilds its calls from the filtered lines (the
 *   query-time match, `source: 'events'`), learning window included;
 * - the clusters of a `flows` edge are those of its calls: from the call tables, the groups' `sc`/`dc`
 *   (edgeGroupClustersSql); in the query-time mode, read from the stored lines of its calls, for the
 *   edges printed only: the server line of a call when there is one (it logged the client's cluster
 *   from the peer metadata), else the client line (edgeLinesSql).
 */

import { CROSSES, LINE_CLUSTERS, LINE_DESTINATION_CLUSTER, LINE_SOURCE_CLUSTER } from '../store/duckdb-calls.js'
import type { SqlResult } from '../store/duckdb-store.js'

/** Predicate over `events` rows: the line belongs to one of the clusters in hunt_clusters. */
export const CLUSTER_LINE_FILTER = `list_has_any(${LINE_CLUSTERS}, (SELECT list(name) FROM hunt_clusters))`

export const CLUSTERS_TABLE_SQL = 'CREATE OR REPLACE TEMP TABLE hunt_clusters (name VARCHAR PRIMARY KEY)'

/**
 * Source and destination cluster of each line of `ids` (LINE_SOURCE_CLUSTER, LINE_DESTINATION_CLUSTER).
 * The ids are bound (`$3`...); $1/$2 bound the time, as every call is timed by the line read for it.
 */
export const lineClustersSql = (ids: number): string => `SELECT id, ${LINE_SOURCE_CLUSTER} AS sc, ${LINE_DESTINATION_CLUSTER} AS dc
  FROM events WHERE ts >= CAST($1 AS TIMESTAMP) AND ts < CAST($2 AS TIMESTAMP)
    AND id IN (${Array.from({ length: ids }, (_, i) => `$${i + 3}`).join(', ')})`

/** The lines to read per wanted edge `q(src, dst)` (VALUES from $3) in the query-time mode: every call's. $1/$2 the window. */
export const edgeLinesSql = (q: string): string => `WITH q(src, dst) AS (VALUES ${q})
  SELECT DISTINCT h.src, h.dst, h.line_id FROM hunt_hop h JOIN q ON h.src = q.src AND h.dst = q.dst
    WHERE h.ts >= CAST($1 AS TIMESTAMP) AND h.ts < CAST($2 AS TIMESTAMP)`

/**
 * The clusters per wanted edge `q(src, dst)` (VALUES from $3) in calls mode: every group of calls
 * carries its calls' clusters (`sc`, `dc`, group keys filled at ingest), so no stored line is read.
 * $1/$2 the window.
 */
export const edgeGroupClustersSql = (q: string): string => `WITH q(src, dst) AS (VALUES ${q})
  SELECT DISTINCT g.src, g.dst, g.sc, g.dc FROM hunt_group_hop g JOIN q ON g.src = q.src AND g.dst = q.dst
    WHERE g.first >= CAST($1 AS TIMESTAMP) AND g.first < CAST($2 AS TIMESTAMP)`

/** Candidate lines whose clusters are read per statement, bound by id. */
const CROSSING_CHUNK = 500

/**
 * Keeps in `table` (crid, srid: east-west candidates, eastWestCandidatesSql) the pairs whose two lines
 * name each other's cluster ($1/$2 the window).
 */
export async function keepCrossing(
  store: { sql(text: string, values?: string[]): Promise<SqlResult> },
  table: string,
  window: readonly string[],
): Promise<void> {
  const { rows } = await store.sql(`SELECT DISTINCT id FROM (SELECT crid AS id FROM ${table} UNION ALL SELECT srid FROM ${table})`)
  if (rows.length === 0) return
  const ids = rows.map((r) => String(r.id))
  await store.sql('CREATE OR REPLACE TEMP TABLE hunt_ew_cl (id VARCHAR, cl VARCHAR[])')
  for (let i = 0; i < ids.length; i += CROSSING_CHUNK) {
    const chunk = ids.slice(i, i + CROSSING_CHUNK)
    await store.sql(
      `INSERT INTO hunt_ew_cl SELECT id, ${LINE_CLUSTERS} FROM events WHERE ts >= CAST($1 AS TIMESTAMP) AND ts < CAST($2 AS TIMESTAMP)
        AND id IN (${chunk.map((_, j) => `$${j + 3}`).join(', ')})`,
      [...window, ...chunk],
    )
  }
  await store.sql(`CREATE OR REPLACE TEMP TABLE ${table} AS SELECT x.crid, x.srid FROM ${table} x
    JOIN hunt_ew_cl c ON c.id = x.crid JOIN hunt_ew_cl s ON s.id = x.srid WHERE ${CROSSES('c.cl', 's.cl')}`)
  await store.sql('DROP TABLE hunt_ew_cl')
}
