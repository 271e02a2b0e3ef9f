/**
 * Human and picture renderings of hunt results and flows. JSON output is the HuntResult itself; these
 * are for a responder's terminal (a tree by first arrival) and for reports (Graphviz dot, Mermaid).
 * Node ids come from logs, so every label is escaped for the target syntax.
 */
import type { FlowEdge } from './backend.js'
import type { NewEdgeFinding } from './baseline.js'
import type { HuntHop, HuntResult, ReachedNode } from './search.js'

export interface RenderOptions {
  /** Show denied-only destinations (probes) as leaves of the picture, not only as notes. */
  includeDenied: boolean
}

/** Control characters from log-controlled names would forge lines in a terminal: shown escaped. */
const clean = (s: string): string => s.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)

function hopFlags(h: HuntHop): string {
  const flags: string[] = []
  if (h.newEdge) flags.push('NEW')
  if (h.plaintext) flags.push('PLAINTEXT')
  else if (h.plaintextCalls > 0) flags.push(`plaintext ${h.plaintextCalls}/${h.calls}`)
  // Which clusters the call ran between; across an east-west gateway the two differ.
  if (h.sourceCluster !== undefined || h.destinationCluster !== undefined) {
    const src = h.sourceCluster ?? '?'
    const dst = h.destinationCluster ?? '?'
    flags.push(clean(src === dst ? `cluster ${src}` : `clusters ${src} → ${dst}`))
  }
  return flags.length === 0 ? '' : `  ${flags.join(' ')}`
}

/** Children by the source of each node's last witness hop: the edge that delivered its earliest arrival. */
function children(result: HuntResult): Map<string, ReachedNode[]> {
  const map = new Map<string, ReachedNode[]>()
  for (const r of result.reached) {
    const last = r.path[r.path.length - 1]
    if (last === undefined) continue
    const list = map.get(last.from) ?? []
    list.push(r)
    map.set(last.from, list)
  }
  return map
}

export function renderHuntText(result: HuntResult, opts: RenderOptions): string {
  const lines: string[] = []
  const window = `${result.since}${result.until === undefined ? '' : ` until ${result.until}`}`
  lines.push(`hunt from ${clean(result.from.join(', '))} since ${window} (max depth ${result.maxDepth}, ${result.rounds} round(s))`)
  if (result.baselineFrom !== undefined) lines.push(`edges are NEW when not seen between ${result.baselineFrom} and ${result.since}`)
  const kids = children(result)
  const seen = new Set<string>()
  const visit = (node: ReachedNode, prefix: string, last: boolean, depth: number): void => {
    if (seen.has(node.node)) return
    seen.add(node.node)
    const hop = node.path[node.path.length - 1]
    const branch = depth === 0 ? '' : last ? '└─ ' : '├─ '
    const head =
      hop === undefined ? `${node.node}  [origin]` : `${hop.at}  ${node.node}  via ${hop.service ?? '?'} [${hop.dstSignal}]${hopFlags(hop)}`
    lines.push(`${prefix}${branch}${clean(head)}`)
    const inner = depth === 0 ? '' : `${prefix}${last ? '   ' : '│  '}`
    for (const p of node.probes) {
      lines.push(
        `${inner}   ! denied ${p.count}× → ${clean(`${p.dst}${p.service === undefined ? '' : ` (${p.service})`} ${p.first}..${p.last}${p.reasons.length === 0 ? '' : ` [${p.reasons.join(', ')}]`}`)}`,
      )
    }
    const list = kids.get(node.node) ?? []
    list.forEach((child, i) => visit(child, inner, i === list.length - 1, depth + 1))
  }
  for (const origin of result.reached.filter((r) => r.path.length === 0)) visit(origin, '', true, 0)
  const fresh = result.edges.filter((e) => e.newEdge)
  if (fresh.length > 0) {
    lines.push(`new edges in reach (${fresh.length}):`)
    for (const e of fresh)
      lines.push(clean(`  ${e.at}  ${e.from} → ${e.to}  ${e.calls} call(s) [${e.dstSignal}]${e.plaintextCalls > 0 ? ' plaintext' : ''}`))
  }
  if (opts.includeDenied && result.probedOnly.length > 0) {
    lines.push(`probed but never reached: ${clean(result.probedOnly.join(', '))}`)
  }
  const hops = result.reached.flatMap((r) => r.path.slice(-1))
  const probes = result.reached.reduce((n, r) => n + r.probes.reduce((m, p) => m + p.count, 0), 0)
  lines.push(
    `${result.reached.length - result.from.length} reached, ${hops.filter((h) => h.newEdge).length} via new edges, ` +
      `${hops.filter((h) => h.plaintext).length} plaintext hops, ${probes} denied calls${result.truncated ? '; depth limit hit, deeper paths may exist' : ''}`,
  )
  return `${lines.join('\n')}\n`
}

const dotEscape = (s: string): string => s.replace(/[\\"]/g, (c) => `\\${c}`).replace(/[\r\n]/g, ' ')
/** Mermaid labels are quoted; quotes and angle brackets become entities so a crafted name cannot break out. */
const mermaidEscape = (s: string): string =>
  s
    .replace(/"/g, '#quot;')
    .replace(/</g, '#lt;')
    .replace(/>/g, '#gt;')
    .replace(/[\r\n]/g, ' ')

function pictureEdges(
  result: HuntResult,
  opts: RenderOptions,
): { nodes: string[]; edges: { from: string; to: string; label: string; kind: 'hop' | 'new' | 'plaintext' | 'denied' }[] } {
  const nodes = result.reached.map((r) => r.node)
  const edges: { from: string; to: string; label: string; kind: 'hop' | 'new' | 'plaintext' | 'denied' }[] = []
  for (const r of result.reached) {
    const h = r.path[r.path.length - 1]
    if (h === undefined) continue
    edges.push({
      from: h.from,
      to: h.to,
      label: `${h.at}${h.newEdge ? ' NEW' : ''}${h.plaintext ? ' plaintext' : ''}`,
      kind: h.newEdge ? 'new' : h.plaintext ? 'plaintext' : 'hop',
    })
  }
  const drawn = new Set(edges.map((e) => `${e.from}\u0000${e.to}`))
  for (const e of result.edges) {
    if (e.newEdge && !drawn.has(`${e.from}\u0000${e.to}`)) edges.push({ from: e.from, to: e.to, label: `${e.at} NEW`, kind: 'new' })
  }
  if (opts.includeDenied) {
    for (const r of result.reached) {
      for (const p of r.probes) {
        if (!nodes.includes(p.dst)) nodes.push(p.dst)
        edges.push({ from: p.src, to: p.dst, label: `denied ${p.count}x`, kind: 'denied' })
      }
    }
  }
  return { nodes, edges }
}

export function renderHuntDot(result: HuntResult, opts: RenderOptions): string {
  const { nodes, edges } = pictureEdges(result, opts)
  const origins = new Set(result.from)
  const style = {
    hop: '',
    new: ', color="red", penwidth=2',
    plaintext: ', style="dashed", color="orange"',
    denied: ', style="dotted", color="gray"',
  }
  const out = ['digraph hunt {', '  rankdir=LR;', '  node [shape=box, fontname="Helvetica"];']
  for (const n of nodes) out.push(`  "${dotEscape(n)}"${origins.has(n) ? ' [style=filled, fillcolor="#f4cccc"]' : ''};`)
  for (const e of edges) out.push(`  "${dotEscape(e.from)}" -> "${dotEscape(e.to)}" [label="${dotEscape(e.label)}"${style[e.kind]}];`)
  out.push('}')
  return `${out.join('\n')}\n`
}

export function renderHuntMermaid(result: HuntResult, opts: RenderOptions): string {
  const { nodes, edges } = pictureEdges(result, opts)
  const ids = new Map(nodes.map((n, i) => [n, `n${i}`]))
  const out = ['flowchart LR']
  for (const n of nodes) out.push(`  ${ids.get(n)}["${mermaidEscape(n)}"]`)
  const arrow = { hop: '-->', new: '==>', plaintext: '-.->', denied: '-.-x' }
  for (const e of edges) out.push(`  ${ids.get(e.from)} ${arrow[e.kind]}|"${mermaidEscape(e.label)}"| ${ids.get(e.to)}`)
  for (const o of result.from) if (ids.has(o)) out.push(`  style ${ids.get(o)} fill:#f4cccc`)
  return `${out.join('\n')}\n`
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const fmt = (r: string[]): string => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')
  return `${[fmt(header), ...rows.map((r) => fmt(r.map(clean)))].join('\n')}\n`
}

export function renderFlowsText(edges: readonly FlowEdge[], newEdges: readonly NewEdgeFinding[] = []): string {
  const fresh = new Set(newEdges.map((f) => `${f.source}\u0000${f.destination}`))
  const rows = edges.map((e) => {
    const status = Object.entries(e.statusClasses)
      .sort()
      .map(([k, v]) => `${k}:${v}`)
      .join(' ')
    const share = e.count === 0 ? '-' : `${Math.round((100 * e.mtls) / e.count)}%`
    return [
      e.source,
      e.destination + (e.service !== undefined && e.service !== e.destination ? ` (${e.service})` : ''),
      String(e.count),
      e.firstSeen,
      e.lastSeen,
      e.methods.join(',') || '-',
      status || '-',
      share,
      String(e.denied),
      [...(fresh.has(`${e.source}\u0000${e.destination}`) ? ['new_edge'] : []), ...e.findings].join(',') || '-',
      e.signals[0] ?? '-',
      flowClusters(e),
    ]
  })
  return table(
    ['SOURCE', 'DESTINATION', 'CALLS', 'FIRST', 'LAST', 'METHODS', 'STATUS', 'MTLS', 'DENIED', 'FINDINGS', 'LINK', 'CLUSTERS'],
    rows,
  )
}

/** `west` for calls inside one cluster, `east → west` across a gateway, `-` when no line named a cluster. */
export function flowClusters(e: Pick<FlowEdge, 'sourceClusters' | 'destinationClusters'>): string {
  const src = (e.sourceClusters ?? []).join(',')
  const dst = (e.destinationClusters ?? []).join(',')
  if (src === '' && dst === '') return '-'
  return src === dst ? src : `${src || '?'} → ${dst || '?'}`
}
