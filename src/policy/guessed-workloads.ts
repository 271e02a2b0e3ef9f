/**
 * Destination workloads guessed from the events themselves, for `policy check` and `policy recommend`
 * without `--workloads`: an inbound line whose envelope recorded no pod labels still names its namespace
 * and its workload, service or service account. The guess is Istio's own convention, that a workload is
 * selected by `app: <name>` (the label its canonical service name is read from), so the selector is
 * `app` = the workload name, else the service's short name, else the service account of the destination
 * SPIFFE ID. Every guess is counted and named, so the user can check the label before trusting a verdict
 * or applying a policy; an inventory (`--workloads`) replaces guessing altogether.
 */
import type { AuditEvent } from '../generated/types.js'

export interface GuessedWorkload {
  namespace: string
  labels: Record<string, string>
  /** Which event field the name came from. */
  from: 'workload' | 'service' | 'service account'
  events: number
}

export class GuessedWorkloads {
  private readonly byKey = new Map<string, GuessedWorkload>()

  /** The namespace and labels of an inbound event's destination, or undefined when nothing names it. */
  guess(e: AuditEvent, namespace: string | undefined): { namespace: string; labels: Record<string, string> } | undefined {
    const d = e.mesh?.destination
    const sa = /\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(d?.spiffe_id ?? '')
    const ns = namespace ?? d?.namespace ?? sa?.[1]
    if (ns === undefined) return undefined
    const service = d?.service?.split('.')[0]
    // ztunnel logs the pod's name as dst.workload (a ReplicaSet pod's hashes in it): its service names the workload better.
    const podNamed = e.mesh?.reporter === 'ztunnel' && service !== undefined && service !== ''
    const [name, from]: [string | undefined, GuessedWorkload['from']] =
      d?.workload !== undefined && d.workload !== '' && !podNamed
        ? [d.workload, 'workload']
        : service !== undefined && service !== ''
          ? [service, 'service']
          : [d?.service_account ?? sa?.[2], 'service account']
    if (name === undefined || name === '') return undefined
    const key = `${ns}\u0000${name}`
    const seen = this.byKey.get(key)
    if (seen !== undefined) {
      seen.events++
      return { namespace: ns, labels: seen.labels }
    }
    const labels = Object.create(null) as Record<string, string>
    labels['app'] = name
    this.byKey.set(key, { namespace: ns, labels, from, events: 1 })
    return { namespace: ns, labels }
  }

  get size(): number {
    return this.byKey.size
  }

  list(): GuessedWorkload[] {
    return [...this.byKey.values()].sort((a, b) => `${a.namespace}/${a.labels['app']}`.localeCompare(`${b.namespace}/${b.labels['app']}`))
  }

  /** One line per guess: `catalog/ratings selected by app=ratings (from the service name; 928 events)`. */
  describe(): string[] {
    return this.list().map(
      (g) => `${g.namespace}/${g.labels['app']} selected by app=${g.labels['app']} (from the ${g.from} name; ${g.events} events)`,
    )
  }
}
