// An HTTP proxy in front of moto that holds every request for a fixed time before forwarding it, so
// each AWS call costs a network round trip as it does against AWS (tens of ms) instead of moto's
// local microseconds. With it, how long an apply takes depends on how many calls it makes one
// after another -- its dependency chains -- which is what the parallel walk is meant to shorten.
// It also counts the HTTP requests it forwards: SDK retries included, unlike the CLI's own count; by
// operation too (takeOperations()), so two tools' calls are counted the same way (bench/terraform.mjs).
import http from 'node:http';

/**
 * The operation of a request, as `service:Action` where the request says it: the JSON protocols'
 * X-Amz-Target, the query protocols' Action= (EC2, IAM, ELB, Auto Scaling, SNS, ...), and for S3
 * (REST) `s3:<METHOD> <bucket sub-resource>` (e.g. `s3:GET ?versioning`, `s3:PUT object`).
 */
export function operationOf(req, body) {
  const scope = /Credential=[^/]+\/[^/]+\/[^/]+\/([^/]+)\//.exec(String(req.headers.authorization ?? ''))?.[1] ?? '?';
  const target = req.headers['x-amz-target'];
  if (target) return `${scope}:${String(target).split('.').pop()}`;
  const action = /(?:^|&)Action=([^&]+)/.exec(body.toString('latin1'))?.[1] ?? /[?&]Action=([^&]+)/.exec(req.url ?? '')?.[1];
  if (action) return `${scope}:${action}`;
  const u = new URL(req.url ?? '/', 'http://x');
  const sub = [...u.searchParams.keys()].filter((k) => k !== 'x-id')[0];
  const isObject = u.pathname.split('/').filter(Boolean).length > 1;
  return `${scope}:${req.method} ${sub ? `?${sub}` : isObject ? 'object' : 'bucket'}`;
}

export async function startLatencyProxy(target, delayMs) {
  const t = new URL(target);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  let requests = 0;
  let ops = new Map();
  const server = http.createServer((req, res) => {
    requests++;
    const body = [];
    req.on('data', (c) => body.push(c));
    req.on('end', () => {
      const op = operationOf(req, Buffer.concat(body));
      ops.set(op, (ops.get(op) ?? 0) + 1);
      setTimeout(() => {
        const up = http.request(
          { host: t.hostname, port: t.port, method: req.method, path: req.url, headers: { ...req.headers, host: t.host }, agent },
          (r) => {
            res.writeHead(r.statusCode ?? 502, r.headers);
            r.pipe(res);
          },
        );
        up.on('error', (e) => {
          res.writeHead(502, { 'content-type': 'text/plain' });
          res.end(`latency proxy: ${e.message}`);
        });
        up.end(Buffer.concat(body));
      }, delayMs);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${server.address().port}`,
    delayMs,
    requests: () => requests,
    /** Requests by operation since the last call (and starts counting again). */
    takeOperations: () => {
      const out = Object.fromEntries([...ops].sort(([a], [b]) => a.localeCompare(b)));
      ops = new Map();
      return out;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
        agent.destroy();
      }),
  };
}
