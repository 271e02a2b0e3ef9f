import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { execFile, execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Client } from '@opensearch-project/opensearch'
import { TestOpenSearch } from '../support/opensearch-server/index.js'
import { clientOptions, loadConnectionConfig } from '../../src/connections/opensearch.js'
import { cliEntry } from '../helpers/cli.js'

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...cliEntry(), ...args],
      { env: { ...process.env, ...env, OPENSEARCH_URL: '', OPENSEARCH_PASSWORD: env.OPENSEARCH_PASSWORD ?? '' } },
      (err, stdout, stderr) => resolve({ code: err === null ? 0 : Number((err as { code?: number }).code ?? 1), stdout, stderr }),
    )
  })
}

/** A self-signed certificate for 127.0.0.1, made with the system openssl (absent: TLS tests skip). */
function selfSigned(): { dir: string; key: string; cert: string } | undefined {
  try {
    const dir = mkdtempSync(join(tmpdir(), 'ea-tls-'))
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    )
    return { dir, key: join(dir, 'key.pem'), cert: join(dir, 'cert.pem') }
  } catch {
    return undefined
  }
}

describe('envoy-audit setup (CLI, child process against the test server)', () => {
  let srv: TestOpenSearch
  beforeAll(async () => {
    srv = await TestOpenSearch.start()
  })
  afterAll(async () => {
    await srv.close()
  })

  test('without the ISM plugin: everything else is installed, retention is said NOT enforced, exit 1 unless --without-ism', async () => {
    const bare = await TestOpenSearch.start({ ism: false })
    try {
      const refused = await cli(['setup', '--opensearch', bare.url])
      expect(refused.code).toBe(1)
      expect(refused.stdout.split('\n')[0]).toMatch(
        /^skipped\s+ism policy envoy-audit-retention \(the Index Management \(ISM\) plugin is not installed: retention is NOT enforced/,
      )
      expect(refused.stderr).toContain('EA_RETENTION_UNENFORCED')
      expect(refused.stderr).toContain('--without-ism')
      expect(bare.state.templates.has('envoy-audit-events-template')).toBe(true)
      expect([...bare.state.aliases.keys()].sort()).toEqual(['envoy-audit-events', 'envoy-audit-findings'])
      const accepted = await cli(['setup', '--opensearch', bare.url, '--without-ism'])
      expect(accepted.code).toBe(0)
      expect(accepted.stderr).toContain('WARNING: the Index Management (ISM) plugin is not installed')
      expect(
        accepted.stdout
          .trim()
          .split('\n')
          .slice(1)
          .every((l) => l.startsWith('unchanged')),
      ).toBe(true)
    } finally {
      await bare.close()
    }
  })

  test('first run creates, second run reports everything unchanged', async () => {
    const first = await cli(['setup', '--opensearch', srv.url, '--json'])
    expect(first.stderr).toBe('')
    expect(first.code).toBe(0)
    expect((JSON.parse(first.stdout) as { steps: { action: string }[] }).steps.map((s) => s.action)).toEqual([
      'created',
      'created',
      'created',
      'created',
      'created',
      'created',
      'created',
      'created',
    ])
    const second = await cli(['setup', '--opensearch', srv.url])
    expect(second.code).toBe(0)
    expect(
      second.stdout
        .trim()
        .split('\n')
        .every((l) => l.startsWith('unchanged')),
    ).toBe(true)
  })

  test('basic auth: password from OPENSEARCH_PASSWORD, never from argv; sent as an Authorization header', async () => {
    // srv speaks http://, so the password is sent only with --insecure.
    const r = await cli(['setup', '--opensearch', srv.url, '--username', 'auditor', '--retention-days', '400', '--insecure'], {
      OPENSEARCH_PASSWORD: 's3cret',
    })
    expect(r.code).toBe(0)
    expect(r.stdout).not.toContain('s3cret')
    const auth = srv.requests.at(-1)!.headers.authorization
    expect(auth).toBe(`Basic ${Buffer.from('auditor:s3cret').toString('base64')}`)
    const noPassword = await cli(['setup', '--opensearch', srv.url, '--username', 'auditor'])
    expect(noPassword.code).toBe(2)
    expect(noPassword.stderr).toContain('OPENSEARCH_PASSWORD')
  })

  test('bad option values exit 2 naming the option', async () => {
    const r = await cli(['setup', '--opensearch', srv.url, '--retention-days', '30'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('deleteAfterDays')
  })
})

const tls = selfSigned()
describe.skipIf(tls === undefined)('TLS verification (self-signed https test server)', () => {
  let srv: TestOpenSearch
  beforeAll(async () => {
    srv = await TestOpenSearch.start({ tls: { key: readFileSync(tls!.key), cert: readFileSync(tls!.cert) } })
  })
  afterAll(async () => {
    await srv.close()
  })

  test('verification is on by default: the client options reject unauthorized certificates', () => {
    expect(clientOptions(loadConnectionConfig({ node: srv.url })).ssl?.rejectUnauthorized).toBe(true)
  })

  test('without a CA the self-signed server is rejected; with --ca it is accepted', async () => {
    const rejected = await cli(['setup', '--opensearch', srv.url])
    expect(rejected.code).toBe(1)
    expect(rejected.stderr).toMatch(/self[- ]signed|certificate/i)
    expect(srv.state.policies.size).toBe(0)
    const ok = await cli(['setup', '--opensearch', srv.url, '--ca', tls!.cert])
    expect(ok.stderr).toBe('')
    expect(ok.code).toBe(0)
    expect(srv.state.policies.size).toBe(1)
  })

  test('--insecure connects but prints a warning', async () => {
    const r = await cli(['setup', '--opensearch', srv.url, '--insecure'])
    expect(r.code).toBe(0)
    expect(r.stderr).toContain('WARNING')
  })

  test('client-certificate auth: a server requiring client certs accepts --cert/--key and refuses without', async () => {
    const mtls = await TestOpenSearch.start({
      tls: { key: readFileSync(tls!.key), cert: readFileSync(tls!.cert), ca: readFileSync(tls!.cert) },
    })
    try {
      const without = await cli(['setup', '--opensearch', mtls.url, '--ca', tls!.cert])
      expect(without.code).toBe(1)
      expect(mtls.state.policies.size).toBe(0)
      // The self-signed certificate doubles as the client certificate (the server trusts it as a CA).
      const withCert = await cli(['setup', '--opensearch', mtls.url, '--ca', tls!.cert, '--cert', tls!.cert, '--key', tls!.key])
      expect(withCert.stderr).toBe('')
      expect(withCert.code).toBe(0)
      expect(mtls.state.policies.size).toBe(1)
    } finally {
      await mtls.close()
    }
  })

  test('the real client with the CA in ssl.ca talks to the https server', async () => {
    writeFileSync(join(tls!.dir, 'marker'), '')
    const client = new Client(clientOptions(loadConnectionConfig({ node: srv.url, caFile: tls!.cert })))
    const info = await client.info()
    expect((info.body as { version: { distribution: string } }).version.distribution).toBe('opensearch')
    await client.close()
  })
})
