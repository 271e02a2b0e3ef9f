import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Registry } from 'prom-client'
import type { ReadinessReport } from './readiness.js'

export interface HealthState {
  /** The process loop is alive: /healthz. */
  live(): boolean
  /** Connected to the source, the sink answering, no outage past the grace: /readyz (readiness.ts). */
  ready(): ReadinessReport
}

/**
 * `/metrics` (Prometheus text), `/healthz` and `/readyz`. Read-only and unauthenticated by design, so
 * bind it to the pod network only; it never exposes configuration or record content.
 */
export async function startServiceHttp(options: { host: string; port: number; registry: Registry; health: HealthState }): Promise<{
  port: number
  close(): Promise<void>
}> {
  const server: Server = createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0]
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end()
      return
    }
    if (url === '/metrics') {
      options.registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': options.registry.contentType }).end(body),
        (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics error: ${String(err)}\n`),
      )
      return
    }
    if (url === '/healthz') {
      const ok = options.health.live()
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ live: ok }) + '\n')
      return
    }
    if (url === '/readyz') {
      const r = options.health.ready()
      res.writeHead(r.ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(r) + '\n')
      return
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => resolve())
  })
  let closed: Promise<void> | undefined
  return {
    port: (server.address() as AddressInfo).port,
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
      return closed
    },
  }
}
