// The one place AWS clients are made: region, credentials (standard chain), endpoint, retries,
// timeouts and call counting. SDK modules are loaded lazily, so a command loads only the clients
// the spec needs (and `validate` loads none), and with require() (see ./sdk/load.ts).
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import type { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import type { SNSClient } from '@aws-sdk/client-sns';
import type { S3Client } from '@aws-sdk/client-s3';
import type { STSClient } from '@aws-sdk/client-sts';
import type { IAMClient } from '@aws-sdk/client-iam';
import type { ResourceGroupsTaggingAPIClient } from '@aws-sdk/client-resource-groups-tagging-api';
import { setMaxListeners } from 'node:events';
import { accountOfRole, roleCredentials } from './assume-role.js';
import { attachRateLimiter, budgetKey } from './limiter.js';
import { requireSdk } from './sdk/load.js';
import { SERVICES, type AwsService } from './sdk/services.js';

export interface AwsOptions {
  region: string;
  /** Named profile from ~/.aws (otherwise AWS_PROFILE / the default chain). */
  profile?: string;
  /** Overrides AWS_ENDPOINT_URL (e.g. a local moto server). */
  endpoint?: string;
  /** Attempts per call, the first included (SDK retries throttling, 5xx and timeouts with backoff). */
  maxAttempts?: number;
  /**
   * The account (or a stable name of the credentials) whose API rate budget the clients draw from:
   * clients of one process with the same budget and region share one set of token buckets
   * (src/aws/limiter.ts). Default: the profile, else the access key id, else "default".
   */
  budget?: string;
  /**
   * A role to assume for every call (a spec's roleArn; src/aws/assume-role.ts): its account is the
   * rate budget too. The role is assumed with the credentials the options name otherwise.
   */
  roleArn?: string;
  /** The STS session name (default reconcile). */
  roleSessionName?: string;
  /**
   * Aborted when the command must stop (its --timeout, Ctrl-C, SIGTERM): the calls in flight end at
   * once and later ones are refused, each with the signal's reason as the error.
   */
  signal?: AbortSignal;
  /** Time to open a connection, per attempt (default 5 s). */
  connectionTimeoutMs?: number;
  /** Time from sending a request to the start of its answer, per attempt (default 30 s). */
  requestTimeoutMs?: number;
}

/**
 * The HTTP handler of every client: a connection timeout and a request timeout that THROW (the
 * SDK's default for requestTimeout only logs a warning, so an endpoint that accepts and never
 * answers hangs the call forever). The timeout error is a TimeoutError / ETIMEDOUT, which the SDK's
 * retry strategy and isRetryable() treat as transient. The command's abort signal goes with every
 * request, so an abort also ends the SDK's retries.
 */
function makeRequestHandler(o: AwsOptions): unknown {
  const Handler = (handlerClass ??= signalledHandler());
  return new Handler({ connectionTimeout: o.connectionTimeoutMs ?? 5_000, requestTimeout: o.requestTimeoutMs ?? 30_000, throwOnRequestTimeout: true }, o.signal);
}

/** NodeHttpHandler that sends `signal` with every request that has none of its own (made once). */
function signalledHandler() {
  const { NodeHttpHandler } = requireSdk<typeof import('@smithy/node-http-handler')>('@smithy/node-http-handler');
  type Handle = InstanceType<typeof NodeHttpHandler>['handle'];
  return class extends NodeHttpHandler {
    constructor(
      options: ConstructorParameters<typeof NodeHttpHandler>[0],
      private readonly signal?: AbortSignal,
    ) {
      super(options);
    }
    override handle(request: Parameters<Handle>[0], options: NonNullable<Parameters<Handle>[1]> = {}) {
      return super.handle(request, this.signal && !options.abortSignal ? { ...options, abortSignal: this.signal } : options);
    }
  };
}
let handlerClass: ReturnType<typeof signalledHandler> | undefined;

export interface CallRecord {
  service: string;
  operation: string;
  outcome: 'ok' | 'error';
  /** AWS error name when outcome is error. */
  error?: string;
  ms: number;
}

/** Read or write, by the operation's verb: used for call budgets ("no-op apply makes zero writes"). */
export function isReadOperation(operation: string): boolean {
  return /^(Describe|Get|List|Head)/.test(operation.replace(/Command$/, ''));
}

/** The promise, or the signal's reason as soon as it is aborted. */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** Per-use choices of a client. */
export interface ClientOptions {
  /**
   * false: one attempt, no SDK retry. For creates that are not idempotent (CreateVpc, AllocateAddress,
   * CreateInternetGateway...): the SDK retries a call whose connection broke after AWS executed it, and
   * the retry makes a second resource. The engine instead looks for the resource by its tags before it
   * tries again (src/engine/apply.ts).
   */
  retries?: false;
}

interface ClientLike {
  middlewareStack: { add: (mw: any, opts: any) => void };
}

/**
 * Lazily built, cached SDK clients sharing one configuration and one call log.
 * Every AWS call of the tool goes through a client from here.
 */
export class Aws {
  readonly calls: CallRecord[] = [];
  private readonly cache = new Map<AwsService | `${AwsService}:once`, Promise<ClientLike>>();
  private listeners: ((c: CallRecord) => void)[] = [];
  private guards: ((service: string, operation: string) => void)[] = [];

  /** The rate budget (account or identity, and region) every client of this Aws draws from. */
  readonly budgetKey: string;

  constructor(readonly options: AwsOptions) {
    const identity = options.budget ?? accountOfRole(options.roleArn) ?? options.profile ?? process.env.AWS_PROFILE ?? process.env.AWS_ACCESS_KEY_ID ?? 'default';
    this.budgetKey = budgetKey(identity, options.region);
    // Every call in flight listens on the stop signal (twice: here and in the HTTP handler), dozens at
    // once in a plan: not the leak Node warns of past 10 listeners.
    if (options.signal) setMaxListeners(0, options.signal);
  }

  /** Subscribe to every finished call (metrics, logs). */
  onCall(fn: (c: CallRecord) => void): void {
    this.listeners.push(fn);
  }

  ec2 = (o?: ClientOptions) => this.get<EC2Client>('ec2', o);
  autoscaling = (o?: ClientOptions) => this.get<AutoScalingClient>('autoscaling', o);
  elbv2 = (o?: ClientOptions) => this.get<ElasticLoadBalancingV2Client>('elbv2', o);
  cloudwatch = (o?: ClientOptions) => this.get<CloudWatchClient>('cloudwatch', o);
  sns = (o?: ClientOptions) => this.get<SNSClient>('sns', o);
  // Path-style against a custom endpoint (moto, MinIO); virtual-hosted against AWS.
  s3 = (o?: ClientOptions) => this.get<S3Client>('s3', o, { forcePathStyle: !!this.endpoint() });
  sts = (o?: ClientOptions) => this.get<STSClient>('sts', o);
  /** IAM is global: its one endpoint serves every region. */
  iam = (o?: ClientOptions) => this.get<IAMClient>('iam', o);
  /** The Resource Groups Tagging API: the stack's resources of several services, with their tags, by tag. */
  tagging = (o?: ClientOptions) => this.get<ResourceGroupsTaggingAPIClient>('tagging', o);

  /**
   * Checked before every call; a guard that throws refuses the call before it reaches AWS (the stack
   * lock uses one to stop writes once its lease is lost). Returns a function that removes it.
   */
  addGuard(fn: (service: string, operation: string) => void): () => void {
    this.guards.push(fn);
    return () => {
      this.guards = this.guards.filter((g) => g !== fn);
    };
  }

  /** Calls made so far, split into reads and writes. */
  counts(): { reads: number; writes: number; byOperation: Record<string, number> } {
    const byOperation: Record<string, number> = {};
    let reads = 0;
    let writes = 0;
    for (const c of this.calls) {
      const key = `${c.service}:${c.operation}`;
      byOperation[key] = (byOperation[key] ?? 0) + 1;
      if (isReadOperation(c.operation)) reads++;
      else writes++;
    }
    return { reads, writes, byOperation };
  }

  destroy(): void {
    for (const p of this.cache.values()) p.then((c) => (c as unknown as { destroy(): void }).destroy()).catch(() => {});
    this.cache.clear();
  }

  private endpoint(): string | undefined {
    return this.options.endpoint ?? process.env.AWS_ENDPOINT_URL ?? undefined;
  }

  private config() {
    const endpoint = this.options.endpoint; // AWS_ENDPOINT_URL(_<SERVICE>) is honoured by the SDK itself
    return {
      region: this.options.region,
      ...(endpoint ? { endpoint } : {}),
      ...(this.options.profile ? { profile: this.options.profile } : {}),
      ...(this.options.roleArn ? { credentials: this.roleProvider() } : {}),
      // Adaptive: standard retries (throttling, 5xx, network errors) plus client-side rate limiting
      // once the account is being throttled.
      retryMode: 'adaptive',
      maxAttempts: this.options.maxAttempts ?? 5,
      requestHandler: makeRequestHandler(this.options) as InstanceType<typeof import('@smithy/node-http-handler').NodeHttpHandler>,
    };
  }

  /** The role's credentials, assumed by an Aws of the same options without the role; its calls are counted here. */
  private roleProvider() {
    const { roleArn, roleSessionName, ...own } = this.options;
    return roleCredentials(roleArn!, roleSessionName ?? 'reconcile', () => {
      const base = new Aws(own);
      for (const l of this.listeners) base.onCall(l);
      return base;
    });
  }

  /** The client of `service` (its SDK package and class: src/aws/sdk/services.ts), made on first use. */
  private get<T>(service: AwsService, o: ClientOptions | undefined, extra: Record<string, unknown> = {}): Promise<T> {
    const once = o?.retries === false;
    const key = once ? (`${service}:once` as const) : service;
    let p = this.cache.get(key);
    if (!p) {
      const { package: pkg, client: name } = SERVICES[service];
      const config = { ...this.config(), ...extra, ...(once ? { maxAttempts: 1 } : {}) };
      // Made at once (the SDK package is require()d now, not on a later tick: src/engine/plan.ts
      // times the observe of each service by when its package loads).
      p = (async () => {
        const c = new (requireSdk<Record<string, new (cfg: unknown) => ClientLike>>(pkg)[name])(config);
        c.middlewareStack.add(
          (next: (a: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
            const start = Date.now();
            const operation = (context.commandName ?? 'Unknown').replace(/Command$/, '');
            const signal = this.options.signal;
            signal?.throwIfAborted();
            for (const guard of this.guards) guard(service, operation);
            try {
              const out = await (signal ? untilAborted(next(args), signal) : next(args));
              this.record({ service, operation, outcome: 'ok', ms: Date.now() - start });
              return out;
            } catch (e) {
              this.record({ service, operation, outcome: 'error', error: (e as Error).name, ms: Date.now() - start });
              // The call that failed, for explainAwsError (S3 says only "Access Denied", nothing of what).
              const input = (args as { input?: { Bucket?: string; Key?: string } }).input;
              const resource = input?.Bucket ? `arn:aws:s3:::${input.Bucket}${input.Key ? `/${input.Key}` : ''}` : undefined;
              if (e && typeof e === 'object') Object.assign(e, { $call: { service, operation, ...(resource ? { resource } : {}) } });
              throw e;
            }
          },
          { step: 'initialize', name: 'reconcileCallCounter' },
        );
        // AWS's published token buckets, shared by every client of the same budget (src/aws/limiter.ts).
        attachRateLimiter(c, service, this.budgetKey);
        return c;
      })();
      this.cache.set(key, p);
    }
    return p as Promise<T>;
  }

  private record(c: CallRecord): void {
    this.calls.push(c);
    for (const l of this.listeners) l(c);
  }
}
