/**
 * A full garbage collection between chunks of verify's scans, when the chunks read since the last one
 * left enough garbage. A chunk of stored rows is converted whole (2,048 rows of ~70 columns, each with
 * its document, parsed and re-serialized) and stays reachable while it is checked, so it outlives the
 * young generation's collections and is promoted; V8 then lets the old generation grow far past what
 * is live before it collects, which made most of verify's peak memory. Collecting once the heap grew
 * by HEADROOM since the last collection bounds it whatever a chunk weighs (short or long documents, a
 * ledger row or an event); a collection of a heap this small costs a few milliseconds.
 * `--expose-gc` is set at run time (the CLI starts without it); where that is refused the scans run
 * without, as before.
 */
import { getHeapStatistics, setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

let collect: (() => void) | null | undefined

function handle(): (() => void) | null {
  const own = (globalThis as { gc?: () => void }).gc
  if (typeof own === 'function') return own
  try {
    setFlagsFromString('--expose-gc')
    const gc: unknown = runInNewContext('gc')
    return typeof gc === 'function' ? (gc as () => void) : null
  } catch {
    return null
  }
}

/** Heap growth since the last collection that triggers the next one. */
const HEADROOM = 16 * 1024 * 1024

/** Call once per chunk read: collects when the heap grew by `headroom` bytes since the last collection. */
export function chunkCollector(headroom = HEADROOM): () => void {
  let floor: number | undefined
  return () => {
    collect ??= handle()
    if (collect === null) return
    const used = getHeapStatistics().used_heap_size
    if (floor !== undefined && used - floor < headroom) return
    if (floor !== undefined) collect()
    floor = getHeapStatistics().used_heap_size
  }
}
