import type { RawRecord } from '../pipeline/component.js'

/*
 * CRI container log lines (containerd, CRI-O), as kubelet writes them under /var/log/pods and
 * kubernetes/kubernetes pkg/kubelet/kuberuntime/logs/logs.go parses them:
 *   2016-10-06T00:17:09.669794202Z stdout P log content 1
 *   2022-07-22T12:24:13.900328365Z stdout F [2022-07-22T12:24:12.945Z] "GET /ratings/0 HTTP/1.1" 200 ...
 * `P` is a partial line continued by the next record(s) of the same stream until an `F` line. The CRI
 * time is the runtime's write time, not the request time, so it is dropped.
 */

export interface CriLine {
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
  return { stream, partial: tag === 80, content: line.slice(sp + 10) }
}

interface Held {
  records: RawRecord[]
  parts: string[]
  bytes: number
}

export type AssembleResult =
  | { kind: 'held' }
  | { kind: 'complete'; content: string }
  | { kind: 'overflow'; records: RawRecord[] }

/**
 * Holds CRI partial lines per stream (file, or topic+partition, plus stdout/stderr) until their F line.
 * Bounded: once the assembled line would exceed maxBytes, every held record is released as overflow
 * (the caller dead-letters them) instead of growing without limit.
 */
export class PartialAssembler {
  private readonly held = new Map<string, Held>()

  constructor(private readonly maxBytes: number) {}

  get size(): number {
    let n = 0
    for (const h of this.held.values()) n += h.records.length
    return n
  }

  accept(record: RawRecord, cri: CriLine): AssembleResult {
    const key = streamKey(record, cri.stream)
    const h = this.held.get(key)
    if (cri.partial) {
      const bytes = (h?.bytes ?? 0) + cri.content.length
      if (bytes > this.maxBytes) {
        this.held.delete(key)
        return { kind: 'overflow', records: [...(h?.records ?? []), record] }
      }
      if (h === undefined) this.held.set(key, { records: [record], parts: [cri.content], bytes })
      else {
        h.records.push(record)
        h.parts.push(cri.content)
        h.bytes = bytes
      }
      return { kind: 'held' }
    }
    if (h === undefined) return { kind: 'complete', content: cri.content }
    this.held.delete(key)
    if (h.bytes + cri.content.length > this.maxBytes) return { kind: 'overflow', records: [...h.records, record] }
    h.parts.push(cri.content)
    return { kind: 'complete', content: h.parts.join('') }
  }

  /** Releases everything still held (end of stream). */
  drain(): RawRecord[] {
    const out: RawRecord[] = []
    for (const h of this.held.values()) out.push(...h.records)
    this.held.clear()
    return out
  }
}

function streamKey(record: RawRecord, stream: string): string {
  const c = record.coords
  return c.kind === 'kafka' ? `k\0${c.topic ?? ''}\0${c.partition ?? ''}\0${stream}` : `f\0${c.file ?? ''}\0${stream}`
}
