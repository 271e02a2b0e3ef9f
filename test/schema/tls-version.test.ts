import { describe, expect, test } from 'vitest'
import { ecsTlsVersion, tlsVersionLabel, tlsVersionRank } from '../../src/schema/tls-version.js'

describe('ecsTlsVersion: Envoy %DOWNSTREAM_TLS_VERSION% to ECS tls.version + tls.version_protocol', () => {
  test.each([
    ['TLSv1', { version: '1.0', protocol: 'tls' }],
    ['TLSv1.0', { version: '1.0', protocol: 'tls' }],
    ['TLSv1.1', { version: '1.1', protocol: 'tls' }],
    ['TLSv1.2', { version: '1.2', protocol: 'tls' }],
    ['TLSv1.3', { version: '1.3', protocol: 'tls' }],
    ['SSLv3', { version: '3.0', protocol: 'ssl' }],
    [' TLSv1.2 ', { version: '1.2', protocol: 'tls' }],
    ['1.2', { version: '1.2', protocol: 'tls' }],
  ])('%j → %j', (raw, expected) => expect(ecsTlsVersion(raw)).toEqual(expected))

  test('a numeric version takes the protocol given with it', () => {
    expect(ecsTlsVersion('3.0', 'ssl')).toEqual({ version: '3.0', protocol: 'ssl' })
    expect(ecsTlsVersion('1.2', 'TLS')).toEqual({ version: '1.2', protocol: 'tls' })
    expect(ecsTlsVersion('1.2', 'quic')).toBeUndefined()
  })

  test.each(['', '-', 'unknown', 'TLS', 'TLSv', 'v1.2', 'TLSv1.2.3', 'DTLSv1.2', '1', '1.2.3'])('%j is not a version', (raw) =>
    expect(ecsTlsVersion(raw)).toBeUndefined(),
  )

  test('ranks order SSL 3.0 < TLS 1.0 < 1.1 < 1.2 < 1.3; anything else is unranked', () => {
    const ranks = ['SSLv3', 'TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'].map((v) => tlsVersionRank(ecsTlsVersion(v)!))
    expect(ranks).toEqual([0, 1, 2, 3, 4])
    expect(tlsVersionRank({ version: '1.4', protocol: 'tls' })).toBe(-1)
    expect(tlsVersionLabel({ version: '3.0', protocol: 'ssl' })).toBe('SSL 3.0')
  })
})
