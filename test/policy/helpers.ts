/** Shared test helpers: build a policy set from inline YAML and evaluate requests against it. */
import { addManifestText, emptyPolicySet } from '../../src/policy/loader.js'
import { compilePolicies, type Decision } from '../../src/policy/evaluator.js'
import { meshConfigFrom } from '../../src/policy/mesh-config.js'
import { parseRequest, type RequestInput } from '../../src/policy/request.js'
import type { PolicySet } from '../../src/policy/model.js'
import { Command } from 'commander'
import { vi } from 'vitest'
import { registerPolicy } from '../../src/cli/policy.js'
import { EnvoyAuditError } from '../../src/errors.js'
import type { CliResult } from '../helpers/cli.js'

export function policySet(yaml: string, file = 'inline.yaml'): PolicySet {
  const set = addManifestText(emptyPolicySet(), yaml, file)
  if (set.issues.length > 0) throw new Error(`fixture has load issues: ${JSON.stringify(set.issues)}`)
  return set
}

export function evaluator(yaml: string, mesh: unknown = {}): (req: RequestInput) => Decision {
  const ev = compilePolicies(policySet(yaml), meshConfigFrom(mesh))
  return (req) => ev.evaluate(parseRequest(req))
}

/** An mTLS HTTP request from `principal` to app=`app` in `ns`, overridable field by field. */
export function httpReq(o: {
  principal?: string | null
  ns?: string
  app?: string
  labels?: Record<string, string>
  port?: number
  method?: string
  path?: string
  host?: string
  headers?: Record<string, string | string[]>
  mtls?: boolean
  protocol?: 'http' | 'grpc' | 'tcp'
  sourceIp?: string
  remoteIp?: string
  sni?: string
  jwt?: RequestInput['jwt']
}): RequestInput {
  const protocol = o.protocol ?? 'http'
  const req: RequestInput = {
    source: { principal: o.principal === undefined ? 'cluster.local/ns/ns1/sa/a' : o.principal, ip: o.sourceIp ?? '10.0.0.1' },
    destination: { namespace: o.ns ?? 'ns1', labels: o.labels ?? { app: o.app ?? 'b' }, ip: '10.0.0.2', port: o.port ?? 18080 },
    protocol,
    mtls: o.mtls ?? true,
  }
  if (protocol !== 'tcp') {
    req.http = {
      method: o.method ?? (protocol === 'grpc' ? 'POST' : 'GET'),
      path: o.path ?? '/',
      host: o.host ?? 'b.ns1.svc.cluster.local',
      headers: o.headers ?? {},
    }
  }
  if (o.remoteIp !== undefined) req.remoteIp = o.remoteIp
  if (o.sni !== undefined) req.sni = o.sni
  if (o.jwt !== undefined) req.jwt = o.jwt
  return req
}

/**
 * Runs `policy ...` in-process (spawning tsx costs seconds per call on a busy machine); the exit code is
 * what main.ts would return: process.exitCode, or 2 for usage/config errors, 1 for other errors.
 */
export async function policyCli(args: string[]): Promise<CliResult> {
  const program = new Command('envoy-audit').exitOverride()
  registerPolicy(program)
  const out: string[] = []
  const err: string[] = []
  const so = vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => (out.push(String(c)), true))
  const se = vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => (err.push(String(c)), true))
  const before = process.exitCode
  process.exitCode = undefined
  let code: number
  try {
    await program.parseAsync(['node', 'envoy-audit', 'policy', ...args])
    code = typeof process.exitCode === 'number' ? process.exitCode : 0
  } catch (e) {
    if (!(e instanceof EnvoyAuditError)) throw e
    err.push(`envoy-audit: ${e.message} [${e.code}]\n`)
    code = e.code === 'EA_USAGE' || e.code === 'EA_CONFIG_INVALID' ? 2 : 1
  } finally {
    so.mockRestore()
    se.mockRestore()
    process.exitCode = before
  }
  return { code, stdout: out.join(''), stderr: err.join('') }
}
