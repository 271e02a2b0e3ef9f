/**
 * Renders dashboards/envoy-audit.ndjson, the OpenSearch Dashboards saved objects (export format: one
 * object per line). The committed file is what users review and import; this script is how it is
 * written, and test/dashboards checks the two agree. Run: `npx tsx dashboards/build-saved-objects.ts`.
 *
 * Object shapes follow OpenSearch Dashboards exports (migrationVersion index-pattern 7.6.0,
 * visualization 7.10.0, dashboard 7.9.3; search source bound through `indexRefName`).
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const ROOT = new URL('../', import.meta.url)
export const INDEX_PATTERN_ID = 'envoy-audit-events'
export const INDEX_PATTERN_TITLE = 'envoy-audit-events*'
export const DASHBOARD_ID = 'envoy-audit-conmon'

interface MappingNode {
  type?: string
  properties?: Record<string, MappingNode>
  fields?: Record<string, MappingNode>
  index?: boolean
  doc_values?: boolean
}

const OSD_TYPE: Record<string, string> = {
  keyword: 'string',
  text: 'string',
  wildcard: 'string',
  long: 'number',
  integer: 'number',
  date: 'date',
  boolean: 'boolean',
  ip: 'ip',
  flat_object: 'unknown',
}

/** The index pattern's field list, derived from the generated mapping so the two cannot drift. */
export function indexPatternFields(mapping: { properties: Record<string, MappingNode> }): object[] {
  const fields: object[] = []
  const add = (name: string, node: MappingNode) => {
    const esType = node.type ?? 'object'
    const aggregatable = !['text', 'flat_object'].includes(esType) && node.doc_values !== false
    const searchable = node.index !== false
    fields.push({
      count: 0,
      name,
      type: OSD_TYPE[esType] ?? 'unknown',
      esTypes: [esType],
      scripted: false,
      searchable,
      aggregatable,
      readFromDocValues: aggregatable,
    })
  }
  const walk = (props: Record<string, MappingNode>, prefix: string) => {
    for (const [k, node] of Object.entries(props)) {
      const name = prefix === '' ? k : `${prefix}.${k}`
      if (node.properties !== undefined) walk(node.properties, name)
      else {
        add(name, node)
        for (const [sub, subNode] of Object.entries(node.fields ?? {})) add(`${name}.${sub}`, subNode)
      }
    }
  }
  walk(mapping.properties, '')
  for (const meta of ['_id', '_index', '_source']) {
    fields.push({
      count: 0,
      name: meta,
      type: meta === '_source' ? '_source' : 'string',
      esTypes: [meta],
      scripted: false,
      searchable: meta !== '_source',
      aggregatable: meta !== '_source',
      readFromDocValues: false,
    })
  }
  return fields
}

type Agg = { id: string; enabled: true; type: string; schema: string; params: Record<string, unknown> }
const count = (): Agg => ({ id: '1', enabled: true, type: 'count', schema: 'metric', params: {} })
const terms = (id: string, field: string, size: number, schema = 'bucket', label?: string): Agg => ({
  id,
  enabled: true,
  type: 'terms',
  schema,
  params: { field, size, order: 'desc', orderBy: '1', otherBucket: false, missingBucket: false, ...(label ? { customLabel: label } : {}) },
})
const dateHistogram = (id: string): Agg => ({
  id,
  enabled: true,
  type: 'date_histogram',
  schema: 'segment',
  params: {
    field: '@timestamp',
    useNormalizedOpenSearchInterval: true,
    interval: 'auto',
    drop_partials: false,
    min_doc_count: 1,
    extended_bounds: {},
  },
})
const filters = (id: string, items: Array<[string, string]>): Agg => ({
  id,
  enabled: true,
  type: 'filters',
  schema: 'group',
  params: { filters: items.map(([query, label]) => ({ input: { query, language: 'kuery' }, label })) },
})

function xyParams(kind: 'area' | 'histogram' | 'horizontal_bar', percentage: boolean): Record<string, unknown> {
  const horizontal = kind === 'horizontal_bar'
  return {
    type: kind,
    grid: { categoryLines: false },
    categoryAxes: [
      {
        id: 'CategoryAxis-1',
        type: 'category',
        position: horizontal ? 'left' : 'bottom',
        show: true,
        style: {},
        scale: { type: 'linear' },
        labels: { show: true, filter: !horizontal, truncate: 100 },
        title: {},
      },
    ],
    valueAxes: [
      {
        id: 'ValueAxis-1',
        name: 'LeftAxis-1',
        type: 'value',
        position: horizontal ? 'bottom' : 'left',
        show: true,
        style: {},
        scale: { type: 'linear', mode: percentage ? 'percentage' : 'normal' },
        labels: { show: true, rotate: 0, filter: false, truncate: 100 },
        title: { text: percentage ? 'share of requests' : 'requests' },
      },
    ],
    seriesParams: [
      {
        show: true,
        type: kind === 'area' ? 'area' : 'histogram',
        mode: 'stacked',
        data: { label: 'Count', id: '1' },
        valueAxis: 'ValueAxis-1',
        drawLinesBetweenPoints: true,
        lineWidth: 2,
        showCircles: true,
        interpolate: 'linear',
      },
    ],
    addTooltip: true,
    addLegend: true,
    legendPosition: 'right',
    times: [],
    addTimeMarker: false,
    labels: { show: false },
    thresholdLine: { show: false, value: 10, width: 1, style: 'full', color: '#E7664C' },
  }
}
const tableParams = {
  perPage: 10,
  showPartialRows: false,
  showMetricsAtAllLevels: false,
  showTotal: false,
  totalFunc: 'sum',
  percentageCol: '',
  sort: { columnIndex: null, direction: null },
}
const pieParams = {
  type: 'pie',
  addTooltip: true,
  addLegend: true,
  legendPosition: 'right',
  isDonut: true,
  labels: { show: true, values: true, last_level: true, truncate: 100 },
}

interface VisSpec {
  id: string
  title: string
  description: string
  type: string
  params: Record<string, unknown>
  aggs: Agg[]
  /** KQL applied to the whole visualization. */
  query: string
}

/** The mesh-inbound population: mTLS is only knowable on the server side of a request. */
const INBOUND = 'mesh.reporter:destination'

export const VISUALIZATIONS: VisSpec[] = [
  {
    id: 'envoy-audit-mtls-over-time',
    title: 'mTLS coverage over time (inbound)',
    type: 'area',
    description: 'Share of inbound mesh requests with and without mTLS (SC-8). Plaintext should be zero under STRICT PeerAuthentication.',
    params: xyParams('area', true),
    query: INBOUND,
    aggs: [
      count(),
      dateHistogram('2'),
      filters('3', [
        ['mesh.mtls:true', 'mTLS'],
        ['mesh.mtls:false', 'plaintext'],
        ['not mesh.mtls:*', 'unknown'],
      ]),
    ],
  },
  {
    id: 'envoy-audit-mtls-by-namespace',
    title: 'mTLS coverage by namespace (inbound)',
    type: 'horizontal_bar',
    description: 'Per destination namespace, share of inbound requests with mTLS.',
    params: xyParams('horizontal_bar', true),
    query: INBOUND,
    aggs: [
      count(),
      {
        ...terms('2', 'mesh.destination.namespace', 25, 'segment'),
        params: { ...terms('2', 'mesh.destination.namespace', 25).params, missingBucket: true, missingBucketLabel: '(unknown)' },
      },
      filters('3', [
        ['mesh.mtls:true', 'mTLS'],
        ['mesh.mtls:false', 'plaintext'],
      ]),
    ],
  },
  {
    id: 'envoy-audit-plaintext-flows',
    title: 'Plaintext flows',
    type: 'table',
    description: 'Inbound requests that arrived without mTLS, and plaintext rejected by STRICT mode: who sent them, to which service.',
    params: tableParams,
    query: 'audit.finding_codes:(plaintext_inbound or plaintext_rejected)',
    aggs: [
      count(),
      terms('2', 'source.ip', 20, 'bucket', 'source IP'),
      terms('3', 'mesh.destination.service', 10, 'bucket', 'destination service'),
      terms('4', 'audit.finding_codes', 3, 'bucket', 'finding'),
    ],
  },
  {
    id: 'envoy-audit-denied-flows',
    title: 'Denied flows',
    type: 'table',
    description: 'RBAC (AuthorizationPolicy) and ext_authz denials with the matched policy (AC-3, AU-3(1) rules invoked).',
    params: tableParams,
    query: 'audit.finding_codes:(authz_denied or ext_authz_denied)',
    aggs: [
      count(),
      terms('2', 'mesh.source.spiffe_id', 20, 'bucket', 'source identity'),
      terms('3', 'mesh.destination.service', 10, 'bucket', 'destination service'),
      terms('4', 'envoy.rbac_policy', 5, 'bucket', 'matched policy'),
    ],
  },
  {
    id: 'envoy-audit-top-talkers',
    title: 'Top talkers',
    type: 'table',
    description: 'Busiest source identity to destination service edges, with response bytes.',
    params: tableParams,
    query: '',
    aggs: [
      count(),
      { id: '5', enabled: true, type: 'sum', schema: 'metric', params: { field: 'http.response.bytes', customLabel: 'response bytes' } },
      terms('2', 'mesh.source.spiffe_id', 15, 'bucket', 'source identity'),
      terms('3', 'mesh.destination.service', 5, 'bucket', 'destination service'),
    ],
  },
  {
    id: 'envoy-audit-au3-by-namespace',
    title: 'AU-3 completeness by namespace',
    type: 'histogram',
    description: 'Share of records that carry every AU-3 element (type, when, where, source, outcome, identity), per namespace.',
    params: xyParams('histogram', true),
    query: '',
    aggs: [
      count(),
      terms('2', 'kubernetes.namespace', 25, 'segment'),
      {
        ...terms('3', 'audit.au3.complete', 2, 'group'),
        params: { ...terms('3', 'audit.au3.complete', 2).params, customLabel: 'AU-3 complete' },
      },
    ],
  },
  {
    id: 'envoy-audit-au3-missing',
    title: 'AU-3 missing elements',
    type: 'pie',
    description: 'Which AU-3 elements incomplete records lack.',
    params: pieParams,
    query: 'audit.au3.complete:false',
    aggs: [count(), terms('2', 'audit.au3.missing', 10, 'segment')],
  },
  {
    id: 'envoy-audit-findings-by-control',
    title: 'Findings by NIST 800-53 control',
    type: 'horizontal_bar',
    description: 'Events with findings per control (SC-8, AC-3, SC-7, AU-3...), split by severity.',
    params: xyParams('horizontal_bar', false),
    query: 'audit.controls:*',
    aggs: [count(), terms('2', 'audit.controls', 20, 'segment'), terms('3', 'audit.severity', 5, 'group')],
  },
  {
    id: 'envoy-audit-unregistered-egress',
    title: 'Unregistered egress destinations',
    type: 'table',
    description: 'Hosts reached through PassthroughCluster (ALLOW_ANY): egress that no ServiceEntry declares (SC-7, AC-4).',
    params: tableParams,
    query: 'audit.finding_codes:unregistered_egress',
    aggs: [
      count(),
      terms('2', 'destination.domain', 25, 'bucket', 'destination (SNI/host)'),
      terms('3', 'kubernetes.namespace', 5, 'bucket', 'namespace'),
      terms('4', 'mesh.source.workload', 5, 'bucket', 'workload'),
    ],
  },
]

function searchSource(query: string): string {
  return JSON.stringify({ query: { query, language: 'kuery' }, filter: [], indexRefName: 'kibanaSavedObjectMeta.searchSourceJSON.index' })
}

export function renderSavedObjects(): string {
  const mapping = JSON.parse(readFileSync(new URL('schemas/generated/audit-event.mapping.json', ROOT), 'utf8')) as {
    properties: Record<string, MappingNode>
  }
  const objects: object[] = []
  objects.push({
    attributes: { title: INDEX_PATTERN_TITLE, timeFieldName: '@timestamp', fields: JSON.stringify(indexPatternFields(mapping)) },
    id: INDEX_PATTERN_ID,
    migrationVersion: { 'index-pattern': '7.6.0' },
    references: [],
    type: 'index-pattern',
  })
  for (const v of VISUALIZATIONS) {
    objects.push({
      attributes: {
        title: v.title,
        description: v.description,
        visState: JSON.stringify({ title: v.title, type: v.type, aggs: v.aggs, params: v.params }),
        uiStateJSON: '{}',
        version: 1,
        kibanaSavedObjectMeta: { searchSourceJSON: searchSource(v.query) },
      },
      id: v.id,
      migrationVersion: { visualization: '7.10.0' },
      references: [{ id: INDEX_PATTERN_ID, name: 'kibanaSavedObjectMeta.searchSourceJSON.index', type: 'index-pattern' }],
      type: 'visualization',
    })
  }
  // Two columns of 24 units; tables get more height.
  const panels = VISUALIZATIONS.map((v, i) => ({
    version: '2.11.0',
    gridData: { x: (i % 2) * 24, y: Math.floor(i / 2) * 15, w: 24, h: 15, i: String(i + 1) },
    panelIndex: String(i + 1),
    embeddableConfig: {},
    panelRefName: `panel_${i}`,
  }))
  objects.push({
    attributes: {
      title: 'envoy-audit: mesh ConMon',
      description:
        'Continuous monitoring of the service mesh from Envoy access logs: mTLS coverage, plaintext and denied ' +
        'flows, AU-3 completeness, findings by NIST 800-53 control, unregistered egress.',
      panelsJSON: JSON.stringify(panels),
      optionsJSON: JSON.stringify({ useMargins: true, hidePanelTitles: false }),
      version: 1,
      timeRestore: true,
      timeFrom: 'now-24h',
      timeTo: 'now',
      refreshInterval: { pause: false, value: 60_000 },
      kibanaSavedObjectMeta: { searchSourceJSON: JSON.stringify({ query: { query: '', language: 'kuery' }, filter: [] }) },
    },
    id: DASHBOARD_ID,
    migrationVersion: { dashboard: '7.9.3' },
    references: VISUALIZATIONS.map((v, i) => ({ id: v.id, name: `panel_${i}`, type: 'visualization' })),
    type: 'dashboard',
  })
  return objects.map((o) => JSON.stringify(o)).join('\n') + '\n'
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(new URL('dashboards/envoy-audit.ndjson', ROOT), renderSavedObjects())
  process.stdout.write('wrote dashboards/envoy-audit.ndjson\n')
}
