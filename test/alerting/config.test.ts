import { describe, test, expect } from 'vitest'
import { loadAlertingConfig } from '../../src/alerting/config.js'
import { createAlertSink } from '../../src/alerting/alert-sink.js'
import { EnvoyAuditError } from '../../src/errors.js'
import { renamedOptionWarnings } from '../../src/config/renamed-options.js'

function errorOf(fn: () => unknown): EnvoyAuditError {
  try {
    fn()
  } catch (err) {
    if (err instanceof EnvoyAuditError) return err
    throw err
  }
  throw new Error('expected an error')
}

describe('alerting config', () => {
  test('empty config is valid, disabled, with explicit defaults, frozen', () => {
    const c = loadAlertingConfig({})
    expect(c.enabled).toBe(false)
    expect(c.minSeverity).toBe('medium')
    expect(c.dedupeWindowSeconds).toBe(300)
    expect(c.rateLimit).toEqual({ perMinute: 2, burst: 3, maxKeys: 50_000 })
    expect(Object.isFrozen(c)).toBe(true)
    expect(Object.isFrozen(c.rateLimit)).toBe(true)
    expect(createAlertSink({})).toBeUndefined()
  })

  test('webhook defaults keep TLS verification on', () => {
    const c = loadAlertingConfig({ enabled: true, webhook: { url: 'https://hooks.example.gov/x' } })
    expect(c.webhook?.tls.rejectUnauthorized).toBe(true)
    expect(c.webhook?.maxAttempts).toBe(5)
    expect(c.webhook?.backoff).toEqual({ initialMs: 250, maxMs: 15_000 })
  })

  test('errors name the option path', () => {
    expect(errorOf(() => loadAlertingConfig({ enabled: true })).message).toMatch(/^alerting\.enabled: .*output/)
    expect(errorOf(() => loadAlertingConfig({ webhook: { url: 'ftp://x/' } })).message).toMatch(/^alerting\.webhook\.url:/)
    expect(errorOf(() => loadAlertingConfig({ kafka: { brokers: ['nohost'], topic: 't' } })).message).toMatch(
      /^alerting\.kafka\.brokers\.0:/,
    )
    expect(errorOf(() => loadAlertingConfig({ rateLimit: { burst: 0 } })).message).toMatch(/^alerting\.rateLimit\.burst:/)
    expect(errorOf(() => loadAlertingConfig({ surprise: 1 })).code).toBe('EA_CONFIG_INVALID')
  })

  test('a missing bearer-token variable fails at build time, naming the variable only', () => {
    const err = errorOf(() =>
      createAlertSink({ enabled: true, webhook: { url: 'http://127.0.0.1:9/', bearerTokenEnv: 'ALERT_TOKEN' } }, { env: {} }),
    )
    expect(err.code).toBe('EA_CONFIG_INVALID')
    expect(err.message).toContain('ALERT_TOKEN')
  })

  test('kafka: tls is the option name, verified by default; ssl is read as tls, with a warning naming both paths', () => {
    const kafka = { brokers: ['k:9093'], topic: 'alerts' }
    const plain = loadAlertingConfig({ enabled: true, kafka })
    expect(plain.kafka?.tls).toEqual({ enabled: false, rejectUnauthorized: true })
    expect(renamedOptionWarnings({ alerting: plain })).toEqual([])

    const tls = { enabled: true, caFile: '/etc/ca.pem', rejectUnauthorized: false }
    const viaTls = loadAlertingConfig({ enabled: true, kafka: { ...kafka, tls } })
    const viaSsl = loadAlertingConfig({ enabled: true, kafka: { ...kafka, ssl: tls } })
    // The same options (the parsed ssl section also carries the symbol-keyed mark the warning is read from).
    expect(JSON.stringify(viaSsl.kafka)).toBe(JSON.stringify(viaTls.kafka))
    expect(viaSsl.kafka).not.toHaveProperty('ssl')
    expect(renamedOptionWarnings({ alerting: viaSsl })).toEqual([
      'alerting.kafka.ssl is a deprecated name: it is read as alerting.kafka.tls; rename it in the config file (same options)',
    ])
    expect(renamedOptionWarnings(viaSsl, 'alerting')).toHaveLength(1)
    // Validated as tls is, with its own path; both names at once are refused.
    expect(errorOf(() => loadAlertingConfig({ kafka: { ...kafka, ssl: { enabled: 'yes' } } })).message).toMatch(
      /^alerting\.kafka\.ssl\.enabled:/,
    )
    expect(errorOf(() => loadAlertingConfig({ kafka: { ...kafka, ssl: { certFile: '/c.pem' } } })).message).toMatch(
      /^alerting\.kafka\.ssl\.certFile: certFile and keyFile go together/,
    )
    expect(errorOf(() => loadAlertingConfig({ kafka: { ...kafka, ssl: tls, tls } })).message).toMatch(
      /^alerting\.kafka\.ssl: ssl is the deprecated name of tls: give only tls/,
    )
  })
})
