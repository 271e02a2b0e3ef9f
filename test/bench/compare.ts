/**
 * Compares benchmark summaries over time: `npx tsx test/bench/compare.ts HISTORY.ndjson [--base COMMIT]`
 * where HISTORY holds the JSON lines the benchmarks print (`BENCH_HISTORY=FILE npm run bench` appends
 * them). For each benchmark, its newest line against the one before it (or against the newest line of
 * commit COMMIT): every numeric field, nested ones flattened (`usPerRecord.parse`), with after/before.
 * Whether higher is better depends on the field (events/s vs µs/record), so the ratio is printed as
 * is; the load averages of both runs are printed with them, since on a shared machine they explain
 * most wall-time differences.
 */
import { readFileSync } from 'node:fs'

export interface Summary {
  bench: string
  commit?: string
  at?: string
  loadAverage?: number
  [field: string]: unknown
}

export interface Row {
  field: string
  before: number
  after: number
  ratio: number
}

const CONTEXT = new Set(['bench', 'commit', 'dirty', 'at', 'node', 'cpus', 'loadAverage', 'target'])

/** Numeric leaves of a summary, keyed by dotted path; context fields left out. */
export function numericFields(summary: Summary): Map<string, number> {
  const out = new Map<string, number>()
  const walk = (value: unknown, path: string): void => {
    if (typeof value === 'number' && Number.isFinite(value)) out.set(path, value)
    else if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) walk(v, path === '' ? k : `${path}.${k}`)
    }
  }
  for (const [k, v] of Object.entries(summary)) if (!CONTEXT.has(k)) walk(v, k)
  return out
}

/** The fields both summaries have, in the newer one's order. */
export function compareSummaries(before: Summary, after: Summary): Row[] {
  const a = numericFields(before)
  const rows: Row[] = []
  for (const [field, value] of numericFields(after)) {
    const old = a.get(field)
    if (old === undefined) continue
    rows.push({ field, before: old, after: value, ratio: old === 0 ? (value === 0 ? 1 : Infinity) : value / old })
  }
  return rows
}

/** Per benchmark: [before, after], the newest line and the one before it (or the base commit's newest). */
export function pairs(history: readonly Summary[], baseCommit?: string): Map<string, [Summary, Summary]> {
  const byBench = new Map<string, Summary[]>()
  for (const s of history) {
    if (typeof s.bench !== 'string') continue
    const list = byBench.get(s.bench) ?? []
    list.push(s)
    byBench.set(s.bench, list)
  }
  const out = new Map<string, [Summary, Summary]>()
  for (const [bench, runs] of byBench) {
    const after = runs[runs.length - 1]!
    const before =
      baseCommit === undefined
        ? runs[runs.length - 2]
        : [...runs].reverse().find((r) => r !== after && typeof r.commit === 'string' && r.commit.startsWith(baseCommit))
    if (before !== undefined) out.set(bench, [before, after])
  }
  return out
}

export function parseHistory(text: string): Summary[] {
  const out: Summary[] = []
  for (const line of text.split('\n')) {
    const t = line.trim()
    if (!t.startsWith('{')) continue // the benches' progress lines and npm's noise
    try {
      const v = JSON.parse(t) as unknown
      if (v !== null && typeof v === 'object' && typeof (v as Summary).bench === 'string') out.push(v as Summary)
    } catch {
      // a truncated line from an interrupted run
    }
  }
  return out
}

function fmt(n: number): string {
  return Math.abs(n) >= 1000 ? Math.round(n).toString() : Number(n.toPrecision(4)).toString()
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2)
  const file = args[0]
  const baseAt = args.indexOf('--base')
  const base = baseAt >= 0 ? args[baseAt + 1] : undefined
  if (file === undefined || (baseAt >= 0 && base === undefined)) {
    process.stderr.write('usage: compare.ts HISTORY.ndjson [--base COMMIT]\n')
    process.exit(2)
  }
  const found = pairs(parseHistory(readFileSync(file, 'utf8')), base)
  if (found.size === 0) process.stdout.write('nothing to compare: each benchmark needs two summaries (or one of --base and a newer one)\n')
  for (const [bench, [before, after]] of found) {
    process.stdout.write(
      `${bench}: ${before.commit ?? '?'} (${before.at ?? '?'}, load ` +
        `${before.loadAverage ?? '?'}) -> ${after.commit ?? '?'} (${after.at ?? '?'}, ` +
        `load ${after.loadAverage ?? '?'})\n`,
    )
    for (const r of compareSummaries(before, after)) {
      process.stdout.write(`  ${r.field.padEnd(34)} ${fmt(r.before).padStart(10)} -> ${fmt(r.after).padStart(10)}  x${fmt(r.ratio)}\n`)
    }
  }
}
