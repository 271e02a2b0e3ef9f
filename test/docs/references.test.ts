import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join, posix } from 'node:path'
import { describe, expect, test } from 'vitest'
import { REPO_ROOT } from '../helpers/cli.js'

/** Paths a command writes when it runs (the demo's report, the default store), not files of the repository. */
const RUN_OUTPUTS = [/^out\//, /^\.envoy-audit\//, /^dist\//]

/**
 * A path the documentation cites as a repository file: `a/b.ext` in backticks, or a relative Markdown
 * link. Paths outside the repository (a reader's notes, another checkout) must not be cited: whoever
 * reads the docs from a clone cannot open them.
 */
function citedPaths(doc: string, text: string): string[] {
  const out: string[] = []
  // `./a.log` in backticks is a path a reader types (an example), not one of the repository's files.
  for (const m of text.matchAll(/`([A-Za-z0-9_-][A-Za-z0-9_.-]*\/[A-Za-z0-9_./-]+\.[a-z]{1,5})`|\]\(([^)#:\s]+)(?:#[^)]*)?\)/g)) {
    if (m[1] !== undefined) out.push(m[1])
    else if (m[2] !== undefined) out.push(posix.normalize(posix.join(posix.dirname(doc), m[2])))
  }
  return out.filter((p) => !RUN_OUTPUTS.some((r) => r.test(p)))
}

describe('documentation', () => {
  const docs = [
    'README.md',
    ...readdirSync(join(REPO_ROOT, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `docs/${f}`),
  ]

  test('finds the citations it checks (a path in backticks, a relative link)', () => {
    expect(citedPaths('docs/x.md', 'see `src/a/b.ts` and [guide](../README.md#top) and `out/report.html`, `./a.log`')).toEqual([
      'src/a/b.ts',
      'README.md',
    ])
  })

  test.each(docs)('%s cites only files that are in the repository', (doc) => {
    const missing = citedPaths(doc, readFileSync(join(REPO_ROOT, doc), 'utf8')).filter((p) => !existsSync(join(REPO_ROOT, p)))
    expect(missing).toEqual([])
  })
})
