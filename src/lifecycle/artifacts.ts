/**
 * The OpenSearch artifacts checked in under schemas/opensearch/ (default-config templates and ISM
 * policy), rendered in memory. `npm run generate` writes them; test/lifecycle/drift.test.ts fails when
 * the checked-in files differ, so a schema change shows up in review as a template change.
 */
import { loadLifecycleConfig } from './config.js'
import { eventsTemplate, findingsTemplate } from './index-template.js'
import { ismPolicy } from './ism-policy.js'

export interface OpenSearchArtifact {
  path: string
  content: string
}

export function renderOpenSearchArtifacts(): OpenSearchArtifact[] {
  const c = loadLifecycleConfig({})
  const json = (v: unknown) => JSON.stringify(v, null, 2) + '\n'
  return [
    { path: 'schemas/opensearch/events-template.json', content: json(eventsTemplate(c)) },
    { path: 'schemas/opensearch/findings-template.json', content: json(findingsTemplate(c)) },
    { path: 'schemas/opensearch/ism-policy.json', content: json(ismPolicy(c)) },
  ]
}
