/**
 * What /readyz answers. Ready means the service is doing its job: the source is connected (Kafka: a
 * member of its group with heartbeats answered; file/stdin: reading), the sink has answered, and
 * nothing has been failing for longer than `service.readiness.outageGraceSeconds`. A short outage
 * (a broker restart, a rebalance, an OpenSearch GC pause) stays within the grace and does not flap the
 * probe; a component that has never worked yet (start-up) is not ready at once. /healthz stays
 * liveness: a service waiting out an outage is alive and must not be restarted for it.
 */

/** One component's state, as it sees itself. */
export type ComponentHealth =
  | { ok: true; detail?: string }
  /** `since`: when it stopped working; absent when it has not worked yet (starting). */
  | { ok: false; since?: number; reason: string }

export interface ReadinessCheck {
  name: string
  health(now: number): ComponentHealth
}

export interface CheckReport {
  ok: boolean
  detail?: string
  reason?: string
  /** Seconds since the component stopped working (absent while starting or when ok). */
  failingSeconds?: number
}

export interface ReadinessReport {
  ready: boolean
  /** Why not ready, one line per cause (empty when ready). */
  reasons: string[]
  checks: Record<string, CheckReport>
  graceSeconds: number
}

export class Readiness {
  constructor(
    private readonly graceMs: number,
    private readonly checks: readonly ReadinessCheck[],
    private readonly lifecycle: () => { running: boolean; closing: boolean },
  ) {}

  evaluate(now = Date.now()): ReadinessReport {
    const reasons: string[] = []
    const { running, closing } = this.lifecycle()
    if (!running) reasons.push('not running')
    if (closing) reasons.push('shutting down')
    const checks: Record<string, CheckReport> = {}
    for (const c of this.checks) {
      const h = c.health(now)
      if (h.ok) {
        checks[c.name] = { ok: true, ...(h.detail !== undefined ? { detail: h.detail } : {}) }
        continue
      }
      const report: CheckReport = { ok: false, reason: h.reason }
      if (h.since === undefined) reasons.push(`${c.name}: ${h.reason}`)
      else {
        const failing = now - h.since
        report.failingSeconds = Math.round(failing / 100) / 10
        if (failing > this.graceMs)
          reasons.push(
            `${c.name}: ${h.reason} (failing for ${Math.round(failing / 1000)} s, longer than the ${this.graceMs / 1000} s grace)`,
          )
      }
      checks[c.name] = report
    }
    return { ready: reasons.length === 0, reasons, checks, graceSeconds: this.graceMs / 1000 }
  }
}
