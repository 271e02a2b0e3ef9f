import type { Command } from 'commander'
import { loadConfig } from '../compose/config.js'
import { registerConfig } from './config.js'
import { createLogger } from '../service/logger.js'
import { buildService } from '../service/service.js'

/**
 * `envoy-audit run --config FILE`: the long-running service. The first SIGTERM/SIGINT starts a
 * graceful stop (stop fetching, flush in-flight work, commit, leave the group); a second one, or the
 * shutdown timeout, exits at once. A stop that never committed past an unacknowledged record is
 * safe to cut short: the next owner replays from the last commit.
 */
export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run the service: source (kafka|file|stdin|otlp) → pipeline → sink (opensearch|embedded|ndjson), with metrics and health')
    .requiredOption('-c, --config <file>', 'YAML config (see `envoy-audit config defaults`)')
    .action(async (opts: { config: string }) => {
      const config = loadConfig(opts.config)
      const logger = createLogger({ level: config.log.level })
      const service = buildService(config, { logger })
      let signals = 0
      const onSignal = (signal: NodeJS.Signals): void => {
        signals++
        if (signals > 1) {
          logger.warn({ signal }, 'second signal: exiting now without waiting for in-flight work')
          process.exit(130)
        }
        logger.info({ signal }, 'graceful shutdown: stopping the source, flushing and committing')
        const timer = setTimeout(() => {
          logger.error({ timeoutSeconds: config.service.shutdownTimeoutSeconds }, 'shutdown timed out: exiting')
          process.exit(1)
        }, config.service.shutdownTimeoutSeconds * 1000)
        timer.unref()
        void service.close()
      }
      process.on('SIGTERM', onSignal)
      process.on('SIGINT', onSignal)
      let failed = true
      try {
        const counters = await service.run()
        failed = false
        process.stderr.write(`envoy-audit run: ${counters.summaryLine()}\n`)
      } finally {
        process.off('SIGTERM', onSignal)
        process.off('SIGINT', onSignal)
        // The service has stopped: cleanly (everything flushed and committed) or for good after an error.
        // Either way nothing may hold the process: a client socket an outage left half-open (kafkajs can
        // keep one) or an input still open (stdin from a shipper), else a failed replica would stay alive
        // and its supervisor would never restart it. This unref'd timer fires only if something still
        // keeps the event loop alive; main() has set the exit code by then.
        setTimeout(() => {
          logger.warn({ failed }, 'handles still open after the service stopped; exiting')
          process.exit(typeof process.exitCode === 'number' ? process.exitCode : failed ? 1 : 0)
        }, 2000).unref()
      }
    })

  registerConfig(program)
}
