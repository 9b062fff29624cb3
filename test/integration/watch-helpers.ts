// Helpers of the watch / check tests: an SQS queue read over moto's query API (moto checks no
// signatures, and @aws-sdk/client-sqs is not a dependency), CPU datapoints, a Prometheus text
// parser, a TCP proxy the tests can take down and bring back, and log capture.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { CloudWatchClient, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';

const SQS_AUTH = 'AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=none';

const unescapeXml = (s: string) =>
  s
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&#x([0-9a-fA-F]+);/g, (_, h) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#(\d+);/g, (_, d) => String.fromCodePoint(Number(d)))
    .replace(/&amp;/g, '&');

/** What SNS puts in an SQS queue subscribed to a topic (the JSON envelope). */
export interface SnsEnvelope {
  Type: string;
  TopicArn: string;
  Subject?: string;
  Message: string;
  Timestamp: string;
}

export class SqsQueue {
  private constructor(
    private readonly endpoint: string,
    readonly url: string,
    readonly arn: string,
  ) {}

  private static async call(endpoint: string, params: Record<string, string>): Promise<string> {
    const r = await fetch(`${endpoint}/`, {
      method: 'POST',
      headers: { Authorization: SQS_AUTH, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...params, Version: '2012-11-05' }).toString(),
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`SQS ${params.Action} failed: ${r.status} ${text.slice(0, 500)}`);
    return text;
  }

  static async create(endpoint: string, name: string): Promise<SqsQueue> {
    const created = await SqsQueue.call(endpoint, { Action: 'CreateQueue', QueueName: name });
    const url = unescapeXml(/<QueueUrl>(.*?)<\/QueueUrl>/.exec(created)![1]);
    const attrs = await SqsQueue.call(endpoint, { Action: 'GetQueueAttributes', QueueUrl: url, 'AttributeName.1': 'QueueArn' });
    const arn = /<Value>(arn:aws:sqs:[^<]+)<\/Value>/.exec(attrs)![1];
    return new SqsQueue(endpoint, url, arn);
  }

  /** Every message waiting, oldest first; each is deleted once read. */
  async drain(): Promise<SnsEnvelope[]> {
    const out: SnsEnvelope[] = [];
    for (;;) {
      const xml = await SqsQueue.call(this.endpoint, { Action: 'ReceiveMessage', QueueUrl: this.url, MaxNumberOfMessages: '10', VisibilityTimeout: '60' });
      const messages = [...xml.matchAll(/<Message>([\s\S]*?)<\/Message>/g)].map((m) => m[1]);
      if (!messages.length) return out.sort((a, b) => a.Timestamp.localeCompare(b.Timestamp));
      for (const m of messages) {
        out.push(JSON.parse(unescapeXml(/<Body>([\s\S]*?)<\/Body>/.exec(m)![1])) as SnsEnvelope);
        const handle = unescapeXml(/<ReceiptHandle>([\s\S]*?)<\/ReceiptHandle>/.exec(m)![1]);
        await SqsQueue.call(this.endpoint, { Action: 'DeleteMessage', QueueUrl: this.url, ReceiptHandle: handle });
      }
    }
  }
}

export async function putMetric(endpoint: string, instanceId: string, value: number, at: Date, metric = 'CPUUtilization'): Promise<void> {
  const cw = new CloudWatchClient({ region: 'us-east-1', endpoint });
  try {
    await cw.send(new PutMetricDataCommand({ Namespace: 'AWS/EC2', MetricData: [{ MetricName: metric, Dimensions: [{ Name: 'InstanceId', Value: instanceId }], Timestamp: at, Value: value }] }));
  } finally {
    cw.destroy();
  }
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * Parses the Prometheus text exposition format (0.0.4). Throws on a line it cannot read, on a
 * sample whose family has no # TYPE, and on a family declared twice.
 */
export function parsePrometheus(text: string): { samples: Sample[]; types: Map<string, string>; get(name: string, labels?: Record<string, string>): number | undefined } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const t = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (t) {
      if (types.has(t[1])) throw new Error(`family ${t[1]} declared twice`);
      types.set(t[1], t[2]);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? ([-+]?(?:[0-9.eE+-]+|[Nn]a[Nn]|[Ii]nf))$/i.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    if (m[3]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/g;
      let consumed = 0;
      for (const l of m[3].matchAll(re)) {
        labels[l[1]] = l[2].replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
        consumed += l[0].length;
      }
      if (consumed !== m[3].length) throw new Error(`bad labels: ${line}`);
    }
    const family = m[1].replace(/_(bucket|sum|count)$/, '');
    if (!types.has(m[1]) && !types.has(family)) throw new Error(`sample without # TYPE: ${line}`);
    samples.push({ name: m[1], labels, value: /nan/i.test(m[4]) ? NaN : /inf/i.test(m[4]) ? (m[4].startsWith('-') ? -Infinity : Infinity) : Number(m[4]) });
  }
  return {
    samples,
    types,
    get: (name, want = {}) => samples.find((s) => s.name === name && Object.entries(want).every(([k, v]) => s.labels[k] === v))?.value,
  };
}

/** A TCP proxy to `target` that can be stopped (connections refused, open ones cut) and started again on its port. */
export class TcpProxy {
  private server?: Server;
  private sockets = new Set<Socket>();
  port = 0;
  constructor(private readonly targetPort: number) {}

  async start(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.targetPort, '127.0.0.1');
      this.sockets.add(client).add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    for (const sock of this.sockets) sock.destroy();
    this.sockets.clear();
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }
}

/** A writable that keeps pino's JSON lines. */
export class LogCapture extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  _write(chunk: Buffer, _enc: string, cb: () => void): void {
    for (const l of String(chunk).split('\n')) if (l.trim()) this.lines.push(JSON.parse(l) as Record<string, unknown>);
    cb();
  }
  messages(level?: number): string[] {
    return this.lines.filter((l) => level === undefined || l.level === level).map((l) => String(l.msg));
  }
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
