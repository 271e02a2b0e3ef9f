import type { AuditEvent } from '../schema/audit-event.js'
import type { RawRecord } from '../pipeline/component.js'
import type { ErrorCode } from '../errors.js'
import { type BuildContext, buildEvent } from './build-event.js'
import { type PartialAssembler, partialKey, splitCri } from './cri.js'
import { envelopeLine, envelopeStream, envelopeTime, kubeFromEnvelope, nestedAccessLog, partialTag, stripPrefix } from './envelope.js'
import type { KubeMeta } from './fields.js'
import {
  type CompiledMap,
  ISTIO_MAP,
  SEED_MAP,
  compileFieldMap,
  extractJsonFields,
  istioJsonFormat,
  matchesMap,
  resolveFieldMap,
} from './json.js'
import { looksLikeTextAccessLog, looksLikeUntimedTextAccessLog, parseTextLine } from './text.js'
import { normaliseTimestamp } from './timestamp.js'
import { type CompiledTextFormat, compileTextFormat, parseCustomText } from './text-format.js'
import type { ParserConfig } from './config.js'
import { isZtunnelJson, looksLikeZtunnelText, parseZtunnelText, ztunnelFromJson } from './ztunnel.js'
import { buildZtunnelEvent } from './ztunnel-event.js'

/**
 * One decoded line (CRI framing already removed) -> event or failure. Dispatch, in order:
 * `{` -> JSON: an access-log object (by its keys) or an envelope whose `log`/`message`/merge_log_key
 * holds one (a CRI partial line inside an envelope is held until its stream's final line); `[<digit>...] "`
 * or, without the start time, `"METHOD PATH PROTOCOL" <digit>` -> text access log; JSON scalars/arrays ->
 * EA_PARSE_NOT_OBJECT; a short kubectl/stern prefix in front of either -> stripped once; anything else ->
 * EA_PARSE_NOT_ACCESS_LOG.
 */
export type LineResult =
  | { event: AuditEvent }
  | { code: ErrorCode; message: string }
  /** A CRI partial line inside an envelope, held until its stream's final line. */
  | { held: true }
  /** Partial lines that outgrew maxLineBytes: every one is dead-lettered (EA_PARSE_PARTIAL). */
  | { overflow: RawRecord[] }

/** What unwrapping one record learned on the way in, besides the line. */
export interface LineState {
  /** When the record was read: event.created, and the event time of last resort. */
  readonly now: Date
  /**
   * Where the envelope times are, outermost first: a CRI time as written, or an envelope object
   * (envelopeTime). Read only for a line that logs no start time, so a normal line pays nothing.
   */
  times?: (string | Record<string, unknown>)[]
  /** The P records the line was joined from, oldest first. */
  parts?: RawRecord[]
}

const MAX_DEPTH = 2

export function createLineParser(
  cfg: Readonly<ParserConfig>,
  partials: PartialAssembler,
): (record: RawRecord, line: string, state: LineState) => LineResult {
  const format = cfg.format
  // Presets resolve to the shared compiled maps, so `istio` keeps its unrolled extractor and its format names.
  const userMap: CompiledMap | undefined =
    cfg.fieldMap === undefined
      ? undefined
      : cfg.fieldMap === 'istio'
        ? ISTIO_MAP
        : cfg.fieldMap === 'seed-000'
          ? SEED_MAP
          : compileFieldMap(resolveFieldMap(cfg.fieldMap))
  const customMap = format === 'custom-json' ? (userMap ?? SEED_MAP) : userMap
  const textFamily = format === 'istio-text' ? 'istio' : format === 'envoy-text' ? 'envoy' : undefined
  const acceptsText = format === 'auto' || textFamily !== undefined
  const customText: CompiledTextFormat | undefined = cfg.textFormat === undefined ? undefined : compileTextFormat(cfg.textFormat)
  const acceptsJson = format === 'auto' || format === 'istio-json' || format === 'custom-json'
  const acceptsZtunnel = format === 'auto' || format === 'ztunnel'

  function parseLine(
    record: RawRecord,
    line: string,
    kube: KubeMeta | undefined,
    depth: number,
    prefixed: boolean,
    st: LineState,
  ): LineResult {
    let s = line
    if (s.charCodeAt(0) === 32 || s.charCodeAt(0) === 9) s = s.trimStart()
    const c0 = s.charCodeAt(0)
    if (c0 === 123 /* { */) {
      let obj: unknown
      try {
        obj = JSON.parse(s)
      } catch (err) {
        return { code: 'EA_PARSE_INVALID_JSON', message: `invalid JSON: ${(err as Error).message.slice(0, 120)}` }
      }
      if (obj === null || typeof obj !== 'object' || Array.isArray(obj))
        return { code: 'EA_PARSE_NOT_OBJECT', message: 'JSON value is not an object' }
      return fromObject(record, obj as Record<string, unknown>, s, kube, depth, st)
    }
    if (customText !== undefined && (format === 'custom-text' || format === 'auto')) {
      const r = parseCustomText(s, customText)
      if ('fields' in r) return buildEvent(r.fields, context(cfg, record, r.format, s, kube, st))
      if (format === 'custom-text') {
        // Still unwrap a copied-log prefix before giving up.
        const p = prefixed ? undefined : stripPrefix(s)
        if (p !== undefined && 'fields' in parseCustomText(p.line, customText))
          return parseLine(record, p.line, kube ?? p.kube, depth, true, st)
        return r
      }
    }
    if (acceptsZtunnel && looksLikeZtunnelText(s)) {
      const r = parseZtunnelText(s)
      if ('code' in r) return r
      const ctx = context(cfg, record, 'ztunnel-text', s, kube, st)
      return buildZtunnelEvent(r.raw, ctx)
    }
    if (looksLikeTextAccessLog(s) || looksLikeUntimedTextAccessLog(s)) {
      if (!acceptsText) return { code: 'EA_PARSE_NOT_ACCESS_LOG', message: `text access-log line, but the format is ${format}` }
      const r = parseTextLine(s, textFamily)
      if ('code' in r) return r
      const ctx = context(cfg, record, r.format, s, kube, st)
      if (r.untimed === true) ctx.untimed = true
      return buildEvent(r.fields, ctx)
    }
    if (mayBeJsonScalar(s, c0)) {
      try {
        JSON.parse(s)
        return { code: 'EA_PARSE_NOT_OBJECT', message: 'JSON value is not an object' }
      } catch {
        // not JSON: fall through
      }
    }
    const notAccessLog: LineResult = {
      code: 'EA_PARSE_NOT_ACCESS_LOG',
      message: `not an Envoy access-log record: ${JSON.stringify(s.slice(0, 60))}`,
    }
    if (!prefixed) {
      const p = stripPrefix(s)
      if (p !== undefined) {
        const r = parseLine(record, p.line, kube ?? p.kube, depth, true, st)
        // A failure after an unrecognised prefix (a log level, a logger name) says more about the line
        // as it came: it is not an access log. After a kubectl/stern prefix the inner reason stands.
        return 'code' in r && (r.code === 'EA_PARSE_NOT_ACCESS_LOG' || p.kube === undefined) ? notAccessLog : r
      }
    }
    return notAccessLog
  }

  function fromObject(
    record: RawRecord,
    obj: Record<string, unknown>,
    text: string,
    kubeIn: KubeMeta | undefined,
    depth: number,
    st: LineState,
  ): LineResult {
    if (Object.hasOwn(obj, '__proto__') || Object.hasOwn(obj, 'constructor') || Object.hasOwn(obj, 'prototype')) {
      return { code: 'EA_PARSE_UNSAFE_KEY', message: 'JSON object has a __proto__, constructor or prototype key' }
    }
    const kube = kubeIn ?? (Object.hasOwn(obj, 'kubernetes') ? kubeFromEnvelope(obj) : undefined)
    // Before the envelope check: a ztunnel JSON line has a `message` key, as envelopes do.
    if (acceptsZtunnel && isZtunnelJson(obj))
      return buildZtunnelEvent(ztunnelFromJson(obj), context(cfg, record, 'ztunnel-json', text, kube, st))
    const map = acceptsJson ? pickMap(obj) : undefined
    if (map !== undefined) {
      // merge_log with keep_log: the Envoy line is still there and is the better original.
      const kept = envelopeLine(obj)
      return fromAccessObject(record, obj, map, kept === undefined ? text : trimNewline(kept), kube, st)
    }
    const inner = envelopeLine(obj)
    if (inner !== undefined) {
      let line = trimNewline(inner)
      if (line.trim().length === 0) return { code: 'EA_PARSE_ENVELOPE', message: 'envelope carries an empty log line' }
      if (depth >= MAX_DEPTH) return { code: 'EA_PARSE_ENVELOPE', message: 'envelopes nested too deeply' }
      const times = (st.times ??= [])
      times.push(obj)
      // A partial line: tagged by the collector (_p, logtag), or still in its CRI framing (Fluent Bit without a CRI parser).
      let tag = partialTag(obj)
      let stream = envelopeStream(obj)
      const cri = splitCri(line)
      if (cri !== undefined) {
        line = cri.content
        tag = cri.partial ? 'P' : 'F'
        stream = cri.stream
        times.push(cri.time)
      }
      if (tag !== undefined) {
        // A final line completes nothing while no partial line is held: no stream key to build.
        if (tag === 'P' || !partials.idle) {
          const r = partials.accept(partialKey(record, kube, stream), record, tag === 'P', line)
          if (r.kind === 'held') return { held: true }
          if (r.kind === 'overflow') return { overflow: r.records }
          line = r.content
          if (r.parts.length > 0) st.parts = r.parts
        }
        if (line.trim().length === 0) return { code: 'EA_PARSE_ENVELOPE', message: 'envelope carries an empty log line' }
      }
      return parseLine(record, line, kube, depth + 1, false, st)
    }
    if (acceptsJson) {
      const nested =
        nestedAccessLog(obj, customMap?.timeKey ?? 'start_time') ??
        (format === 'auto' && customMap === undefined ? nestedAccessLog(obj, SEED_MAP.timeKey) : undefined)
      if (nested !== undefined) {
        if (Object.hasOwn(nested, '__proto__') || Object.hasOwn(nested, 'constructor') || Object.hasOwn(nested, 'prototype')) {
          return { code: 'EA_PARSE_UNSAFE_KEY', message: 'nested access-log object has a __proto__, constructor or prototype key' }
        }
        const map2 = pickMap(nested)
        if (map2 !== undefined) return fromAccessObject(record, nested, map2, JSON.stringify(nested), kube, st)
      }
    }
    if (Object.hasOwn(obj, 'kubernetes') || Object.hasOwn(obj, 'stream'))
      return { code: 'EA_PARSE_ENVELOPE', message: 'log envelope carries no log line (no log or message string)' }
    return { code: 'EA_PARSE_NOT_ACCESS_LOG', message: 'JSON object is not an access-log record (no start time key)' }
  }

  function pickMap(obj: Record<string, unknown>): CompiledMap | undefined {
    if (format === 'custom-json') return customMap !== undefined && matchesMap(obj, customMap) ? customMap : undefined
    if (format === 'istio-json') return matchesMap(obj, ISTIO_MAP) ? ISTIO_MAP : undefined
    // auto: a user's map wins when it matches; then Istio's keys; then the seed preset.
    if (customMap !== undefined && matchesMap(obj, customMap)) return customMap
    if (matchesMap(obj, ISTIO_MAP)) return ISTIO_MAP
    return customMap === undefined && matchesMap(obj, SEED_MAP) ? SEED_MAP : undefined
  }

  function fromAccessObject(
    record: RawRecord,
    obj: Record<string, unknown>,
    map: CompiledMap,
    original: string,
    kube: KubeMeta | undefined,
    st: LineState,
  ): LineResult {
    const fields = extractJsonFields(obj, map)
    const name = map === ISTIO_MAP ? istioJsonFormat(obj) : `custom:${map.name}`
    return buildEvent(fields, context(cfg, record, name, original, kube, st))
  }

  return (record, line, st) => parseLine(record, line, undefined, 0, false, st)
}

function context(
  cfg: Readonly<ParserConfig>,
  record: RawRecord,
  format: string,
  original: string,
  kube: KubeMeta | undefined,
  st: LineState,
): BuildContext {
  const ctx: BuildContext = { record, format, original, kube, now: st.now }
  if (cfg.cluster !== undefined) ctx.defaultCluster = cfg.cluster
  if (cfg.preserveOriginal === false) ctx.hashOriginal = true
  const times = st.times
  if (times !== undefined) ctx.envelopeTime = () => innermostTime(times)
  return ctx
}

/** The innermost envelope time that is a valid time: the CRI runtime's over the collector's. */
function innermostTime(times: readonly (string | Record<string, unknown>)[]): string | undefined {
  for (let i = times.length - 1; i >= 0; i--) {
    const t = times[i]!
    const v = typeof t === 'string' ? normaliseTimestamp(t) : envelopeTime(t)
    if (v !== undefined) return v
  }
  return undefined
}

function trimNewline(s: string): string {
  let end = s.length
  while (end > 0 && (s.charCodeAt(end - 1) === 10 || s.charCodeAt(end - 1) === 13)) end--
  return end === s.length ? s : s.slice(0, end)
}

const JSON_NUMBER = /^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?$/

/**
 * Could this be a JSON scalar or array? Checked before JSON.parse because a thrown SyntaxError costs
 * microseconds, and istio-agent lines (`2021-03-16T09:29:20.896837Z info ...`) start with a digit.
 */
function mayBeJsonScalar(s: string, c: number): boolean {
  if (c === 34) return s.charCodeAt(s.length - 1) === 34 // "..."
  if (c === 91) return s.charCodeAt(s.length - 1) === 93 // [...]
  if (c === 45 || (c >= 48 && c <= 57)) return s.length <= 64 && JSON_NUMBER.test(s)
  return s === 'true' || s === 'false' || s === 'null'
}
