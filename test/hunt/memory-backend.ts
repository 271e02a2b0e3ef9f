/**
 * A HuntBackend over an in-memory list of already-resolved calls, implementing the same contract as
 * the store backends. It lets the search be checked against a brute-force reference on thousands of
 * random graphs without a store.
 */
import type { DeniedRow, ExpandRow, FlowEdge, FrontierEntry, GraphNode, HuntBackend, HuntRange } from '../../src/hunt/backend.js'
import { pairKey } from '../../src/hunt/backend.js'
import { kindOfNode } from '../../src/hunt/node-id.js'

export interface Call {
  src: string
  dst: string
  ts: string
  denied?: boolean
  plaintext?: boolean
}

export class MemoryBackend implements HuntBackend {
  readonly kind = 'duckdb' as const
  private range: HuntRange = { since: '' }
  expandCalls = 0

  constructor(private readonly calls: readonly Call[]) {}

  async prepare(range: HuntRange): Promise<void> {
    this.range = range
  }

  private inWindow(c: Call): boolean {
    return c.ts >= this.range.since && (this.range.until === undefined || c.ts < this.range.until)
  }

  async nodes(): Promise<GraphNode[]> {
    const ids = [...new Set(this.calls.flatMap((c) => [c.src, c.dst]))].sort()
    return ids.map((id) => ({ id, kind: kindOfNode(id), names: [] }))
  }

  async expand(frontier: readonly FrontierEntry[]): Promise<ExpandRow[]> {
    this.expandCalls++
    const since = new Map(frontier.map((f) => [f.node, f.since]))
    const rows = new Map<string, ExpandRow>()
    for (const c of this.calls) {
      const s = since.get(c.src)
      if (s === undefined || c.denied === true || c.src === c.dst || !this.inWindow(c) || c.ts < s) continue
      const key = pairKey(c.src, c.dst)
      const prev = rows.get(key)
      const plain = c.plaintext === true
      if (prev === undefined) {
        rows.set(key, {
          src: c.src,
          dst: c.dst,
          first: c.ts,
          count: 1,
          plaintext: Number(plain),
          firstPlaintext: plain,
          srcSignal: 'test',
          dstSignal: 'test',
        })
      } else {
        prev.count++
        prev.plaintext += Number(plain)
        if (c.ts < prev.first) Object.assign(prev, { first: c.ts, firstPlaintext: plain })
      }
    }
    return [...rows.values()]
  }

  async denied(frontier: readonly FrontierEntry[]): Promise<DeniedRow[]> {
    const since = new Map(frontier.map((f) => [f.node, f.since]))
    const rows = new Map<string, DeniedRow>()
    for (const c of this.calls) {
      const s = since.get(c.src)
      if (s === undefined || c.denied !== true || !this.inWindow(c) || c.ts < s) continue
      const key = pairKey(c.src, c.dst)
      const prev = rows.get(key)
      if (prev === undefined) rows.set(key, { src: c.src, dst: c.dst, count: 1, first: c.ts, last: c.ts, reasons: ['authz_denied'] })
      else
        Object.assign(prev, {
          count: prev.count + 1,
          first: c.ts < prev.first ? c.ts : prev.first,
          last: c.ts > prev.last ? c.ts : prev.last,
        })
    }
    return [...rows.values()]
  }

  async firstSeen(pairs: readonly { src: string; dst: string }[]): Promise<Map<string, string>> {
    const wanted = new Set(pairs.map((p) => pairKey(p.src, p.dst)))
    const from = this.range.baselineFrom ?? this.range.since
    const out = new Map<string, string>()
    for (const c of this.calls) {
      const key = pairKey(c.src, c.dst)
      if (!wanted.has(key) || c.ts < from || (this.range.until !== undefined && c.ts >= this.range.until)) continue
      const prev = out.get(key)
      if (prev === undefined || c.ts < prev) out.set(key, c.ts)
    }
    return out
  }

  async flows(): Promise<FlowEdge[]> {
    throw new Error('not used by the search tests')
  }

  async close(): Promise<void> {}
}
