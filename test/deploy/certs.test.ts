/**
 * The stack's certificates, users and checkpoint key, as each service sees them. deploy/certs/gen-certs.sh
 * runs here with the tools the stack-tools image carries (openssl, htpasswd: Debian's openssl and
 * apache2-utils), into one directory per named volume, mounted where the compose file's `certs` service
 * mounts them; then each service's mounts decide which files it can read. Docker cannot run here, so the
 * volumes are directories, and owners are checked with distinct uids so that a swapped owner shows.
 * Skipped, with a message, where openssl or htpasswd is missing (`apt-get install -y openssl apache2-utils`).
 */
import { describe, test, expect, beforeAll, afterAll } from 'vitest'
import { execFileSync, spawnSync } from 'node:child_process'
import { X509Certificate, createPrivateKey } from 'node:crypto'
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse } from 'yaml'

const ROOT = new URL('../../', import.meta.url)
const read = (p: string) => readFileSync(new URL(p, ROOT), 'utf8')
const SCRIPT = new URL('deploy/certs/gen-certs.sh', ROOT).pathname
const have = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0
const haveTools = have('openssl') && have('htpasswd')
if (!haveTools) console.warn('deploy certs: skipped, openssl or htpasswd is not installed (apt-get install -y openssl apache2-utils)')
const isRoot = process.getuid?.() === 0

interface Service {
  image?: string
  user?: string
  environment?: Record<string, string | number>
  volumes?: string[]
}
const S = (parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service> }).services
const mounts = (svc: Service) =>
  (svc.volumes ?? []).map((v) => {
    const [source, target, mode] = v.split(':')
    return { source: source!, target: target!, ro: mode === 'ro' }
  })

/** Named volume -> the directory of $OUT gen-certs.sh fills, from the certs service's own mounts. */
const VOLUME_DIR = new Map(mounts(S.certs!).map((m) => [m.source, m.target.replace(/^\/out\//, '')]))

const PASSWORD = 'Adm1n!rotation-test'
const DASHBOARDS_PASSWORD = 'Dash!board-2'
// Distinct from each other and from root, so that each directory's owner names its reader.
const OPENSEARCH_UID = 4101
const APP_UID = 4102

function genCerts(out: string, env: Record<string, string> = {}): void {
  execFileSync('sh', [SCRIPT], {
    env: {
      PATH: process.env.PATH,
      OUT: out,
      OPENSEARCH_INITIAL_ADMIN_PASSWORD: PASSWORD,
      OPENSEARCH_DASHBOARDS_PASSWORD: DASHBOARDS_PASSWORD,
      OPENSEARCH_UID: String(OPENSEARCH_UID),
      OPENSEARCH_GID: String(OPENSEARCH_UID),
      APP_UID: String(APP_UID),
      APP_GID: String(APP_UID),
      ...env,
    },
    stdio: 'pipe',
  })
}

/** Files a service can read: those of every named volume it mounts (bind mounts are repo files). */
function filesOf(out: string, svc: Service): string[] {
  return mounts(svc)
    .filter((m) => VOLUME_DIR.has(m.source))
    .flatMap((m) => readdirSync(join(out, VOLUME_DIR.get(m.source)!)))
    .sort()
}

/** bcrypt check with htpasswd itself: exit 0 when the password matches the hash. */
function hashMatches(hash: string, password: string): boolean {
  const dir = mkdtempSync(join(tmpdir(), 'ea-htpasswd-'))
  try {
    writeFileSync(join(dir, 'users'), `u:${hash}\n`)
    return spawnSync('htpasswd', ['-vb', join(dir, 'users'), 'u', password], { stdio: 'pipe' }).status === 0
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
const usersHashes = (file: string) => {
  const doc = parse(readFileSync(file, 'utf8')) as Record<string, { hash?: string }>
  return { admin: doc.admin!.hash!, kibanaserver: doc.kibanaserver!.hash! }
}

describe('gen-certs.sh needs no network', () => {
  test('installs nothing at start-up: the tools come with the stack-tools image, built from the Dockerfile', () => {
    const script = read('deploy/certs/gen-certs.sh')
    expect(script).not.toMatch(/\b(apk|apt-get|apt|dnf|yum|microdnf|pip|npm|curl|wget)\s+(add|install|-)/)
    const dockerfile = read('Dockerfile')
    const stage = /^FROM \S+ AS stack-tools$([\s\S]*?)^FROM /m.exec(dockerfile)![1]!
    expect(stage).toMatch(/apt-get install -y --no-install-recommends openssl apache2-utils/)
    expect(stage).toContain('COPY deploy/certs/gen-certs.sh /usr/local/bin/gen-certs.sh')
    expect(S.certs!.image).toMatch(/^\$\{STACK_TOOLS_IMAGE:-envoy-audit-stack-tools:local\}$/)
    expect((S.certs as { build?: { target?: string } }).build?.target).toBe('stack-tools')
    // No service runs a script from the host that would fetch tools (the old alpine job did).
    for (const [name, svc] of Object.entries(S)) expect(svc.image ?? '', name).not.toMatch(/alpine/)
  })
})

describe.skipIf(!haveTools)('what each service can read (gen-certs.sh run here)', () => {
  let out: string
  beforeAll(() => {
    out = mkdtempSync(join(tmpdir(), 'ea-certs-'))
    genCerts(out)
  }, 120_000)
  afterAll(() => rmSync(out, { recursive: true, force: true }))

  test('every volume the certs service fills is a named volume with its own directory', () => {
    expect([...VOLUME_DIR.keys()].sort()).toEqual(['ca', 'checkpoint-key', 'opensearch-certs', 'security-admin', 'trust'])
    expect(readdirSync(out).sort()).toEqual([...VOLUME_DIR.values()].sort())
  })

  test('each service mounts only its own certificate and key and the CA certificate; CA and super-admin keys stay where used', () => {
    const expected: Record<string, string[]> = {
      certs: readdirSync(out).flatMap((d) => readdirSync(join(out, d))),
      opensearch: ['internal_users.yml', 'node-key.pem', 'node.pem', 'root-ca.pem'],
      'security-users': ['admin-key.pem', 'admin.pem', 'internal_users.yml', 'root-ca.pem'],
      dashboards: ['root-ca.pem'],
      setup: ['root-ca.pem'],
      'envoy-audit': ['checkpoint-key', 'root-ca.pem'],
      'demo-producer': [],
      kafka: [],
      'kafka-init': [],
    }
    expect(Object.keys(S).sort()).toEqual(Object.keys(expected).sort())
    for (const [name, files] of Object.entries(expected)) expect(filesOf(out, S[name]!), name).toEqual(files.sort())
    const holders = (file: string) => Object.keys(S).filter((n) => filesOf(out, S[n]!).includes(file))
    expect(holders('root-ca-key.pem')).toEqual(['certs'])
    expect(holders('admin-key.pem').sort()).toEqual(['certs', 'security-users'])
    expect(holders('checkpoint-key').sort()).toEqual(['certs', 'envoy-audit'])
    // Readers mount read-only; only the job that writes them mounts them read-write.
    for (const [name, svc] of Object.entries(S))
      if (name !== 'certs') for (const m of mounts(svc)) if (VOLUME_DIR.has(m.source)) expect(m.ro, `${name}: ${m.source}`).toBe(true)
  })

  test('owners: each volume belongs to the user of the container that reads it; private keys are 0600, the checkpoint key 0400', () => {
    const st = (p: string) => statSync(join(out, p))
    const mode = (p: string) => st(p).mode & 0o777
    expect(mode('ca')).toBe(0o700)
    expect(mode('ca/root-ca-key.pem')).toBe(0o600)
    for (const f of ['opensearch/node-key.pem', 'security-admin/admin-key.pem']) expect(mode(f), f).toBe(0o600)
    expect(mode('opensearch')).toBe(0o700)
    expect(mode('security-admin')).toBe(0o700)
    expect(mode('integrity')).toBe(0o700)
    expect(mode('integrity/checkpoint-key')).toBe(0o400)
    expect(mode('trust')).toBe(0o755)
    expect(mode('trust/root-ca.pem')).toBe(0o644)
    if (isRoot) {
      expect(st('ca').uid).toBe(0)
      expect(st('ca/root-ca-key.pem').uid).toBe(0)
      for (const p of ['opensearch', 'opensearch/node-key.pem', 'security-admin', 'security-admin/admin-key.pem'])
        expect(st(p).uid, p).toBe(OPENSEARCH_UID)
      for (const p of ['integrity', 'integrity/checkpoint-key']) expect(st(p).uid, p).toBe(APP_UID)
    }
    // In the stack those uids are the users the images run as: the OpenSearch image's opensearch
    // user (uid 1000) and the node user of the envoy-audit image (uid 1000 in the Node images).
    expect(S.certs!.environment!.OPENSEARCH_UID).toBe(1000)
    expect(S.certs!.environment!.APP_UID).toBe(1000)
    for (const n of ['opensearch', 'security-users', 'dashboards', 'setup', 'envoy-audit']) expect(S[n]!.user, n).toBeUndefined()
    expect(read('Dockerfile').slice(read('Dockerfile').lastIndexOf('\nFROM '))).toMatch(/^USER node$/m)
  })

  test('certificates: node for opensearch (TLS server and client), admin for securityadmin only, both from the stack CA', () => {
    const ca = new X509Certificate(readFileSync(join(out, 'ca/root-ca.pem')))
    const node = new X509Certificate(readFileSync(join(out, 'opensearch/node.pem')))
    const admin = new X509Certificate(readFileSync(join(out, 'security-admin/admin.pem')))
    expect(ca.ca).toBe(true)
    expect(node.verify(ca.publicKey)).toBe(true)
    expect(admin.verify(ca.publicKey)).toBe(true)
    expect(node.checkHost('opensearch')).toBe('opensearch')
    expect(node.checkHost('localhost')).toBe('localhost')
    expect(node.subject).toContain('CN=opensearch')
    expect(admin.subject).toContain('CN=admin')
    expect(admin.checkHost('opensearch')).toBeUndefined()
    // opensearch.yml names these DNs: the node as a node, the admin certificate as super admin.
    const osYml = parse(read('deploy/opensearch/opensearch.yml')) as Record<string, string[]>
    expect(osYml['plugins.security.nodes_dn']).toEqual(['CN=opensearch,O=envoy-audit'])
    expect(osYml['plugins.security.authcz.admin_dn']).toEqual(['CN=admin,O=envoy-audit'])
    // Keys match their certificates, in PKCS#8 as the security plugin wants.
    for (const [cert, key] of [
      [node, 'opensearch/node-key.pem'],
      [admin, 'security-admin/admin-key.pem'],
    ] as const) {
      const pem = readFileSync(join(out, key), 'utf8')
      expect(pem).toMatch(/^-----BEGIN PRIVATE KEY-----/)
      expect(cert.checkPrivateKey(createPrivateKey(pem))).toBe(true)
    }
    // Every copy of the CA certificate is the CA's.
    for (const d of ['opensearch', 'security-admin', 'trust']) expect(readFileSync(join(out, d, 'root-ca.pem'), 'utf8')).toBe(ca.toString())
  })

  test('users file: bcrypt hashes of the passwords from .env, never the passwords', () => {
    const file = join(out, 'security-admin', 'internal_users.yml')
    const text = readFileSync(file, 'utf8')
    expect(text).not.toContain(PASSWORD)
    expect(text).not.toContain(DASHBOARDS_PASSWORD)
    // OpenSearch gets the same file, for the first initialisation of its security index.
    expect(readFileSync(join(out, 'opensearch', 'internal_users.yml'), 'utf8')).toBe(text)
    const h = usersHashes(file)
    expect(h.admin).toMatch(/^\$2a\$12\$/)
    expect(hashMatches(h.admin, PASSWORD)).toBe(true)
    expect(hashMatches(h.admin, DASHBOARDS_PASSWORD)).toBe(false)
    expect(hashMatches(h.kibanaserver, DASHBOARDS_PASSWORD)).toBe(true)
  }, 120_000)

  test('checkpoint key: 32 random bytes as hex, long enough for integrity.keyFile', () => {
    const key = readFileSync(join(out, 'integrity/checkpoint-key'), 'utf8').trim()
    expect(key).toMatch(/^[0-9a-f]{64}$/)
  })

  test('a second run (a password rotated in .env) keeps the CA, the certificates and the key, and rewrites the hashes', () => {
    const files = [
      'ca/root-ca.pem',
      'ca/root-ca-key.pem',
      'opensearch/node.pem',
      'opensearch/node-key.pem',
      'security-admin/admin.pem',
      'integrity/checkpoint-key',
    ]
    const before = new Map(files.map((f) => [f, readFileSync(join(out, f), 'utf8')]))
    genCerts(out, { OPENSEARCH_INITIAL_ADMIN_PASSWORD: 'N3w!admin-password' })
    for (const f of files) expect(readFileSync(join(out, f), 'utf8'), f).toBe(before.get(f))
    const h = usersHashes(join(out, 'security-admin/internal_users.yml'))
    expect(hashMatches(h.admin, 'N3w!admin-password')).toBe(true)
    expect(hashMatches(h.admin, PASSWORD)).toBe(false)
    expect(readFileSync(join(out, 'opensearch/internal_users.yml'), 'utf8')).toBe(
      readFileSync(join(out, 'security-admin/internal_users.yml'), 'utf8'),
    )
  }, 120_000)

  test('a new CA (its volume deleted) re-issues the certificates that no longer verify', () => {
    const oldNode = readFileSync(join(out, 'opensearch/node.pem'), 'utf8')
    rmSync(join(out, 'ca'), { recursive: true, force: true })
    genCerts(out)
    const ca = new X509Certificate(readFileSync(join(out, 'ca/root-ca.pem')))
    const node = new X509Certificate(readFileSync(join(out, 'opensearch/node.pem')))
    expect(node.toString()).not.toBe(new X509Certificate(oldNode).toString())
    expect(node.verify(ca.publicKey)).toBe(true)
    expect(new X509Certificate(readFileSync(join(out, 'security-admin/admin.pem'))).verify(ca.publicKey)).toBe(true)
  }, 120_000)

  test('refuses to run without the admin password', () => {
    const r = spawnSync('sh', [SCRIPT], { env: { PATH: process.env.PATH, OUT: join(out, 'none') }, encoding: 'utf8' })
    expect(r.status).not.toBe(0)
    expect(r.stderr).toContain('OPENSEARCH_INITIAL_ADMIN_PASSWORD')
  })
})
