/**
 * How an event sink that writes lines encodes each event (`sink.ndjson.format`, `parse --output`): the
 * canonical document, or OCSF for Security Lake and other OCSF consumers. An encoding registers like any
 * component: a kind, its (empty) options and a factory.
 */
import { z } from 'zod'
import type { AuditEvent } from '../schema/audit-event.js'
import { canonicalEncoder } from '../sinks/ndjson-sink.js'
import type { NdjsonLine } from '../sinks/ndjson-chunks.js'
import { ocsfEncoder } from '../sinks/ocsf/index.js'
import { Registry } from './registry.js'
import type { BuildContext } from './context.js'

/** An event's line, without its newline: text (`bytes` when the encoder knows its UTF-8 length), or UTF-8 bytes. */
export type EventEncoder = (e: AuditEvent) => NdjsonLine

const noOptions = z.object({}).strict()

export const eventEncodings = new Registry<EventEncoder, BuildContext>('sink.ndjson.format')
  .register({ kind: 'canonical', schema: noOptions, build: () => canonicalEncoder() })
  .register({ kind: 'ocsf', schema: noOptions, build: () => ocsfEncoder() })
