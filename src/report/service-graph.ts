/**
 * The service graph of the report as inline SVG: nodes are workload identities, edges are observed
 * flows coloured by what they prove (mTLS, plaintext, denied, outside the mesh). Edges also differ by
 * dash pattern so the picture still reads when printed in black and white. Layout is a simple layered
 * one (longest path from the entry points), deterministic for a given set of edges.
 */
import type { EdgeRow } from '../store/store.js'
import { escapeHtml } from './html-escape.js'

export type NodeGroup = 'mesh' | 'foreign' | 'internet' | 'external' | 'unidentified'
export type EdgeState = 'denied' | 'plaintext' | 'mixed' | 'mtls' | 'outside'

export interface GraphNode {
  id: string
  label: string
  namespace: string
  group: NodeGroup
  /** Istio cluster ids the identity was seen in (sorted), when the edges carry them. */
  clusters: string[]
}

export interface GraphEdge {
  from: string
  to: string
  count: number
  mtls: number
  denied: number
  findings: string[]
  state: EdgeState
  /** Source cluster → destination cluster pairs when the edge crosses clusters (an east-west call). */
  crossCluster: string[]
}

const PRIVATE_IP = /^(10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|127\.|fd|fc)/i
const IP = /^(\d{1,3}(\.\d{1,3}){3}|\[?[0-9a-f:]+\]?)(:\d+)?$/i
const SPIFFE = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/

/** Maps a store source/destination name to the node it belongs to. */
export function nodeFor(name: string, localTrustDomain: string): GraphNode {
  const spiffe = SPIFFE.exec(name)
  if (spiffe !== null) {
    const [, td, ns, sa] = spiffe as unknown as [string, string, string, string]
    if (td === localTrustDomain)
      return { id: `${ns}/${sa}`, label: sa.replace(/-service-account$/, ''), namespace: ns, group: 'mesh', clusters: [] }
    return { id: name, label: `${sa} @ ${td}`, namespace: ns, group: 'foreign', clusters: [] }
  }
  if (IP.test(name)) {
    const host = name.replace(/:\d+$/, '').replace(/^\[|\]$/g, '')
    if (PRIVATE_IP.test(host)) return { id: host, label: host, namespace: 'no identity', group: 'unidentified', clusters: [] }
    return { id: 'internet', label: 'internet clients', namespace: 'internet', group: 'internet', clusters: [] }
  }
  const slash = /^([a-z0-9-]+)\/([a-z0-9.-]+)$/i.exec(name)
  if (slash !== null) return { id: name, label: slash[2]!, namespace: slash[1]!, group: 'mesh', clusters: [] }
  const svc = /^([a-z0-9-]+)\.([a-z0-9-]+)(\.svc(\.cluster\.local)?)?$/i.exec(name)
  if (svc !== null && !/\.(com|org|net|io|dev|example|gov|mil|edu)$/i.test(name)) {
    return { id: `${svc[2]}/${svc[1]}`, label: svc[1]!, namespace: svc[2]!, group: 'mesh', clusters: [] }
  }
  return { id: name, label: name, namespace: 'external', group: 'external', clusters: [] }
}

function addClusters(node: GraphNode, clusters: readonly string[] | undefined): void {
  for (const c of clusters ?? []) if (!node.clusters.includes(c)) node.clusters.push(c)
  node.clusters.sort()
}

export function buildGraph(edges: readonly EdgeRow[], localTrustDomain = 'cluster.local'): { nodes: GraphNode[]; edges: GraphEdge[] } {
  const nodes = new Map<string, GraphNode>()
  const merged = new Map<string, GraphEdge>()
  for (const e of edges) {
    const a = nodeFor(e.source, localTrustDomain)
    const b = nodeFor(e.destination, localTrustDomain)
    if (!nodes.has(a.id)) nodes.set(a.id, a)
    if (!nodes.has(b.id)) nodes.set(b.id, b)
    addClusters(nodes.get(a.id)!, e.sourceClusters)
    addClusters(nodes.get(b.id)!, e.destinationClusters)
    const key = `${a.id}\u0000${b.id}`
    const g = merged.get(key) ?? {
      from: a.id,
      to: b.id,
      count: 0,
      mtls: 0,
      denied: 0,
      findings: [],
      state: 'mtls' as EdgeState,
      crossCluster: [] as string[],
    }
    for (const sc of e.sourceClusters ?? [])
      for (const dc of e.destinationClusters ?? [])
        if (sc !== dc && !g.crossCluster.includes(`${sc} → ${dc}`)) g.crossCluster.push(`${sc} → ${dc}`)
    g.count += e.count
    g.mtls += e.mtls
    g.denied += e.denied
    for (const f of e.findings) if (!g.findings.includes(f)) g.findings.push(f)
    merged.set(key, g)
  }
  for (const g of merged.values()) {
    const target = nodes.get(g.to)!
    g.state =
      g.denied > 0 ? 'denied' : target.group === 'external' ? 'outside' : g.mtls >= g.count ? 'mtls' : g.mtls === 0 ? 'plaintext' : 'mixed'
  }
  return { nodes: [...nodes.values()], edges: [...merged.values()] }
}

/** Column of each node: the longest path to it from a node nothing calls (cycles are cut). */
function ranks(nodes: readonly GraphNode[], edges: readonly GraphEdge[]): Map<string, number> {
  const out = new Map<string, GraphEdge[]>()
  const indegree = new Map<string, number>(nodes.map((n) => [n.id, 0]))
  for (const e of edges) {
    if (e.from === e.to) continue
    out.set(e.from, [...(out.get(e.from) ?? []), e])
    indegree.set(e.to, (indegree.get(e.to) ?? 0) + 1)
  }
  const rank = new Map<string, number>()
  const roots = nodes.filter((n) => indegree.get(n.id) === 0).map((n) => n.id)
  const visit = (id: string, depth: number, path: Set<string>): void => {
    if ((rank.get(id) ?? -1) >= depth || path.has(id) || depth > nodes.length) return
    rank.set(id, depth)
    path.add(id)
    for (const e of out.get(id) ?? []) visit(e.to, depth + 1, path)
    path.delete(id)
  }
  for (const r of roots) visit(r, 0, new Set())
  for (const n of nodes) if (!rank.has(n.id)) visit(n.id, 0, new Set())
  return rank
}

const PALETTE = ['#e3f2fd', '#e8f5e9', '#fff3e0', '#f3e5f5', '#e0f7fa', '#fce4ec', '#f1f8e9', '#ede7f6', '#fffde7', '#e0f2f1']
const EDGE_STYLE: Record<EdgeState, { color: string; dash: string; label: string }> = {
  mtls: { color: '#2e7d32', dash: '', label: 'mTLS' },
  mixed: { color: '#f9a825', dash: '8 3 2 3', label: 'partly plaintext' },
  plaintext: { color: '#e65100', dash: '2 3', label: 'plaintext' },
  denied: { color: '#c62828', dash: '7 4', label: 'denied (some or all requests)' },
  outside: { color: '#616161', dash: '12 4', label: 'leaves the mesh' },
}

const NODE_W = 172
const NODE_H = 38
const COL_GAP = 96
const ROW_GAP = 28

export function renderServiceGraph(edgeRows: readonly EdgeRow[], localTrustDomain = 'cluster.local'): string {
  const { nodes, edges } = buildGraph(edgeRows, localTrustDomain)
  if (nodes.length === 0) return '<p class="muted">No flows in the selected range.</p>'
  const rank = ranks(nodes, edges)
  const columns: GraphNode[][] = []
  for (const n of nodes) (columns[rank.get(n.id) ?? 0] ??= []).push(n)
  const order = (g: GraphNode) => ['internet', 'mesh', 'foreign', 'unidentified', 'external'].indexOf(g.group)
  const pos = new Map<string, { x: number; y: number }>()
  const height = Math.max(...columns.map((c) => c?.length ?? 0)) * (NODE_H + ROW_GAP) + 20
  columns.forEach((col, i) => {
    if (col === undefined) return
    col.sort((a, b) => order(a) - order(b) || a.namespace.localeCompare(b.namespace) || a.label.localeCompare(b.label))
    const top = (height - col.length * (NODE_H + ROW_GAP)) / 2
    col.forEach((n, j) => pos.set(n.id, { x: 10 + i * (NODE_W + COL_GAP), y: top + j * (NODE_H + ROW_GAP) }))
  })
  const width = columns.length * (NODE_W + COL_GAP) - COL_GAP + 20
  const namespaces = [...new Set(nodes.filter((n) => n.group === 'mesh').map((n) => n.namespace))].sort()
  const fill = (n: GraphNode): string =>
    n.group === 'mesh'
      ? PALETTE[namespaces.indexOf(n.namespace) % PALETTE.length]!
      : n.group === 'foreign'
        ? '#ffebee'
        : n.group === 'internet'
          ? '#eceff1'
          : '#fafafa'

  const paths = edges.map((e) => {
    const a = pos.get(e.from)!
    const b = pos.get(e.to)!
    const style = EDGE_STYLE[e.state]
    const w = (1 + Math.log10(Math.max(1, e.count)) * 1.3).toFixed(1)
    const x1 = a.x + NODE_W
    const y1 = a.y + NODE_H / 2
    let d: string
    if (b.x > a.x) {
      const x2 = b.x - 6
      const y2 = b.y + NODE_H / 2
      const mid = (x1 + x2) / 2
      d = `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`
    } else {
      // Same column or backwards: loop around below the nodes so the edge never hides behind one.
      const y2 = b.y + NODE_H - 4
      d = `M${a.x + NODE_W / 2},${a.y + NODE_H} C${a.x + NODE_W / 2},${a.y + NODE_H + 40} ${b.x + NODE_W / 2 + 30},${b.y + NODE_H + 40} ${b.x + NODE_W / 2 + 6},${y2 + 6}`
    }
    const across = e.crossCluster.length > 0 ? `; across clusters ${e.crossCluster.join(', ')}` : ''
    const found = e.findings.length > 0 ? `; findings: ${e.findings.join(', ')}` : ''
    const tip = `${e.from} → ${e.to}: ${e.count} requests, ${e.mtls} mTLS, ${e.denied} denied${found}${across}`
    return `<path d="${d}" fill="none" stroke="${style.color}" stroke-width="${w}"${style.dash === '' ? '' : ` stroke-dasharray="${style.dash}"`} marker-end="url(#arrow-${e.state})" class="edge edge-${e.state}${e.crossCluster.length > 0 ? ' edge-cross-cluster' : ''}"><title>${escapeHtml(tip)}</title></path>`
  })
  const boxes = nodes.map((n) => {
    const p = pos.get(n.id)!
    const stroke = n.group === 'foreign' ? '#c62828' : n.group === 'unidentified' ? '#e65100' : '#546e7a'
    const dash = n.group === 'external' || n.group === 'unidentified' ? ' stroke-dasharray="4 3"' : ''
    const label = n.label.length > 24 ? `${n.label.slice(0, 23)}…` : n.label
    const where = n.clusters.length === 0 ? '' : ` · ${n.clusters.join(', ')}`
    const sub =
      n.group === 'mesh'
        ? `ns ${n.namespace}${where}`
        : n.group === 'foreign'
          ? 'foreign trust domain'
          : n.group === 'unidentified'
            ? 'no identity'
            : n.group === 'internet'
              ? 'via ingress'
              : 'outside the mesh'
    return (
      `<g class="node node-${n.group}"${n.clusters.length === 0 ? '' : ` data-clusters="${escapeHtml(n.clusters.join(' '))}"`} transform="translate(${p.x.toFixed(1)},${p.y.toFixed(1)})"><title>${escapeHtml(n.id)}</title>` +
      `<rect width="${NODE_W}" height="${NODE_H}" rx="6" fill="${fill(n)}" stroke="${stroke}" stroke-width="1.3"${dash}/>` +
      `<text x="10" y="16" class="node-label">${escapeHtml(label)}</text><text x="10" y="30" class="node-sub">${escapeHtml(sub)}</text></g>`
    )
  })
  const markers = Object.entries(EDGE_STYLE).map(
    ([state, s]) =>
      `<marker id="arrow-${state}" viewBox="0 0 10 10" refX="8" refY="5" markerUnits="userSpaceOnUse" markerWidth="11" markerHeight="11" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="${s.color}"/></marker>`,
  )
  const legend = Object.values(EDGE_STYLE).map(
    (s) =>
      `<span class="legend-item"><svg width="34" height="10" aria-hidden="true"><line x1="0" y1="5" x2="34" y2="5" stroke="${s.color}" stroke-width="2.5"${s.dash === '' ? '' : ` stroke-dasharray="${s.dash}"`}/></svg>${escapeHtml(s.label)}</span>`,
  )
  return (
    `<div class="legend">${legend.join('')}</div>` +
    `<svg class="graph" viewBox="0 0 ${width} ${height}" width="100%" role="img" aria-label="Service graph: ${nodes.length} identities, ${edges.length} flows" xmlns="http://www.w3.org/2000/svg">` +
    `<defs>${markers.join('')}</defs>${paths.join('')}${boxes.join('')}</svg>`
  )
}
