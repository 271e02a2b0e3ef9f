/**
 * The annotating transform stages, in the order they must run (src/compose/stages.ts orders them with
 * redaction, the policy check and the hash):
 *   spiffe  identity enrichment: mesh.source.*, mesh.destination.*, mesh.mtls
 *   au3     audit.au3 (needs mesh.mtls: plaintext lifts the identity requirement)
 *   detect  audit.findings, finding_codes, controls, severity (needs both above)
 * Here, above enrich/, validate/ and detect/, so that pipeline/ (the contracts and the runner) imports
 * none of the domain code.
 */
import type { AuditEvent } from '../schema/audit-event.js'
import type { TransformStage } from '../pipeline/component.js'
import type { TransformsConfig } from '../config/transforms.js'
import { perEventStage } from '../pipeline/transforms.js'
import { identityContext } from '../enrich/identity.js'
import { enrichIdentityMemo, type IdentityOutcome, type MemoIdentity } from '../enrich/identity-memo.js'
import { BoundedCache } from '../enrich/bounded-cache.js'
import { annotateAu3, identityElementSatisfied } from '../validate/au3.js'
import { detectMemo, type FindingsOutcome } from '../detect/findings-memo.js'

export const STAGE_NAMES = ['spiffe', 'au3', 'detect'] as const

/**
 * Detection starts from the same direction/cluster/identities the spiffe stage derived, and no stage in
 * between changes the fields they come from: the spiffe stage remembers them (and the event's identity
 * key) for the au3 and detect stages of the same pipeline instead of deriving them again. Weak, so an
 * event dropped anywhere downstream takes its context with it.
 */
export type IdentityContexts = WeakMap<AuditEvent, MemoIdentity>

/**
 * The memos of one pipeline's spiffe, au3 and detect stages (src/enrich/identity-memo.ts,
 * src/detect/findings-memo.ts), each bounded by transforms.memoEntries, with their hit and miss counts.
 */
export interface TransformMemo {
  /** Identity outcomes; each also keeps its AU-3f verdict for the au3 stage. */
  identity: BoundedCache<IdentityOutcome>
  findings: BoundedCache<FindingsOutcome>
}

export function createTransformMemo(maxEntries: number): TransformMemo {
  return { identity: new BoundedCache(maxEntries), findings: new BoundedCache(maxEntries) }
}

export function spiffeStage(config: TransformsConfig, contexts: IdentityContexts, memo: TransformMemo): TransformStage {
  return perEventStage('spiffe', (e) => {
    contexts.set(e, enrichIdentityMemo(e, config, memo.identity))
  })
}

export function au3Stage(contexts?: IdentityContexts): TransformStage {
  if (contexts === undefined) return perEventStage('au3', (e) => annotateAu3(e))
  return perEventStage('au3', (e) => {
    const outcome = contexts.get(e)?.outcome
    if (outcome === undefined) return annotateAu3(e)
    annotateAu3(e, (outcome.identityOk ??= identityElementSatisfied(e)))
  })
}

export function detectStage(config: TransformsConfig, contexts: IdentityContexts, memo: TransformMemo): TransformStage {
  return perEventStage('detect', (e) => {
    const m = contexts.get(e)
    contexts.delete(e)
    detectMemo(e, m?.ctx ?? identityContext(e, config), m?.outcome, config, memo.findings)
  })
}

/** spiffe, au3 and detect, sharing one identity memo. */
export function createTransformStages(
  config: TransformsConfig,
  memo: TransformMemo = createTransformMemo(config.memoEntries),
): TransformStage[] {
  const contexts: IdentityContexts = new WeakMap()
  return [spiffeStage(config, contexts, memo), au3Stage(contexts), detectStage(config, contexts, memo)]
}
