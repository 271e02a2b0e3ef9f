/**
 * The embedded DuckDB store as a pipeline sink. The store (src/store) is also what hunt, report and sql
 * read; this is only its write side. A store the caller opened and keeps (ingest, demo: the report reads
 * it after the run) is left open at close().
 */
import type { Sink } from '../pipeline/component.js'
import type { DuckDbStore } from '../store/duckdb-store.js'

export interface DuckDbSink extends Sink {
  readonly store: DuckDbStore
  /** Whether close() closes the store too. */
  readonly closesStore: boolean
}

export function createDuckDbSink(store: DuckDbStore, options: { closeStore: boolean }): DuckDbSink {
  return {
    name: store.name,
    store,
    closesStore: options.closeStore,
    start: () => store.start(),
    write: (events) => store.writeEvents(events),
    close: () => (options.closeStore ? store.close() : Promise.resolve()),
  }
}
