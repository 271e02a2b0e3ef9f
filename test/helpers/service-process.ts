import { spawn, type ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { stringify } from 'yaml'
import { cliEntry, REPO_ROOT } from './cli.js'
import { createOpenSearchClient, loadConnectionConfig } from '../../src/connections/opensearch.js'
import { loadLifecycleConfig } from '../../src/lifecycle/config.js'
import { runSetup } from '../../src/lifecycle/setup.js'

export interface ServiceProcess {
  child: ChildProcess
  stderr(): string
  /** Resolves with the exit code (or the signal name). */
  exited: Promise<number | string>
}

/**
 * Starts `envoy-audit run --config <file>` as a real child process. SERVICE_NODE_ARGS adds node flags
 * to it (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile the service inside a benchmark; node
 * refuses --cpu-prof in NODE_OPTIONS).
 */
export function startService(config: unknown, configPath: string): ServiceProcess {
  writeFileSync(configPath, stringify(config))
  const nodeArgs = (process.env.SERVICE_NODE_ARGS ?? '').split(' ').filter((a) => a !== '')
  const child = spawn(process.execPath, [...nodeArgs, ...cliEntry(), 'run', '--config', configPath], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let err = ''
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString('utf8')
  })
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)))
  return { child, stderr: () => err, exited }
}

export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** `envoy-audit setup` with the default aliases on the OpenSearch at `url` (run refuses to start without it). */
export async function setupOpenSearch(url: string): Promise<void> {
  const client = await createOpenSearchClient(loadConnectionConfig({ node: url }))
  try {
    await runSetup(client, loadLifecycleConfig({ replicas: 0 }))
  } finally {
    await client.close()
  }
}
