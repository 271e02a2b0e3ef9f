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
import { enrichIdentity, identityContext, type IdentityContext } from '../enrich/identity.js'
import { annotateAu3 } from '../validate/au3.js'
import { applyFindings, detectFindings } from '../detect/detectors.js'

export const STAGE_NAMES = ['spiffe', 'au3', 'detect'] as const

/**
 * Detection starts from the same direction/cluster/identities the spiffe stage derived, and no stage in
 * between changes the fields they come from: the spiffe stage remembers them for the detect stage of
 * the same pipeline instead of deriving them twice. Weak, so an event dropped anywhere downstream takes
 * its context with it.
 */
export type IdentityContexts = WeakMap<AuditEvent, IdentityContext>

export function spiffeStage(config: TransformsConfig, contexts: IdentityContexts): TransformStage {
  return perEventStage('spiffe', (e) => {
    contexts.set(e, enrichIdentity(e, config))
  })
}

export function au3Stage(): TransformStage {
  return perEventStage('au3', annotateAu3)
}

export function detectStage(config: TransformsConfig, contexts: IdentityContexts): TransformStage {
  return perEventStage('detect', (e) => {
    const ctx = contexts.get(e) ?? identityContext(e, config)
    contexts.delete(e)
    applyFindings(e, detectFindings(e, ctx, config))
  })
}

/** spiffe, au3 and detect, sharing one identity memo. */
export function createTransformStages(config: TransformsConfig): TransformStage[] {
  const contexts: IdentityContexts = new WeakMap()
  return [spiffeStage(config, contexts), au3Stage(), detectStage(config, contexts)]
}
