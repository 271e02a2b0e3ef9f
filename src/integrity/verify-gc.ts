/**
 * A full garbage collection between chunks of the event scans. Each chunk of stored events (2,048
 * rows of ~70 columns and a 3 KB document, parsed and re-serialized) leaves tens of MB of garbage;
 * V8 lets the old generation grow far past what is live before it collects, which made most of
 * verify's peak memory. A collection of a heap this small costs a few milliseconds a chunk.
 * `--expose-gc` is set at run time (the CLI starts without it); where that is refused the scans run
 * without, as before.
 */
import { setFlagsFromString } from 'node:v8'
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

/** Collects every `every` calls (one call per chunk). */
export function chunkCollector(every = 2): () => void {
  let n = 0
  return () => {
    if (++n % every !== 0) return
    collect ??= handle()
    collect?.()
  }
}
