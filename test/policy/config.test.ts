/**
 * The live policy check wired from configuration (`policy:` in the service config, `--policies` on
 * parse/ingest). Lines are the public ones of test/detect/fixtures.ts (sources cited there):
 * kubeflow/community-distribution#2858 (plaintext GET denied by RBAC, policy none) and istio/istio
 * PR #35337 (inbound mTLS GET from the default service account).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { createParser } from '../../src/parse/index.js'
import { loadTransformsConfig } from '../../src/config/transforms.js'
import { applyStages } from '../../src/pipeline/transforms.js'
import { createTransformStages } from '../../src/compose/transform-stages.js'
import { policyConfigSchema, policyStages } from '../../src/policy/config.js'
import { validateConfig } from '../../src/compose/config.js'
import { EnvoyAuditError } from '../../src/errors.js'
import { MTLS_INBOUND_LINE, RBAC_DENIED_PLAINTEXT_LINE } from '../detect/fixtures.js'
import { startService } from '../helpers/service-process.js'
import { runCli } from '../helpers/cli.js'

const dir = mkdtempSync(join(tmpdir(), 'ea-policy-config-'))
const allowAll = join(dir, 'allow-all.yaml')
writeFileSync(
  allowAll,
  'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: allow-all, namespace: kubeflow }\nspec: { rules: [{}] }\n',
)
const workloads = join(dir, 'workloads.yaml')
writeFileSync(
  workloads,
  'workloads:\n  - { namespace: kubeflow, name: profiles-kfam, labels: { app: profiles-kfam }, ips: [10.254.17.38] }\n  - { namespace: default, name: echo, labels: { app: echo }, ips: [10.244.0.12] }\n',
)

function run(lines: string[], stages = policyStages(policyConfigSchema.parse({ policies: [allowAll], workloads }))) {
  const parsed = createParser({}).parseBatch(
    lines.map((value, i) => ({ value, coords: { kind: 'file' as const, file: 'public.log', line: i + 1, offset: String(i) } })),
  )
  return applyStages([...createTransformStages(loadTransformsConfig({})), ...stages], parsed.events)
}

function thrown(f: () => unknown): EnvoyAuditError {
  try {
    f()
  } catch (err) {
    return err as EnvoyAuditError
  }
  throw new Error('expected a throw')
}

describe('policy config → stages', () => {
  test('no policy path: no stage, and events pass without policy findings', () => {
    expect(policyStages(policyConfigSchema.parse({}))).toEqual([])
    const out = run([RBAC_DENIED_PLAINTEXT_LINE], [])
    expect(out.events[0]!.audit.finding_codes ?? []).not.toContain('policy_violation')
  })
  test('with policies: the RBAC denial the declared allow-all policy contradicts becomes a policy_violation (drift)', () => {
    const out = run([RBAC_DENIED_PLAINTEXT_LINE, MTLS_INBOUND_LINE])
    expect(out.deadLetters).toEqual([])
    expect(out.events[0]!.audit.finding_codes).toContain('policy_violation')
    expect(out.events[0]!.audit.findings?.find((f) => f.code === 'policy_violation')).toMatchObject({ severity: 'medium' })
    // Allowed in the log, and no policy selects echo in default: allow-all there too, so they agree.
    expect(out.events[1]!.audit.finding_codes ?? []).not.toContain('policy_violation')
  })
  test('errors name the option that points at the bad file', () => {
    const missing = thrown(() => policyStages(policyConfigSchema.parse({ policies: [join(dir, 'nope')] })))
    expect(missing.code).toBe('EA_IO')
    expect(missing.message).toMatch(/^policy\.policies: .*nope/)
    const badMesh = join(dir, 'mesh.yaml')
    writeFileSync(badMesh, 'rootNamespace: [not, a, string]\n')
    expect(thrown(() => policyStages(policyConfigSchema.parse({ policies: [allowAll], mesh: badMesh }))).message).toMatch(/^policy\.mesh: /)
    expect(
      thrown(() => policyStages(policyConfigSchema.parse({ policies: [allowAll], workloads: join(dir, 'none.yaml') }))).message,
    ).toMatch(/^policy\.workloads: /)
    const orphan = thrown(() => policyStages(policyConfigSchema.parse({ workloads })))
    expect(orphan.code).toBe('EA_CONFIG_INVALID')
    expect(orphan.message).toMatch(/^policy\.policies: policy\.workloads is set but no policy path is given/)
  })
  test('the service config accepts a policy section and names unknown keys', () => {
    expect(validateConfig({ policy: { policies: [allowAll] } }).policy.policies).toEqual([allowAll])
    expect(validateConfig({}).policy.policies).toEqual([])
    expect(() => validateConfig({ policy: { policy: [allowAll] } })).toThrow(/policy/)
  })
})

describe('wired into the commands', () => {
  test('parse --policies --workloads: the finding is on the printed event', async () => {
    const input = join(dir, 'in.log')
    writeFileSync(input, `${RBAC_DENIED_PLAINTEXT_LINE}\n${MTLS_INBOUND_LINE}\n`)
    const r = await runCli(['parse', input, '--policies', allowAll, '--workloads', workloads])
    expect(r.code).toBe(0)
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    expect(events.map((e) => (e.audit.finding_codes ?? []).includes('policy_violation'))).toEqual([true, false])
    const bad = await runCli(['parse', input, '--policies', allowAll, '--mesh', join(dir, 'absent-mesh.yaml')])
    expect(bad.code).not.toBe(0)
    expect(bad.stderr).toMatch(/--mesh: cannot read mesh config/)
  })
  test('parse --policies PATH INPUT: the flag takes one path (repeatable), so the input after it stays an input', async () => {
    const input = join(dir, 'in-after.log')
    writeFileSync(input, `${RBAC_DENIED_PLAINTEXT_LINE}\n${MTLS_INBOUND_LINE}\n`)
    const r = await runCli(['parse', '--policies', allowAll, '--workloads', workloads, input])
    expect([r.code, r.stderr]).toEqual([0, expect.stringContaining('2 events')])
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    expect(events.map((e) => (e.audit.finding_codes ?? []).includes('policy_violation'))).toEqual([true, false])
    // Two policy paths the old variadic way: the second one is refused as an input, not read as log lines.
    const twice = await runCli(['parse', '--policies', allowAll, allowAll, input])
    expect([twice.code, twice.stdout]).toEqual([2, ''])
    expect(twice.stderr).toContain(
      `"${allowAll}" looks like a policy file, not an access log: --policies takes one path, repeat it for each`,
    )
  })
  test('run with policy.policies: a file source through the service writes the finding', async () => {
    const input = join(dir, 'svc.log')
    writeFileSync(input, `${RBAC_DENIED_PLAINTEXT_LINE}\n`)
    const out = join(dir, 'svc-events.ndjson')
    const svc = startService(
      {
        source: { kind: 'file', file: { paths: [input] } },
        sink: { kind: 'ndjson', ndjson: { path: out } },
        deadLetter: { kind: 'file', path: join(dir, 'svc-dl.ndjson') },
        policy: { policies: [allowAll], workloads },
        service: { enabled: false },
        log: { level: 'warn' },
      },
      join(dir, 'svc.yaml'),
    )
    expect(await svc.exited).toBe(0)
    const events = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    expect(events).toHaveLength(1)
    expect(events[0].audit.finding_codes).toContain('policy_violation')
  }, 30_000)
})
