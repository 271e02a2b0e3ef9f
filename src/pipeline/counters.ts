import type { StageCounts } from './component.js'

/**
 * Record accounting for a pipeline run. Every record that enters is accounted for exactly once: as an
 * indexed event, a dead letter (with its reason), or a CRI partial line held for its continuation.
 * The invariant `recordsIn = eventsOut + deadLettered + heldPartials` is what tests and the summary check.
 */
export class PipelineCounters {
  recordsIn = 0
  eventsParsed = 0
  eventsOut = 0
  deadLettered = 0
  heldPartials = 0
  batches = 0
  /** Values replaced by redaction, in events and dead letters (src/redact). */
  redactions = 0
  readonly deadLettersByReason = new Map<string, number>()
  readonly findingsByCode = new Map<string, number>()
  /** Per stage (parse, each transform stage, sink), in the order they first counted. */
  readonly stages = new Map<string, StageCounts>()

  countDeadLetters(reasons: Iterable<string>): void {
    for (const reason of reasons) {
      this.deadLettered++
      this.deadLettersByReason.set(reason, (this.deadLettersByReason.get(reason) ?? 0) + 1)
    }
  }

  countStage(name: string, counts: StageCounts): void {
    const total = this.stages.get(name)
    if (total === undefined) this.stages.set(name, { ...counts })
    else {
      total.in += counts.in
      total.out += counts.out
      total.deadLettered += counts.deadLettered
      total.seconds += counts.seconds
    }
  }

  countFindings(codes: Iterable<string>): void {
    for (const code of codes) this.findingsByCode.set(code, (this.findingsByCode.get(code) ?? 0) + 1)
  }

  toJSON(): Record<string, unknown> {
    return {
      recordsIn: this.recordsIn,
      eventsOut: this.eventsOut,
      deadLettered: this.deadLettered,
      heldPartials: this.heldPartials,
      batches: this.batches,
      redactions: this.redactions,
      deadLettersByReason: Object.fromEntries(this.deadLettersByReason),
      findingsByCode: Object.fromEntries(this.findingsByCode),
    }
  }

  /** One human line for stderr, e.g. `read 1200 records: 1187 events, 13 dead letters (EA_PARSE_NOT_ACCESS_LOG 12, ...)`. */
  summaryLine(): string {
    const reasons = [...this.deadLettersByReason].sort((a, b) => b[1] - a[1]).map(([r, n]) => `${r} ${n}`)
    const findings = [...this.findingsByCode].sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`)
    let line = `read ${this.recordsIn} records: ${this.eventsOut} events, ${this.deadLettered} dead letters`
    if (reasons.length > 0) line += ` (${reasons.join(', ')})`
    if (this.heldPartials > 0) line += `, ${this.heldPartials} partial lines joined`
    if (findings.length > 0) line += `; findings: ${findings.join(', ')}`
    return line
  }
}
