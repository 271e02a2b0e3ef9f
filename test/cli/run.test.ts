/**
 * `envoy-audit run` as a process: a service that fails for good must exit with its code even when an
 * input handle is still open. A replica that stopped working but stays alive is never restarted by its
 * supervisor (Kubernetes, systemd): it would sit there, alive in the process table, indexing nothing.
 */
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { expect, test } from 'vitest'
import { REPO_ROOT } from '../helpers/cli.js'

test('a fatal error while stdin is still open: the error is printed and the process exits 1 within seconds', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ea-run-exit-'))
  // A folder where the dead-letter file should be: the first dead letter cannot be written (EA_IO),
  // and the service stops for good rather than acknowledge a record it could not keep.
  mkdirSync(join(dir, 'dlq.ndjson'))
  const config = join(dir, 'run.yaml')
  writeFileSync(
    config,
    stringify({
      source: { kind: 'stdin', file: { lingerMs: 50 } },
      sink: { kind: 'ndjson', ndjson: { path: join(dir, 'events.ndjson') } },
      deadLetter: { kind: 'file', path: join(dir, 'dlq.ndjson') },
      integrity: { enabled: false },
      service: { enabled: false },
      log: { level: 'warn' },
    }),
  )
  const child = spawn(process.execPath, ['--import', 'tsx', `${REPO_ROOT}src/cli/main.ts`, 'run', '--config', config], { cwd: REPO_ROOT, stdio: ['pipe', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)))
  // One line that is not an access log, and stdin stays open (a tail -F, a shipper keeping its pipe).
  child.stdin.write('not an access log\n')
  const outcome = await Promise.race([exited, new Promise<string>((resolve) => setTimeout(() => resolve('still running after 20 s'), 20_000))])
  if (typeof outcome === 'string') child.kill('SIGKILL')
  child.stdin.destroy()
  expect(stderr).toMatch(/cannot write .*dlq\.ndjson.*\[EA_IO\]/)
  expect(outcome).toBe(1)
}, 40_000)
