/**
 * The evidence report as one self-contained HTML file: inline CSS, inline SVG, no script and no
 * external reference, so it opens offline, can be attached to an assessment package, and prints.
 * Every value from the store passes through escapeHtml (log content is untrusted). Key numbers carry
 * data-metric attributes so tests (and scrapers) can read them without parsing prose.
 */
import type { EdgeRow, EgressRow } from '../store/store.js'
import { escapeHtml as e } from './html-escape.js'
import type { ClusterLine, CoverageLine, ReportData } from './report-data.js'
import { renderServiceGraph } from './service-graph.js'
import { REPORT_CSS } from './report-style.js'

/** What each finding code means for an assessor, in one line. */
export const FINDING_DESCRIPTIONS: Readonly<Record<string, string>> = {
  plaintext_inbound: 'A mesh workload accepted a request without mTLS (no peer certificate, no Istio SNI): PERMISSIVE mode in use.',
  plaintext_rejected: 'A STRICT mTLS listener refused a plaintext connection (NR filter_chain_not_found): a client outside the mesh tried.',
  unregistered_egress: 'Traffic left the mesh to a host missing from the service registry via PassthroughCluster (ALLOW_ANY).',
  egress_blocked: 'Traffic to an unregistered host was dropped by BlackHoleCluster (REGISTRY_ONLY).',
  authz_denied: 'An AuthorizationPolicy (Envoy RBAC) denied the request; the matched policy is recorded.',
  ext_authz_denied: 'External authorization (Istio CUSTOM action) denied the request (UAEX).',
  weak_tls: 'TLS below 1.2, or a cipher outside the FIPS 140 approved list.',
  foreign_trust_domain: 'The peer certificate belongs to a trust domain that is neither the mesh nor a configured alias.',
  au3_incomplete: 'The record lacks an element AU-3 requires (see AU-3 completeness below).',
}

const num = (n: number): string => n.toLocaleString('en-US')

/** Identities are long and unbreakable; allow line breaks after their separators only. */
const ident = (name: string): string => e(name).replace(/([/.|])/g, '$1<wbr>')

/** `2026-11-20 14:01:48` (UTC is stated once, in the header): readable and never wrapped mid-number. */
const time = (iso: string): string => e(iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, ''))
const span = (first: string, last: string): string =>
  `<span class="when">${time(first)}</span>${first === last ? '' : `<br><span class="when">${time(last)}</span>`}`
const pct = (p: number | null): string => (p === null ? '—' : `${p.toFixed(1)}%`)

function bar(p: number | null, good = 95): string {
  if (p === null) return '<span class="muted">no inbound</span>'
  const cls = p >= good ? 'ok' : p >= 50 ? 'warn' : 'bad'
  return `<div class="bar track-${cls}" role="img" aria-label="${pct(p)}"><div class="fill ${cls}" style="width:${Math.max(0, Math.min(100, p)).toFixed(1)}%"></div></div>`
}

const sev = (s: string): string => `<span class="sev sev-${e(s)}">${e(s)}</span>`

function table(headers: string[], rows: string[][], cls = ''): string {
  if (rows.length === 0) return '<p class="muted">None in the selected range.</p>'
  const head = headers.map((h) => `<th>${h}</th>`).join('')
  return `<table class="${cls}"><thead><tr>${head}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('')}</tbody></table>`
}

function mtlsRows(lines: CoverageLine[], kind: string): string[][] {
  return lines.map((l) => [
    `<span class="mono">${e(l.key)}</span>`,
    `<span class="num">${num(l.inbound)}</span>`,
    `<span class="num">${num(l.inboundMtls)}</span>`,
    `<span class="num" data-metric="mtls-pct-${kind}" data-key="${e(l.key)}">${pct(l.mtlsPct)}</span>`,
    bar(l.mtlsPct),
  ])
}

function au3Rows(lines: CoverageLine[], kind: string): string[][] {
  return lines.map((l) => {
    const missing = Object.entries(l.missing)
      .sort((a, b) => b[1] - a[1])
      .map(([m, n]) => `${e(m)} <span class="muted">(${num(n)})</span>`)
      .join(', ')
    return [
      `<span class="mono">${e(l.key)}</span>`,
      `<span class="num">${num(l.events)}</span>`,
      `<span class="num">${num(l.au3Complete)}</span>`,
      `<span class="num" data-metric="au3-pct-${kind}" data-key="${e(l.key)}">${pct(l.au3Pct)}</span>`,
      bar(l.au3Pct, 99),
      missing || '<span class="muted">—</span>',
    ]
  })
}

const CLUSTER_LEAD =
  'The cluster whose proxy wrote each record (orchestrator.cluster.name: from the log envelope, the source, the configured ' +
  'cluster or the Istio cluster id the line logs); <span class="mono">(unknown)</span> counts records that name none. ' +
  'Identities are SPIFFE IDs of one trust domain across clusters.'

/** One row per cluster: where the records came from, how much of each is covered, what was found there. */
function clusterRows(lines: ClusterLine[]): string[][] {
  return lines.map((l) => [
    `<span class="mono strong">${e(l.key)}</span>`,
    `<span class="num" data-metric="events-cluster" data-key="${e(l.key)}">${num(l.events)}</span>`,
    `<span class="num" data-metric="mtls-pct-cluster" data-key="${e(l.key)}">${pct(l.mtlsPct)}</span>`,
    `<span class="num" data-metric="au3-pct-cluster" data-key="${e(l.key)}">${pct(l.au3Pct)}</span>`,
    `<span class="num" data-metric="findings-cluster" data-key="${e(l.key)}">${num(l.findingsTotal)}</span>`,
    Object.entries(l.findings)
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .map(([code, n]) => `<span class="tag">${e(code)}</span> <span class="muted">${num(n)}</span>`)
      .join(' '),
  ])
}

const flowCell = (name: string): string => `<span class="mono">${ident(name)}</span>`

const KIND_NOTE: Record<EdgeRow['sourceKind'], string> = {
  spiffe: '',
  workload: 'workload, no certificate identity',
  ip: 'address only',
  unknown: 'unknown',
}

function edgeRows(edges: EdgeRow[]): string[][] {
  return edges.map((r) => [
    flowCell(r.source) + (KIND_NOTE[r.sourceKind] === '' ? '' : `<div class="small">${e(KIND_NOTE[r.sourceKind])}</div>`),
    flowCell(r.destination),
    `<span class="num">${num(r.count)}</span>`,
    `<span class="num">${num(r.denied)}</span>`,
    `<span class="num">${num(r.mtls)}</span>`,
    e(r.methods.join(', ') || 'tcp'),
    r.findings.map((f) => `<span class="tag">${e(f)}</span>`).join(' '),
    span(r.firstSeen, r.lastSeen),
  ])
}

function egressRows(rows: EgressRow[]): string[][] {
  return rows.map((r) => [
    flowCell(r.destination),
    `<span class="mono">${e(r.cluster)}</span>`,
    `<span class="num">${num(r.count)}</span>`,
    r.sources.map(flowCell).join('<br>'),
    span(r.firstSeen, r.lastSeen),
  ])
}

export function renderHtmlReport(d: ReportData): string {
  const highs = (d.findings.bySeverity.critical ?? 0) + (d.findings.bySeverity.high ?? 0)
  const window = d.summary.firstSeen === undefined ? 'no events' : `${d.summary.firstSeen} → ${d.summary.lastSeen ?? ''} (UTC)`
  const filter =
    (d.range.since !== undefined || d.range.until !== undefined ? ` (filter: ${d.range.since ?? '…'} → ${d.range.until ?? '…'})` : '') +
    (d.range.inClusters !== undefined && d.range.inClusters.length > 0 ? ` (clusters: ${d.range.inClusters.join(', ')})` : '')
  const kpi = (label: string, value: string, metric: string, note: string, cls = '') =>
    `<div class="kpi ${cls}"><div class="kpi-value" data-metric="${metric}">${value}</div><div class="kpi-label">${label}</div><div class="kpi-note">${note}</div></div>`

  const findingRows = d.findings.byCode.map((f) => {
    const examples = (d.findings.examples[f.code] ?? [])
      .slice(0, 3)
      .map(
        (x) =>
          `<div class="example"><span class="mono">${ident(x.source)}</span> → <span class="mono">${ident(x.destination)}</span> <span class="muted">${num(x.count)} req${x.denied > 0 ? ` · ${num(x.denied)} denied` : ''}</span></div>`,
      )
      .join('')
    const split =
      Object.keys(f.bySeverity).length > 1
        ? `<div class="small">${Object.entries(f.bySeverity)
            .map(([s, n]) => `${e(s)} ${num(n)}`)
            .join(' · ')}</div>`
        : ''
    return [
      `<span class="mono strong">${e(f.code)}</span><div class="desc">${e(FINDING_DESCRIPTIONS[f.code] ?? '')}</div>`,
      sev(f.severity) + split,
      `<span class="num" data-finding="${e(f.code)}" data-count="${f.count}">${num(f.count)}</span>`,
      f.controls.map((c) => `<span class="ctl">${e(c)}</span>`).join(' '),
      examples,
    ]
  })

  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${e(d.title)}</title>
<style>${REPORT_CSS}</style></head>
<body><main>
<header class="head">
  <div><div class="eyebrow">envoy-audit · NIST SP 800-53 Rev 5 evidence</div><h1>${e(d.title)}</h1>
  <div class="meta">Events ${e(window)}${e(filter)} · generated ${e(d.generatedAt)} · store: ${e(d.store.kind)}${d.store.location === undefined ? '' : ` <span class="mono">${e(d.store.location)}</span>`}</div></div>
</header>
${d.warnings.map((w) => `<p class="notice" data-warning>${e(w)}</p>`).join('\n')}
<section class="kpis">
  ${kpi('audit records', num(d.summary.events), 'events', 'Envoy access-log events stored')}
  ${kpi('inbound requests with mTLS', pct(d.mtls.pct), 'mtls-pct', `${num(d.mtls.inboundMtls)} of ${num(d.mtls.inbound)} · SC-8, IA-3`, d.mtls.pct !== null && d.mtls.pct < 100 ? 'warn' : 'ok')}
  ${kpi('records AU-3 complete', pct(d.au3.pct), 'au3-pct', `${num(d.au3.complete)} of ${num(d.au3.events)} · AU-3`, d.au3.pct !== null && d.au3.pct < 100 ? 'warn' : 'ok')}
  ${kpi('findings', num(d.findings.total), 'findings-total', `${num(highs)} high or critical`, highs > 0 ? 'bad' : 'ok')}
  ${kpi('denied flows', num(d.deniedFlows.length), 'denied-flows', 'source → destination pairs with denials', d.deniedFlows.length > 0 ? 'bad' : 'ok')}
</section>

<section><h2>By cluster</h2>
<p class="lead">${CLUSTER_LEAD}</p>
${table(['Cluster', 'Records', 'Inbound mTLS', 'AU-3 complete', 'Findings', 'Finding types'], clusterRows(d.clusters), 'cov')}</section>

<section><h2>Findings by type</h2>
<p class="lead">Each finding is attached to the audit record that shows it; counts are records. Examples are the busiest source → destination pairs.</p>
${table(['Finding', 'Severity', 'Records', 'Controls', 'Examples'], findingRows, 'findings')}</section>

<section class="graph-section"><h2>Service graph</h2>
<p class="lead">Nodes are workload identities: SPIFFE service accounts where a certificate was presented, otherwise the workload known at that pod address, otherwise the bare address. Each request is counted once, from the server side when both sidecars logged it.</p>
${renderServiceGraph(d.edges)}</section>

<section><h2>mTLS coverage of inbound requests</h2>
<p class="lead">Share of requests received by a sidecar (reporter = destination) that arrived over Istio mTLS with a verified peer certificate.</p>
<h3>By namespace</h3>${table(['Namespace', 'Inbound', 'mTLS', '%', ''], mtlsRows(d.mtls.byNamespace, 'namespace'), 'cov')}
<h3>By workload</h3>${table(['Workload', 'Inbound', 'mTLS', '%', ''], mtlsRows(d.mtls.byWorkload, 'workload'), 'cov')}</section>

<section><h2>AU-3 completeness</h2>
<p class="lead">A record is complete when it establishes what, when, where, source, outcome and identity (AU-3 a–f). Missing elements point at the log format to fix.</p>
<h3>Missing elements</h3>${table(
    ['AU-3 element', 'Records missing it'],
    d.au3.missing.map((m) => [e(m.element), `<span class="num" data-missing="${e(m.element)}">${num(m.count)}</span>`]),
    'narrow',
  )}
<h3>By namespace</h3>${table(['Namespace', 'Records', 'Complete', '%', '', 'Missing'], au3Rows(d.au3.byNamespace, 'namespace'), 'cov')}
<h3>By reporting proxy</h3>${table(['Reporter', 'Records', 'Complete', '%', '', 'Missing'], au3Rows(d.au3.byReporter, 'reporter'), 'cov')}</section>

<section><h2>Findings by control</h2>
${table(
  ['Control', 'Finding records', 'Finding types'],
  d.findings.byControl.map((c) => [
    `<span class="ctl">${e(c.control)}</span>`,
    `<span class="num" data-control="${e(c.control)}">${num(c.count)}</span>`,
    c.codes.map((x) => `<span class="tag">${e(x)}</span>`).join(' '),
  ]),
  'narrow',
)}</section>

<section><h2>Top denied flows</h2>
${table(['Source', 'Destination', 'Requests', 'Denied', 'mTLS', 'Methods', 'Findings', 'First / last seen'], edgeRows(d.deniedFlows), 'flows')}</section>

<section><h2>Egress outside the service registry</h2>
<p class="lead">Destinations reached through PassthroughCluster (forwarded) or BlackHoleCluster (dropped). Register approved hosts with a ServiceEntry and switch to REGISTRY_ONLY.</p>
${table(['Destination', 'Cluster', 'Connections', 'Sources', 'First / last seen'], egressRows(d.egress), 'flows')}</section>

<footer>Generated by envoy-audit from Envoy/Istio access logs. Times are request start times (UTC). Self-contained: this file loads nothing from the network.</footer>
</main></body></html>
`
}
