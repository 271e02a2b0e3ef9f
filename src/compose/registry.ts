/**
 * Components declare themselves: a `kind`, the zod schema of their options and a factory, registered in
 * the registry of their role (sources, sinks, dead-letter outputs, stages). The pipeline builder asks a
 * registry for a kind and never names a component itself, the way Vector's `SinkConfig::build` and Data
 * Prepper's plugins are found by name. Adding a component is its folder plus one `register` line.
 */
import type { z } from 'zod'
import { EnvoyAuditError } from '../errors.js'
import { parseConfig } from '../config/validate.js'
import type { BuildContext } from './context.js'

export interface ComponentDef<Config, Built, Context = BuildContext> {
  readonly kind: string
  /** The component's options; build() gets them validated, defaults filled in. */
  readonly schema: z.ZodType<Config, any>
  /**
   * Where the options sit in a section `{ kind, ... }`: under the kind's own key by default
   * (sink.opensearch), under another key (stdin reads source.file), or '' for the section itself
   * (the flat deadLetter section).
   */
  readonly options?: string
  build(config: Config, context: Context): Built
}

export class Registry<Built, Context = BuildContext, Def extends ComponentDef<any, Built, Context> = ComponentDef<any, Built, Context>> {
  private readonly defs = new Map<string, Def>()

  /** `role` names the config section in errors (`sink.kind: unknown kind "x"`); '' for top-level sections. */
  constructor(readonly role: string) {}

  register(def: Def): this {
    // A programming error, not a configuration one: two components claim one name.
    if (this.defs.has(def.kind)) throw new Error(`${this.role}: kind "${def.kind}" is registered twice`)
    this.defs.set(def.kind, def)
    return this
  }

  kinds(): string[] {
    return [...this.defs.keys()]
  }

  get(kind: string): Def {
    const def = this.defs.get(kind)
    if (def === undefined) {
      throw new EnvoyAuditError('EA_CONFIG_INVALID', `${this.role}.kind: unknown kind "${kind}" (known: ${this.kinds().join(', ')})`)
    }
    return def
  }

  /** The component a section `{ kind, ... }` selects, with its options validated (errors name the option path). */
  resolve(section: { readonly kind: string }): { def: Def; options: unknown } {
    const def = this.get(section.kind)
    const key = def.options ?? def.kind
    const input = key === '' ? section : (section as unknown as Record<string, unknown>)[key]
    const path = [this.role, key].filter((p) => p !== '').join('.')
    return { def, options: parseConfig(def.schema, input ?? {}, path) }
  }

  buildSection(section: { readonly kind: string }, context: Context): Built {
    const { def, options } = this.resolve(section)
    return def.build(options, context)
  }

  /** Builds one kind from its options (validated here). */
  build(kind: string, options: unknown, context: Context, path = [this.role, kind].filter((p) => p !== '').join('.')): Built {
    const def = this.get(kind)
    return def.build(parseConfig(def.schema, options ?? {}, path), context)
  }
}
