/**
 * npm run services:up | services:down | services:status | services:purge
 *
 * up: fetches the pinned versions (test/services/pom.xml) and starts Kafka and OpenSearch on loopback,
 * idempotently; prints each one's version, start time and plugins, and the environment the tests read.
 * down: stops exactly the recorded pids. purge: deletes their data (after down).
 * Only one of them: `npm run services:up -- kafka` (or opensearch).
 */
import { purge, servicesOptions, startKafka, startOpenSearch, statusLines, stopService, type ServiceName } from './services.js'

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv
  const which = (rest.length === 0 ? ['kafka', 'opensearch'] : rest) as ServiceName[]
  for (const w of which) if (w !== 'kafka' && w !== 'opensearch') throw new Error(`unknown service ${w} (kafka, opensearch)`)
  const o = servicesOptions()
  switch (cmd) {
    case 'up': {
      const started: Partial<Record<ServiceName, string>> = {}
      if (which.includes('kafka')) started.kafka = (await startKafka(o)).url
      if (which.includes('opensearch')) started.opensearch = (await startOpenSearch(o)).url
      if (started.kafka !== undefined) console.log(`export KAFKA_BROKERS=${started.kafka}`)
      if (started.opensearch !== undefined) console.log(`export OPENSEARCH_URL=${started.opensearch}`)
      return 0
    }
    case 'down':
      for (const w of [...which].reverse()) if (!(await stopService(o, w))) console.log(`${w}: not running`)
      return 0
    case 'status':
      for (const line of statusLines(o)) console.log(line)
      return 0
    case 'purge':
      purge(o)
      console.log('service data deleted')
      return 0
    default:
      console.error('usage: services up|down|status|purge [kafka|opensearch]')
      return 2
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`services: ${err.message}`)
    process.exit(1)
  },
)
