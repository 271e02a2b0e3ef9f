/**
 * The modules of OpenSearch's full distribution that its minimal (integ-test) distribution lacks and that
 * the product's requests need: Painless (monitor triggers, bucket_selector scripts, the Painless execute
 * API the monitor tests use), the common analyzers, and the extra field mappers. Maven Central serves each
 * module's jar but not its folder, so the folder is assembled here: the jars from test/services/pom.xml and
 * the descriptor every plugin folder carries (see OpenSearch's PluginInfo for the keys).
 */

export interface ModuleSpec {
  name: string
  description: string
  classname: string
  extendedPlugins: string[]
}

export const MODULES: readonly ModuleSpec[] = [
  {
    name: 'lang-painless',
    description: 'Painless scripting language',
    classname: 'org.opensearch.painless.PainlessPlugin',
    extendedPlugins: [],
  },
  {
    name: 'analysis-common',
    description: 'Common analysis components',
    classname: 'org.opensearch.analysis.common.CommonAnalysisPlugin',
    extendedPlugins: ['lang-painless'],
  },
  {
    name: 'mapper-extras',
    description: 'Extra field mappers',
    classname: 'org.opensearch.index.mapper.MapperExtrasPlugin',
    extendedPlugins: [],
  },
]

export function moduleDescriptor(m: ModuleSpec, opensearchVersion: string): string {
  return [
    `description=${m.description}`,
    `version=${opensearchVersion}`,
    `name=${m.name}`,
    `classname=${m.classname}`,
    'java.version=11',
    `opensearch.version=${opensearchVersion}`,
    `extended.plugins=${m.extendedPlugins.join(',')}`,
    'has.native.controller=false',
    '',
  ].join('\n')
}

/** Painless compiles scripts to classes at run time, which the security manager allows only if granted. */
export const PAINLESS_POLICY = `grant {
  permission java.lang.RuntimePermission "createClassLoader";
  permission java.lang.RuntimePermission "getClassLoader";
};
`
