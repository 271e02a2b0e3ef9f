/**
 * The processing every pipeline shares: the parser and the transform stages, in the one order they
 * must run:
 *   redact  first, so no later stage (a finding quoting a path) can copy a secret; its hook redacts
 *           every dead letter before the dead-letter output sees it
 *   spiffe  identity enrichment: mesh.source.*, mesh.destination.*, mesh.mtls
 *   au3     audit.au3 (plaintext lifts the identity requirement: needs mesh.mtls)
 *   detect  findings (needs both above)
 *   policy  the live policy check, after detect so its finding joins the others
 *   hash    last, so audit.hash covers everything the stages wrote
 * Each stage declares the config section it reads; a stage that is off builds to nothing.
 */
import type { DeadLetterRedaction, TransformStage } from '../pipeline/component.js'
import { au3Stage, createTransformMemo, detectStage, spiffeStage, type IdentityContexts, type TransformMemo } from './transform-stages.js'
import { createParser, type ParserConfig, type RecordParser } from '../parse/index.js'
import { loadTransformsConfig, transformsConfigSchema, type TransformsConfig } from '../config/transforms.js'
import { createRedactionStage } from '../redact/redactor.js'
import { redactionConfigSchema } from '../redact/config.js'
import { policyConfigSchema, policyStages, type PolicyConfig } from '../policy/config.js'
import { integrityConfigSchema } from '../integrity/config.js'
import { createHashStage } from '../integrity/chain.js'
import { Registry, type ComponentDef } from './registry.js'

export const STAGE_ORDER = ['redact', 'spiffe', 'au3', 'detect', 'policy', 'hash'] as const

/** The config sections the processing reads (the `run` config's, or what parse/ingest flags make of them). */
export interface ProcessingConfig {
  parser?: unknown
  transforms?: unknown
  policy?: unknown
  redaction?: unknown
  integrity?: unknown
}

export interface Processing {
  parser: RecordParser
  stages: TransformStage[]
  /** The redaction stage's dead-letter hook, for the runner; absent when redaction is off. */
  redactDeadLetters?: DeadLetterRedaction
  /** Records parsed and transformed together (transforms.microBatch). */
  microBatch: number
}

export interface StageContext {
  /** spiffe remembers each event's identities for detect (the same pipeline's). */
  identities: IdentityContexts
  /** Their memos, made by the first of them built (bounded by transforms.memoEntries). */
  memo?: TransformMemo
  /** Names a policy option in errors: `policy.mesh` in the run config, `--mesh` on the command line. */
  policyOption?: (key: keyof PolicyConfig) => string
}

interface StagePlan {
  stages: TransformStage[]
  redactDeadLetters?: DeadLetterRedaction
}

type StageDef = ComponentDef<any, StagePlan, StageContext>

const annotating = (kind: 'spiffe' | 'au3' | 'detect', build: (c: TransformsConfig, x: StageContext) => TransformStage): StageDef => ({
  kind,
  schema: transformsConfigSchema,
  options: 'transforms',
  build: (config, context) => ({ stages: [build(loadTransformsConfig(config), context)] }),
})

const memoOf = (c: TransformsConfig, x: StageContext): TransformMemo => (x.memo ??= createTransformMemo(c.memoEntries))

export const stages = new Registry<StagePlan, StageContext, StageDef>('')
  .register({
    kind: 'redact',
    schema: redactionConfigSchema,
    options: 'redaction',
    build(config) {
      if (!config.enabled) return { stages: [] }
      const stage = createRedactionStage(config)
      return { stages: [stage], redactDeadLetters: (dls) => stage.redactDeadLetters(dls) }
    },
  })
  .register(annotating('spiffe', (c, x) => spiffeStage(c, x.identities, memoOf(c, x))))
  .register(annotating('au3', (_c, x) => au3Stage(x.identities)))
  .register(annotating('detect', (c, x) => detectStage(c, x.identities, memoOf(c, x))))
  .register({
    kind: 'policy',
    schema: policyConfigSchema,
    options: 'policy',
    build: (config, context) => ({ stages: policyStages(config, context.policyOption) }),
  })
  .register({
    kind: 'hash',
    schema: integrityConfigSchema,
    options: 'integrity',
    build: (config) => ({ stages: config.enabled ? [createHashStage()] : [] }),
  })

/** The parser and the stages in STAGE_ORDER, each validated and built once, before any record is read. */
export function buildProcessing(config: ProcessingConfig, options: { policyOption?: StageContext['policyOption'] } = {}): Processing {
  // createParser validates its options (errors name parser.*).
  const parser = createParser((config.parser ?? {}) as Partial<ParserConfig>)
  const context: StageContext = {
    identities: new WeakMap(),
    ...(options.policyOption === undefined ? {} : { policyOption: options.policyOption }),
  }
  const built: TransformStage[] = []
  let redactDeadLetters: DeadLetterRedaction | undefined
  for (const kind of STAGE_ORDER) {
    const { def, options: stageOptions } = stages.resolve({ kind, ...config })
    const plan = def.build(stageOptions, context)
    built.push(...plan.stages)
    redactDeadLetters ??= plan.redactDeadLetters
  }
  const microBatch = loadTransformsConfig(config.transforms ?? {}).microBatch
  return { parser, stages: built, microBatch, ...(redactDeadLetters === undefined ? {} : { redactDeadLetters }) }
}
