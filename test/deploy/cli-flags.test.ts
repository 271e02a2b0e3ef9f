/**
 * Every envoy-audit invocation in docker-compose.yml names a registered command and only options
 * that command declares, so a renamed flag breaks this test instead of `docker compose up`.
 */
import { describe, test, expect } from 'vitest'
import { readFileSync } from 'node:fs'
import { Command } from 'commander'
import { parse } from 'yaml'
import { registerCommands } from '../../src/cli/commands.js'

const compose = parse(readFileSync(new URL('../../docker-compose.yml', import.meta.url), 'utf8'), { merge: true }) as {
  services: Record<string, { command?: string[] | string; entrypoint?: string[] | string; build?: { target?: string } }>
}

/** The argv of each envoy-audit invocation: the command of an image service, or `envoy-audit ...` lines in a shell script. */
function invocations(): Array<{ service: string; argv: string[] }> {
  const out: Array<{ service: string; argv: string[] }> = []
  for (const [service, svc] of Object.entries(compose.services)) {
    // The envoy-audit image is the Dockerfile's runtime stage (stack-tools is the certs job's image).
    if (svc.build?.target !== 'runtime') continue
    const cmd = Array.isArray(svc.command) ? svc.command : svc.command === undefined ? [] : [svc.command]
    if (svc.entrypoint === undefined) out.push({ service, argv: cmd })
    else {
      for (const line of cmd.join('\n').split('\n')) {
        const m = /^\s*envoy-audit\s+(.*)$/.exec(line)
        if (m) out.push({ service, argv: m[1]!.trim().split(/\s+/) })
      }
    }
  }
  return out
}

const program = new Command('envoy-audit')
await registerCommands(program)

describe('envoy-audit invocations in docker-compose.yml', () => {
  const found = invocations()

  test('run, setup and alerting provision are all invoked', () => {
    const names = found.map((f) =>
      f.argv
        .filter((a) => !a.startsWith('-'))
        .slice(0, 2)
        .join(' '),
    )
    expect(names).toEqual(expect.arrayContaining([expect.stringMatching(/^run/), expect.stringMatching(/^setup/), 'alerting provision']))
  })

  test.each(invocations().map((i) => [i.service, i.argv.join(' '), i.argv] as const))('%s: envoy-audit %s', (_s, _line, argv) => {
    let cmd: Command | undefined = program
    let i = 0
    // Walk down subcommands (alerting → provision).
    while (i < argv.length && !argv[i]!.startsWith('-')) {
      const next: Command | undefined = cmd.commands.find((c) => c.name() === argv[i])
      if (next === undefined) break
      cmd = next
      i++
    }
    expect(cmd, `no command ${argv[0]}`).not.toBe(program)
    const longs = new Set(cmd.options.map((o) => o.long))
    for (const a of argv.slice(i))
      if (a.startsWith('--')) expect(longs.has(a.split('=')[0]!), `${cmd.name()} has no option ${a}`).toBe(true)
  })
})
