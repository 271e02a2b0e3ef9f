import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { expect, test } from 'vitest'

// proto/ holds the published OTLP definitions unchanged; its README names the release and their hashes.
const root = new URL('../../../proto/', import.meta.url)

test('the vendored OTLP .proto files are the published ones listed in proto/README.md', () => {
  const readme = readFileSync(new URL('README.md', root), 'utf8')
  const rows = [...readme.matchAll(/^\| `([^`]+\.proto)` \| `([0-9a-f]{64})` \|$/gm)]
  expect(rows).toHaveLength(4)
  for (const [, file, sha] of rows)
    expect(
      createHash('sha256')
        .update(readFileSync(new URL(file!, root)))
        .digest('hex'),
      file,
    ).toBe(sha)
})
