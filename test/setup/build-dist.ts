/**
 * vitest globalSetup: brings dist/ up to date before any worker starts, so the tests that start the
 * CLI as a process run the built JavaScript with plain node (see test/helpers/build-dist.ts).
 */
import { buildDist } from '../helpers/build-dist.js'
import { REPO_ROOT } from '../helpers/cli.js'

export default function setup(): void {
  if (process.env.EA_TEST_CLI === 'src') return
  const started = Date.now()
  const r = buildDist({ root: REPO_ROOT, src: `${REPO_ROOT}src`, outDir: `${REPO_ROOT}dist` })
  const changed = r.transpiled.length + r.copied.length + r.removed.length
  if (changed > 0) {
    process.stderr.write(
      `dist: ${r.transpiled.length} transpiled, ${r.copied.length} copied, ${r.removed.length} removed in ${Date.now() - started} ms\n`,
    )
  }
}
