import type { RawRecord } from '../pipeline/component.js'
import { type Workload, workloadKey } from '../pipeline/event-id.js'

/*
 * CRI container log lines (containerd, CRI-O), as kubelet writes them under /var/log/pods and
 * kubernetes/kubernetes pkg/kubelet/kuberuntime/logs/logs.go parses them:
 *   2016-10-06T00:17:09.669794202Z stdout P log content 1
 *   2022-07-22T12:24:13.900328365Z stdout F [2022-07-22T12:24:12.945Z] "GET /ratings/0 HTTP/1.1" 200 ...
 * `P` is a partial line continued by the next record(s) of the same stream until an `F` line. The CRI
 * time is the runtime's write time, not the request time: it is the event time only for a line that
 * logs no start time of its own (build-event.ts).
 */

export interface CriLine {
  /** The runtime's write time (RFC 3339, nanoseconds), as written. */
  time: string
  stream: 'stdout' | 'stderr'
  partial: boolean
  content: string
}

export function splitCri(line: string): CriLine | undefined {
  // 2016-10-06T00:17:09Z is the shortest time; check the fixed positions before any slicing.
  if (line.length < 28 || line.charCodeAt(4) !== 45 || line.charCodeAt(10) !== 84 /* T */) return undefined
  const c0 = line.charCodeAt(0)
  if (c0 < 48 || c0 > 57) return undefined
  // The first space ends the timestamp (RFC 3339, no spaces): a time with a space inside is not CRI.
  const sp = line.indexOf(' ')
  if (sp < 19 || sp > 40) return undefined
  let stream: 'stdout' | 'stderr'
  if (line.startsWith('stdout ', sp + 1)) stream = 'stdout'
  else if (line.startsWith('stderr ', sp + 1)) stream = 'stderr'
  else return undefined
  const tag = line.charCodeAt(sp + 8)
  if ((tag !== 70 && tag !== 80) /* F P */ || (line.length > sp + 9 && line.charCodeAt(sp + 9) !== 32)) return undefined
  return { time: line.slice(0, sp), stream, partial: tag === 80, content: line.slice(sp + 10) }
}

interface Held {
  records: RawRecord[]
  parts: string[]
  bytes: number
}

export type AssembleResult =
  | { kind: 'held' }
  /** `parts`: the held P records the line was joined from, oldest first (empty for a lone F line). */
  | { kind: 'complete'; content: string; parts: RawRecord[] }
  | { kind: 'overflow'; records: RawRecord[] }

/**
 * Holds CRI partial lines per container stream (partialKey) until their F line. Bounded: once the
 * assembled line would exceed maxBytes, every held record is released as overflow (the caller
 * dead-letters them) instead of growing without limit.
 */
export class PartialAssembler {
  private readonly held = new Map<string, Held>()

  constructor(private readonly maxBytes: number) {}

  get size(): number {
    let n = 0
    for (const h of this.held.values()) n += h.records.length
    return n
  }

  /** No partial line is held in any stream: a final line then completes nothing and needs no key. */
  get idle(): boolean {
    return this.held.size === 0
  }

  /** Whether a P line is waiting in this stream (an F-tagged line there completes it). */
  holds(key: string): boolean {
    return this.held.has(key)
  }

  accept(key: string, record: RawRecord, partial: boolean, content: string): AssembleResult {
    const h = this.held.get(key)
    if (partial) {
      const bytes = (h?.bytes ?? 0) + content.length
      if (bytes > this.maxBytes) {
        this.held.delete(key)
        return { kind: 'overflow', records: [...(h?.records ?? []), record] }
      }
      if (h === undefined) this.held.set(key, { records: [record], parts: [content], bytes })
      else {
        h.records.push(record)
        h.parts.push(content)
        h.bytes = bytes
      }
      return { kind: 'held' }
    }
    if (h === undefined) return { kind: 'complete', content, parts: [] }
    this.held.delete(key)
    if (h.bytes + content.length > this.maxBytes) return { kind: 'overflow', records: [...h.records, record] }
    h.parts.push(content)
    return { kind: 'complete', content: h.parts.join(''), parts: h.records }
  }

  /** Releases everything still held (end of stream). */
  drain(): RawRecord[] {
    const out: RawRecord[] = []
    for (const h of this.held.values()) out.push(...h.records)
    this.held.clear()
    return out
  }
}

/**
 * The container stream a partial line belongs to, so that one pod's P line is only ever completed by the
 * same pod's F line. Strongest first: the workload an envelope names (namespace, pod, container), then
 * the Kafka message key (a forwarder keying by pod or file), then, as a last resort, where the record
 * was read (topic and partition, or the file); always with stdout/stderr.
 */
export function partialKey(record: RawRecord, workload: Workload | undefined, stream: string): string {
  if (workload !== undefined && (workload.pod !== undefined || workload.container !== undefined))
    return `w${workloadKey(workload)}${stream}`
  const c = record.coords
  if (c.kind === 'kafka') {
    const k = record.key
    if (k !== undefined && k.length > 0) return `k\0${c.topic ?? ''}\0${typeof k === 'string' ? k : k.toString('base64')}\0${stream}`
    return `p\0${c.topic ?? ''}\0${c.partition ?? ''}\0${stream}`
  }
  return `f\0${c.kind ?? ''}\0${c.file ?? ''}\0${stream}`
}
