/**
 * The image runs as the unprivileged node user; every default path of the CLI is relative
 * (.envoy-audit/audit.duckdb, demo's out/), so the working directory must be one that user owns. Docker
 * cannot run here, so the image's situation is rebuilt with the built CLI: a uid that is not root, in a
 * root-owned directory (the former WORKDIR /app) and in a directory it owns (WORKDIR /var/lib/envoy-audit,
 * chowned to node; test/deploy/compose.test.ts checks the Dockerfile does that). Needs root to switch uid
 * (setpriv); skipped, with a message, otherwise.
 */
import { describe, test, expect, beforeAll, afterAll } from 'vitest'
import { spawnSync } from 'node:child_process'
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cliEntry } from '../helpers/cli.js'

const canSwitchUser = process.getuid?.() === 0 && spawnSync('sh', ['-c', 'command -v setpriv']).status === 0
if (!canSwitchUser) console.warn('image data directory: skipped, needs root and setpriv to run the CLI as another uid')
// The node user of the official Node images.
const NODE_UID = 1000

function demoAs(uid: number, cwd: string) {
  return spawnSync(
    'setpriv',
    [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', process.execPath, ...cliEntry(), 'demo', '--sessions', '1'],
    {
      cwd,
      encoding: 'utf8',
      env: { PATH: process.env.PATH, HOME: cwd },
      timeout: 120_000,
    },
  )
}

describe.skipIf(!canSwitchUser)('demo as the image user (uid 1000)', () => {
  let base: string
  beforeAll(() => {
    cliEntry() // build dist/ as root first: the unprivileged run only reads it
    base = mkdtempSync(join(tmpdir(), 'ea-image-'))
    chmodSync(base, 0o755)
  })
  afterAll(() => rmSync(base, { recursive: true, force: true }))

  test('fails with EACCES in a root-owned working directory (the former /app)', () => {
    const app = join(base, 'app')
    mkdirSync(app, { mode: 0o755 })
    const r = demoAs(NODE_UID, app)
    expect(r.status).not.toBe(0)
    expect(r.stderr).toMatch(/EACCES/)
  }, 130_000)

  test('works in a working directory node owns (/var/lib/envoy-audit): the store and the report land there', () => {
    const data = join(base, 'var-lib-envoy-audit')
    mkdirSync(data, { mode: 0o755 })
    chownSync(data, NODE_UID, NODE_UID)
    const r = demoAs(NODE_UID, data)
    expect(r.stderr).not.toMatch(/EACCES/)
    expect(r.status).toBe(0)
    expect(existsSync(join(data, '.envoy-audit/audit.duckdb'))).toBe(true)
    expect(existsSync(join(data, 'out/report.html'))).toBe(true)
  }, 130_000)
})
