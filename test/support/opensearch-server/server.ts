/**
 * A small HTTP test server that answers the OpenSearch REST endpoints envoy-audit uses, so product code
 * can be tested through the real @opensearch-project/opensearch client over real sockets. It is a test
 * double with in-memory state, not OpenSearch: it implements only the requests the product sends and
 * answers anything else with an error. Endpoint shapes follow the real server, as the contract tests
 * (test/support/opensearch-contract*.test.ts) pin them (JSON content type on every response, 409 on ISM
 * re-PUT without if_seq_no/if_primary_term, per-item bulk results in request order inside HTTP 200).
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo, Socket } from 'node:net'
import { gunzipSync, inflateSync } from 'node:zlib'
import { Faults } from './faults.js'
import { ApiError, ClusterState, type StoredDoc } from './state.js'
import { handleBulk } from './bulk.js'
import { handleAdmin } from './admin.js'
import { handleSearch, searchable } from './search-handler.js'
import { handlePit } from './pit.js'
import { handleMget, handleScroll } from './documents.js'

export interface RecordedRequest {
  method: string
  path: string
  query: Record<string, string>
  headers: Record<string, string | string[] | undefined>
  /** Body after content-encoding was undone. */
  body: Buffer
}

export interface TestOpenSearchOptions {
  /** PEM key and certificate: serve HTTPS (for TLS verification tests); with `ca`, require client certificates signed by it. */
  tls?: { key: string | Buffer; cert: string | Buffer; ca?: string | Buffer }
  port?: number
  /** Keep at most this many recorded requests (oldest dropped); default 10000. */
  maxRecorded?: number
  /** http.max_content_length: a larger (decompressed) body is answered 413 with an empty body; default 100 MiB, as OpenSearch. */
  maxContentLength?: number
  /** Serve the Index Management (ISM) API; false answers it as a node without the plugin does (default true). */
  ism?: boolean
  /**
   * Check every written document against its index mapping (default true: what tests rely on to see a
   * template drift from the serializer). Benchmarks turn it off so that they measure the client, not this double.
   */
  checkMappings?: boolean
}

export interface Reply {
  status: number
  body?: unknown
}

type Json = Record<string, unknown>

/** Applies `filter_path` (comma-separated dotted patterns, `*` matches one key) to a response body. */
export function applyFilterPath(body: unknown, filterPath: string | undefined): unknown {
  if (filterPath === undefined || filterPath === '') return body
  const patterns = filterPath.split(',').map((p) => p.trim().split('.'))
  const filter = (value: unknown, pats: string[][]): unknown => {
    if (Array.isArray(value)) {
      const kept = value.map((v) => filter(v, pats)).filter((v) => v !== undefined)
      return kept.length > 0 ? kept : undefined
    }
    if (pats.some((p) => p.length === 0)) return value
    if (value === null || typeof value !== 'object') return undefined
    const out: Json = {}
    for (const [key, child] of Object.entries(value)) {
      const rest = pats.filter((p) => p[0] === '*' || p[0] === key).map((p) => p.slice(1))
      if (rest.length === 0) continue
      const kept = filter(child, rest)
      if (kept !== undefined) out[key] = kept
    }
    return Object.keys(out).length > 0 ? out : undefined
  }
  return filter(body, patterns) ?? {}
}

export class TestOpenSearch {
  readonly state = new ClusterState()
  readonly faults = new Faults()
  readonly requests: RecordedRequest[] = []
  /** index/id → times seen in bulk requests, for attempt-aware item faults. */
  readonly seen = new Map<string, number>()
  private server: Server
  private sockets = new Set<Socket>()
  private listening = false
  port = 0
  /** Requests being handled now, and the most at once: lets tests check client-side concurrency bounds. */
  inFlight = 0
  maxInFlight = 0
  readonly protocol: 'http' | 'https'

  private constructor(private readonly options: TestOpenSearchOptions) {
    this.protocol = options.tls === undefined ? 'http' : 'https'
    this.state.checkMappings = options.checkMappings ?? true
    // A client killed mid-request (crash drills) aborts the body read; that is the client's
    // business, not a server failure, so the rejection is swallowed after the socket is gone.
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.handle(req, res).catch(() => res.destroy())
    this.server =
      options.tls === undefined
        ? createHttpServer(handler)
        : createHttpsServer(
            options.tls.ca === undefined
              ? { key: options.tls.key, cert: options.tls.cert }
              : { key: options.tls.key, cert: options.tls.cert, ca: options.tls.ca, requestCert: true, rejectUnauthorized: true },
            handler,
          )
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s)
      s.on('close', () => this.sockets.delete(s))
    })
  }

  static async start(options: TestOpenSearchOptions = {}): Promise<TestOpenSearch> {
    const srv = new TestOpenSearch(options)
    await srv.listen(options.port ?? 0)
    return srv
  }

  get url(): string {
    return `${this.protocol}://127.0.0.1:${this.port}`
  }

  private listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject)
        this.port = (this.server.address() as AddressInfo).port
        this.listening = true
        resolve()
      })
    })
  }

  /** Stops accepting connections and drops open ones: clients see connection refused until resume(). */
  async stopListening(): Promise<void> {
    if (!this.listening) return
    this.listening = false
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()))
    for (const s of this.sockets) s.destroy()
    await closed
  }

  /** Listens again on the same port (outage recovery). */
  async resume(): Promise<void> {
    if (!this.listening) await this.listen(this.port)
  }

  async close(): Promise<void> {
    await this.stopListening()
  }

  /** Stored documents of an index, alias or pattern, in insertion order per index. */
  docs(target: string): StoredDoc[] {
    try {
      return this.state.resolve(target).flatMap((i) => [...i.docs.values()])
    } catch {
      return []
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.inFlight++
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight)
    res.once('close', () => this.inFlight--)
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const url = new URL(req.url ?? '/', 'http://test')
    const method = req.method ?? 'GET'
    const path = decodeURIComponent(url.pathname)
    const query: Record<string, string> = Object.create(null) as Record<string, string>
    for (const [k, v] of url.searchParams) query[k] = v
    let body = Buffer.concat(chunks)
    const encoding = req.headers['content-encoding']
    try {
      if (encoding === 'gzip') body = gunzipSync(body)
      else if (encoding === 'deflate') body = inflateSync(body)
    } catch {
      return this.send(
        res,
        method,
        { status: 400, body: new ApiError(400, 'parse_exception', 'request body is not valid ' + encoding).body() },
        query,
      )
    }
    if (body.length > (this.options.maxContentLength ?? 100 * 1024 * 1024)) return this.send(res, method, { status: 413 }, query)
    this.requests.push({ method, path, query, headers: { ...req.headers }, body })
    if (this.requests.length > (this.options.maxRecorded ?? 10_000)) this.requests.shift()

    if (this.faults.latencyMs > 0) await new Promise((r) => setTimeout(r, this.faults.latencyMs))
    const fault = this.faults.takeRequestFault(method, path)
    if (fault === 'destroy') {
      req.socket.destroy()
      return
    }
    if (fault === 413) return this.send(res, method, { status: 413 }, query)
    if (fault !== undefined) {
      const type = fault === 429 ? 'rejected_execution_exception' : 'test_server_injected_failure'
      return this.send(
        res,
        method,
        { status: fault, body: new ApiError(fault, type, `injected ${fault} for ${method} ${path}`).body() },
        query,
      )
    }
    let reply: Reply
    try {
      reply = this.route(method, path, query, body)
    } catch (err) {
      if (err instanceof ApiError) reply = { status: err.status, body: err.body() }
      else reply = { status: 500, body: new ApiError(500, 'exception', String(err)).body() }
    }
    this.send(res, method, reply, query)
  }

  private send(res: ServerResponse, method: string, reply: Reply, query: Record<string, string>): void {
    const payload = method === 'HEAD' || reply.body === undefined ? '' : JSON.stringify(applyFilterPath(reply.body, query.filter_path))
    res.writeHead(reply.status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(payload) })
    res.end(payload)
  }

  private route(method: string, path: string, query: Record<string, string>, body: Buffer): Reply {
    const parts = path.split('/').filter((p) => p !== '')
    if (parts.length === 0) {
      return {
        status: 200,
        body: {
          name: 'envoy-audit-test-server',
          cluster_name: 'test',
          tagline: 'envoy-audit test server (not OpenSearch)',
          version: { distribution: 'opensearch', number: '2.19.0', build_type: 'test', minimum_wire_compatibility_version: '7.10.0' },
        },
      }
    }
    if (parts[parts.length - 1] === '_bulk') return handleBulk(this, parts.length > 1 ? parts[0] : undefined, body, query)
    const last = parts[parts.length - 1]
    if (parts[0] === '_search' && parts[1] === 'scroll') return handleScroll(this.state, method, parts[2], body)
    if (parts.includes('point_in_time')) return handlePit(this.state, method, parts, query, body, searchable)
    if (last === '_mget') return handleMget(this.state, parts.length > 1 ? parts[0] : undefined, body, query)
    if (last === '_search' || last === '_count') return handleSearch(this.state, method, parts, query, body)
    return handleAdmin(this.state, method, parts, query, body, { ism: this.options.ism ?? true })
  }
}
