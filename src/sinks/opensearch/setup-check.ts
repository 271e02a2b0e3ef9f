/**
 * At start, whether `envoy-audit setup` ran: its index templates (`<alias>-template`) give the period
 * indices their mapping and the read alias. Without them the sink's first bulk request auto-creates
 * `<alias>-<period>` with dynamic mappings and no alias, which readers never see and which setup then
 * refuses to adopt.
 *
 * `require` (what `run` asks for, unless sink.opensearch.requireSetup is false) refuses to start with
 * EA_SINK_NOT_SET_UP; otherwise a warning is logged, as library callers and tests want. A role that may
 * not read templates (403) cannot check: it is warned about and the sink starts. A cluster that does
 * not answer is asked again, with backoff, for up to `timeoutMs`, then the start fails
 * (EA_SINK_UNAVAILABLE) when required, and is left to the write path's retries otherwise.
 */
import { errors, type Client } from '@opensearch-project/opensearch'
import { EnvoyAuditError } from '../../errors.js'
import type { SinkConfig } from './config.js'

export interface SetupCheckOptions {
  /** Refuse to start when a template is missing (true for `run`); false only warns. */
  require: boolean
  logger?: { warn(obj: object, msg: string): void }
  /** Longest the check keeps asking a cluster that does not answer. */
  timeoutMs?: number
  /** Per request. */
  requestTimeoutMs?: number
}

export const REQUIRE_SETUP_OPTION = 'sink.opensearch.requireSetup'

const statusOf = (err: unknown): number | undefined => (err instanceof errors.ResponseError ? err.statusCode : undefined)

function reasonOf(err: unknown): string {
  const status = statusOf(err)
  return status !== undefined ? `HTTP ${status}` : err instanceof Error ? `${err.name}: ${err.message}` : String(err)
}

/** The aliases whose template is missing; throws what the cluster answered otherwise. */
async function missing(client: Client, aliases: readonly string[], requestTimeout: number): Promise<string[]> {
  const out: string[] = []
  for (const alias of aliases) {
    const res = await client.indices.existsIndexTemplate({ name: `${alias}-template` }, { requestTimeout, maxRetries: 0 })
    if (res.body === false) out.push(alias)
  }
  return out
}

export async function checkSetupTemplates(client: Client, config: SinkConfig, o: SetupCheckOptions): Promise<void> {
  const aliases = config.writeFindings ? [config.eventsAlias, config.findingsAlias] : [config.eventsAlias]
  const timeoutMs = o.timeoutMs ?? 10_000
  const deadline = Date.now() + timeoutMs
  for (let wait = 250; ; wait = Math.min(wait * 2, 2_000)) {
    let absent: string[]
    try {
      absent = await missing(client, aliases, Math.max(100, Math.min(o.requestTimeoutMs ?? 5_000, deadline - Date.now())))
    } catch (err) {
      const status = statusOf(err)
      if (status === 401) {
        if (!o.require) return
        throw new EnvoyAuditError(
          'EA_SINK_AUTH',
          `opensearch sink: the credentials were refused (HTTP 401) when checking setup's index templates at start`,
          { cause: err },
        )
      }
      if (status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429) {
        // 403: the sink's role may not read templates. Any other 4xx: this cluster cannot answer the question.
        o.logger?.warn(
          { status, aliases },
          `opensearch sink: cannot check that setup's index templates exist (${reasonOf(err)}); starting anyway. Grant the sink's role indices:admin/index_template/get to have it checked, or make sure envoy-audit setup ran`,
        )
        return
      }
      if (!o.require) return
      if (Date.now() + wait >= deadline) {
        throw new EnvoyAuditError(
          'EA_SINK_UNAVAILABLE',
          `opensearch sink: no answer when checking setup's index templates at start, for ${timeoutMs} ms: ${reasonOf(err)}`,
          { cause: err },
        )
      }
      await new Promise((r) => setTimeout(r, wait))
      continue
    }
    if (absent.length === 0) return
    const names = absent.map((a) => `${a}-template`).join(', ')
    const consequence = absent
      .map((a) => `the ${a}-<period> indices would get dynamic mappings and no ${a} alias to read them through`)
      .join('; ')
    if (o.require) {
      throw new EnvoyAuditError(
        'EA_SINK_NOT_SET_UP',
        `opensearch sink: no index template ${names}: run envoy-audit setup first (${consequence}). To write without setup anyway, set ${REQUIRE_SETUP_OPTION}: false`,
      )
    }
    for (const alias of absent) {
      o.logger?.warn(
        { alias },
        `opensearch sink: no index template ${alias}-template; run envoy-audit setup first, or the ${alias}-<period> indices get dynamic mappings and no ${alias} alias to read them through`,
      )
    }
    return
  }
}
