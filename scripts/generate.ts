/**
 * Regenerates the checked-in artifacts derived from schemas/*.schema.json: the TypeScript types,
 * the OpenSearch mapping and templates, the DuckDB store's columns, the stored-document and
 * finding-document writers and the dashboards' saved objects.
 * test/schema/drift.test.ts fails when the checked-in files differ from what this produces, so run
 * `npm run generate` after editing a schema.
 */
import { writeFileSync } from 'node:fs'
import { renderArtifacts } from '../src/schema/artifacts.js'
import { renderSavedObjects } from '../dashboards/build-saved-objects.js'

for (const artifact of await renderArtifacts()) {
  writeFileSync(new URL(`../${artifact.path}`, import.meta.url), artifact.content)
  console.log(`wrote ${artifact.path}`)
}
// The dashboards' index pattern lists the mapping's fields: it is rendered after the mapping.
writeFileSync(new URL('../dashboards/envoy-audit.ndjson', import.meta.url), renderSavedObjects())
console.log('wrote dashboards/envoy-audit.ndjson')
