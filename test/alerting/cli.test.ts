import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test, expect } from 'vitest'
import { parse as parseYaml } from 'yaml'
import { runCli } from '../helpers/cli.js'
import { startSiemPluginsServer } from '../support/siem-plugins-server.js'

describe('envoy-audit alerting provision (real CLI, child process)', () => {
  test('provisions monitors and saved objects, idempotently, with the password from the environment', async () => {
    const srv = await startSiemPluginsServer({ auth: { username: 'admin', password: 'S3cret!pw' } })
    try {
      const env = { OPENSEARCH_USERNAME: 'admin', OPENSEARCH_PASSWORD: 'S3cret!pw' }
      // The test server speaks http://, so the password may only go there with --insecure, and is warned about.
      const args = ['alerting', 'provision', '--opensearch', srv.url, '--dashboards', srv.url, '--tenant', 'global', '--json']
      const refused = await runCli(args, { env })
      expect(refused.code).toBe(2)
      expect(refused.stderr).toMatch(/is http:\/\/ and basic-auth credentials are set.*plaintext/)
      expect(srv.monitors.size).toBe(0)
      args.push('--insecure')
      const first = await runCli(args, { env })
      expect(first.stderr).toContain('the password (OPENSEARCH_PASSWORD) travels in plaintext')
      expect(first.stderr).toContain('travels to Dashboards in plaintext')
      expect(first.stderr).not.toContain('S3cret!pw')
      expect(first.code).toBe(0)
      const r1 = JSON.parse(first.stdout) as { monitors: { created: string[] }; savedObjects: { successCount: number } }
      expect(r1.monitors.created).toHaveLength(5)
      expect(r1.savedObjects.successCount).toBe(srv.savedObjects.size)
      const second = await runCli(args, { env })
      expect(second.code).toBe(0)
      const r2 = JSON.parse(second.stdout) as { monitors: { created: string[]; unchanged: string[] } }
      expect(r2.monitors).toMatchObject({ created: [], updated: [], unchanged: r1.monitors.created })
      expect(srv.monitors.size).toBe(5)
      expect(first.stdout + second.stdout).not.toContain('S3cret!pw')
    } finally {
      await srv.close()
    }
  }, 60_000)

  test('a wrong password exits 1 with a catalogued error and no password in the output', async () => {
    const srv = await startSiemPluginsServer({ auth: { username: 'admin', password: 'right' } })
    try {
      const r = await runCli(['alerting', 'provision', '--opensearch', srv.url, '--no-saved-objects', '--insecure'], {
        env: { OPENSEARCH_USERNAME: 'admin', OPENSEARCH_PASSWORD: 'wrong-pw' },
      })
      expect(r.code).toBe(1)
      expect(r.stderr).toMatch(/EA_SINK_AUTH/)
      expect(r.stderr).not.toContain('wrong-pw')
    } finally {
      await srv.close()
    }
  }, 60_000)
})

describe("envoy-audit config validate: the alert output's deprecated ssl section", () => {
  test('is read as tls and warned about by option path, with the new name', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ea-alert-ssl-'))
    try {
      const file = join(dir, 'config.yaml')
      writeFileSync(
        file,
        'alerting:\n  enabled: true\n  kafka:\n    brokers: ["k:9093"]\n    topic: alerts\n' +
          '    ssl: { enabled: true, caFile: /etc/ca.pem }\n',
      )
      const r = await runCli(['config', 'validate', file])
      expect(r.code).toBe(0)
      expect(r.stderr).toBe(
        'envoy-audit config validate: warning: alerting.kafka.ssl is a deprecated name: it is read as alerting.kafka.tls; ' +
          'rename it in the config file (same options)\n',
      )
      const kafka = (parseYaml(r.stdout) as { alerting: { kafka: Record<string, unknown> } }).alerting.kafka
      expect(kafka.tls).toEqual({ enabled: true, caFile: '/etc/ca.pem', rejectUnauthorized: true })
      expect(kafka).not.toHaveProperty('ssl')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)

  test('run logs the same warning at startup', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ea-alert-ssl-run-'))
    try {
      const file = join(dir, 'config.yaml')
      writeFileSync(
        file,
        'sink:\n  kind: ndjson\n  ndjson: { path: out.ndjson }\nintegrity: { enabled: false }\nservice: { enabled: false }\n' +
          'alerting:\n  kafka:\n    brokers: ["k:9093"]\n    topic: alerts\n    ssl: { enabled: true }\n',
      )
      const r = await runCli(['run', '--config', file], { input: '', cwd: dir })
      expect(r.code).toBe(0)
      expect(r.stderr).toContain('WARNING: alerting.kafka.ssl is a deprecated name: it is read as alerting.kafka.tls')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)
})
