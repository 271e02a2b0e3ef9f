import { describe, test, expect, afterEach } from 'vitest'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { defaultDashboardsFile, importDashboards, multipartBody } from '../../src/alerting/dashboards.js'
import { parseMultipart, startSiemPluginsServer, type SiemPluginsServer } from '../support/siem-plugins-server.js'

const servers: SiemPluginsServer[] = []
afterEach(async () => {
  while (servers.length > 0) await servers.pop()!.close()
})
async function server(opts?: Parameters<typeof startSiemPluginsServer>[0]) {
  const s = await startSiemPluginsServer(opts)
  servers.push(s)
  return s
}

describe('importDashboards', () => {
  test('multipart body round-trips through a multipart parser', () => {
    const content = Buffer.from('{"a":1}\n{"b":2}\n')
    const { body, contentType } = multipartBody('envoy-audit.ndjson', content)
    const parts = parseMultipart(body, contentType)
    expect(parts).toHaveLength(1)
    expect(parts[0]).toMatchObject({ name: 'file', filename: 'envoy-audit.ndjson' })
    expect(parts[0]!.content.equals(content)).toBe(true)
  })

  test('imports every saved object with osd-xsrf, overwrite=true and basic auth; twice is the same', async () => {
    const srv = await server({ auth: { username: 'admin', password: 'pw' } })
    const r1 = await importDashboards(srv.url, { auth: { username: 'admin', password: 'pw' }, tenant: 'global' })
    const lines = (await import('node:fs')).readFileSync(defaultDashboardsFile(), 'utf8').trim().split('\n')
    expect(r1.successCount).toBe(lines.length)
    expect(r1.imported).toContain('dashboard/envoy-audit-conmon')
    expect(r1.imported).toContain('index-pattern/envoy-audit-events')
    const req = srv.requests.at(-1)!
    expect(req.headers['osd-xsrf']).toBe('true')
    expect(req.headers['kbn-xsrf']).toBeUndefined()
    expect(req.headers.securitytenant).toBe('global')
    expect(req.query.get('overwrite')).toBe('true')
    const r2 = await importDashboards(`${srv.url}/`, { auth: { username: 'admin', password: 'pw' } })
    expect(r2.successCount).toBe(lines.length)
    expect(srv.savedObjects.size).toBe(lines.length)
  })

  test('wrong credentials: EA_SINK_AUTH, and the password is not in the message', async () => {
    const srv = await server({ auth: { username: 'admin', password: 'pw' } })
    const err = (await importDashboards(srv.url, { auth: { username: 'admin', password: 'hunter2' } }).catch(
      (e: unknown) => e,
    )) as Error & { code: string }
    expect(err.code).toBe('EA_SINK_AUTH')
    expect(err.message).not.toContain('hunter2')
  })

  test('retries while Dashboards is starting (503), then succeeds', async () => {
    const srv = await server()
    srv.failNext('/api/saved_objects/_import', 503, 2)
    const r = await importDashboards(srv.url, { retryDelayMs: 1 })
    expect(r.successCount).toBeGreaterThan(5)
    expect(srv.requests.length).toBe(3)
  })

  test('gives up with EA_SINK_UNAVAILABLE when Dashboards never comes up', async () => {
    const srv = await server()
    const url = srv.url
    await srv.close()
    servers.pop()
    await expect(importDashboards(url, { retryDelayMs: 1, maxAttempts: 2 })).rejects.toMatchObject({ code: 'EA_SINK_UNAVAILABLE' })
  })

  test('per-object errors (a dangling reference) are reported with the object id', async () => {
    const srv = await server()
    const dir = mkdtempSync(path.join(tmpdir(), 'osd-'))
    const file = path.join(dir, 'broken.ndjson')
    writeFileSync(
      file,
      JSON.stringify({
        type: 'dashboard',
        id: 'd1',
        attributes: { title: 'd' },
        references: [{ type: 'visualization', id: 'nope', name: 'panel_0' }],
      }) + '\n',
    )
    await expect(importDashboards(srv.url, { file })).rejects.toMatchObject({
      code: 'EA_SINK_MAPPING',
      message: expect.stringContaining('dashboard/d1: missing_references'),
    })
  })
})
