/**
 * Keeps the import graph of src/ honest with the layer diagram in docs/architecture.md: every import
 * (static, `export ... from`, side-effect and dynamic `import()`) between two files of src/ is read, and
 * the test fails on any circle of files and on any import from a lower layer to a higher one that is
 * not in UPWARD_ALLOWED (each entry with its reason). Imports within one layer are free, circles aside.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, normalize, relative } from 'node:path'
import { describe, expect, it } from 'vitest'

const ROOT = join(dirname(new URL(import.meta.url).pathname), '..', '..')

/**
 * The layers from the bottom, as in docs/architecture.md. A file belongs to the entry with the longest
 * matching path (a folder ends in '/'), so a file can sit below the rest of its folder.
 */
export const LAYERS: ReadonlyArray<{ name: string; paths: readonly string[] }> = [
  {
    name: 'foundation',
    paths: ['src/errors.ts', 'src/package-root.ts', 'src/generated/', 'src/schema/', 'src/config/'],
  },
  {
    name: 'contracts',
    paths: ['src/pipeline/component.ts', 'src/pipeline/dead-letter.ts', 'src/pipeline/event-id.ts', 'src/pipeline/counters.ts'],
  },
  { name: 'stages', paths: ['src/enrich/', 'src/validate/', 'src/parse/', 'src/redact/', 'src/detect/', 'src/sigma/'] },
  { name: 'pipeline', paths: ['src/pipeline/'] },
  { name: 'policy', paths: ['src/policy/'] },
  { name: 'connections', paths: ['src/connections/'] },
  { name: 'io', paths: ['src/sources/', 'src/sinks/', 'src/store/', 'src/integrity/', 'src/alerting/', 'src/lifecycle/'] },
  { name: 'compose', paths: ['src/compose/'] },
  { name: 'apps', paths: ['src/service/', 'src/report/', 'src/hunt/', 'src/demo/'] },
  { name: 'cli', paths: ['src/cli/'] },
]

/** Imports that run up the layers today, `from -> to` (repository paths), each with why it is there. */
export const UPWARD_ALLOWED: Readonly<Record<string, string>> = {
  'src/schema/artifacts.ts -> src/lifecycle/artifacts.ts':
    'npm run generate renders every checked-in artifact from here, the OpenSearch templates and ISM policy among them',
  'src/redact/redactor.ts -> src/pipeline/transforms.ts':
    'perEventStage (a per-event function made a TransformStage) lives with the stage runner',
}

/** Circles of files allowed while a change that breaks them is under way; each goes when it is gone from the code. */
export const CIRCLES_ALLOWED: Readonly<Record<string, string>> = {}

interface ImportEdge {
  from: string
  to: string
  /** How the import was written, for the failure message. */
  spec: string
}

function sourceFiles(dir: string): string[] {
  const out: string[] = []
  for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const path = `${dir}/${entry.name}`
    if (entry.isDirectory()) out.push(...sourceFiles(path))
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(path)
  }
  return out.sort()
}

/**
 * The code without comments and without the text of template literals (SQL and messages, where
 * "import ... from" may appear as words); quoted strings stay, since module specifiers are quoted.
 */
export function codeOnly(text: string): string {
  let out = ''
  // Each open template literal, and each `${` inside one, pushes: a '}' closes an expression only when the top is one.
  const stack: Array<'template' | 'expr' | 'brace'> = []
  let i = 0
  const inTemplateText = (): boolean => stack[stack.length - 1] === 'template'
  while (i < text.length) {
    const c = text[i]!
    const next = text[i + 1]
    if (inTemplateText()) {
      if (c === '\\') {
        i += 2
        continue
      }
      if (c === '`') {
        stack.pop()
        out += '`'
        i++
        continue
      }
      if (c === '$' && next === '{') {
        stack.push('expr')
        out += '${'
        i += 2
        continue
      }
      if (c === '\n') out += '\n'
      i++
      continue
    }
    if (c === '/' && next === '/') {
      while (i < text.length && text[i] !== '\n') i++
      continue
    }
    if (c === '/' && next === '*') {
      const end = text.indexOf('*/', i + 2)
      const stop = end === -1 ? text.length : end + 2
      out += text.slice(i, stop).replace(/[^\n]/g, ' ')
      i = stop
      continue
    }
    if (c === '"' || c === "'") {
      let j = i + 1
      while (j < text.length && text[j] !== c && text[j] !== '\n') j += text[j] === '\\' ? 2 : 1
      out += text.slice(i, j + 1)
      i = j + 1
      continue
    }
    if (c === '`') {
      stack.push('template')
      out += '`'
      i++
      continue
    }
    if (c === '{' && stack.length > 0) stack.push('brace')
    if (c === '}' && stack.length > 0) {
      const top = stack.pop()
      if (top === 'expr') {
        out += '}'
        i++
        continue
      }
    }
    out += c
    i++
  }
  return out
}

const STATIC = /\b(?:import|export)\s+(?:type\s+)?[^;'"`()]*?\bfrom\s*(['"])([^'"]+)\1/g
const SIDE_EFFECT = /\bimport\s*(['"])([^'"]+)\1/g
const DYNAMIC = /\bimport\s*\(\s*([^)]*?)\s*[,)]/g

/** Every module specifier a file names, and the dynamic imports whose specifier is not a plain string. */
export function specifiersOf(text: string): { specs: string[]; unreadable: string[] } {
  const code = codeOnly(text)
  const specs: string[] = []
  const unreadable: string[] = []
  for (const m of code.matchAll(STATIC)) specs.push(m[2]!)
  for (const m of code.matchAll(SIDE_EFFECT)) specs.push(m[2]!)
  for (const m of code.matchAll(DYNAMIC)) {
    const arg = m[1]!
    const plain = /^(['"])([^'"]+)\1$/.exec(arg)
    if (plain !== null) specs.push(plain[2]!)
    else unreadable.push(arg)
  }
  return { specs, unreadable }
}

function importGraph(): { files: string[]; edges: ImportEdge[]; unreadable: string[] } {
  const files = sourceFiles('src')
  const known = new Set(files)
  const edges: ImportEdge[] = []
  const unreadable: string[] = []
  for (const from of files) {
    const { specs, unreadable: bad } = specifiersOf(readFileSync(join(ROOT, from), 'utf8'))
    for (const arg of bad) unreadable.push(`${from}: import(${arg})`)
    for (const spec of specs) {
      if (!spec.startsWith('.')) continue
      const target = relative(ROOT, normalize(join(ROOT, dirname(from), spec))).replace(/\.js$/, '.ts')
      if (!target.startsWith('src/')) continue
      if (!known.has(target)) {
        unreadable.push(`${from}: '${spec}' names no file of src/`)
        continue
      }
      edges.push({ from, to: target, spec })
    }
  }
  return { files, edges, unreadable }
}

export function layerOf(file: string): number {
  let best = -1
  let bestLength = -1
  LAYERS.forEach((layer, index) => {
    for (const p of layer.paths) {
      const matches = p.endsWith('/') ? file.startsWith(p) : file === p
      if (matches && p.length > bestLength) {
        best = index
        bestLength = p.length
      }
    }
  })
  return best
}

/** Strongly connected components with more than one file (or a file importing itself), by Tarjan's algorithm. */
export function circles(nodes: readonly string[], edges: readonly { from: string; to: string }[]): string[][] {
  const next = new Map<string, string[]>(nodes.map((n) => [n, []]))
  for (const e of edges) next.get(e.from)?.push(e.to)
  let counter = 0
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const onStack = new Set<string>()
  const found: string[][] = []
  const visit = (v: string): void => {
    index.set(v, counter)
    low.set(v, counter)
    counter++
    stack.push(v)
    onStack.add(v)
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w)
        low.set(v, Math.min(low.get(v)!, low.get(w)!))
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!))
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = []
      let w: string
      do {
        w = stack.pop()!
        onStack.delete(w)
        component.push(w)
      } while (w !== v)
      if (component.length > 1 || (next.get(v) ?? []).includes(v)) found.push(component.sort())
    }
  }
  for (const n of nodes) if (!index.has(n)) visit(n)
  return found
}

describe('the import graph of src/', () => {
  const { files, edges, unreadable } = importGraph()

  it('reads imports of every form', () => {
    const sample = [
      "import { a } from './a.js'",
      "import type {\n  B,\n  C,\n} from '../b/c.js'",
      "export { d } from './d.js'",
      "export * from './e.js'",
      "import './f.js'",
      "const g = await import('./g.js')",
      '// import { h } from "./h.js"',
      "/* import('./i.js') */",
      "const sql = `SELECT x from 'j' ${`import k from './k.js'`}`",
    ].join('\n')
    expect(specifiersOf(sample).specs.sort()).toEqual(['../b/c.js', './a.js', './d.js', './e.js', './f.js', './g.js'])
    expect(specifiersOf('const m = await import(name)').unreadable).toEqual(['name'])
    expect(edges.length).toBeGreaterThan(300)
  })

  it('every import names a file, and every dynamic import a plain path', () => {
    expect(unreadable).toEqual([])
  })

  it('every file of src/ is on a layer', () => {
    expect(files.filter((f) => layerOf(f) === -1)).toEqual([])
  })

  it('has no circle of files, except the allowed ones', () => {
    const found = circles(files, edges).map((c) => c.join(' <-> '))
    expect(
      found.filter((c) => CIRCLES_ALLOWED[c] === undefined),
      'circles of files',
    ).toEqual([])
    const gone = Object.keys(CIRCLES_ALLOWED).filter((c) => !found.includes(c))
    expect(gone, 'allowed circles that are gone: take them off the list').toEqual([])
  })

  it('imports run down the layers, except the allowed few', () => {
    const upward = [...new Set(edges.filter((e) => layerOf(e.from) < layerOf(e.to)).map((e) => `${e.from} -> ${e.to}`))].sort()
    const named = (key: string): string => {
      const [from, to] = key.split(' -> ') as [string, string]
      return `${key} (${LAYERS[layerOf(from)]!.name} -> ${LAYERS[layerOf(to)]!.name})`
    }
    expect(upward.filter((key) => UPWARD_ALLOWED[key] === undefined).map(named), 'imports up the layers that are not allowed').toEqual([])
    const gone = Object.keys(UPWARD_ALLOWED).filter((key) => !upward.includes(key))
    expect(gone, 'allowed imports that are gone: take them off the list').toEqual([])
  })
})
