/**
 * The request shape `policy eval` reads (one JSON object, or one per line with --requests):
 *
 *   { "source": { "principal": "cluster.local/ns/NS/sa/SA" | null, "ip": "10.0.0.1" },
 *     "destination": { "namespace": "NS", "labels": { "app": "x" }, "ip": "10.0.0.2", "port": 8080,
 *                      "service": "x", "waypoint": "waypoint" },
 *     "enforcement": "sidecar" | "ztunnel" | "waypoint",
 *     "protocol": "http" | "grpc" | "tcp", "mtls": true, "sni": "outbound_.80_._.x.ns.svc.cluster.local",
 *     "remoteIp": "203.0.113.7",
 *     "http": { "host": "x.ns", "method": "GET", "path": "/a?b=c", "headers": { "x-foo": "bar" } },
 *     "jwt": { "iss": "...", "sub": "...", "claims": { ... } } | { "invalid": true } | null }
 *
 * `principal` may be given with or without `spiffe://`. `destination.port` is the workload (container)
 * port, which is what `ports` and `portLevelMtls` match. Header names are case-insensitive.
 *
 * A header sent several times is an array (`"x-token": ["admin", "guest"]`), and names that differ only in
 * case are the same header. Envoy's matchers see one value, the copies joined with `,` in the order
 * received (HeaderUtility::getAllOfHeaderAsString, source/common/http/header_utility.cc in
 * envoyproxy/envoy; CVE-2020-25017 made every matcher, RBAC included, see all copies), so that is what
 * the evaluator matches. `cookie` is the exception: Envoy's header map joins it with `; `
 * (delimiterByHeader, source/common/http/header_map_impl.cc), as HTTP/2 requires when it reassembles
 * cookie crumbs (RFC 9113 section 8.2.3), so a cookie value never splits on `,`. `set-cookie`, which
 * RFC 9110 section 5.3 says must not be combined, is a response header: Envoy's matchers give it no
 * exception, so in a request it joins with `,` like any other.
 * Istio then matches `when: request.headers[...]` per `,`-separated element (see rule-compiler.ts).
 */
import { z } from 'zod'
import { EnvoyAuditError } from '../errors.js'
import { fieldPath, findUnsafeKey } from './loader.js'
import { stripSpiffe } from './match.js'
import { safeRecord } from './model.js'

const jwtSchema = z.union([
  z.strictObject({ invalid: z.literal(true) }),
  z.looseObject({
    iss: z.string(),
    sub: z.string(),
    aud: z.union([z.string(), z.array(z.string())]).optional(),
    azp: z.string().optional(),
    claims: z.record(z.string(), z.unknown()).optional(),
  }),
])

export const requestSchema = z.strictObject({
  source: z.strictObject({ principal: z.string().nullish(), ip: z.string().optional() }),
  destination: z.strictObject({
    namespace: z.string().min(1),
    labels: z.record(z.string(), z.string()).default({}),
    ip: z.string().optional(),
    port: z.number().int().min(0).max(65535),
    /** The Service (or ServiceEntry) name the client addressed: what a waypoint policy's targetRefs name. */
    service: z.string().min(1).optional(),
    /** The waypoint (Gateway) in the path, by name: `enforcement: waypoint` matches targetRefs to it. */
    waypoint: z.string().min(1).optional(),
  }),
  /** Who enforces: a sidecar or gateway (default), an ambient ztunnel (L4 only), or an ambient waypoint (targetRefs). */
  enforcement: z.enum(['sidecar', 'ztunnel', 'waypoint']).default('sidecar'),
  protocol: z.enum(['http', 'grpc', 'tcp']),
  mtls: z.boolean(),
  sni: z.string().optional(),
  remoteIp: z.string().optional(),
  http: z
    .strictObject({
      host: z.string().optional(),
      method: z.string().optional(),
      path: z.string().optional(),
      headers: z.record(z.string(), z.union([z.string(), z.array(z.string())])).optional(),
    })
    .optional(),
  jwt: jwtSchema.nullish(),
})

export type RequestInput = z.input<typeof requestSchema>

/** A validated request with untrusted maps copied to null-prototype objects and header names lower-cased. */
export interface PolicyRequest {
  /** sidecar (and gateways), ztunnel or waypoint: which policies attach and which rules can be enforced (scope.ts). */
  enforcement?: 'sidecar' | 'ztunnel' | 'waypoint'
  service?: string | undefined
  waypoint?: string | undefined
  principal: string | null
  sourceIp: string | undefined
  namespace: string
  labels: Record<string, string>
  destinationIp: string | undefined
  port: number
  protocol: 'http' | 'grpc' | 'tcp'
  mtls: boolean
  sni: string | undefined
  remoteIp: string | undefined
  host: string | undefined
  method: string | undefined
  path: string | undefined
  headers: Record<string, string>
  jwt: { iss: string; sub: string; aud: string[]; azp: string | undefined; claims: Record<string, unknown> } | { invalid: true } | null
}

export function parseRequest(input: unknown, origin = 'request'): PolicyRequest {
  const unsafe = findUnsafeKey(input, 'request')
  if (unsafe !== null) throw new EnvoyAuditError('EA_USAGE', `${origin}: ${unsafe}: prototype-polluting key rejected`)
  const r = requestSchema.safeParse(input)
  if (!r.success) {
    const i = r.error.issues[0]!
    throw new EnvoyAuditError('EA_USAGE', `${origin}: ${fieldPath('request', i.path)}: ${i.message}`)
  }
  const q = r.data
  const headers = Object.create(null) as Record<string, string>
  for (const [k, v] of Object.entries(q.http?.headers ?? {})) {
    const name = k.toLowerCase()
    const sep = name === 'cookie' ? '; ' : ','
    const value = Array.isArray(v) ? v.join(sep) : v
    // `X-Token` and `x-token` are one header sent twice, not one overwriting the other.
    headers[name] = headers[name] === undefined ? value : `${headers[name]}${sep}${value}`
  }
  let jwt: PolicyRequest['jwt'] = null
  if (q.jwt !== null && q.jwt !== undefined) {
    if ('invalid' in q.jwt && q.jwt.invalid === true) jwt = { invalid: true }
    else {
      const j = q.jwt as { iss: string; sub: string; aud?: string | string[]; azp?: string; claims?: Record<string, unknown> }
      const claims = Object.create(null) as Record<string, unknown>
      for (const [k, v] of Object.entries(j.claims ?? {})) claims[k] = v
      if (!('iss' in claims)) claims['iss'] = j.iss
      if (!('sub' in claims)) claims['sub'] = j.sub
      const aud = j.aud ?? (claims['aud'] as string | string[] | undefined)
      jwt = { iss: j.iss, sub: j.sub, aud: aud === undefined ? [] : Array.isArray(aud) ? aud : [aud], azp: j.azp, claims }
    }
  }
  return {
    enforcement: q.enforcement,
    service: q.destination.service,
    waypoint: q.destination.waypoint,
    principal: q.source.principal === null || q.source.principal === undefined ? null : stripSpiffe(q.source.principal),
    sourceIp: q.source.ip,
    namespace: q.destination.namespace,
    labels: safeRecord(q.destination.labels),
    destinationIp: q.destination.ip,
    port: q.destination.port,
    protocol: q.protocol,
    mtls: q.mtls,
    sni: q.sni,
    remoteIp: q.remoteIp,
    host: q.http?.host,
    // gRPC is always POST on the wire.
    method: q.http?.method ?? (q.protocol === 'grpc' ? 'POST' : undefined),
    path: q.http?.path,
    headers,
    jwt,
  }
}
