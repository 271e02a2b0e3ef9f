/**
 * event.original or event.hash (parser.preserveOriginal). Elastic's integrations keep the raw line only
 * when asked (the `preserve_original_event` tag); envoy-audit keeps it by default because it is the
 * audit evidence, and when it is off writes ECS event.hash, the SHA-256 of the same line, so the stored
 * record still names the exact line it came from (kept in Kafka or an archive). The hash is over the
 * line as parsed, before redaction: it binds to the bytes that were logged, not to an edited copy.
 * Either way the line stays on the event under a symbol (never serialized) for the dead letter of a
 * stage that fails on it.
 */
import { createHash } from 'node:crypto'
import type { AuditEvent } from '../schema/audit-event.js'
import { keepOriginalLine } from '../pipeline/dead-letter.js'

export function setOriginal(event: AuditEvent, line: string, hashOnly: boolean): void {
  if (!hashOnly) {
    event.event.original = line
    return
  }
  event.event.hash = createHash('sha256').update(line, 'utf8').digest('hex')
  keepOriginalLine(event, line)
}
