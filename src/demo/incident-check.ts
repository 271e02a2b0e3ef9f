/**
 * Checks the planted incidents against a store, through the AuditStore queries only: a flow counts as
 * found when an edge with the expected finding joins one of the expected source names to one of the
 * expected destination names (and, for a chain, starts after the step it follows; for a step across
 * clusters, ran between the expected clusters, as the lines' mesh.source/destination.cluster say).
 */
import type { AuditStore, EdgeRow, TimeRange } from '../store/store.js'
import type { ExpectedFlow, PlantedIncident } from './incidents.js'

export interface FlowCheck {
  flow: ExpectedFlow
  edge?: EdgeRow
}

export interface IncidentCheck {
  incident: PlantedIncident
  found: boolean
  flows: FlowCheck[]
}

export async function checkIncidents(
  store: AuditStore,
  incidents: readonly PlantedIncident[],
  range: TimeRange = {},
): Promise<IncidentCheck[]> {
  const cache = new Map<string, Promise<EdgeRow[]>>()
  // The clusters of each edge cost a read of the stored documents: only when a flow names clusters.
  const clusters = incidents.some((i) => i.flows.some((f) => f.clusters !== undefined))
  const edgesFor = (finding: string | undefined): Promise<EdgeRow[]> => {
    const key = finding ?? ''
    let rows = cache.get(key)
    if (rows === undefined) {
      rows = store.edges({ ...range, ...(finding === undefined ? {} : { finding }), limit: 100_000, ...(clusters ? { clusters } : {}) })
      cache.set(key, rows)
    }
    return rows
  }
  const out: IncidentCheck[] = []
  for (const incident of incidents) {
    const flows: FlowCheck[] = []
    for (const flow of incident.flows) {
      const rows = await edgesFor(flow.finding)
      const previous = flow.after === undefined ? undefined : flows[flow.after]?.edge
      const edge = rows.find(
        (r) =>
          flow.source.includes(r.source) &&
          flow.destination.includes(r.destination) &&
          (flow.after === undefined || (previous !== undefined && r.firstSeen > previous.firstSeen)) &&
          (flow.clusters === undefined ||
            ((r.sourceClusters ?? []).includes(flow.clusters.source) && (r.destinationClusters ?? []).includes(flow.clusters.destination))),
      )
      flows.push(edge === undefined ? { flow } : { flow, edge })
    }
    out.push({ incident, found: flows.every((f) => f.edge !== undefined), flows })
  }
  return out
}
