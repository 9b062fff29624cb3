// A fault-injecting HTTP proxy for tests, between the AWS SDK and moto. It listens on a free
// loopback port and forwards every request to moto, except when its seeded PRNG picks a fault:
//
//   throttle     the service's own throttling error, in its own error shape (EC2 XML
//                RequestLimitExceeded, Query-protocol Throttling, CloudWatch JSON Throttling with the
//                x-amzn-query-error header, S3 SlowDown 503). Not forwarded: moto never sees it.
//   error500     500 InternalError (not forwarded).       error503  503 ServiceUnavailable (not forwarded).
//   executed500  forwarded, moto executes it, then 500 InternalError is answered instead of moto's reply.
//   latency      forwarded after a delay (up to maxLatencyMs).
//   cut          the worst case: forwarded, moto executes it and answers, and the client's connection is
//                destroyed before a byte of the answer is sent. The SDK sees a broken socket and retries.
//   drop         the connection is destroyed before the request is forwarded.
//
// Faults are bounded (maxFaults in total, maxInARow for one operation), so a caller that retries
// sensibly always gets through. `inject` answers matching requests with any AWS error body: that is
// how tests get real SDK error objects for errors moto never produces (VpcLimitExceeded, ExpiredToken).
import { createServer, request as httpRequest, Agent, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Service = 'ec2' | 'autoscaling' | 'elasticloadbalancing' | 'sns' | 'sts' | 'iam' | 'monitoring' | 's3' | 'tagging' | 'unknown';
export type FaultKind = 'throttle' | 'error500' | 'error503' | 'executed500' | 'latency' | 'cut' | 'drop';

export interface RequestInfo {
  service: Service;
  /** AWS operation name: CreateVpc, PutMetricAlarm, PutObject... */
  operation: string;
  method: string;
  path: string;
}

export interface FaultPlan {
  seed: number;
  /** Probability (0..1) that a request that passes `filter` gets a fault. */
  rate: number;
  /** Relative weights of the fault kinds to draw from. */
  kinds: Partial<Record<FaultKind, number>>;
  /** At most this many faults in total (then everything is forwarded untouched). */
  maxFaults: number;
  /** At most this many faults in a row on one operation of one service. Default 2. */
  maxInARow?: number;
  /** Longest added latency. Default 200 ms. */
  maxLatencyMs?: number;
  /** Only requests for which this is true can get a fault. Default: all. */
  filter?: (r: RequestInfo) => boolean;
}

export interface AwsErrorSpec {
  code: string;
  message: string;
  /** HTTP status; by default 400 (503 for EC2 RequestLimitExceeded and S3 SlowDown). */
  status?: number;
}

export interface Injection {
  match: (r: RequestInfo) => boolean;
  /** How many matching requests to answer (default: every one). */
  times?: number;
  /** Answer with this AWS error (not forwarded)... */
  error?: AwsErrorSpec;
  /** ...or forward it, let moto execute it, and cut the connection before the answer... */
  cut?: true;
  /**
   * ...or ask this, with the request's body, for an AWS error to answer instead of forwarding
   * (undefined: the request goes on as usual and does not count toward `times`). How a test makes
   * moto keep a rule of AWS that it lacks (e.g. no DeleteSecurityGroup while another group's rule names it).
   */
  refuse?: (body: string) => Promise<AwsErrorSpec | undefined>;
}

export interface LogEntry extends RequestInfo {
  /** When the request arrived (Date.now()). */
  at: number;
  fault?: FaultKind | 'injected';
  /** What the client was sent (undefined for a cut or drop). */
  status?: number;
}

export interface FaultProxy {
  endpoint: string;
  port: number;
  /** Every request seen, in arrival order, with the fault it got. */
  log: LogEntry[];
  faults(): Record<FaultKind, number>;
  /** Replaces the fault plan (undefined: forward everything). Resets the fault budget. */
  setFaults(plan: FaultPlan | undefined): void;
  inject(i: Injection): void;
  clearInjections(): void;
  /** Resolves once every request received so far has been answered (or cut): moto is done with them. */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

/** mulberry32: a small, seedable PRNG (same seed, same sequence). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The service a signed request is for: the credential scope of SigV4, else the target / path. */
export function serviceOf(headers: IncomingMessage['headers'], path: string): Service {
  const auth = String(headers.authorization ?? '');
  const scope = /Credential=[^/]+\/\d{8}\/[^/]+\/([^/]+)\/aws4_request/.exec(auth)?.[1];
  const known: Service[] = ['ec2', 'autoscaling', 'elasticloadbalancing', 'sns', 'sts', 'iam', 'monitoring', 's3', 'tagging'];
  if (scope && (known as string[]).includes(scope)) return scope as Service;
  const target = String(headers['x-amz-target'] ?? '');
  if (target.startsWith('GraniteServiceVersion')) return 'monitoring';
  const host = String(headers.host ?? '');
  for (const s of known) if (host.startsWith(`${s}.`)) return s;
  if (path.startsWith('/moto-api')) return 'unknown';
  return 'unknown';
}

const S3_SUBRESOURCES = ['tagging', 'versioning', 'encryption', 'policy', 'lifecycle', 'publicAccessBlock', 'ownershipControls', 'acl', 'versions', 'delete', 'location'];
const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** The operation of a request: Action= of a Query body, X-Amz-Target, or (S3) x-id / method and path. */
export function operationOf(service: Service, method: string, path: string, headers: IncomingMessage['headers'], body: string): string {
  const target = String(headers['x-amz-target'] ?? '');
  if (target) return target.split('.').pop()!;
  const url = new URL(path, 'http://x');
  if (service === 's3') {
    const xid = url.searchParams.get('x-id');
    if (xid) return xid;
    const parts = url.pathname.split('/').filter(Boolean);
    if (!parts.length) return method === 'GET' ? 'ListBuckets' : `${cap(method.toLowerCase())}Service`;
    const sub = S3_SUBRESOURCES.find((s) => url.searchParams.has(s));
    const what = parts.length > 1 ? 'Object' : 'Bucket';
    if (what === 'Bucket' && method === 'PUT' && !sub) return 'CreateBucket';
    if (what === 'Bucket' && method === 'GET' && !sub) return 'ListObjects';
    if (sub === 'versions') return 'ListObjectVersions';
    if (sub === 'delete') return 'DeleteObjects';
    const verb = { PUT: 'Put', GET: 'Get', HEAD: 'Head', DELETE: 'Delete', POST: 'Post' }[method] ?? method;
    return `${verb}${what}${sub ? cap(sub) : ''}`;
  }
  const action = new URLSearchParams(body).get('Action') ?? url.searchParams.get('Action');
  return action ?? `${method} ${url.pathname}`;
}

const xmlEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** An AWS error answer exactly as the service would send it: status, headers and body. */
export function awsErrorResponse(service: Service, e: AwsErrorSpec): { status: number; headers: Record<string, string>; body: string } {
  const rid = `fault-${Math.random().toString(16).slice(2, 10)}`;
  const msg = xmlEscape(e.message);
  if (service === 'ec2') {
    const status = e.status ?? (e.code === 'RequestLimitExceeded' ? 503 : 400);
    return {
      status,
      headers: { 'content-type': 'text/xml;charset=UTF-8' },
      body: `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${e.code}</Code><Message>${msg}</Message></Error></Errors><RequestID>${rid}</RequestID></Response>`,
    };
  }
  if (service === 's3') {
    const status = e.status ?? (e.code === 'SlowDown' ? 503 : 400);
    return {
      status,
      headers: { 'content-type': 'application/xml', 'x-amz-request-id': rid },
      body: `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${e.code}</Code><Message>${msg}</Message><RequestId>${rid}</RequestId><HostId>${rid}</HostId></Error>`,
    };
  }
  const status = e.status ?? 400;
  const type = status >= 500 ? 'Receiver' : 'Sender';
  if (service === 'monitoring') {
    // CloudWatch speaks JSON 1.0 and is "query compatible": the query error code rides in a header.
    return {
      status,
      headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-query-error': `${e.code};${type}`, 'x-amzn-requestid': rid },
      body: JSON.stringify({ __type: e.code, message: e.message }),
    };
  }
  if (service === 'tagging') {
    // The Resource Groups Tagging API speaks JSON 1.1.
    return { status, headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': rid }, body: JSON.stringify({ __type: e.code, Message: e.message }) };
  }
  // Query protocol: autoscaling, elasticloadbalancing, sns, sts, iam.
  return {
    status,
    headers: { 'content-type': 'text/xml', 'x-amzn-requestid': rid },
    body: `<ErrorResponse xmlns="https://${service}.amazonaws.com/doc/"><Error><Type>${type}</Type><Code>${e.code}</Code><Message>${msg}</Message></Error><RequestId>${rid}</RequestId></ErrorResponse>`,
  };
}

/** The service's own throttling error. */
export function throttlingError(service: Service): AwsErrorSpec {
  if (service === 'ec2') return { code: 'RequestLimitExceeded', message: 'Request limit exceeded.', status: 503 };
  if (service === 's3') return { code: 'SlowDown', message: 'Please reduce your request rate.', status: 503 };
  if (service === 'sns') return { code: 'Throttled', message: 'Rate exceeded', status: 400 };
  if (service === 'tagging') return { code: 'ThrottledException', message: 'Rate exceeded', status: 400 };
  return { code: 'Throttling', message: 'Rate exceeded', status: 400 };
}

const internalError = (service: Service): AwsErrorSpec =>
  service === 'ec2' || service === 's3'
    ? { code: 'InternalError', message: 'We encountered an internal error. Please try again.', status: 500 }
    : { code: 'InternalFailure', message: 'The request processing has failed because of an unknown error.', status: 500 };
const unavailable = (service: Service): AwsErrorSpec =>
  service === 'ec2'
    ? { code: 'Unavailable', message: 'The server is overloaded and cannot handle the request.', status: 503 }
    : { code: 'ServiceUnavailable', message: 'Service is unavailable. Please try again.', status: 503 };

const ALL_KINDS: FaultKind[] = ['throttle', 'error500', 'error503', 'executed500', 'latency', 'cut', 'drop'];

export async function startFaultProxy(target: string, initial?: FaultPlan): Promise<FaultProxy> {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });
  const log: LogEntry[] = [];
  let plan = initial;
  let random = prng(plan?.seed ?? 0);
  let counts = Object.fromEntries(ALL_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
  let inARow = new Map<string, number>();
  let injections: (Injection & { left: number })[] = [];
  const sockets = new Set<Socket>();
  let inFlight = 0;
  let waiters: (() => void)[] = [];
  const settle = () => {
    if (--inFlight === 0) for (const w of waiters.splice(0)) w();
  };

  const total = () => Object.values(counts).reduce((a, b) => a + b, 0);

  function pick(info: RequestInfo): { kind: FaultKind; delayMs: number } | undefined {
    if (!plan || info.service === 'unknown') return undefined;
    if (plan.filter && !plan.filter(info)) return undefined;
    const key = `${info.service}:${info.operation}`;
    // Draw every time, so the sequence depends only on the seed and the order of requests.
    const roll = random();
    const which = random();
    const delay = random();
    if (roll >= plan.rate || total() >= plan.maxFaults || (inARow.get(key) ?? 0) >= (plan.maxInARow ?? 2)) {
      inARow.set(key, 0);
      return undefined;
    }
    const weights = ALL_KINDS.map((k) => Math.max(0, plan!.kinds[k] ?? 0));
    const sum = weights.reduce((a, b) => a + b, 0);
    if (sum <= 0) return undefined;
    let x = which * sum;
    let kind: FaultKind = ALL_KINDS[ALL_KINDS.length - 1];
    for (let i = 0; i < ALL_KINDS.length; i++) {
      if (x < weights[i]) {
        kind = ALL_KINDS[i];
        break;
      }
      x -= weights[i];
    }
    counts[kind]++;
    // Latency alone leaves the request intact: it does not count toward faults in a row.
    inARow.set(key, kind === 'latency' ? 0 : (inARow.get(key) ?? 0) + 1);
    return { kind, delayMs: Math.round(delay * (plan.maxLatencyMs ?? 200)) };
  }

  function forward(req: IncomingMessage, body: Buffer): Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const up = httpRequest(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host }, agent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }));
          res.on('error', reject);
        },
      );
      up.on('error', reject);
      up.end(body);
    });
  }

  function send(res: ServerResponse, status: number, headers: Record<string, string | string[] | undefined>, body: Buffer | string): void {
    const h: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(headers)) {
      if (v === undefined || ['transfer-encoding', 'connection', 'keep-alive', 'content-length'].includes(k.toLowerCase())) continue;
      h[k] = v;
    }
    const b = typeof body === 'string' ? Buffer.from(body) : body;
    h['content-length'] = String(b.length);
    res.writeHead(status, h);
    res.end(b);
  }

  const server = createServer(async (req, res) => {
    inFlight++;
    try {
      await handle(req, res);
    } catch {
      // The client went away before its request was complete: nothing was forwarded.
      req.socket.destroy();
    } finally {
      settle();
    }
  });
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const path = req.url ?? '/';
    const service = serviceOf(req.headers, path);
    const info: LogEntry = { at: Date.now(), service, operation: operationOf(service, req.method ?? 'GET', path, req.headers, body.toString('utf8')), method: req.method ?? 'GET', path };
    log.push(info);
    try {
      let inj = injections.find((i) => i.left > 0 && i.match(info));
      const refusal = inj?.refuse ? await inj.refuse(body.toString('utf8')) : undefined;
      if (inj?.refuse && !refusal) inj = undefined;
      if (inj) {
        inj.left--;
        info.fault = 'injected';
        if (inj.cut) {
          await forward(req, body);
          req.socket.destroy();
          return;
        }
        const r = awsErrorResponse(service, refusal ?? inj.error ?? { code: 'InternalError', message: 'injected', status: 500 });
        info.status = r.status;
        return send(res, r.status, r.headers, r.body);
      }
      const picked = pick(info);
      const kind = picked?.kind;
      info.fault = kind;
      const answer = (e: AwsErrorSpec) => {
        const r = awsErrorResponse(service, e);
        info.status = r.status;
        send(res, r.status, r.headers, r.body);
      };
      switch (kind) {
        case 'throttle':
          return answer(throttlingError(service));
        case 'error500':
          return answer(internalError(service));
        case 'error503':
          return answer(unavailable(service));
        case 'drop':
          req.socket.destroy();
          return;
        case 'latency':
          await new Promise((r) => setTimeout(r, picked!.delayMs));
          break;
        default:
          break;
      }
      const up = await forward(req, body);
      if (kind === 'cut') {
        // moto has executed it; the client never hears so.
        req.socket.destroy();
        return;
      }
      if (kind === 'executed500') return answer(internalError(service));
      info.status = up.status;
      send(res, up.status, up.headers, up.body);
    } catch (e) {
      info.status = 502;
      if (!res.headersSent) send(res, 502, { 'content-type': 'text/plain' }, `fault proxy: moto did not answer: ${(e as Error).message}`);
      else req.socket.destroy();
    }
  }
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    log,
    faults: () => ({ ...counts }),
    setFaults(p) {
      plan = p;
      random = prng(p?.seed ?? 0);
      counts = Object.fromEntries(ALL_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
      inARow = new Map();
    },
    inject(i) {
      injections.push({ ...i, left: i.times ?? Number.POSITIVE_INFINITY });
    },
    clearInjections() {
      injections = [];
    },
    idle: () => (inFlight === 0 ? Promise.resolve() : new Promise<void>((r) => waiters.push(r))),
    async stop() {
      for (const s of sockets) s.destroy();
      agent.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** True for operations that change something (the ones where a cut connection can double a create). */
export const isWrite = (r: RequestInfo): boolean => !/^(Describe|Get|List|Head)/.test(r.operation);
