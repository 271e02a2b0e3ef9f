/**
 * Regenerates the checked-in artifacts derived from schemas/*.schema.json: the TypeScript types and
 * the OpenSearch mapping. test/schema/drift.test.ts fails when the checked-in files differ from what
 * this produces, so run `npm run generate` after editing a schema.
 */
import { writeFileSync } from 'node:fs'
import { renderArtifacts } from '../src/schema/artifacts.js'

for (const artifact of await renderArtifacts()) {
  writeFileSync(new URL(`../${artifact.path}`, import.meta.url), artifact.content)
  console.log(`wrote ${artifact.path}`)
}
