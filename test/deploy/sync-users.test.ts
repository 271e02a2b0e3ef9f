/**
 * deploy/opensearch/sync-users.sh, the security-users job that makes a password changed in .env take
 * effect: OpenSearch reads internal_users.yml only when it first creates its security index, so the job
 * downloads the index's users (securityadmin -backup), swaps in the new hashes and uploads the result.
 * Without OpenSearch's tools here, the merge step runs for real (`sync-users.sh merge`, bash) on a
 * download in securityadmin's format and on the users file gen-certs.sh writes.
 */
import { describe, test, expect } from 'vitest'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse } from 'yaml'

const SCRIPT = new URL('../../deploy/opensearch/sync-users.sh', import.meta.url).pathname
const NEW_ADMIN = '$2a$12$NEWadminNEWadminNEWadminNEWadminNEWadminNEWadminNEWad'
const NEW_KIBANA = '$2a$12$NEWkibanaNEWkibanaNEWkibanaNEWkibanaNEWkibanaNEWkiba'

/** The users file as gen-certs.sh writes it (see deploy/certs/gen-certs.sh). */
const WANTED = `_meta:
  type: "internalusers"
  config_version: 2
admin:
  hash: "${NEW_ADMIN}"
  reserved: true
  backend_roles: ["admin"]
  description: "Stack administrator (envoy-audit setup and run in the demo stack)"
kibanaserver:
  hash: "${NEW_KIBANA}"
  reserved: true
  description: "OpenSearch Dashboards server user"
`

/** What securityadmin -backup downloads (Jackson YAML): the old hashes, plus a user made in Dashboards. */
const CURRENT = `---
_meta:
  type: "internalusers"
  config_version: 2
admin:
  hash: "$2a$12$OLDadminOLDadminOLDadminOLDadminOLDadminOLDadminOLDad"
  reserved: true
  hidden: false
  backend_roles:
  - "admin"
  attributes: {}
  description: "Stack administrator (envoy-audit setup and run in the demo stack)"
  static: false
kibanaserver:
  hash: "$2a$12$OLDkibanaOLDkibanaOLDkibanaOLDkibanaOLDkibanaOLDkiba"
  reserved: true
  hidden: false
  backend_roles: []
  attributes: {}
  description: "OpenSearch Dashboards server user"
  static: false
envoy-audit-writer:
  hash: "$2a$12$WRITERwriterWRITERwriterWRITERwriterWRITERwriterWRITER"
  reserved: false
  hidden: false
  backend_roles:
  - "envoy-audit-writer"
  attributes:
    team: "soc"
  static: false
`

function merge(current: string, wanted: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'ea-sync-users-'))
  try {
    writeFileSync(join(dir, 'current.yml'), current)
    writeFileSync(join(dir, 'wanted.yml'), wanted)
    return execFileSync('bash', [SCRIPT, 'merge', join(dir, 'current.yml'), join(dir, 'wanted.yml')], { encoding: 'utf8' })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
type Users = Record<string, { hash?: string; reserved?: boolean; backend_roles?: string[]; attributes?: Record<string, string> }>

describe('sync-users.sh merge: what the security-users job uploads', () => {
  test('the hashes from .env replace those in the index; every other user and attribute stays', () => {
    const out = parse(merge(CURRENT, WANTED)) as Users
    const before = parse(CURRENT) as Users
    expect(out.admin!.hash).toBe(NEW_ADMIN)
    expect(out.kibanaserver!.hash).toBe(NEW_KIBANA)
    expect(out['envoy-audit-writer']).toEqual(before['envoy-audit-writer'])
    expect({ ...out.admin, hash: undefined }).toEqual({ ...before.admin, hash: undefined })
    expect(out._meta).toEqual(before._meta)
    expect(Object.keys(out)).toEqual(Object.keys(before))
  })

  test('a user the index lost (deleted by hand) is added back as the users file defines it', () => {
    const withoutKibana = CURRENT.replace(/^kibanaserver:\n(?: {2}.*\n)+/m, '')
    expect(withoutKibana).not.toContain('kibanaserver')
    const out = parse(merge(withoutKibana, WANTED)) as Users
    expect(out.kibanaserver).toEqual({ hash: NEW_KIBANA, reserved: true, description: 'OpenSearch Dashboards server user' })
    expect(out['envoy-audit-writer']!.hash).toMatch(/WRITER/)
  })

  test('quoted keys and single-quoted hashes (other YAML writers) are handled the same way', () => {
    const quoted = CURRENT.replace(/^admin:/m, '"admin":').replace(/hash: "(\$2a\$12\$OLDadmin[^"]*)"/, "hash: '$1'")
    const out = parse(merge(quoted, WANTED)) as Users
    expect(out.admin!.hash).toBe(NEW_ADMIN)
    expect(out['envoy-audit-writer']!.hash).toMatch(/WRITER/)
  })

  test('an unchanged password uploads the same users: running it on every `up` is idempotent', () => {
    const once = merge(CURRENT, WANTED)
    expect(merge(once, WANTED)).toBe(once)
  })
})
