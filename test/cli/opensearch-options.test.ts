/**
 * The OpenSearch connection options shared by every OpenSearch command (src/cli/opensearch-options.ts):
 * the URL and user from options or the environment, the password from the environment or a file only,
 * TLS files passed through, --insecure warned about.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Command } from 'commander'
import { afterEach, describe, expect, test, vi } from 'vitest'
import { addOpenSearchOptions, connectionFromOptions } from '../../src/cli/opensearch-options.js'

afterEach(() => {
  vi.restoreAllMocks()
})

describe('connectionFromOptions', () => {
  test('the URL comes from --opensearch or OPENSEARCH_URL (an empty variable is unset), else a usage error', () => {
    expect(connectionFromOptions({ opensearch: 'https://a:9200' }, { OPENSEARCH_URL: 'https://b:9200' }).node).toBe('https://a:9200')
    expect(connectionFromOptions({}, { OPENSEARCH_URL: 'https://b:9200' }).node).toBe('https://b:9200')
    expect(() => connectionFromOptions({}, { OPENSEARCH_URL: '' })).toThrow(
      expect.objectContaining({ code: 'EA_USAGE', message: expect.stringContaining('--opensearch <url>') }),
    )
  })

  test('the password comes from OPENSEARCH_PASSWORD or --password-file, and only with a user', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ea-os-opts-'))
    writeFileSync(join(dir, 'pw'), 'from-file\n')
    const env = { OPENSEARCH_USERNAME: 'svc', OPENSEARCH_PASSWORD: 'from-env' }
    expect(connectionFromOptions({ opensearch: 'https://a:9200' }, env)).toMatchObject({ username: 'svc', password: 'from-env' })
    expect(connectionFromOptions({ opensearch: 'https://a:9200', passwordFile: join(dir, 'pw') }, env)).toMatchObject({
      password: 'from-file',
    })
    expect(connectionFromOptions({ opensearch: 'https://a:9200' }, { OPENSEARCH_PASSWORD: 'stray' }).password).toBeUndefined()
    expect(() => connectionFromOptions({ opensearch: 'https://a:9200', username: 'u' }, {})).toThrow(
      expect.objectContaining({ code: 'EA_USAGE' }),
    )
    expect(() => connectionFromOptions({ opensearch: 'https://a:9200', username: 'u', passwordFile: join(dir, 'none') }, {})).toThrow(
      expect.objectContaining({ code: 'EA_IO', message: expect.stringContaining('--password-file') }),
    )
  })

  test('TLS stays verified unless --insecure, which warns on stderr; TLS files and options pass through', () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
    const c = connectionFromOptions(
      {
        opensearch: 'https://a:9200',
        ca: '/ca.pem',
        cert: '/c.pem',
        key: '/k.pem',
        gzip: true,
        awsRegion: 'us-east-1',
        awsService: 'aoss',
      },
      {},
    )
    expect(c).toMatchObject({
      insecure: false,
      caFile: '/ca.pem',
      certFile: '/c.pem',
      keyFile: '/k.pem',
      compression: true,
      awsRegion: 'us-east-1',
      awsService: 'aoss',
    })
    expect(stderr).not.toHaveBeenCalled()
    expect(connectionFromOptions({ opensearch: 'https://a:9200', insecure: true }, {}).insecure).toBe(true)
    expect(String(stderr.mock.calls[0]?.[0])).toContain('WARNING: --insecure')
  })

  test('a password from OPENSEARCH_PASSWORD (or a file) for an http:// URL is refused unless --insecure, which warns', () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
    const env = { OPENSEARCH_USERNAME: 'svc', OPENSEARCH_PASSWORD: 'pw-from-env' }
    expect(() => connectionFromOptions({ opensearch: 'http://os:9200' }, env)).toThrow(
      expect.objectContaining({
        code: 'EA_CONFIG_INVALID',
        message: expect.stringMatching(/opensearch\.node: is http:\/\/.*plaintext.*--insecure/),
      }),
    )
    expect(() => connectionFromOptions({}, { ...env, OPENSEARCH_URL: 'HTTP://os:9200' })).toThrow(/plaintext/)
    expect(stderr).not.toHaveBeenCalled()
    expect(connectionFromOptions({ opensearch: 'http://os:9200', insecure: true }, env)).toMatchObject({ password: 'pw-from-env' })
    const warned = stderr.mock.calls.map((c) => String(c[0])).join('')
    expect(warned).toContain('http://os:9200 is http://: the password (OPENSEARCH_PASSWORD) travels in plaintext')
    expect(warned).not.toContain('pw-from-env')
    // No credentials, or https://: nothing to refuse.
    expect(connectionFromOptions({ opensearch: 'http://os:9200' }, {}).password).toBeUndefined()
    expect(connectionFromOptions({ opensearch: 'https://os:9200' }, env).password).toBe('pw-from-env')
  })

  test('the options registered on a command parse into a connection', () => {
    const cmd = addOpenSearchOptions(new Command('x').exitOverride())
    cmd.parse(['--opensearch', 'https://a:9200', '--username', 'u', '--ca', '/ca.pem', '--gzip'], { from: 'user' })
    expect(connectionFromOptions(cmd.opts(), { OPENSEARCH_PASSWORD: 'p' })).toMatchObject({
      node: 'https://a:9200',
      username: 'u',
      password: 'p',
      caFile: '/ca.pem',
      compression: true,
      awsService: 'es',
    })
  })
})
