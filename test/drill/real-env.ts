/**
 * Where the real-server drills find Kafka and OpenSearch. KAFKA_BROKERS and OPENSEARCH_URL win; without
 * them, the servers `npm run services:up` recorded in its state folder (EA_SERVICES_DIR, default
 * .services/, ports from EA_KAFKA_PORT / EA_OPENSEARCH_PORT) are used. The drills that restart a server
 * also need that server's pid, so they accept only one `services:up` started, at the address in use.
 */
import { alive, readState, servicesOptions, type ServiceName, type ServicesOptions } from '../services/services.js'

export interface RealEnv {
  brokers: string[]
  opensearchUrl: string
  services: ServicesOptions
  /** Where each address came from, for the drill's first log line. */
  origin: string
}

export class DrillSetupError extends Error {}

const HOW = 'start them with `npm run services:up` (or export KAFKA_BROKERS=host:port and OPENSEARCH_URL=http://host:port)'

export function realEnv(env: NodeJS.ProcessEnv = process.env, log: (l: string) => void = () => undefined): RealEnv {
  let services: ServicesOptions
  try {
    services = servicesOptions(env, log)
  } catch (err) {
    throw new DrillSetupError(`real-server drills: ${(err as Error).message}`)
  }
  const state = readState(services)
  const running = (n: ServiceName): string | undefined => {
    const s = state[n]
    return s !== undefined && alive(s.pid) ? s.url : undefined
  }
  const brokersVar = (env.KAFKA_BROKERS ?? '')
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean)
  const urlVar = env.OPENSEARCH_URL === undefined || env.OPENSEARCH_URL === '' ? undefined : env.OPENSEARCH_URL.replace(/\/$/, '')
  const brokers = brokersVar.length > 0 ? brokersVar : running('kafka') !== undefined ? [running('kafka')!] : []
  const opensearchUrl = urlVar ?? running('opensearch')
  const missing = [
    brokers.length === 0 ? 'Kafka (KAFKA_BROKERS)' : '',
    opensearchUrl === undefined ? 'OpenSearch (OPENSEARCH_URL)' : '',
  ].filter(Boolean)
  if (missing.length > 0) {
    throw new DrillSetupError(
      `real-server drills need a real ${missing.join(' and a real ')}; none is set and ${services.stateDir} records none running: ${HOW}`,
    )
  }
  const origin =
    `kafka ${brokers.join(',')} ` +
    `(${brokersVar.length > 0 ? 'KAFKA_BROKERS' : services.stateDir}), opensearch ` +
    `${opensearchUrl!} (${urlVar !== undefined ? 'OPENSEARCH_URL' : services.stateDir})`
  return { brokers, opensearchUrl: opensearchUrl!, services, origin }
}

/**
 * The drills that stop and start a server do it through test/services (stopService, startKafka,
 * startOpenSearch), so the server must be the one recorded there, and the one the drill talks to.
 */
export function requireRestartable(e: RealEnv, name: ServiceName): void {
  const s = readState(e.services)[name]
  const vars =
    `EA_SERVICES_DIR=${e.services.stateDir} EA_KAFKA_PORT=${e.services.kafkaPort} ` + `EA_OPENSEARCH_PORT=${e.services.opensearchPort}`
  if (s === undefined || !alive(s.pid)) {
    throw new DrillSetupError(
      `this drill restarts ${name}, so it needs one started by \`${vars} npm run ` +
        `services:up\` (its pid is read from ${e.services.stateDir}/services.json): none ` +
        `is running there`,
    )
  }
  const inUse = name === 'kafka' ? e.brokers : [e.opensearchUrl]
  if (inUse.length !== 1 || inUse[0] !== s.url) {
    throw new DrillSetupError(
      `this drill restarts the ${name} recorded in ${e.services.stateDir} (${s.url}), ` +
        `but talks to ${inUse.join(',')}: unset ` +
        `${name === 'kafka' ? 'KAFKA_BROKERS' : 'OPENSEARCH_URL'} or point ` +
        `EA_SERVICES_DIR and the port variables at that server`,
    )
  }
}
