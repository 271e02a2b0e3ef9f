import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface TestPki {
  dir: string
  /** Paths of the PEM files. */
  caFile: string
  clientCertFile: string
  clientKeyFile: string
  /** PEM contents, for the broker. */
  ca: string
  serverCert: string
  serverKey: string
}

// A throwaway CA, a server certificate for 127.0.0.1 and a client certificate, made with the
// openssl CLI (EC keys: fast). Test-only; never reuse outside tests.
export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'kafka-pki-'))
  const f = (name: string) => join(dir, name)
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' })
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  run('req', '-x509', ...key, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=envoy-audit-test-ca')
  writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n')
  for (const [name, cn, ext] of [
    ['server', '127.0.0.1', ['-extfile', 'server.ext']],
    ['client', 'envoy-audit', []],
  ] as const) {
    run('req', ...key, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`)
    run(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.pem`,
      '-days',
      '1',
      ...ext,
    )
  }
  return {
    dir,
    caFile: f('ca.pem'),
    clientCertFile: f('client.pem'),
    clientKeyFile: f('client.key'),
    ca: readFileSync(f('ca.pem'), 'utf8'),
    serverCert: readFileSync(f('server.pem'), 'utf8'),
    serverKey: readFileSync(f('server.key'), 'utf8'),
  }
}
