import { readdirSync, readFileSync, statSync } from 'node:fs'
import { extname, join, relative } from 'node:path'
import { describe, expect, test } from 'vitest'
import { REPO_ROOT } from '../helpers/cli.js'

/**
 * The repository must stand alone: a clone has no reference notes from someone's machine, and the
 * tracker's milestone numbers mean nothing to a reader of the code. Citations go to public sources
 * (a URL, or `owner/repo path`) or to the repository's own files.
 */
const RULES: { name: string; pattern: RegExp }[] = [
  { name: 'a path on a development machine', pattern: /(^|[\s(`'"])\/(work|home\/[\w.-]+|Users\/[\w.-]+)\//m },
  { name: 'a reference note outside the repository', pattern: /\bshared\/(reference|seeds)\b/ },
  { name: 'a milestone tag like [2/10]', pattern: /\[(R\d+ )?\d+\/\d+\]/ },
  { name: 'a tracker issue number', pattern: /\bissues? \d+\b/i },
]

const ROOTS = ['src', 'test', 'scripts', 'docs', 'dashboards', 'deploy', 'schemas', 'detections', '.ci']
const ROOT_FILES = ['README.md', 'package.json', 'Dockerfile', 'docker-compose.yml', 'vitest.config.ts', 'eslint.config.js']
const TEXT = new Set(['.ts', '.js', '.md', '.json', '.ndjson', '.yaml', '.yml', '.sh', '.xml', '.txt', '.log', ''])
/** This file states the patterns it looks for; written output of a CI run is not part of the repository. */
const SKIP = new Set(['test/docs/hygiene.test.ts', '.ci/vitest-results.json', '.ci/services-up.log'])

function walk(dir: string, out: string[]): string[] {
  for (const name of readdirSync(join(REPO_ROOT, dir))) {
    const path = `${dir}/${name}`
    if (statSync(join(REPO_ROOT, path)).isDirectory()) walk(path, out)
    else if (TEXT.has(extname(name)) && !SKIP.has(path)) out.push(path)
  }
  return out
}

/** `file:line: text` for every line of `text` that breaks a rule. */
function offences(file: string, text: string): string[] {
  const out: string[] = []
  text.split('\n').forEach((line, i) => {
    for (const rule of RULES) if (rule.pattern.test(line)) out.push(`${file}:${i + 1}: ${rule.name}: ${line.trim().slice(0, 120)}`)
  })
  return out
}

describe('comments and docs stand alone', () => {
  test('each rule finds what it is for, and passes public citations and command examples', () => {
    const bad = [
      ' * Facts from /work/shared/notes.md',
      '// see shared/reference/formats.md section c',
      '/** The parser of [1/10], step [R2 2/7]. */',
      '// never dead-lettered (issue 16, item 10)',
      '`/home/dev/notes.md`',
    ]
    expect(bad.map((line) => offences('x.ts', line).length)).toEqual([1, 1, 1, 1, 1])
    const good = [
      '// kubeflow/community-distribution#2858, istio/istio issues #31555 and #37124',
      'npx envoy-audit parse app.log --dlq /tmp/dlq.ndjson',
      '// https://istio.io/latest/docs/tasks/observability/logs/access-log/',
      'const ratio = a[1] / b[2]',
      '// items 2..4 of the batch, three issues found',
    ]
    expect(good.flatMap((line) => offences('x.ts', line))).toEqual([])
  })

  test('no machine path, outside reference or milestone tag in src/, test/, scripts/, docs/ and the root files', () => {
    const files = [...ROOTS.flatMap((d) => walk(d, [])), ...ROOT_FILES]
    expect(files.length).toBeGreaterThan(100)
    const found = files.flatMap((f) => offences(relative(REPO_ROOT, join(REPO_ROOT, f)), readFileSync(join(REPO_ROOT, f), 'utf8')))
    expect(found).toEqual([])
  })
})
