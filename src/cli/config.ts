/**
 * `envoy-audit config defaults` and `config validate FILE`: the run configuration without running it.
 * validate reports every problem at once, each naming its option path, and prints the config it read
 * with defaults applied, never a secret that was written into it.
 */
import type { Command } from 'commander'
import { stringify as toYaml } from 'yaml'
import { defaultsYaml } from '../compose/config-defaults.js'
import { loadConfig } from '../compose/config.js'
import { redactConfigSecrets } from '../compose/config-secrets.js'
import { renamedOptionWarnings } from '../config/renamed-options.js'
import { ConfigInvalidError } from '../config/validate.js'
import { EnvoyAuditError } from '../errors.js'

export function registerConfig(program: Command): void {
  const cfg = program.command('config').description('inspect and validate service configuration')
  cfg
    .command('defaults')
    .description(
      'print every option with its default as YAML; optional sections (source.kafka, sink.opensearch, alert outputs) as commented examples',
    )
    .action(() => {
      process.stdout.write(defaultsYaml())
    })
  cfg
    .command('validate')
    .description('validate a config file: every problem with its option path, or the config with defaults applied (secrets masked)')
    .argument('<file>')
    .action((file: string) => {
      let config: unknown
      try {
        config = loadConfig(file)
      } catch (err) {
        const issues = issuesOf(err)
        if (issues === undefined || issues.length < 2) throw err
        process.stderr.write(`envoy-audit config validate: ${file}: ${issues.length} problems\n${issues.map((i) => `  ${i}\n`).join('')}`)
        throw new EnvoyAuditError('EA_CONFIG_INVALID', `${file}: ${issues.length} problems (listed above)`)
      }
      const { redacted, found } = redactConfigSecrets(config)
      for (const f of found)
        process.stderr.write(
          `envoy-audit config validate: warning: ${f.path} holds a secret written in the config file (shown as [REDACTED]): ${f.advice}\n`,
        )
      for (const w of renamedOptionWarnings(config)) process.stderr.write(`envoy-audit config validate: warning: ${w}\n`)
      process.stdout.write(toYaml(redacted))
    })
}

function issuesOf(err: unknown): readonly string[] | undefined {
  if (err instanceof ConfigInvalidError) return err.issues
  return err instanceof Error && err.cause instanceof ConfigInvalidError ? err.cause.issues : undefined
}
