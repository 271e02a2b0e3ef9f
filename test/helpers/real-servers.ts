/**
 * Which real servers this run has: KAFKA_BROKERS and OPENSEARCH_URL (npm run services:up prints both).
 *
 * Every test that decides a Kafka or OpenSearch behaviour against a real server is declared through
 * describeKafka / describeOpenSearch, so that its name carries the marker `.ci/run` counts
 * ("[real kafka]", "[real opensearch]"). Without the variables those suites skip and say so; with
 * EA_REQUIRE_REAL_SERVERS=1 (CI) a missing variable fails the suite instead of skipping it, so a broken
 * `services:up` cannot turn into a green run that proved nothing.
 */
import { describe, test } from 'vitest'

const list = (v: string | undefined): string[] =>
  (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)

export const kafkaBrokers: string[] = list(process.env.KAFKA_BROKERS)
export const opensearchUrl: string | undefined =
  process.env.OPENSEARCH_URL === undefined || process.env.OPENSEARCH_URL === '' ? undefined : process.env.OPENSEARCH_URL
export const requireReal = process.env.EA_REQUIRE_REAL_SERVERS === '1'

export const REAL_KAFKA = '[real kafka]'
export const REAL_OPENSEARCH = '[real opensearch]'

type Body = () => void

function gated(marker: string, missing: string | undefined, name: string, body: Body): void {
  if (missing === undefined) {
    describe(`${marker} ${name}`, body)
    return
  }
  if (requireReal) {
    describe(`${marker} ${name}`, () => {
      test(`needs ${missing}`, () => {
        throw new Error(`EA_REQUIRE_REAL_SERVERS=1 but ${missing} is not set: run npm run services:up and export what it prints`)
      })
    })
    return
  }
  describe.skip(`${marker} ${name} (skipped: set ${missing}; npm run services:up starts them)`, body)
}

/** A suite that runs against the real Kafka broker(s) in KAFKA_BROKERS. */
export function describeKafka(name: string, body: Body): void {
  gated(REAL_KAFKA, kafkaBrokers.length === 0 ? 'KAFKA_BROKERS' : undefined, name, body)
}

/** A suite that runs against the real OpenSearch node at OPENSEARCH_URL. */
export function describeOpenSearch(name: string, body: Body): void {
  gated(REAL_OPENSEARCH, opensearchUrl === undefined ? 'OPENSEARCH_URL' : undefined, name, body)
}

/** A suite that needs both. */
export function describeKafkaAndOpenSearch(name: string, body: Body): void {
  const missing = [kafkaBrokers.length === 0 ? 'KAFKA_BROKERS' : '', opensearchUrl === undefined ? 'OPENSEARCH_URL' : '']
    .filter(Boolean)
    .join(' and ')
  gated(`${REAL_KAFKA}${REAL_OPENSEARCH}`, missing === '' ? undefined : missing, name, body)
}

/** The installed OpenSearch plugins (by name), for the parts that need one a test node may lack. */
export async function opensearchPlugins(url: string): Promise<Set<string>> {
  const res = await fetch(`${url}/_cat/plugins?format=json&h=component`)
  if (!res.ok) throw new Error(`_cat/plugins: HTTP ${res.status}`)
  return new Set(((await res.json()) as { component: string }[]).map((p) => p.component))
}
