/**
 * The operations of one write, decided before anything is sent: each event's documents go to the index
 * of its period (routing.ts); an event with no usable @timestamp, or a document whose `_id` OpenSearch
 * would refuse for the whole request, is refused on its own; documents of an event outside the time
 * window are only looked up, never written.
 */
import type { ErrorCode } from '../../errors.js'
import type { AuditEvent } from '../../schema/audit-event.js'
import type { SinkConfig } from './config.js'
import type { BulkOp, BulkOpBuilder } from './documents.js'
import { eventTime, idTooLong, MAX_ID_BYTES, outsideWindow } from './routing.js'

export interface PlannedOp {
  op: BulkOp
  /** Not to be written: acknowledged if already in `op.index`, else rejected with this code and reason. */
  lookup?: { code: ErrorCode; reason: string }
  /** Rejected before sending. */
  refused?: { code: ErrorCode; message: string }
}

export function planWrite(
  events: readonly AuditEvent[],
  builder: BulkOpBuilder,
  c: Pick<SinkConfig, 'indexGranularity' | 'maxFutureHours' | 'maxPastDays'>,
  now: number,
): PlannedOp[] {
  const out: PlannedOp[] = []
  const ops: BulkOp[] = []
  for (let i = 0; i < events.length; i++) {
    const event = events[i]!
    const t = eventTime(event['@timestamp'], c.indexGranularity)
    if ('problem' in t) {
      // No index to write to or look in: it can never have been indexed, so it is refused every time.
      out.push({
        op: { owner: i, kind: 'event', id: String(event.event?.id), index: '', text: '', bytes: 0 },
        refused: { code: 'EA_SINK_EVENT_TIME', message: t.problem },
      })
      continue
    }
    ops.length = 0
    builder.appendOps(ops, event, i, t.suffix)
    const late = outsideWindow(t.ms, now, c)
    for (const op of ops) {
      if (idTooLong(op.id))
        out.push({
          op,
          refused: {
            code: 'EA_SINK_ID_TOO_LONG',
            message: `_id is ${Buffer.byteLength(op.id, 'utf8')} bytes, more than the ${MAX_ID_BYTES} OpenSearch allows`,
          },
        })
      else if (late !== undefined) out.push({ op, lookup: { code: 'EA_SINK_EVENT_TIME', reason: `${late}: not written` } })
      else out.push({ op })
    }
  }
  return out
}
