/**
 * The README is user-facing contract: its AU-3 and findings tables are generated from the code, and
 * every command it names must exist. This test keeps both true.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import { renderAu3Markdown } from '../src/validate/au3.js'
import { renderFindingsMarkdown } from '../src/detect/catalogue.js'
import { runCli } from './helpers/cli.js'

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
const block = (name: string): string | undefined =>
  new RegExp(`<!-- ${name}:start -->\\n([\\s\\S]*?)<!-- ${name}:end -->`).exec(readme)?.[1]

describe('README', () => {
  test('starts with the two commands: install + main job, and the tests', () => {
    const blocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]?.trim())
    expect(blocks[0]).toBe('npm install && npm start')
    expect(blocks[1]).toBe('npm test')
  })

  test('the AU-3 table is the one the code checks', () => {
    expect(block('au3-table')).toBe(renderAu3Markdown())
  })

  test('the findings table is the finding catalogue', () => {
    expect(block('findings-table')).toBe(renderFindingsMarkdown())
  })

  test('every `envoy-audit <command>` it mentions is a real command', async () => {
    const help = await runCli(['--help'])
    const commands = new Set([...help.stdout.matchAll(/^ {2}([a-z-]+)\b/gm)].map((m) => m[1]))
    const named = new Set([...readme.matchAll(/`(?:npx )?envoy-audit ([a-z][a-z-]+)/g)].map((m) => m[1]))
    expect(named.size).toBeGreaterThan(8)
    for (const c of named) expect(commands, `README names "envoy-audit ${c}"`).toContain(c)
  })
})
