import { describe, test, expect } from 'vitest'
import { DEFAULT_FIPS_CIPHERS, loadTransformsConfig } from '../../src/config/transforms.js'
import { EnvoyAuditError } from '../../src/errors.js'

describe('loadTransformsConfig', () => {
  test('defaults: stock Istio trust domain, TLS 1.2 minimum, Envoy FIPS cipher list without CHACHA20', () => {
    const c = loadTransformsConfig()
    expect(c.trustDomain).toBe('cluster.local')
    expect(c.trustDomainAliases).toEqual([])
    expect(c.minTlsVersion).toEqual({ version: '1.2', protocol: 'tls' })
    expect(c.fipsCiphers).toEqual(DEFAULT_FIPS_CIPHERS)
    expect(c.fipsCiphers.some((x) => x.includes('CHACHA20'))).toBe(false)
    expect([...c.trustedDomains]).toEqual(['cluster.local'])
    expect(c.au3Findings).toBe(true)
  })
  test('aliases join the trusted set, deduplicated', () => {
    const c = loadTransformsConfig({ trustDomain: 'new.td', trustDomainAliases: ['old.td', 'old.td'] })
    expect([...c.trustedDomains].sort()).toEqual(['new.td', 'old.td'])
    expect(c.trustDomainAliases).toEqual(['old.td'])
  })
  test('the result is frozen', () => {
    const c = loadTransformsConfig()
    expect(Object.isFrozen(c)).toBe(true)
    expect(Object.isFrozen(c.fipsCiphers)).toBe(true)
    expect(() => {
      ;(c as { trustDomain: string }).trustDomain = 'x'
    }).toThrow(TypeError)
  })
  test.each([
    ['1.3', { version: '1.3', protocol: 'tls' }],
    [1.1, { version: '1.1', protocol: 'tls' }], // YAML reads an unquoted 1.1 as a number
    [1.0, { version: '1.0', protocol: 'tls' }],
    ['TLSv1.3', { version: '1.3', protocol: 'tls' }], // the spelling the option took before
    ['TLSv1', { version: '1.0', protocol: 'tls' }],
    ['SSLv3', { version: '3.0', protocol: 'ssl' }],
  ])('minTlsVersion %j is normalised to the ECS spelling %j', (input, expected) => {
    expect(loadTransformsConfig({ minTlsVersion: input }).minTlsVersion).toEqual(expected)
  })
  test.each([
    [{ minTlsVersion: '1.4' }, 'transforms.minTlsVersion'],
    [{ minTlsVersion: 'v1.2' }, 'transforms.minTlsVersion'],
    [{ trustDomain: 'Cluster.Local' }, 'transforms.trustDomain'],
    [{ trustDomainAliases: ['ok', 'bad domain'] }, 'transforms.trustDomainAliases.1'],
    [{ minTlsVersion: 'TLSv1.4' }, 'transforms.minTlsVersion'],
    [{ fipsCiphers: [] }, 'transforms.fipsCiphers'],
    [{ maxFieldLength: 10 }, 'transforms.maxFieldLength'],
    [{ unknownOption: true }, 'transforms'],
  ])('%j fails with EA_CONFIG_INVALID naming %s', (input, path) => {
    try {
      loadTransformsConfig(input)
      expect.unreachable()
    } catch (err) {
      expect(err).toBeInstanceOf(EnvoyAuditError)
      expect((err as EnvoyAuditError).code).toBe('EA_CONFIG_INVALID')
      expect((err as Error).message.startsWith(`${path}:`)).toBe(true)
    }
  })
})
