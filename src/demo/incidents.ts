/**
 * The incidents planted in the demo mesh, each with the evidence the pipeline must find for it: a
 * finding code and the identities on both ends. The same list drives the demo's own self-check and
 * the tests, so a detector that stops firing shows up as "missed" in `npm start`, not only in CI.
 */
import type { Prng } from './prng.js'
import type { TrafficBuilder } from './traffic-builder.js'
import { fqdn, spiffeId } from './mesh-topology.js'
import type { Topology, Workload } from './mesh-topology.js'

/** One expected flow: who (any of the given names), to where, with which finding (if any). */
export interface ExpectedFlow {
  finding?: string
  /** Acceptable names for the source: its SPIFFE ID, namespace/service-account, or address. */
  source: string[]
  /** Acceptable names for the destination: service FQDN, short forms, or the external host. */
  destination: string[]
  /** Index of an earlier flow of the incident that this one must follow in time (a time-respecting chain). */
  after?: number
  /** The Istio clusters the flow's calls must have run between (mesh.source/destination.cluster): an east-west step. */
  clusters?: { source: string; destination: string }
}

export interface PlantedIncident {
  id: string
  title: string
  flows: ExpectedFlow[]
}

/** The names a workload can legitimately appear under, depending on what its log line carried. */
export function namesOf(w: Workload): string[] {
  return [spiffeId(w), `${w.namespace}/${w.serviceAccount}`, `${w.namespace}/${w.name}`, ...w.pods.map((p) => p.ip)]
}

export function destinationNamesOf(w: Workload): string[] {
  return [fqdn(w), `${w.name}.${w.namespace}`, w.name, spiffeId(w)]
}

export const FOREIGN_PEER = 'spiffe://partner-bank.example/ns/settlement/sa/reconciler'
export const WEAK_TLS_CLIENTS = { tls11: '203.0.113.77', chacha: '198.51.100.14' } as const
export const EXT_AUTHZ_CLIENT = '192.0.2.66'
export const EGRESS_HOST = { host: 'api.stripe.com', address: '54.187.174.169:443' } as const
export const BLOCKED_HOST = { host: 'pypi.org', address: '151.101.0.223:443' } as const

/**
 * Plants every incident inside [startMs, endMs). The lateral-movement chain starts at 60% of the
 * window so there is normal traffic from the same identities before it.
 */
export function plantIncidents(b: TrafficBuilder, topo: Topology, prng: Prng, startMs: number, endMs: number): PlantedIncident[] {
  const span = endMs - startMs
  const at = (fraction: number): number => startMs + Math.floor(span * fraction)
  const w = (name: string): Workload => topo.get(name)
  const legacy = w('legacy-billing')
  const legacyPod = legacy.pods[0]!

  // A legacy workload without a sidecar syncs invoices to payments, which is PERMISSIVE: accepted in plaintext.
  for (let t = at(0.02); t < endMs - 5000; t += 45_000 + prng.int(0, 8000)) {
    b.hop({ kind: 'pod', workload: legacy, pod: legacyPod }, w('payments'), t, {
      method: 'POST',
      path: '/v1/invoices/sync',
      userAgent: 'Apache-HttpClient/4.5.13 (Java/1.8.0_392)',
    })
  }
  // The same workload also tries the STRICT identity namespace, whose listener refuses plaintext.
  for (const f of [0.21, 0.47, 0.73]) b.strictReject(legacyPod.ip, w('auth'), at(f))

  // RBAC: catalog tries to write to the cart and hits an explicit DENY policy.
  for (const f of [0.12, 0.33, 0.55, 0.81]) {
    const catalog = w('catalog')
    b.hop({ kind: 'pod', workload: catalog, pod: b.pod(catalog) }, w('cart'), at(f), {
      method: 'DELETE',
      path: '/api/cart/items',
      deniedBy: 'ns[shop]-policy[deny-catalog-writes]-rule[0]',
    })
  }

  // Egress outside the registry: ALLOW_ANY passthrough from payments, REGISTRY_ONLY black hole from reviews.
  const payments = w('payments')
  for (let t = at(0.05); t < endMs; t += 120_000)
    b.egress({ workload: payments, pod: b.pod(payments) }, EGRESS_HOST.host, EGRESS_HOST.address, t, false)
  const reviews = w('reviews')
  for (const f of [0.3, 0.6]) b.egress({ workload: reviews, pod: reviews.pods[0]! }, BLOCKED_HOST.host, BLOCKED_HOST.address, at(f), true)

  // Weak TLS at the ingress gateway: an old point-of-sale client on TLS 1.1, another on ChaCha20 (not FIPS).
  const gw = w('istio-ingressgateway')
  const frontend = w('frontend')
  for (const f of [0.15, 0.4, 0.65, 0.9]) {
    b.ingress(gw, WEAK_TLS_CLIENTS.tls11, frontend, at(f), {
      host: 'shop.example.com',
      path: '/api/pos/orders',
      method: 'POST',
      tlsVersion: 'TLSv1.1',
      tlsCipher: 'ECDHE-RSA-AES128-SHA',
      userAgent: 'PosTerminal/2.1 (Windows CE 6.0)',
    })
  }
  b.ingress(gw, WEAK_TLS_CLIENTS.chacha, frontend, at(0.42), {
    host: 'shop.example.com',
    path: '/',
    tlsVersion: 'TLSv1.2',
    tlsCipher: 'ECDHE-RSA-CHACHA20-POLY1305',
    userAgent: 'okhttp/3.12.13',
  })
  // ext_authz (Istio CUSTOM action) refuses an admin path from the internet.
  for (const f of [0.25, 0.26]) {
    b.ingress(gw, EXT_AUTHZ_CLIENT, frontend, at(f), {
      host: 'shop.example.com',
      path: '/admin/login',
      extAuthzDenied: true,
      userAgent: 'python-requests/2.31.0',
    })
  }

  // A workload from a federated trust domain reaches payments over mTLS through the east-west gateway.
  for (const f of [0.18, 0.52]) {
    b.hop({ kind: 'remote', ip: '10.244.9.5', spiffe: FOREIGN_PEER }, payments, at(f), {
      method: 'POST',
      path: '/v1/settlements',
      userAgent: 'Go-http-client/2.0',
    })
  }

  // Lateral movement: a compromised frontend pod probes (denied), pivots through checkout's debug
  // endpoint (allowed by an over-broad policy), and checkout's identity reaches the payments database
  // (allowed by a stale rule).
  const fe = { kind: 'pod' as const, workload: frontend, pod: frontend.pods[0]! }
  let t = at(0.6)
  const probes: [string, string, string, string][] = [
    ['auth', 'GET', '/admin/users', 'none'],
    ['payments', 'POST', '/v1/refunds', 'none'],
    ['cart', 'GET', '/internal/debug/pprof', 'ns[shop]-policy[deny-debug-paths]-rule[0]'],
    ['payments-db', '', '', 'none'],
    ['auth', 'GET', '/admin/keys', 'none'],
    ['payments', 'GET', '/v1/customers/export', 'none'],
  ]
  for (const [target, method, path, policy] of probes) {
    b.hop(fe, w(target), t, { method, path, deniedBy: policy, userAgent: 'curl/8.5.0' })
    t += prng.int(900, 4000)
  }
  const checkout = w('checkout')
  t += 20_000
  b.hop(fe, checkout, t, { method: 'GET', path: '/internal/debug/env', userAgent: 'curl/8.5.0' })
  t += 3_000
  b.hop(fe, checkout, t, {
    method: 'POST',
    path: '/internal/debug/exec',
    userAgent: 'curl/8.5.0',
    latencyMs: 300,
    inner: (inner, server) =>
      b.hop({ kind: 'pod', ...server }, w('payments-db'), inner, { bytesOut: 48_213_771, latencyMs: 41_000 }).durationMs,
  })

  const fromFrontend = namesOf(frontend)
  return [
    {
      id: 'legacy-plaintext',
      title: 'Legacy workload talks plaintext to payments under PERMISSIVE mTLS',
      flows: [{ finding: 'plaintext_inbound', source: namesOf(legacy), destination: destinationNamesOf(payments) }],
    },
    {
      id: 'strict-rejects-plaintext',
      title: 'STRICT identity namespace rejects plaintext from the legacy workload',
      flows: [
        {
          finding: 'plaintext_rejected',
          source: namesOf(legacy),
          destination: [...destinationNamesOf(w('auth')), ...w('auth').pods.map((p) => `${p.ip}:${w('auth').port}`)],
        },
      ],
    },
    {
      id: 'rbac-deny',
      title: 'RBAC DENY policy stops catalog writing to cart',
      flows: [{ finding: 'authz_denied', source: namesOf(w('catalog')), destination: destinationNamesOf(w('cart')) }],
    },
    {
      id: 'passthrough-egress',
      title: `Unregistered egress to ${EGRESS_HOST.host} through PassthroughCluster`,
      flows: [{ finding: 'unregistered_egress', source: namesOf(payments), destination: [EGRESS_HOST.host] }],
    },
    {
      id: 'blocked-egress',
      title: `Egress to ${BLOCKED_HOST.host} dropped by BlackHoleCluster`,
      flows: [{ finding: 'egress_blocked', source: namesOf(reviews), destination: [BLOCKED_HOST.host] }],
    },
    {
      id: 'weak-tls',
      title: 'Clients on TLS 1.1 and a non-FIPS cipher at the ingress gateway',
      flows: [WEAK_TLS_CLIENTS.tls11, WEAK_TLS_CLIENTS.chacha].map((ip) => ({
        finding: 'weak_tls',
        source: [ip],
        destination: destinationNamesOf(frontend),
      })),
    },
    {
      id: 'ext-authz',
      title: 'ext_authz (CUSTOM) denies an admin path from the internet',
      flows: [{ finding: 'ext_authz_denied', source: [EXT_AUTHZ_CLIENT], destination: destinationNamesOf(frontend) }],
    },
    {
      id: 'foreign-trust-domain',
      title: 'Peer from a foreign trust domain calls payments',
      flows: [{ finding: 'foreign_trust_domain', source: [FOREIGN_PEER], destination: destinationNamesOf(payments) }],
    },
    {
      id: 'lateral-movement',
      title: 'Compromised frontend probes, pivots through checkout, reaches payments-db',
      flows: [
        { finding: 'authz_denied', source: fromFrontend, destination: destinationNamesOf(w('auth')) },
        { finding: 'authz_denied', source: fromFrontend, destination: destinationNamesOf(payments) },
        { finding: 'authz_denied', source: fromFrontend, destination: destinationNamesOf(w('payments-db')) },
        { source: fromFrontend, destination: destinationNamesOf(checkout) },
        { source: namesOf(checkout), destination: destinationNamesOf(w('payments-db')), after: 0 },
      ],
    },
  ]
}
