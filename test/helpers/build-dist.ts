/**
 * Keeps dist/ current for the tests that start the CLI as a process: plain node on the built
 * JavaScript starts in a fraction of the time tsx needs to load the sources. Only the files whose
 * source changed since their output was written are transpiled again (TypeScript's transpileModule
 * with the project's compiler options: the same JavaScript `tsc` emits, without its type check,
 * which is `npm run typecheck`'s job, as it was when the tests ran the sources through tsx; checked
 * file for file against tsc's output). The JSON files the sources import are copied byte for byte (tsc
 * re-indents them; same content), outputs whose source is gone are removed, and a source starting
 * with `#!` (the CLI's bin) is made executable as `npm run build` does.
 *
 * Several test runs may share one working tree: every output is written to a temporary name and
 * renamed, so a CLI started meanwhile reads a whole file, old or new. An output gets its source's
 * mtime, so a source edited while it was transpiled is seen as changed by the next run.
 */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import type * as TypeScript from 'typescript'

export interface BuildLayout {
  /** The directory holding tsconfig.json; the outputs mirror paths relative to it (tsc's rootDir '.'). */
  root: string
  /** The sources' directory under root (tsconfig's include is src/). */
  src: string
  outDir: string
}

export interface BuildResult {
  transpiled: string[]
  copied: string[]
  removed: string[]
}

function walk(dir: string, keep: (file: string) => boolean, out: string[] = []): string[] {
  if (!existsSync(dir)) return out
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) walk(p, keep, out)
    else if (keep(p)) out.push(p)
  }
  return out
}

const isSource = (f: string): boolean => f.endsWith('.ts') && !f.endsWith('.d.ts')

/** Written under a temporary name, renamed into place, dated like its source. */
function writeOutput(file: string, content: string | Buffer, mtime: Date, mode?: number): void {
  mkdirSync(path.dirname(file), { recursive: true })
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`
  writeFileSync(tmp, content)
  if (mode !== undefined) chmodSync(tmp, mode)
  renameSync(tmp, file)
  utimesSync(file, mtime, mtime)
}

/** Within a millisecond: the output's mtime, set from a Date, is the source's rounded (either way). */
const isStale = (source: string, output: string): boolean => !existsSync(output) || statSync(output).mtimeMs + 1 < statSync(source).mtimeMs

const compilers = new Map<string, { ts: typeof TypeScript; options: TypeScript.CompilerOptions }>()

function loadCompiler(root: string): { ts: typeof TypeScript; options: TypeScript.CompilerOptions } {
  const known = compilers.get(root)
  if (known !== undefined) return known
  const ts = createRequire(import.meta.url)('typescript') as typeof TypeScript
  const parsed = ts.getParsedCommandLineOfConfigFile(
    path.join(root, 'tsconfig.json'),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(`tsconfig.json: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`)
      },
    },
  )
  if (parsed === undefined) throw new Error(`cannot read ${root}/tsconfig.json`)
  // transpileModule cannot look up package.json's "type" as NodeNext does; every source here is an
  // ES module ("type": "module", .ts files only), which is what ESNext emits.
  const compiler = { ts, options: { ...parsed.options, module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler } }
  compilers.set(root, compiler)
  return compiler
}

/** Brings outDir up to date with src (see the file comment); returns what it changed. */
export function buildDist(layout: BuildLayout): BuildResult {
  const result: BuildResult = { transpiled: [], copied: [], removed: [] }
  const outFor = (file: string, ext: string): string => path.join(layout.outDir, path.relative(layout.root, file)).replace(/\.ts$/, ext)
  const sources = walk(layout.src, isSource)
  const jsonImports = new Set<string>()
  for (const source of sources) {
    const text = readFileSync(source, 'utf8')
    for (const m of text.matchAll(/from\s+['"](\.{1,2}\/[^'"]+\.json)['"]/g)) jsonImports.add(path.resolve(path.dirname(source), m[1]!))
    const output = outFor(source, '.js')
    if (!isStale(source, output)) continue
    const { ts, options } = loadCompiler(layout.root)
    const mtime = statSync(source).mtime
    const js = ts.transpileModule(text, { compilerOptions: options, fileName: source })
    writeOutput(output, js.outputText, mtime, text.startsWith('#!') ? 0o755 : undefined)
    if (js.sourceMapText !== undefined) {
      // tsc names the source relative to the map; transpileModule only knows the file's name.
      const map = JSON.parse(js.sourceMapText) as { sources: string[] }
      map.sources = [path.relative(path.dirname(output), source).split(path.sep).join('/')]
      writeOutput(`${output}.map`, JSON.stringify(map), mtime)
    }
    result.transpiled.push(path.relative(layout.root, source))
  }
  for (const json of jsonImports) {
    const output = path.join(layout.outDir, path.relative(layout.root, json))
    if (!existsSync(json) || !isStale(json, output)) continue
    writeOutput(output, readFileSync(json), statSync(json).mtime)
    result.copied.push(path.relative(layout.root, json))
  }
  const wanted = new Set(sources.map((s) => outFor(s, '.js')))
  for (const output of walk(
    path.join(layout.outDir, path.relative(layout.root, layout.src)),
    (f) => f.endsWith('.js') || f.endsWith('.js.map'),
  )) {
    if (wanted.has(output.replace(/\.map$/, ''))) continue
    rmSync(output, { force: true })
    result.removed.push(path.relative(layout.root, output))
  }
  return result
}
