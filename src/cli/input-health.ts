/**
 * Says on stderr when an input file is mostly dead letters. Exit 0 with "11 dead letters" in a summary
 * line is easy to miss when the whole file was unreadable (a compressed file before gzip was read, a
 * binary file, an application log, a custom format without --format): the warning names the file, the
 * share and the most common reason, with what that reason usually means.
 */
import type { DeadLetter } from '../schema/audit-event.js'
import type { DeadLetterSink } from '../pipeline/component.js'

/** Share of a file's records above which the file is called mostly dead letters. */
export const MOSTLY_DEAD_SHARE = 0.5

const HINTS: Partial<Record<string, string>> = {
  EA_PARSE_INVALID_UTF8: 'binary or compressed data, or a text encoding other than UTF-8?',
  EA_PARSE_NOT_ACCESS_LOG: 'not an Envoy access log, or a custom format (see --format, --field-map, --text-format)?',
  EA_PARSE_MALFORMED_TEXT: 'a custom TEXT format? pass it with --text-format',
  EA_PARSE_INVALID_JSON: 'truncated or multi-line JSON?',
  EA_PARSE_TOO_LONG: 'no newlines in the input, or raise --max-line-bytes',
  EA_PARSE_BAD_TIMESTAMP: 'a custom format whose start time is under another name (see --field-map)?',
}

export type DeadLetterTally = Map<string, Map<string, number>>

/** Counts dead letters per input file and reason as they pass to the real dead-letter sink. */
export function tallyDeadLetters<S extends DeadLetterSink>(sink: S): { sink: S; tally: DeadLetterTally } {
  const tally: DeadLetterTally = new Map()
  const count = (dls: DeadLetter[]): void => {
    for (const dl of dls) {
      const file = dl.source?.file ?? '-'
      let reasons = tally.get(file)
      if (reasons === undefined) tally.set(file, (reasons = new Map()))
      reasons.set(dl.reason, (reasons.get(dl.reason) ?? 0) + 1)
    }
  }
  const write = sink.write.bind(sink)
  // The same object (its getters, e.g. `written`, keep working), with a counting write.
  sink.write = async (dls) => {
    await write(dls)
    count(dls)
  }
  return { sink, tally }
}

/** One warning line per input whose dead letters are more than MOSTLY_DEAD_SHARE of its records. */
export function mostlyDeadLetterWarnings(recordsByFile: ReadonlyMap<string, number>, tally: DeadLetterTally): string[] {
  const out: string[] = []
  for (const [file, records] of recordsByFile) {
    const reasons = tally.get(file)
    if (records === 0 || reasons === undefined) continue
    let dead = 0
    for (const n of reasons.values()) dead += n
    if (dead / records <= MOSTLY_DEAD_SHARE) continue
    const [top, n] = [...reasons].sort((a, b) => b[1] - a[1])[0] as [string, number]
    const hint = HINTS[top]
    const name = file === '-' ? 'stdin' : file
    out.push(
      `warning: ${name}: ${dead} of ${records} records (${Math.round((dead / records) * 100)}%) are dead letters, ` +
        `most of them ${top} (${n})${hint === undefined ? '' : `: ${hint}`}`,
    )
  }
  return out
}
