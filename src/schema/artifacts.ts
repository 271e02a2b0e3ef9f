import { readFileSync } from 'node:fs'
import { auditEventSchema } from './audit-event.js'
import { mappingFromSchema } from './mapping.js'
import { renderDuckDbColumns } from './duckdb-generate.js'
import { renderDocumentWriter } from './document-writer-generate.js'
import { renderFindingWriter } from './finding-writer-generate.js'
import { renderOpenSearchArtifacts } from '../lifecycle/artifacts.js'

export interface Artifact {
  path: string
  content: string
}

const HEADER = '/* Generated from schemas/*.schema.json by `npm run generate`. Do not edit. */\n'

/** Renders every generated artifact in memory (used by the generator and the drift test). */
export async function renderArtifacts(): Promise<Artifact[]> {
  // json-schema-to-typescript is a dev dependency: only the generator and the drift test load it.
  const { compile } = await import('json-schema-to-typescript')
  const root = new URL('../../', import.meta.url)
  const read = (p: string) => JSON.parse(readFileSync(new URL(p, root), 'utf8')) as Parameters<typeof compile>[0]
  const opts = { bannerComment: '', additionalProperties: false, strictIndexSignatures: true, format: true }
  const types = [
    await compile(read('schemas/audit-event.schema.json'), 'AuditEvent', opts),
    await compile(read('schemas/dead-letter.schema.json'), 'DeadLetter', opts),
    await compile(read('schemas/opensearch/finding.schema.json'), 'FindingDocument', opts),
  ].join('\n')
  return [
    { path: 'src/generated/types.ts', content: HEADER + types },
    { path: 'src/generated/duckdb-columns.ts', content: renderDuckDbColumns(auditEventSchema, HEADER) },
    { path: 'src/generated/document-writer.ts', content: renderDocumentWriter(auditEventSchema, HEADER) },
    {
      path: 'src/generated/finding-writer.ts',
      content: renderFindingWriter(read('schemas/opensearch/finding.schema.json') as Record<string, unknown>, auditEventSchema, HEADER),
    },
    {
      path: 'schemas/generated/audit-event.mapping.json',
      content: JSON.stringify(mappingFromSchema(auditEventSchema), null, 2) + '\n',
    },
    ...renderOpenSearchArtifacts(),
  ]
}
