/** Shared test helpers: build a policy set from inline YAML and evaluate requests against it. */
import { addManifestText, emptyPolicySet } from '../../src/policy/loader.js'
import { compilePolicies, type Decision } from '../../src/policy/evaluator.js'
import { meshConfigFrom } from '../../src/policy/mesh-config.js'
import { parseRequest, type RequestInput } from '../../src/policy/request.js'
import type { PolicySet } from '../../src/policy/model.js'

export function policySet(yaml: string, file = 'inline.yaml'): PolicySet {
  const set = addManifestText(emptyPolicySet(), yaml, file)
  if (set.issues.length > 0) throw new Error(`fixture has load issues: ${JSON.stringify(set.issues)}`)
  return set
}

export function evaluator(yaml: string, mesh: unknown = {}): (req: RequestInput) => Decision {
  const ev = compilePolicies(policySet(yaml), meshConfigFrom(mesh))
  return (req) => ev.evaluate(parseRequest(req))
}

/** An mTLS HTTP request from `principal` to app=`app` in `ns`, overridable field by field. */
export function httpReq(o: {
  principal?: string | null
  ns?: string
  app?: string
  labels?: Record<string, string>
  port?: number
  method?: string
  path?: string
  host?: string
  headers?: Record<string, string>
  mtls?: boolean
  protocol?: 'http' | 'grpc' | 'tcp'
  sourceIp?: string
  remoteIp?: string
  sni?: string
  jwt?: RequestInput['jwt']
}): RequestInput {
  const protocol = o.protocol ?? 'http'
  const req: RequestInput = {
    source: { principal: o.principal === undefined ? 'cluster.local/ns/ns1/sa/a' : o.principal, ip: o.sourceIp ?? '10.0.0.1' },
    destination: { namespace: o.ns ?? 'ns1', labels: o.labels ?? { app: o.app ?? 'b' }, ip: '10.0.0.2', port: o.port ?? 18080 },
    protocol,
    mtls: o.mtls ?? true,
  }
  if (protocol !== 'tcp') {
    req.http = {
      method: o.method ?? (protocol === 'grpc' ? 'POST' : 'GET'),
      path: o.path ?? '/',
      host: o.host ?? 'b.ns1.svc.cluster.local',
      headers: o.headers ?? {},
    }
  }
  if (o.remoteIp !== undefined) req.remoteIp = o.remoteIp
  if (o.sni !== undefined) req.sni = o.sni
  if (o.jwt !== undefined) req.jwt = o.jwt
  return req
}
