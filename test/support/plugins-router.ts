/**
 * One URL in front of the two test doubles, as a real cluster is one URL: the plugin APIs the doubles
 * model (Alerting, Security Analytics, `_cat/plugins`, Dashboards saved objects) go to the plugins
 * double, everything else to the OpenSearch test server.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'

const PLUGIN_PATHS = ['/_plugins/_alerting', '/_plugins/_security_analytics', '/_cat/plugins', '/api/saved_objects']

export function pluginsRouter(opensearchUrl: string, pluginsUrl: string): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const target = new URL(PLUGIN_PATHS.some((p) => req.url!.startsWith(p)) ? pluginsUrl : opensearchUrl)
    const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers)
      r.pipe(res)
    })
    up.on('error', () => res.destroy())
    req.pipe(up)
  })
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        close: () =>
          new Promise((r) => {
            server.closeAllConnections()
            server.close(() => r())
          }),
      }),
    ),
  )
}
