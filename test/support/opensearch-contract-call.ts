/** One raw HTTP request, as the contract tests send it to both the test server and the real node. */
export type Json = Record<string, any>

export interface Answer {
  status: number
  body: Json
}

/** A string or Buffer body is NDJSON (bulk, msearch); anything else is sent as JSON. */
export async function call(base: string, method: string, path: string, body?: unknown): Promise<Answer> {
  const raw = typeof body === 'string' || Buffer.isBuffer(body)
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': raw ? 'application/x-ndjson' : 'application/json' },
    ...(body === undefined ? {} : { body: raw ? (body as string | Buffer) : JSON.stringify(body) }),
  })
  const text = await res.text()
  return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Json) }
}
