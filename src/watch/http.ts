// The service endpoint: /healthz (the process is alive and its event loop turns), /readyz (the last
// cycle succeeded and is recent), /metrics (Prometheus text format).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface Health {
  ready: boolean;
  /** Why not ready (or a short status when ready), shown in the /readyz body. */
  reason: string;
  [k: string]: unknown;
}

export interface HttpEndpoint {
  port: number;
  host: string;
  close(): Promise<void>;
}

export async function startHttp(opts: { port: number; host: string; health: () => Health; registry: Pick<Registry, 'metrics' | 'contentType'> }): Promise<HttpEndpoint> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (code: number, type: string, body: string) => {
      res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'method not allowed\n');
    if (path === '/healthz') return send(200, 'text/plain', 'ok\n');
    if (path === '/readyz') {
      const h = opts.health();
      return send(h.ready ? 200 : 503, 'application/json', JSON.stringify(h) + '\n');
    }
    if (path === '/metrics') {
      opts.registry
        .metrics()
        .then((text) => send(200, opts.registry.contentType, text))
        .catch((e: unknown) => send(500, 'text/plain', `metrics failed: ${(e as Error)?.message}\n`));
      return;
    }
    send(404, 'text/plain', 'not found: try /healthz, /readyz or /metrics\n');
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    host: opts.host,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
