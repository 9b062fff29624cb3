// An HTTP proxy in front of moto that holds every request for a fixed time before forwarding it, so
// each AWS call costs a network round trip as it does against AWS (tens of ms) instead of moto's
// local microseconds. With it, how long an apply takes depends on how many calls it makes one
// after another -- its dependency chains -- which is what the parallel walk is meant to shorten.
// It also counts the HTTP requests it forwards: SDK retries included, unlike the CLI's own count.
import http from 'node:http';

export async function startLatencyProxy(target, delayMs) {
  const t = new URL(target);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests++;
    const body = [];
    req.on('data', (c) => body.push(c));
    req.on('end', () =>
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
      }, delayMs),
    );
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${server.address().port}`,
    delayMs,
    requests: () => requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
        agent.destroy();
      }),
  };
}
