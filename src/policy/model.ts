/**
 * Schemas of the Istio security CRDs as envoy-audit reads them (security.istio.io v1 and v1beta1 are the
 * same schema: istio/api security/v1/*_alias.gen.go). Objects are strict, like the CRD's structural schema:
 * an unknown field (e.g. `hosts` under `source`, a real doc mistake) makes the API server reject the object,
 * so it is rejected here too instead of being evaluated as if the field were absent.
 *
 * Semantic checks that Istio's admission webhook performs (DENY without rules, empty `from`, ...) are NOT
 * schema errors here: the evaluator follows the builder for such objects and the linter reports them.
 */
import { z } from 'zod'

const strings = z.array(z.string())

export const sourceSchema = z.strictObject({
  principals: strings.optional(),
  notPrincipals: strings.optional(),
  requestPrincipals: strings.optional(),
  notRequestPrincipals: strings.optional(),
  namespaces: strings.optional(),
  notNamespaces: strings.optional(),
  ipBlocks: strings.optional(),
  notIpBlocks: strings.optional(),
  remoteIpBlocks: strings.optional(),
  notRemoteIpBlocks: strings.optional(),
  serviceAccounts: strings.optional(),
  notServiceAccounts: strings.optional(),
  trustDomains: strings.optional(),
  notTrustDomains: strings.optional(),
})

export const operationSchema = z.strictObject({
  hosts: strings.optional(),
  notHosts: strings.optional(),
  ports: strings.optional(),
  notPorts: strings.optional(),
  methods: strings.optional(),
  notMethods: strings.optional(),
  paths: strings.optional(),
  notPaths: strings.optional(),
})

export const conditionSchema = z.strictObject({
  key: z.string(),
  values: strings.optional(),
  notValues: strings.optional(),
})

export const ruleSchema = z.strictObject({
  from: z.array(z.strictObject({ source: sourceSchema.nullish() })).optional(),
  to: z.array(z.strictObject({ operation: operationSchema.nullish() })).optional(),
  when: z.array(conditionSchema).optional(),
})

const labelMap = z.record(z.string(), z.string())
const selectorSchema = z.strictObject({ matchLabels: labelMap.nullish() })
const targetRefSchema = z.strictObject({
  group: z.string().optional(),
  kind: z.string(),
  name: z.string(),
  namespace: z.string().optional(),
})

export const authorizationPolicySpecSchema = z.strictObject({
  selector: selectorSchema.nullish(),
  targetRef: targetRefSchema.nullish(),
  targetRefs: z.array(targetRefSchema).nullish(),
  action: z.enum(['ALLOW', 'DENY', 'AUDIT', 'CUSTOM']).optional(),
  provider: z.strictObject({ name: z.string() }).nullish(),
  // A YAML `- ` with nothing after it is a nil rule: kept so the builder's "skipped nil rule" can be modelled.
  rules: z.array(ruleSchema.nullable()).nullish(),
})

const mtlsMode = z.enum(['UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT'])

export const peerAuthenticationSpecSchema = z.strictObject({
  selector: selectorSchema.nullish(),
  mtls: z.strictObject({ mode: mtlsMode.optional() }).nullish(),
  // Keys are workload (container) ports; YAML may give them as numbers.
  portLevelMtls: z.record(z.string(), z.strictObject({ mode: mtlsMode.optional() }).nullish()).nullish(),
})

export const jwtRuleSchema = z.looseObject({
  issuer: z.string(),
  audiences: strings.optional(),
})

export const requestAuthenticationSpecSchema = z.strictObject({
  selector: selectorSchema.nullish(),
  targetRef: targetRefSchema.nullish(),
  targetRefs: z.array(targetRefSchema).nullish(),
  jwtRules: z.array(jwtRuleSchema).nullish(),
})

/** Only what the linter needs from a DestinationRule (mistake 19: STRICT server vs DISABLE client). */
export const destinationRuleSpecSchema = z.looseObject({
  host: z.string(),
  trafficPolicy: z
    .looseObject({
      tls: z.looseObject({ mode: z.string().optional() }).nullish(),
    })
    .nullish(),
})

export const metadataSchema = z.looseObject({
  name: z.string().min(1),
  namespace: z.string().min(1).optional(),
  annotations: z.record(z.string(), z.string()).nullish(),
  creationTimestamp: z.union([z.string(), z.date()]).nullish(),
})

export type Source = z.infer<typeof sourceSchema>
export type Operation = z.infer<typeof operationSchema>
export type Condition = z.infer<typeof conditionSchema>
export type Rule = z.infer<typeof ruleSchema>
export type AuthorizationPolicySpec = z.infer<typeof authorizationPolicySpecSchema>
export type PeerAuthenticationSpec = z.infer<typeof peerAuthenticationSpecSchema>
export type RequestAuthenticationSpec = z.infer<typeof requestAuthenticationSpecSchema>
export type MtlsMode = z.infer<typeof mtlsMode>
export type Action = NonNullable<AuthorizationPolicySpec['action']>

/** Common header of every loaded object: where it came from and how Istio identifies it. */
export interface ObjectMeta {
  name: string
  /** `metadata.namespace`, or `default` when the manifest omits it (what kubectl apply would do). */
  namespace: string
  namespaceDefaulted: boolean
  /** Null-prototype copy: keys are untrusted. */
  annotations: Record<string, string>
  /** Epoch ms; null when the manifest has no creationTimestamp (typical for files from git). */
  createdAt: number | null
  file: string
  /** Index of the object in its file (document index, or item index inside a `kind: List`). */
  index: number
  apiVersion: string
}

export interface AuthorizationPolicyObject extends ObjectMeta {
  kind: 'AuthorizationPolicy'
  spec: AuthorizationPolicySpec
  /** The raw spec as read (for the linter: nil rules, empty objects the schema normalises away). */
  raw: unknown
}

export interface PeerAuthenticationObject extends ObjectMeta {
  kind: 'PeerAuthentication'
  spec: PeerAuthenticationSpec
  raw: unknown
}

export interface RequestAuthenticationObject extends ObjectMeta {
  kind: 'RequestAuthentication'
  spec: RequestAuthenticationSpec
  raw: unknown
}

export interface DestinationRuleObject extends ObjectMeta {
  kind: 'DestinationRule'
  spec: z.infer<typeof destinationRuleSpecSchema>
  raw: unknown
}

export type PolicyObject = AuthorizationPolicyObject | PeerAuthenticationObject | RequestAuthenticationObject | DestinationRuleObject

/** A manifest problem that makes an object unusable (the API server would reject it). */
export interface LoadIssue {
  file: string
  index: number
  kind: string
  object: string
  /** Dotted field path inside the object, e.g. spec.rules[0].from[0].source.hosts. */
  field: string
  message: string
}

export interface PolicySet {
  authorizationPolicies: AuthorizationPolicyObject[]
  peerAuthentications: PeerAuthenticationObject[]
  requestAuthentications: RequestAuthenticationObject[]
  destinationRules: DestinationRuleObject[]
  issues: LoadIssue[]
  /** Documents that are not security objects (Services, Gateways, ...) and were skipped. */
  skipped: number
}

export function objectName(o: ObjectMeta & { kind: string }): string {
  return `${o.kind} ${o.namespace}/${o.name}`
}

/** Null-prototype copy of an untrusted string map (labels, annotations, headers, claims keys). */
export function safeRecord(input: Record<string, string> | null | undefined): Record<string, string> {
  const out = Object.create(null) as Record<string, string>
  if (input === null || input === undefined) return out
  for (const [k, v] of Object.entries(input)) out[k] = v
  return out
}
