/**
 * The OpenSearch Security Analytics REST API as far as `setup --with-security-analytics` calls it, for the
 * plugins test double (siem-plugins-server.ts): the plugin is not installable on the project's real
 * OpenSearch (Maven Central serves no zip, docs/testing.md). Request shapes and refusals follow the
 * plugin's documentation (docs.opensearch.org, security-analytics/api-tools) and source
 * (opensearch-project/security-analytics: RestIndexRuleAction reads the rule as the request's text and
 * needs `category`; SigmaRule.fromDict refuses a rule without a UUID id, level, status, log source or
 * detection; the detector name is 5–50 letters, digits, spaces, - and _; a rule used by a detector is
 * updated only with forced=true). The config indices do not exist until their first document, so a
 * _search before it is a 404 index_not_found, as on a fresh cluster. In-memory state only.
 */
import type http from 'node:http'
import { parse as parseYaml } from 'yaml'

export interface SaRequest {
  method: string
  path: string
  query: URLSearchParams
  body: Buffer
}

export interface SaLogType {
  id: string
  name: string
  description: string
  source: string
  category?: string
}
export interface SaRule {
  id: string
  category: string
  text: string
  doc: Record<string, unknown>
}
export interface SaDetector {
  id: string
  version: number
  detector: Record<string, unknown>
}
export interface SaCorrelationRule {
  id: string
  rule: Record<string, unknown>
}

export interface SecurityAnalyticsState {
  logTypes: Map<string, SaLogType>
  /** Alias mappings per concrete index. */
  mappings: Map<string, Record<string, { type: string; path: string }>>
  rules: Map<string, SaRule>
  detectors: Map<string, SaDetector>
  correlationRules: Map<string, SaCorrelationRule>
}

const BUILT_IN = [
  'network',
  'dns',
  'cloudtrail',
  'vpcflow',
  's3',
  'waf',
  'windows',
  'linux',
  'ad_ldap',
  'apache_access',
  'others_application',
]
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

type Reply = { status: number; body: unknown }
const error = (status: number, type: string, reason: string): Reply => ({
  status,
  body: { error: { root_cause: [{ type, reason }], type, reason }, status },
})
const notFound = (index: string): Reply => error(404, 'index_not_found_exception', `no such index [${index}]`)

function glob(pattern: string): RegExp {
  return new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\?]/g, '\\$&').replaceAll('*', '.*')}$`)
}

export function createSecurityAnalytics(indices: () => string[]) {
  const state: SecurityAnalyticsState = {
    logTypes: new Map(BUILT_IN.map((n) => [n, { id: n, name: n, description: `${n} logs`, source: 'Sigma' }])),
    mappings: new Map(),
    rules: new Map(),
    detectors: new Map(),
    correlationRules: new Map(),
  }
  let next = 1
  const newId = (prefix: string) => `${prefix}${String(next++).padStart(6, '0')}`
  const logTypeNamed = (name: string) => [...state.logTypes.values()].find((t) => t.name === name)
  const hits = (index: string, docs: { id: string; source: unknown }[]) => ({
    took: 1,
    timed_out: false,
    hits: {
      total: { value: docs.length, relation: 'eq' },
      hits: docs.map((d) => ({ _index: index, _id: d.id, _version: 1, _score: 1, _source: d.source })),
    },
  })
  const json = (req: SaRequest): Record<string, unknown> =>
    req.body.length === 0 ? {} : (JSON.parse(req.body.toString('utf8')) as Record<string, unknown>)

  const logtype = (req: SaRequest, sub: string | undefined): Reply => {
    if (sub === '_search' && req.method === 'POST')
      return {
        status: 200,
        body: hits(
          '.opensearch-sap-log-types-config',
          [...state.logTypes.values()].map((t) => ({
            id: t.id,
            source: { name: t.name, description: t.description, source: t.source, tags: null },
          })),
        ),
      }
    const body = json(req)
    const invalid = (): string | undefined => {
      if (typeof body.name !== 'string' || !/^[a-z0-9_-]+$/.test(body.name)) return 'Log type name may only hold a-z, 0-9, - and _'
      if (typeof body.description !== 'string' || typeof body.source !== 'string') return 'Log type needs a description and a source'
      return undefined
    }
    if (sub === undefined && req.method === 'POST') {
      const bad = invalid()
      if (bad !== undefined) return error(400, 'security_analytics_exception', bad)
      if (logTypeNamed(body.name as string) !== undefined)
        return error(400, 'security_analytics_exception', `Log Type with name ${String(body.name)} already exists`)
      const t: SaLogType = {
        id: newId('lt'),
        name: body.name as string,
        description: body.description as string,
        source: body.source as string,
      }
      if (typeof body.category === 'string') t.category = body.category
      state.logTypes.set(t.id, t)
      return {
        status: 201,
        body: {
          _id: t.id,
          _version: 1,
          logType: { name: t.name, description: t.description, source: t.source, tags: { correlation_id: next } },
        },
      }
    }
    if (sub !== undefined && req.method === 'PUT') {
      const t = state.logTypes.get(sub)
      if (t === undefined) return error(404, 'security_analytics_exception', `Log Type ${sub} not found`)
      if (t.source !== 'Custom') return error(400, 'security_analytics_exception', 'Only custom log types can be updated')
      const bad = invalid()
      if (bad !== undefined) return error(400, 'security_analytics_exception', bad)
      Object.assign(t, { name: body.name, description: body.description })
      return { status: 200, body: { _id: t.id, _version: 2, logType: { name: t.name, description: t.description, source: t.source } } }
    }
    return error(405, 'method_not_allowed', `${req.method} logtype`)
  }

  const mappings = (req: SaRequest): Reply => {
    if (req.method === 'GET') {
      const name = req.query.get('index_name') ?? ''
      const matched = indices().filter((i) => glob(name).test(i))
      if (matched.length === 0) return notFound(name)
      return { status: 200, body: Object.fromEntries(matched.map((i) => [i, { mappings: { properties: state.mappings.get(i) ?? {} } }])) }
    }
    if (req.method !== 'POST') return error(405, 'method_not_allowed', `${req.method} mappings`)
    const body = json(req)
    const name = String(body.index_name ?? '')
    const topic = String(body.rule_topic ?? '')
    if (logTypeNamed(topic) === undefined) return error(400, 'security_analytics_exception', `Log type [${topic}] does not exist`)
    const matched = indices().filter((i) => glob(name).test(i))
    if (matched.length === 0) return notFound(name)
    const props = (body.alias_mappings as { properties?: Record<string, { type?: string; path?: string }> } | undefined)?.properties ?? {}
    for (const [field, m] of Object.entries(props))
      if (m.type !== 'alias' || typeof m.path !== 'string')
        return error(400, 'mapper_parsing_exception', `[${field}]: an alias needs type alias and a path`)
    for (const i of matched)
      state.mappings.set(i, { ...(state.mappings.get(i) ?? {}), ...(props as Record<string, { type: string; path: string }>) })
    return { status: 200, body: { acknowledged: true } }
  }

  const ruleErrors = (text: string): string[] => {
    let doc: Record<string, unknown>
    try {
      doc = parseYaml(text) as Record<string, unknown>
    } catch {
      return ['Sigma rule is not YAML']
    }
    const errors: string[] = []
    if (typeof doc?.id !== 'string' || !UUID.test(doc.id)) errors.push('Sigma rule identifier must be an UUID')
    if (!['informational', 'low', 'medium', 'high', 'critical'].includes(String(doc?.level)))
      errors.push(`${String(doc?.level)} is no valid Sigma rule level`)
    if (!['stable', 'test', 'experimental', 'deprecated', 'unsupported'].includes(String(doc?.status)))
      errors.push(`${String(doc?.status)} is no valid Sigma rule status`)
    if (typeof doc?.logsource !== 'object') errors.push('Sigma rule must have a log source')
    if (typeof doc?.detection !== 'object') errors.push('Sigma rule must have a detection definitions')
    for (const k of ['title', 'description', 'author']) if (typeof doc?.[k] !== 'string') errors.push(`Sigma rule must have a ${k}`)
    return errors
  }

  const rules = (req: SaRequest, sub: string | undefined): Reply => {
    if (sub === '_search' && req.method === 'POST') {
      if (req.query.get('pre_packaged') !== 'false') return { status: 200, body: hits('.opensearch-pre-packaged-rules-config', []) }
      if (state.rules.size === 0) return notFound('.opensearch-custom-rules-config')
      return {
        status: 200,
        body: hits(
          '.opensearch-custom-rules-config',
          [...state.rules.values()].map((r) => ({
            id: r.id,
            source: { category: r.category, title: r.doc.title, level: r.doc.level, rule: r.text },
          })),
        ),
      }
    }
    const category = req.query.get('category')
    if (category === null) return error(400, 'illegal_argument_exception', 'Missing category')
    if (logTypeNamed(category) === undefined) return error(400, 'security_analytics_exception', `Invalid rule category ${category}`)
    const text = req.body.toString('utf8')
    const errors = ruleErrors(text)
    if (errors.length > 0) {
      const reason = JSON.stringify(Object.fromEntries(errors.map((e, i) => [`error${i}`, e])))
      return error(400, 'security_analytics_exception', reason)
    }
    const doc = parseYaml(text) as Record<string, unknown>
    if (sub === undefined && req.method === 'POST') {
      const r: SaRule = { id: newId('rule'), category, text, doc }
      state.rules.set(r.id, r)
      return { status: 201, body: { _id: r.id, _version: 1, rule: { category, title: doc.title, rule: text } } }
    }
    if (sub !== undefined && req.method === 'PUT') {
      const r = state.rules.get(sub)
      if (r === undefined) return error(404, 'security_analytics_exception', `Rule with id ${sub} is not found`)
      const used = [...state.detectors.values()].some((d) => JSON.stringify(d.detector.inputs).includes(`"${sub}"`))
      if (used && req.query.get('forced') !== 'true')
        return error(
          500,
          'security_analytics_exception',
          `Rule with id ${sub} is actively used by detectors. Update can be forced by setting forced flag to true`,
        )
      Object.assign(r, { category, text, doc })
      return { status: 200, body: { _id: r.id, _version: 2, rule: { category, title: doc.title, rule: text } } }
    }
    return error(405, 'method_not_allowed', `${req.method} rules`)
  }

  const detectors = (req: SaRequest, sub: string | undefined): Reply => {
    if (sub === '_search' && req.method === 'POST') {
      if (state.detectors.size === 0) return notFound('.opensearch-sap-detectors-config')
      return {
        status: 200,
        body: hits(
          '.opensearch-sap-detectors-config',
          [...state.detectors.values()].map((d) => ({ id: d.id, source: d.detector })),
        ),
      }
    }
    if (sub !== undefined && req.method === 'GET') {
      const d = state.detectors.get(sub)
      return d === undefined
        ? error(404, 'security_analytics_exception', 'Detector not found')
        : { status: 200, body: { _id: d.id, _version: d.version, detector: d.detector } }
    }
    const body = json(req)
    const invalid = (): string | undefined => {
      if (typeof body.name !== 'string' || !/^[A-Za-z0-9 _-]{5,50}$/.test(body.name))
        return 'Detector name should only consist of letters, digits, spaces, - and _, 5 to 50 characters'
      if (logTypeNamed(String(body.detector_type)) === undefined) return `Detector type ${String(body.detector_type)} is not a log type`
      const input = (body.inputs as { detector_input?: { indices?: string[]; custom_rules?: { id: string }[] } }[] | undefined)?.[0]
        ?.detector_input
      if (input === undefined || !Array.isArray(input.indices) || input.indices.length === 0)
        return 'Detector needs inputs[0].detector_input.indices'
      for (const r of input.custom_rules ?? []) {
        const rule = state.rules.get(r.id)
        if (rule === undefined) return `Rule ${r.id} does not exist`
        if (rule.category !== body.detector_type) return `Rule ${r.id} is of category ${rule.category}, not ${String(body.detector_type)}`
      }
      if ((input.custom_rules ?? []).length === 0) return 'Detector needs at least one rule'
      return undefined
    }
    const bad = invalid()
    if (bad !== undefined) return error(400, 'security_analytics_exception', bad)
    const detector = {
      ...body,
      detector_type: String(body.detector_type).toLowerCase(),
      last_update_time: Date.now(),
      enabled_time: Date.now(),
    }
    if (sub === undefined && req.method === 'POST') {
      const d = { id: newId('det'), version: 1, detector }
      state.detectors.set(d.id, d)
      return { status: 201, body: { _id: d.id, _version: 1, detector } }
    }
    if (sub !== undefined && req.method === 'PUT') {
      const d = state.detectors.get(sub)
      if (d === undefined) return error(404, 'security_analytics_exception', 'Detector not found')
      Object.assign(d, { version: d.version + 1, detector })
      return { status: 200, body: { _id: d.id, _version: d.version, detector } }
    }
    return error(405, 'method_not_allowed', `${req.method} detectors`)
  }

  const correlations = (req: SaRequest, sub: string | undefined): Reply => {
    if (sub === '_search' && req.method === 'POST') {
      if (state.correlationRules.size === 0) return notFound('.opensearch-sap-correlation-rules-config')
      return {
        status: 200,
        body: hits(
          '.opensearch-sap-correlation-rules-config',
          [...state.correlationRules.values()].map((r) => ({ id: r.id, source: r.rule })),
        ),
      }
    }
    const body = json(req)
    const correlate = body.correlate as { index?: unknown; query?: unknown; category?: unknown }[] | undefined
    if (!Array.isArray(correlate) || correlate.length < 2)
      return error(400, 'security_analytics_exception', 'A correlation rule needs at least two log sources')
    if (correlate.some((q) => typeof q.index !== 'string' || typeof q.query !== 'string' || typeof q.category !== 'string'))
      return error(400, 'security_analytics_exception', 'Each correlate entry needs index, query and category')
    const rule = { name: body.name ?? null, correlate, ...(body.time_window !== undefined ? { time_window: body.time_window } : {}) }
    if (sub === undefined && req.method === 'POST') {
      const r = { id: newId('corr'), rule }
      state.correlationRules.set(r.id, r)
      return { status: 201, body: { _id: r.id, _version: 1, rule } }
    }
    if (sub !== undefined && req.method === 'PUT') {
      const r = state.correlationRules.get(sub)
      if (r === undefined) return error(404, 'security_analytics_exception', 'Correlation rule not found')
      r.rule = rule
      return { status: 200, body: { _id: r.id, _version: 2, rule } }
    }
    return error(405, 'method_not_allowed', `${req.method} correlation rules`)
  }

  /** parts: the path segments after `_plugins/_security_analytics`. */
  const handle = (req: SaRequest, parts: string[]): Reply => {
    const [resource, a, b] = parts
    if (resource === 'logtype') return logtype(req, a)
    if (resource === 'mappings' && a === undefined) return mappings(req)
    if (resource === 'rules') return rules(req, a)
    if (resource === 'detectors') return detectors(req, a)
    if (resource === 'correlation' && a === 'rules') return correlations(req, b)
    return error(404, 'not_implemented', `${req.method} ${req.path}`)
  }
  return { state, handle }
}

export type SecurityAnalyticsDouble = ReturnType<typeof createSecurityAnalytics>

export function replyWith(res: http.ServerResponse, reply: { status: number; body: unknown }): void {
  const text = JSON.stringify(reply.body)
  res.writeHead(reply.status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}
