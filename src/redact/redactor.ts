/**
 * Redaction as a pipeline stage. It runs first, before identity enrichment and detection, so no
 * later stage (a finding message quoting a path, say) can copy a secret, and the runner calls its
 * `redactDeadLetters` on every dead letter before the dead-letter output sees it: no unredacted byte
 * is stored or dead-lettered. The price is that a redacted dead letter is no longer byte-identical to
 * the record read; it says so in `redacted` (the number of values replaced).
 */
import type { AuditEvent, DeadLetter } from '../schema/audit-event.js'
import type { TransformStage } from '../pipeline/component.js'
import { perEventStage } from '../pipeline/transforms.js'
import { loadRedactionConfig, type RedactionConfig } from './config.js'
import { compileRules, redactText, REDACTED, type CompiledRules } from './rules.js'

export interface Redactor {
  /** Redacts url.path, url.query and event.original in place; sets audit.redactions; returns the count. */
  redactEvent(event: AuditEvent): number
  /** Redacts raw / raw_base64, the message and header values in place; sets `redacted`; returns the count. */
  redactDeadLetter(dl: DeadLetter): number
}

/** A stage that also redacts dead letters; the runner looks for `redactDeadLetters` on its stages. */
export interface RedactionStage extends TransformStage {
  redactDeadLetters(deadLetters: DeadLetter[]): number
}

export function createRedactor(config: RedactionConfig = loadRedactionConfig()): Redactor {
  const rules = compileRules(config)
  return Object.freeze({
    redactEvent: (event: AuditEvent) => redactEvent(rules, event),
    redactDeadLetter: (dl: DeadLetter) => redactDeadLetter(rules, dl),
  })
}

export function createRedactionStage(config: RedactionConfig = loadRedactionConfig()): RedactionStage {
  const redactor = createRedactor(config)
  // A failure dead-letters the event with its original line (transformDeadLetter); the runner
  // redacts dead letters before they are written.
  const stage = perEventStage('redact', (event) => void redactor.redactEvent(event))
  return Object.freeze({
    name: stage.name,
    process: stage.process,
    redactDeadLetters(deadLetters: DeadLetter[]): number {
      let n = 0
      for (const dl of deadLetters) n += redactor.redactDeadLetter(dl)
      return n
    },
  })
}

/** The stages list with the redaction stage first, or unchanged when redaction is disabled. */
export function withRedaction(stages: readonly TransformStage[], config: RedactionConfig): TransformStage[] {
  return config.enabled ? [createRedactionStage(config), ...stages] : [...stages]
}

export function isRedactionStage(stage: TransformStage): stage is RedactionStage {
  return typeof (stage as Partial<RedactionStage>).redactDeadLetters === 'function'
}

function redactEvent(rules: CompiledRules, event: AuditEvent): number {
  let n = 0
  const url = event.url
  if (url !== undefined) {
    if (typeof url.query === 'string') {
      const r = redactText(rules, url.query, true)
      url.query = r.text
      n += r.count
    }
    if (typeof url.path === 'string') {
      const r = redactText(rules, url.path)
      url.path = r.text
      n += r.count
    }
  }
  if (typeof event.event.original === 'string') {
    const r = redactText(rules, event.event.original)
    event.event.original = r.text
    n += r.count
  }
  if (n > 0) event.audit.redactions = (event.audit.redactions ?? 0) + n
  return n
}

/** The record bytes of a dead letter or of one of its CRI parts. */
function redactBytes(rules: CompiledRules, target: { raw?: string; raw_base64?: string }): number {
  let n = 0
  if (typeof target.raw === 'string') {
    const r = redactText(rules, target.raw)
    target.raw = r.text
    n += r.count
  }
  if (typeof target.raw_base64 === 'string') {
    // Not UTF-8: latin1 maps every byte to one char and back, and every rule is ASCII, so the bytes
    // around a replaced value survive exactly.
    const r = redactText(rules, Buffer.from(target.raw_base64, 'base64').toString('latin1'))
    if (r.count > 0) target.raw_base64 = Buffer.from(r.text, 'latin1').toString('base64')
    n += r.count
  }
  return n
}

function redactDeadLetter(rules: CompiledRules, dl: DeadLetter): number {
  let n = redactBytes(rules, dl)
  // A joined CRI line's earlier parts hold the rest of it: a secret may sit in any of them.
  if (dl.parts !== undefined) for (const part of dl.parts) n += redactBytes(rules, part)
  // Parse messages quote pieces of the line (a bad timestamp, a would-be prefix).
  const m = redactText(rules, dl.message)
  dl.message = m.text
  n += m.count
  if (dl.headers !== undefined) {
    for (const name of Object.keys(dl.headers)) {
      const value = dl.headers[name]!
      if (rules.headers.has(name.toLowerCase())) {
        if (value !== REDACTED && value !== '') {
          dl.headers[name] = REDACTED
          n++
        }
      } else {
        const r = redactText(rules, value)
        dl.headers[name] = r.text
        n += r.count
      }
    }
  }
  if (n > 0) dl.redacted = (dl.redacted ?? 0) + n
  return n
}
