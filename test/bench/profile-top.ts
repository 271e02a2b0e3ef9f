/**
 * Top functions of a V8 CPU profile, by self time and by inclusive time, so a profile can be read in
 * a terminal. Make one with `node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx test/bench/transform-core.ts`,
 * then: `npx tsx test/bench/profile-top.ts /tmp/prof/<file>.cpuprofile [selfRows] [inclusiveRows]`.
 * Inclusive time counts a function once per sample even when it recurses.
 */
import { readFileSync } from 'node:fs'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}

interface CpuProfile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

function label(n: ProfileNode): string {
  const f = n.callFrame
  return `${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`
}

export function topFunctions(profile: CpuProfile): { totalMs: number; self: [string, number][]; inclusive: [string, number][] } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const perNode = new Map<number, number>()
  profile.samples.forEach((id, i) => perNode.set(id, (perNode.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))
  const self = new Map<string, number>()
  const inclusive = new Map<string, number>()
  let total = 0
  for (const [id, micros] of perNode) {
    total += micros
    const leaf = byId.get(id)
    if (leaf === undefined) continue
    self.set(label(leaf), (self.get(label(leaf)) ?? 0) + micros)
    const seen = new Set<string>()
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const node = byId.get(cur)
      if (node === undefined) break
      const key = label(node)
      if (seen.has(key)) continue
      seen.add(key)
      inclusive.set(key, (inclusive.get(key) ?? 0) + micros)
    }
  }
  const sorted = (m: Map<string, number>): [string, number][] => [...m].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, v / 1000])
  return { totalMs: total / 1000, self: sorted(self), inclusive: sorted(inclusive) }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [file, selfRows = '30', inclusiveRows = '30'] = process.argv.slice(2)
  if (file === undefined) throw new Error('usage: profile-top.ts <file.cpuprofile> [selfRows] [inclusiveRows]')
  const { totalMs, self, inclusive } = topFunctions(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile)
  const row = ([k, ms]: [string, number]): string =>
    `${ms.toFixed(0).padStart(8)} ms ${((100 * ms) / totalMs).toFixed(1).padStart(5)}%  ${k}`
  process.stdout.write(`total ${totalMs.toFixed(0)} ms\n-- self time\n${self.slice(0, Number(selfRows)).map(row).join('\n')}\n`)
  process.stdout.write(`-- inclusive time\n${inclusive.slice(0, Number(inclusiveRows)).map(row).join('\n')}\n`)
}
