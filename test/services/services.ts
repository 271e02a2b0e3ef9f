/**
 * Real Apache Kafka (KRaft, one combined node) and real OpenSearch (one node) on loopback, for the
 * integration tests, CI and the drills. Versions are pinned in test/services/pom.xml and fetched from
 * Maven Central into the Maven cache; everything a run writes (server homes, data, logs, pids) lives
 * under the state folder (EA_SERVICES_DIR, default .services/ in the repository).
 *
 * The drills import start/stop from here to restart a server mid-stream; test/services/cli.ts is the
 * `npm run services:up|down|status` front end.
 */
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync, chmodSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { kafkaProperties, kafkaLog4j } from './kafka-config.js'
import { MODULES, moduleDescriptor, PAINLESS_POLICY } from './opensearch-modules.js'

const here = dirname(fileURLToPath(import.meta.url))
export const repoRoot = resolve(here, '..', '..')
const pom = join(here, 'pom.xml')

export type ServiceName = 'kafka' | 'opensearch'

export interface ServiceState {
  name: ServiceName
  pid: number
  version: string
  url: string
  port: number
  startedAt: string
  startMs: number
  logFile: string
  plugins?: string[]
  modules?: string[]
}

export interface ServicesOptions {
  stateDir: string
  kafkaVersion: string
  kafkaPort: number
  kafkaControllerPort: number
  opensearchVersion: string
  opensearchPluginVersion: string
  opensearchPort: number
  opensearchTransportPort: number
  javaHome: string
  log: (line: string) => void
}

function pomProperty(name: string): string {
  const m = new RegExp(`<${name.replace(/\./g, '\\.')}>([^<]+)</`).exec(readFileSync(pom, 'utf8'))
  if (m === null) throw new Error(`test/services/pom.xml has no <${name}>`)
  return m[1]!
}

function defaultJavaHome(): string {
  if (process.env.JAVA_HOME !== undefined && process.env.JAVA_HOME !== '') return process.env.JAVA_HOME
  const java = execFileSync('sh', ['-c', 'readlink -f "$(command -v java)" || true'], { encoding: 'utf8' }).trim()
  // Checked when a server starts (java()), so that reading the options needs no Java.
  return java === '' ? '' : resolve(dirname(java), '..')
}

export function servicesOptions(
  env: NodeJS.ProcessEnv = process.env,
  log: (line: string) => void = (l) => console.log(l),
): ServicesOptions {
  const num = (name: string, dflt: number): number => {
    const v = env[name]
    if (v === undefined || v === '') return dflt
    const n = Number(v)
    if (!Number.isInteger(n) || n <= 0 || n > 65535) throw new Error(`${name}=${v} is not a port`)
    return n
  }
  const kafkaPort = num('EA_KAFKA_PORT', 9092)
  const opensearchPort = num('EA_OPENSEARCH_PORT', 9200)
  return {
    stateDir: resolve(env.EA_SERVICES_DIR !== undefined && env.EA_SERVICES_DIR !== '' ? env.EA_SERVICES_DIR : join(repoRoot, '.services')),
    kafkaVersion: env.KAFKA_VERSION !== undefined && env.KAFKA_VERSION !== '' ? env.KAFKA_VERSION : pomProperty('kafka.version'),
    kafkaPort,
    kafkaControllerPort: num('EA_KAFKA_CONTROLLER_PORT', kafkaPort + 1),
    opensearchVersion: pomProperty('opensearch.version'),
    opensearchPluginVersion: pomProperty('opensearch.plugin.version'),
    opensearchPort,
    opensearchTransportPort: num('EA_OPENSEARCH_TRANSPORT_PORT', opensearchPort + 100),
    javaHome: defaultJavaHome(),
    log,
  }
}

// ---- state file ------------------------------------------------------------------------------------

const stateFile = (o: ServicesOptions): string => join(o.stateDir, 'services.json')

export function readState(o: ServicesOptions): Partial<Record<ServiceName, ServiceState>> {
  try {
    return JSON.parse(readFileSync(stateFile(o), 'utf8')) as Partial<Record<ServiceName, ServiceState>>
  } catch {
    return {}
  }
}

function writeState(o: ServicesOptions, state: Partial<Record<ServiceName, ServiceState>>): void {
  mkdirSync(o.stateDir, { recursive: true })
  const tmp = `${stateFile(o)}.tmp`
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`)
  renameSync(tmp, stateFile(o))
}

function updateState(o: ServicesOptions, name: ServiceName, s: ServiceState | undefined): void {
  const state = readState(o)
  if (s === undefined) delete state[name]
  else state[name] = s
  writeState(o, state)
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

async function waitUntil<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, stillRunning: () => boolean): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < deadline) {
    if (!stillRunning()) throw new Error(`${what}: the process exited while starting`)
    try {
      const v = await probe()
      if (v !== undefined) return v
    } catch (err) {
      last = err
    }
    await sleep(250)
  }
  throw new Error(`${what}: not ready after ${timeoutMs} ms${last === undefined ? '' : ` (${(last as Error).message})`}`)
}

// ---- fetching --------------------------------------------------------------------------------------

function mavenCopy(o: ServicesOptions, profile: string, outDir: string, extra: string[] = []): void {
  if (existsSync(join(outDir, '.complete'))) return
  rmSync(outDir, { recursive: true, force: true })
  mkdirSync(outDir, { recursive: true })
  o.log(`fetching ${profile} from Maven Central (or the Maven cache) into ${outDir}`)
  try {
    execFileSync('mvn', ['-q', '-B', '-f', pom, '-P', profile, ...extra, 'dependency:copy-dependencies', `-DoutputDirectory=${outDir}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
      encoding: 'utf8',
    })
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string }
    // eslint-disable-next-line no-control-regex
    const out = `${e.stdout ?? ''}${e.stderr ?? ''}`.replace(/\x1b\[[0-9;]*m/g, '').trim()
    throw new Error(`mvn could not fetch profile ${profile} (Maven Central reachable? versions in test/services/pom.xml):\n${out}`, {
      cause: err,
    })
  }
  writeFileSync(join(outDir, '.complete'), new Date().toISOString())
}

// ---- Kafka -----------------------------------------------------------------------------------------

function kafkaHome(o: ServicesOptions): string {
  return join(o.stateDir, `kafka-${o.kafkaVersion}`)
}

export function kafkaClasspath(o: ServicesOptions): string {
  const lib = join(kafkaHome(o), 'lib')
  mavenCopy(o, 'kafka', lib, [`-Dkafka.version=${o.kafkaVersion}`])
  return `${lib}/*`
}

function java(o: ServicesOptions): string {
  if (o.javaHome === '') throw new Error('no java on PATH and JAVA_HOME unset: the real servers need Java 17 (JAVA_HOME, or java on PATH)')
  return join(o.javaHome, 'bin', 'java')
}

/** Runs one of Kafka's tool classes (console producer, storage tool, ...) to completion. */
export function runKafkaTool(o: ServicesOptions, mainClass: string, args: string[], input?: string | Buffer): string {
  const conf = join(kafkaHome(o), 'config')
  return execFileSync(
    java(o),
    [
      '-Xmx256m',
      `-Dlog4j2.configurationFile=${join(conf, 'tools-log4j2.yaml')}`,
      `-Dlog4j.configuration=file:${join(conf, 'tools-log4j.properties')}`,
      '-cp',
      kafkaClasspath(o),
      mainClass,
      ...args,
    ],
    { input, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, stdio: ['pipe', 'pipe', 'pipe'] },
  )
}

async function kafkaAnswers(o: ServicesOptions): Promise<boolean | undefined> {
  const { Kafka, logLevel } = await import('kafkajs')
  const admin = new Kafka({
    brokers: [`127.0.0.1:${o.kafkaPort}`],
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 },
    connectionTimeout: 1000,
  }).admin()
  try {
    await admin.connect()
    const cluster = await admin.describeCluster()
    return cluster.brokers.length > 0 ? true : undefined
  } finally {
    await admin.disconnect().catch(() => undefined)
  }
}

export async function startKafka(o: ServicesOptions): Promise<ServiceState> {
  const running = readState(o).kafka
  if (running !== undefined && alive(running.pid)) {
    o.log(`kafka ${running.version} already running (pid ${running.pid}) at ${running.url}`)
    return running
  }
  const home = kafkaHome(o)
  const cp = kafkaClasspath(o)
  const conf = join(home, 'config')
  const data = join(o.stateDir, 'kafka-data')
  const logs = join(o.stateDir, 'logs')
  mkdirSync(conf, { recursive: true })
  mkdirSync(logs, { recursive: true })
  const props = join(conf, 'server.properties')
  writeFileSync(props, kafkaProperties({ port: o.kafkaPort, controllerPort: o.kafkaControllerPort, dataDir: data }))
  writeFileSync(join(conf, 'log4j2.yaml'), kafkaLog4j.server2(join(logs, 'kafka-server.log')))
  writeFileSync(join(conf, 'log4j.properties'), kafkaLog4j.server1(join(logs, 'kafka-server.log')))
  writeFileSync(join(conf, 'tools-log4j2.yaml'), kafkaLog4j.tools2)
  writeFileSync(join(conf, 'tools-log4j.properties'), kafkaLog4j.tools1)

  if (!existsSync(join(data, 'meta.properties'))) {
    rmSync(data, { recursive: true, force: true })
    const clusterId = runKafkaTool(o, 'kafka.tools.StorageTool', ['random-uuid']).trim()
    runKafkaTool(o, 'kafka.tools.StorageTool', ['format', '-t', clusterId, '-c', props])
    o.log(`kafka: formatted ${data} (cluster ${clusterId})`)
  }

  const logFile = join(logs, 'kafka.out')
  const out = openSync(logFile, 'a')
  const t0 = Date.now()
  const child = spawn(
    java(o),
    [
      '-Xms512m',
      '-Xmx512m',
      '-XX:+UseG1GC',
      '-Djava.awt.headless=true',
      `-Dlog4j2.configurationFile=${join(conf, 'log4j2.yaml')}`,
      `-Dlog4j.configuration=file:${join(conf, 'log4j.properties')}`,
      `-Dkafka.logs.dir=${logs}`,
      '-cp',
      cp,
      'kafka.Kafka',
      props,
    ],
    { detached: true, stdio: ['ignore', out, out] },
  )
  child.unref()
  const pid = child.pid!
  await waitUntil(
    'kafka',
    120_000,
    () => kafkaAnswers(o),
    () => alive(pid),
  )
  const state: ServiceState = {
    name: 'kafka',
    pid,
    version: o.kafkaVersion,
    url: `127.0.0.1:${o.kafkaPort}`,
    port: o.kafkaPort,
    startedAt: new Date(t0).toISOString(),
    startMs: Date.now() - t0,
    logFile,
  }
  updateState(o, 'kafka', state)
  o.log(`kafka ${state.version} up at ${state.url} in ${(state.startMs / 1000).toFixed(1)} s (pid ${pid}, heap 512 MB, log ${logFile})`)
  return state
}

// ---- OpenSearch ------------------------------------------------------------------------------------

/** OpenSearch refuses to run as root; under root the node runs as this system user. */
export const SERVICE_USER = 'envoy-audit-svc'

function runAsUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined
  const id = (flag: string): number =>
    Number(execFileSync('id', [flag, SERVICE_USER], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim())
  try {
    return { uid: id('-u'), gid: id('-g') }
  } catch {
    execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', SERVICE_USER])
    return { uid: id('-u'), gid: id('-g') }
  }
}

/** Under root, the service user must be able to reach the state folder; fall back to /var/tmp if not. */
function opensearchRoot(o: ServicesOptions, user: { uid: number; gid: number } | undefined): string {
  const preferred = join(o.stateDir, 'opensearch')
  if (user === undefined) return preferred
  mkdirSync(preferred, { recursive: true })
  try {
    execFileSync('setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', 'test', '-x', preferred], { stdio: 'ignore' })
    return preferred
  } catch {
    return join('/var/tmp', `envoy-audit-services-${o.opensearchPort}`, 'opensearch')
  }
}

function chownTree(path: string, user: { uid: number; gid: number } | undefined): void {
  if (user !== undefined) execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, path])
}

/** Unzips the minimal distribution, adds the modules it lacks and installs the plugins that resolve. */
function assembleOpenSearch(o: ServicesOptions, root: string): string {
  const home = join(root, `opensearch-${o.opensearchVersion}`)
  if (existsSync(join(home, '.assembled'))) return home
  const zips = join(o.stateDir, `opensearch-${o.opensearchVersion}-zips`)
  mavenCopy(o, 'opensearch', zips)
  rmSync(home, { recursive: true, force: true })
  mkdirSync(root, { recursive: true })
  const dist = readdirSync(zips).find((f) => f.startsWith('opensearch-') && f.endsWith('.zip') && !f.includes('job-scheduler'))
  if (dist === undefined) throw new Error(`no OpenSearch distribution zip in ${zips}`)
  execFileSync('unzip', ['-q', '-o', join(zips, dist), '-d', root])
  for (const f of readdirSync(join(home, 'bin'))) if (!f.includes('.')) chmodSync(join(home, 'bin', f), 0o755)

  for (const m of MODULES) {
    const dir = join(home, 'modules', m.name)
    mavenCopy(o, `module-${m.name}`, join(o.stateDir, `opensearch-${o.opensearchVersion}-module-${m.name}`))
    mkdirSync(dir, { recursive: true })
    const src = join(o.stateDir, `opensearch-${o.opensearchVersion}-module-${m.name}`)
    for (const jar of readdirSync(src).filter((f) => f.endsWith('.jar'))) writeFileSync(join(dir, jar), readFileSync(join(src, jar)))
    writeFileSync(join(dir, 'plugin-descriptor.properties'), moduleDescriptor(m, o.opensearchVersion))
    if (m.name === 'lang-painless') writeFileSync(join(dir, 'plugin-security.policy'), PAINLESS_POLICY)
  }

  const env = { ...process.env, OPENSEARCH_JAVA_HOME: o.javaHome, JAVA_HOME: o.javaHome }
  for (const zip of readdirSync(zips).filter((f) => f.endsWith('.zip') && f !== dist)) {
    o.log(`opensearch: installing plugin ${zip}`)
    execFileSync(join(home, 'bin', 'opensearch-plugin'), ['install', '--batch', `file://${join(zips, zip)}`], {
      env,
      stdio: ['ignore', 'ignore', 'inherit'],
    })
  }
  writeFileSync(join(home, '.assembled'), new Date().toISOString())
  return home
}

interface NodeInfo {
  version: string
  plugins: string[]
  modules: string[]
}

async function opensearchAnswers(url: string): Promise<NodeInfo | undefined> {
  const get = async (path: string): Promise<unknown> => {
    const res = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(5000) })
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`)
    return res.json()
  }
  const root = (await get('/')) as { version: { number: string } }
  await get('/_cluster/health?wait_for_status=yellow&timeout=5s')
  const nodes = (await get('/_nodes/plugins')) as {
    nodes: Record<string, { plugins: { name: string; version: string }[]; modules: { name: string }[] }>
  }
  const node = Object.values(nodes.nodes)[0]!
  return {
    version: root.version.number,
    plugins: node.plugins.map((p) => `${p.name} ${p.version}`),
    modules: node.modules.map((m) => m.name),
  }
}

export async function startOpenSearch(o: ServicesOptions): Promise<ServiceState> {
  const running = readState(o).opensearch
  if (running !== undefined && alive(running.pid)) {
    o.log(`opensearch ${running.version} already running (pid ${running.pid}) at ${running.url}`)
    return running
  }
  java(o)
  const user = runAsUser()
  const root = opensearchRoot(o, user)
  const home = assembleOpenSearch(o, root)
  const data = join(root, 'data')
  const logs = join(root, 'logs')
  mkdirSync(data, { recursive: true })
  mkdirSync(logs, { recursive: true })
  const pidFile = join(root, 'opensearch.pid')
  rmSync(pidFile, { force: true })
  chownTree(root, user)

  const url = `http://127.0.0.1:${o.opensearchPort}`
  const settings = [
    'cluster.name=envoy-audit-test',
    'node.name=envoy-audit-test-0',
    'discovery.type=single-node',
    'network.host=127.0.0.1',
    `http.port=${o.opensearchPort}`,
    `transport.port=${o.opensearchTransportPort}`,
    `path.data=${data}`,
    `path.logs=${logs}`,
    'bootstrap.memory_lock=false',
    // A CI disk that is 90% full would otherwise make every index read-only mid-suite.
    'cluster.routing.allocation.disk.threshold_enabled=false',
  ]
  const args = ['-d', '-p', pidFile, ...settings.flatMap((s) => ['-E', s])]
  const env = {
    ...process.env,
    OPENSEARCH_JAVA_HOME: o.javaHome,
    JAVA_HOME: o.javaHome,
    OPENSEARCH_JAVA_OPTS: '-Xms1g -Xmx1g',
    OPENSEARCH_PATH_CONF: join(home, 'config'),
  }
  const t0 = Date.now()
  const logFile = join(logs, 'envoy-audit-test.log')
  const cmd = user === undefined ? join(home, 'bin', 'opensearch') : 'setpriv'
  const cmdArgs =
    user === undefined ? args : [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', join(home, 'bin', 'opensearch'), ...args]
  const startOut = join(logs, 'start.out')
  execFileSync(cmd, cmdArgs, { env, stdio: ['ignore', openSync(startOut, 'a'), openSync(startOut, 'a')], cwd: home })
  const pid = await waitUntil(
    'opensearch pid file',
    60_000,
    async () => (existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : undefined),
    () => true,
  )
  const info = await waitUntil(
    'opensearch',
    180_000,
    () => opensearchAnswers(url),
    () => alive(pid),
  )
  const state: ServiceState = {
    name: 'opensearch',
    pid,
    version: info.version,
    url,
    port: o.opensearchPort,
    startedAt: new Date(t0).toISOString(),
    startMs: Date.now() - t0,
    logFile,
    plugins: info.plugins,
    modules: info.modules,
  }
  updateState(o, 'opensearch', state)
  o.log(`opensearch ${info.version} up at ${url} in ${(state.startMs / 1000).toFixed(1)} s (pid ${pid}, heap 1 GB, log ${logFile})`)
  o.log(`opensearch plugins: ${info.plugins.length === 0 ? 'none' : info.plugins.join(', ')}`)
  o.log(`opensearch modules: ${info.modules.join(', ')}`)
  return state
}

// ---- stopping --------------------------------------------------------------------------------------

/** Stops exactly the pid recorded for this service: SIGTERM, then SIGKILL after the grace period. */
export async function stopService(
  o: ServicesOptions,
  name: ServiceName,
  opts: { graceMs?: number; signal?: NodeJS.Signals } = {},
): Promise<boolean> {
  const s = readState(o)[name]
  if (s === undefined) return false
  if (alive(s.pid)) {
    process.kill(s.pid, opts.signal ?? 'SIGTERM')
    const deadline = Date.now() + (opts.graceMs ?? 60_000)
    while (alive(s.pid) && Date.now() < deadline) await sleep(100)
    if (alive(s.pid)) {
      process.kill(s.pid, 'SIGKILL')
      while (alive(s.pid)) await sleep(50)
    }
  }
  updateState(o, name, undefined)
  o.log(`${name} stopped (pid ${s.pid})`)
  return true
}

export function statusLines(o: ServicesOptions): string[] {
  const state = readState(o)
  return (['kafka', 'opensearch'] as const).map((n) => {
    const s = state[n]
    if (s === undefined) return `${n}: not started`
    return (
      `${n} ${s.version}: ${alive(s.pid) ? 'running' : 'DEAD'} (pid ${s.pid}) at ` +
      `${s.url}, started ${s.startedAt} in ${(s.startMs / 1000).toFixed(1)} s`
    )
  })
}

export function purge(o: ServicesOptions): void {
  for (const n of ['kafka', 'opensearch'] as const) {
    const s = readState(o)[n]
    if (s !== undefined && alive(s.pid)) throw new Error(`${n} is still running (pid ${s.pid}): run services:down first`)
  }
  for (const d of [
    join(o.stateDir, 'kafka-data'),
    join(o.stateDir, 'opensearch', 'data'),
    join('/var/tmp', `envoy-audit-services-${o.opensearchPort}`, 'opensearch', 'data'),
  ]) {
    if (existsSync(d) && statSync(d).isDirectory()) rmSync(d, { recursive: true, force: true })
  }
}
