/**
 * The light command table (src/cli/commands.ts) that lets main.ts import only the command it runs:
 * it must say what the command modules register, and the program built from it must read the same.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Command } from 'commander'
import { describe, expect, test } from 'vitest'
import { COMMANDS, commandNamed, registerCommands } from '../../src/cli/commands.js'
import { cliEntry, REPO_ROOT } from '../helpers/cli.js'

function program(): Command {
  return new Command('envoy-audit').description('d').version('0.0.0', '-V, --version').exitOverride()
}

describe('the command table', () => {
  test.each(COMMANDS.map((e) => [e.name, e] as const))(
    '%s: the module registers it with the term and description the table holds',
    async (name, entry) => {
      const p = program()
      ;(await entry.load())(p)
      const cmd = p.commands.find((c) => c.name() === name)
      expect(cmd, `${name}'s module does not register ${name}`).toBeDefined()
      expect({ term: p.createHelp().subcommandTerm(cmd!), description: cmd!.description() }).toEqual({
        term: entry.term,
        description: entry.description,
      })
    },
  )

  test('lists every registered command, in the order the help shows them', async () => {
    const p = program()
    await registerCommands(p)
    expect(p.commands.map((c) => c.name())).toEqual(COMMANDS.map((e) => e.name))
  })

  test('the program help is the same whichever commands were loaded', async () => {
    const full = program()
    await registerCommands(full)
    for (const load of [[], ['parse'], ['run'], ['config'], ['verify']]) {
      const lazy = program()
      await registerCommands(lazy, load)
      expect(lazy.helpInformation(), `loaded: ${load.join(',')}`).toBe(full.helpInformation())
    }
  })

  test('a loaded command keeps its own help; the stand-ins are only listed', async () => {
    const full = program()
    await registerCommands(full)
    const lazy = program()
    await registerCommands(lazy, ['policy'])
    const help = (p: Command, name: string) => p.commands.find((c) => c.name() === name)!.helpInformation()
    expect(help(lazy, 'policy')).toBe(help(full, 'policy'))
    expect(lazy.commands.find((c) => c.name() === 'parse')!.options).toEqual([])
  })

  test('commandNamed: the first word that is not an option, or the one after help', () => {
    expect(commandNamed(['parse', '-f', 'x.log'])).toBe('parse')
    expect(commandNamed(['--help', 'ingest'])).toBe('ingest')
    expect(commandNamed(['help', 'policy', 'eval'])).toBe('policy')
    expect(commandNamed(['run', '--config', 'parse'])).toBe('run')
    expect(commandNamed(['help'])).toBeUndefined()
    expect(commandNamed(['--version'])).toBeUndefined()
    expect(commandNamed(['bogus'])).toBeUndefined()
    expect(commandNamed([])).toBeUndefined()
  })
})

/** The packages (node_modules names) a CLI run loaded: kafkajs, OpenSearch and DuckDB are CommonJS, so require.cache holds them. */
function packagesLoaded(args: string[]): { status: number | null; packages: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'ea-loaded-'))
  const out = join(dir, 'loaded.json')
  const preload =
    "import { createRequire } from 'node:module'; import { writeFileSync } from 'node:fs';" +
    'const r = createRequire(process.cwd() + "/"); process.on("exit", () => writeFileSync(process.env.EA_LOADED_OUT, JSON.stringify(Object.keys(r.cache))))'
  try {
    const run = spawnSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(preload)}`, ...cliEntry(), ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, EA_LOADED_OUT: out },
      encoding: 'utf8',
      input: '',
    })
    const files = JSON.parse(readFileSync(out, 'utf8')) as string[]
    const names = new Set(files.flatMap((f) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(f)?.[1] ?? []))
    return { status: run.status, packages: [...names].sort() }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

describe('what a CLI run loads (built CLI, plain node)', () => {
  test.each([[['--help']], [['--version']], [['help']], [['bogus']]])(
    "envoy-audit %j loads commander and none of the command modules' packages",
    (args) => {
      const r = packagesLoaded(args)
      expect(r.status).toBe(args[0] === 'bogus' ? 2 : 0)
      expect(r.packages).toEqual(['commander'])
    },
  )

  test('a command that needs a client still loads it (the probe sees it)', () => {
    const r = packagesLoaded(['demo-produce', '--help'])
    expect(r.status).toBe(0)
    expect(r.packages).toContain('kafkajs')
  })
})
