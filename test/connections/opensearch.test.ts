/**
 * The one OpenSearch client builder (src/connections/opensearch.ts): the connection config's defaults
 * and option-path errors, TLS verified unless `insecure`, PEM files read once with named errors, basic
 * auth only as a pair, credentials from the environment when the config names none.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { clientOptions, createOpenSearchClient, loadConnectionConfig, withEnvCredentials } from '../../src/connections/opensearch.js'
import { describeOpenSearch, opensearchUrl } from '../helpers/real-servers.js'

describe('OpenSearch connection config', () => {
  test('defaults: TLS verified, no compression, 30 s requests; frozen', () => {
    const c = loadConnectionConfig({ node: 'https://os:9200' })
    expect(c).toEqual({ node: 'https://os:9200', insecure: false, awsService: 'es', requestTimeoutMs: 30_000, compression: false })
    expect(Object.isFrozen(c)).toBe(true)
  })

  test.each([
    [{ node: 'ftp://os' }, /^opensearch\.node:/],
    [{ node: 'https://os:9200', username: 'u' }, /^opensearch\.password: username and password must be given together/],
    [{ node: 'https://os:9200', certFile: '/c.pem' }, /^opensearch\.keyFile: certFile and keyFile must be given together/],
    [{ node: 'https://os:9200', awsService: 'lambda' }, /^opensearch\.awsService:/],
    [{ node: 'https://os:9200', verify: false }, /^opensearch/],
  ])('invalid config %# is refused naming the option path', (input, message) => {
    expect(() => loadConnectionConfig(input)).toThrow(message)
  })

  test('errors name the prefix they are given', () => {
    expect(() => loadConnectionConfig({ node: 'nope' }, 'sink.opensearch.connection')).toThrow(/^sink\.opensearch\.connection\.node:/)
  })
})

describe('client options', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ea-os-conn-'))
  writeFileSync(join(dir, 'ca.pem'), 'CA PEM')
  writeFileSync(join(dir, 'c.pem'), 'CERT PEM')
  writeFileSync(join(dir, 'k.pem'), 'KEY PEM')

  test('TLS is verified unless insecure; the transport does not retry unless asked', () => {
    const o = clientOptions(loadConnectionConfig({ node: 'https://os:9200' }))
    expect(o.ssl).toEqual({ rejectUnauthorized: true })
    expect(o.maxRetries).toBe(0)
    expect(o.auth).toBeUndefined()
    expect(o.compression).toBeUndefined()
    expect(clientOptions(loadConnectionConfig({ node: 'https://os:9200', insecure: true })).ssl).toEqual({ rejectUnauthorized: false })
    expect(clientOptions(loadConnectionConfig({ node: 'https://os:9200' }), { maxRetries: 3 }).maxRetries).toBe(3)
  })

  test('CA, client certificate and key are read from their files; an unreadable one is a config error naming the option', () => {
    const o = clientOptions(
      loadConnectionConfig({
        node: 'https://os:9200',
        caFile: join(dir, 'ca.pem'),
        certFile: join(dir, 'c.pem'),
        keyFile: join(dir, 'k.pem'),
      }),
    )
    expect(o.ssl).toEqual({
      rejectUnauthorized: true,
      ca: Buffer.from('CA PEM'),
      cert: Buffer.from('CERT PEM'),
      key: Buffer.from('KEY PEM'),
    })
    const missing = loadConnectionConfig({ node: 'https://os:9200', caFile: join(dir, 'nope.pem') })
    expect(() => clientOptions(missing)).toThrow(
      expect.objectContaining({
        code: 'EA_CONFIG_INVALID',
        message: expect.stringMatching(/^opensearch\.caFile: cannot read .*nope\.pem/),
      }),
    )
  })

  test('basic auth and gzip when configured', () => {
    const o = clientOptions(
      loadConnectionConfig({ node: 'https://os:9200', username: 'u', password: 'p', compression: true, requestTimeoutMs: 5_000 }),
    )
    expect(o.auth).toEqual({ username: 'u', password: 'p' })
    expect(o.compression).toBe('gzip')
    expect(o.requestTimeout).toBe(5_000)
    expect(o.enableMetaHeader).toBe(false)
  })
})

describe('credentials from the environment', () => {
  const bare = loadConnectionConfig({ node: 'https://os:9200' })
  test('used when the config names no user, never over one it names', () => {
    expect(withEnvCredentials(bare, { OPENSEARCH_USERNAME: 'svc', OPENSEARCH_PASSWORD: 'pw' })).toMatchObject({
      username: 'svc',
      password: 'pw',
    })
    expect(withEnvCredentials(bare, {})).toBe(bare)
    expect(withEnvCredentials(bare, { OPENSEARCH_USERNAME: '' })).toBe(bare)
    const explicit = loadConnectionConfig({ node: 'https://os:9200', username: 'a', password: 'b' })
    expect(withEnvCredentials(explicit, { OPENSEARCH_USERNAME: 'svc', OPENSEARCH_PASSWORD: 'pw' })).toBe(explicit)
  })

  test('a user without a password is refused naming the option path, never showing a value', () => {
    expect(() => withEnvCredentials(bare, { OPENSEARCH_USERNAME: 'svc' })).toThrow(
      /^sink\.opensearch\.connection\.password: username and password must be given together/,
    )
  })
})

describeOpenSearch('the built client against the real OpenSearch', () => {
  test('answers info() through the options built here', async () => {
    const client = await createOpenSearchClient(loadConnectionConfig({ node: opensearchUrl! }), { maxRetries: 1 })
    try {
      const info = await client.info()
      expect((info.body as { version: { distribution: string } }).version.distribution).toBe('opensearch')
    } finally {
      await client.close()
    }
  })
})
