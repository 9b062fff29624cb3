// AWS errors: their code, what kind of failure they are (not found, a dependency, retryable), and
// in plain words: one line saying what happened, and a hint saying what to do. Every classification
// of an AWS error the tool makes lives here.
import { profileFiles, profileMissing, selectedProfile } from './profile.js';
import { SERVICES } from './sdk/services.js';

export interface Explained {
  message: string;
  hint?: string;
  /** True when retrying cannot help (permissions, validation). */
  terminal: boolean;
}

interface AwsLikeError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $fault?: string;
  Code?: string;
  Error?: { Code?: string };
  /** Set by src/aws/clients.ts on every error of a call: which call failed. */
  $call?: { service: string; operation: string; resource?: string };
  /** Node network errors. */
  hostname?: string;
  address?: string;
  port?: number;
  cause?: unknown;
}

const QUOTA_HINTS: Record<string, string> = {
  VpcLimitExceeded: 'AWS allows 5 VPCs per region by default: delete one or ask AWS Support for a higher quota.',
  AddressLimitExceeded: 'AWS allows 5 Elastic IPs per region by default: release one or ask AWS Support for a higher quota.',
  InstanceLimitExceeded: 'the account reached its instance quota in this region: ask AWS Support (Service Quotas) for more.',
  VcpuLimitExceeded: 'the account reached its vCPU quota for this instance family: request more in Service Quotas.',
  RulesPerSecurityGroupLimitExceeded: 'a security group holds at most 60 inbound and 60 outbound rules by default.',
  SecurityGroupLimitExceeded: 'AWS allows 2,500 security groups per region by default: delete unused ones or request more in Service Quotas.',
  InternetGatewayLimitExceeded: 'AWS allows 5 internet gateways per region by default (one per VPC): delete one or request more in Service Quotas.',
  NatGatewayLimitExceeded: 'AWS allows 5 NAT gateways per AZ by default.',
  RouteTableLimitExceeded: 'AWS allows 200 route tables per VPC by default.',
  SubnetLimitExceeded: 'AWS allows 200 subnets per VPC by default.',
  TooManyBuckets: 'the account reached its bucket quota (100 by default): delete unused buckets or request more in Service Quotas.',
  TooManyLoadBalancers: 'AWS allows 50 Application Load Balancers per region by default: request more in Service Quotas.',
  TooManyTargetGroups: 'AWS allows 3,000 target groups per region by default: request more in Service Quotas.',
  TopicLimitExceeded: 'AWS allows 100,000 SNS topics per account by default.',
};

/** The IAM service prefix of each client (the action is `<prefix>:<Operation>`, S3 reads aside). */
const IAM_PREFIX: Record<string, string> = Object.fromEntries(Object.entries(SERVICES).map(([s, v]) => [s, v.iam]));
/** S3 operations whose IAM action has another name. */
const S3_ACTIONS: Record<string, string> = {
  HeadObject: 's3:GetObject',
  HeadBucket: 's3:ListBucket',
  ListObjects: 's3:ListBucket',
  ListObjectsV2: 's3:ListBucket',
  ListObjectVersions: 's3:ListBucketVersions',
  ListBuckets: 's3:ListAllMyBuckets',
  DeleteObjects: 's3:DeleteObject',
  GetBucketLifecycleConfiguration: 's3:GetLifecycleConfiguration',
  PutBucketLifecycleConfiguration: 's3:PutLifecycleConfiguration',
  DeleteBucketLifecycle: 's3:PutLifecycleConfiguration',
  GetBucketEncryption: 's3:GetEncryptionConfiguration',
  PutBucketEncryption: 's3:PutEncryptionConfiguration',
  DeleteBucketEncryption: 's3:PutEncryptionConfiguration',
  GetPublicAccessBlock: 's3:GetBucketPublicAccessBlock',
  PutPublicAccessBlock: 's3:PutBucketPublicAccessBlock',
  DeletePublicAccessBlock: 's3:PutBucketPublicAccessBlock',
  DeleteBucketPolicy: 's3:DeleteBucketPolicy',
  DeleteBucketTagging: 's3:PutBucketTagging',
};

/** The IAM action of a call, e.g. ec2:CreateVpc. */
export function iamActionOf(call: { service: string; operation: string } | undefined): string | undefined {
  if (!call) return undefined;
  if (call.service === 's3' && S3_ACTIONS[call.operation]) return S3_ACTIONS[call.operation];
  const prefix = IAM_PREFIX[call.service];
  return prefix ? `${prefix}:${call.operation}` : undefined;
}

const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim();
/** AWS's message without the encoded authorization blob (decoded with sts:DecodeAuthorizationMessage). */
const withoutBlob = (s: string) => oneLine(s.replace(/\s*Encoded authorization failure message:\s*\S+/i, ''));
const clip = (s: string, n = 300) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/** An error code without the SDK's class suffix: ThrottledException -> Throttled. */
const base = (code: string) => code.replace(/(Exception|Fault)$/, '');
const THROTTLING_NAMES = new Set(['Throttling', 'Throttled', 'RequestLimitExceeded', 'RequestThrottled', 'TooManyRequests', 'SlowDown', 'EC2Throttled', 'ProvisionedThroughputExceeded']);
const DENIED = new Set(['AccessDenied', 'UnauthorizedOperation', 'AuthorizationError', 'UnauthorizedAccess', 'Forbidden']);
const EXPIRED = new Set(['ExpiredToken', 'TokenRefreshRequired']);
const REJECTED_CREDENTIALS = new Set(['InvalidClientTokenId', 'UnrecognizedClient', 'AuthFailure', 'InvalidAccessKeyId', 'InvalidToken', 'IncompleteSignature']);
const CLOCK = new Set(['RequestExpired', 'RequestTimeTooSkewed', 'RequestInTheFuture']);
const UNREACHABLE = new Set(['ECONNREFUSED', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ECONNABORTED']);
const UNRESOLVED = new Set(['ENOTFOUND', 'EAI_AGAIN']);
/** AWS's regions (commercial, China, GovCloud) as of 2026: one of these that does not resolve means no network, not a typo. */
const KNOWN_REGIONS = new Set(
  (
    'us-east-1 us-east-2 us-west-1 us-west-2 af-south-1 ap-east-1 ap-east-2 ap-south-1 ap-south-2 ap-southeast-1 ap-southeast-2 ' +
    'ap-southeast-3 ap-southeast-4 ap-southeast-5 ap-southeast-6 ap-southeast-7 ap-northeast-1 ap-northeast-2 ap-northeast-3 ' +
    'ca-central-1 ca-west-1 eu-central-1 eu-central-2 eu-west-1 eu-west-2 eu-west-3 eu-south-1 eu-south-2 eu-north-1 ' +
    'il-central-1 me-south-1 me-central-1 mx-central-1 sa-east-1 cn-north-1 cn-northwest-1 us-gov-east-1 us-gov-west-1'
  ).split(' '),
);
/** A hostname of an AWS regional endpoint: <service>.<region>.amazonaws.com. */
const AWS_HOST = /^(?:[a-z0-9-]+\.)*?([a-z]{2}(?:-gov|-iso[a-z]*)?-[a-z]+-\d+)\.amazonaws\.com(?:\.cn)?$/;

/**
 * The code of an error: the one AWS sent (Code), else the SDK's name for it, else a Node network
 * code (ECONNRESET) -- '' when it has none. The SDK may name the error after its modelled class
 * (AuthorizationError arrives as AuthorizationErrorException, LoadBalancerNotFound as
 * LoadBalancerNotFoundException), which Code does not.
 */
export function errorCode(err: unknown): string {
  const e = (err ?? {}) as AwsLikeError;
  return e.Code ?? e.Error?.Code ?? (e.name && e.name !== 'Error' ? e.name : (e.code ?? e.name ?? ''));
}

/** AWS refused the call for want of a permission (an IAM policy, or a KMS key policy: KMSAccessDenied). */
export const isAccessDenied = (e: unknown): boolean => {
  const key = base(errorCode(e));
  return DENIED.has(key) || key === 'KMSAccessDenied';
};

/** True when the error is one of `codes` (exact AWS error codes). */
export const isError = (e: unknown, ...codes: string[]): boolean => codes.includes(errorCode(e));

/**
 * "The thing is not there": InvalidVpcID.NotFound, InvalidGroup.NotFound, NatGatewayNotFound (EC2),
 * LoadBalancerNotFound, TargetGroupNotFound, ListenerNotFound (elbv2), NoSuchBucket / NoSuchKey /
 * NotFound (S3, HeadObject has no body), NotFound / ResourceNotFound (SNS, CloudWatch). Only for
 * per-item reads and deletes, where absent means absent.
 */
export function isNotFound(e: unknown): boolean {
  const c = errorCode(e);
  return /NotFound(Exception)?$/.test(c) || c === 'NoSuchBucket' || c === 'NoSuchKey' || (c === 'UnknownError' && (e as AwsLikeError).$metadata?.httpStatusCode === 404);
}

/** An S3 conditional write or delete found the condition false (412), or met a concurrent conditional write to the key (409). */
export function isConditionFailed(e: unknown): boolean {
  const status = (e as AwsLikeError)?.$metadata?.httpStatusCode;
  return ['PreconditionFailed', 'ConditionalRequestConflict'].includes(errorCode(e)) || status === 412 || status === 409;
}

/** An S3 object that is not there (its bucket is: a missing bucket is NoSuchBucket, not this). */
export function isMissingKey(e: unknown): boolean {
  return errorCode(e) === 'NoSuchKey' || ((e as AwsLikeError)?.$metadata?.httpStatusCode === 404 && errorCode(e) !== 'NoSuchBucket');
}

/**
 * An API the endpoint does not implement: moto answers such calls with an HTML 500 page (the SDK
 * cannot parse it) or a NotImplemented error. AWS answers a real 5xx with an XML error, so a real
 * outage is never taken for this.
 */
export function isNotImplemented(e: unknown): boolean {
  const err = e as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  if (err?.name === 'NotImplemented' || /not (been |yet )?implemented/i.test(err?.message ?? '')) return true;
  return err?.$metadata?.httpStatusCode === 500 && /Deserialization error|XML parse error/i.test(err?.message ?? '');
}

/** "Resource X has a dependent object / is in use": something that usually goes away by itself. */
export const isDependency = (e: unknown): boolean =>
  ['DependencyViolation', 'InvalidIPAddress.InUse', 'InvalidNetworkInterface.InUse'].includes(errorCode(e)) ||
  (errorCode(e) === 'AuthFailure' && /in use|associated/i.test((e as Error).message ?? ''));

/** Auto Scaling's "not found" (a group, a policy): a ValidationError that says so. */
export const isAsgNotFound = (e: unknown): boolean => errorCode(e) === 'ValidationError' && /not found/i.test((e as Error).message ?? '');

/** Auto Scaling busy with a group (a scaling activity in progress, the group in use): it passes. */
export const isAsgBusy = (e: unknown): boolean =>
  ['ScalingActivityInProgress', 'ScalingActivityInProgressFault', 'ResourceInUse', 'ResourceInUseFault'].includes(errorCode(e));

/** Runs a read; "not found" (or one of the `absent` codes) gives undefined. */
export async function readOrAbsent<T>(fn: () => Promise<T>, ...absent: string[]): Promise<T | undefined> {
  try {
    return await fn();
  } catch (e) {
    if (isNotFound(e) || isError(e, ...absent)) return undefined;
    throw e;
  }
}

/** Runs a delete; "not found" (or one of the `absent` codes) is what a delete wants. */
export async function ignoreNotFound(fn: () => Promise<unknown>, ...absent: string[]): Promise<void> {
  await readOrAbsent(fn, ...absent);
}

/** Turns any error from an AWS call (or from reaching AWS) into one line of plain words and a hint. */
export function explainAwsError(err: unknown): Explained {
  // The tool's own errors (UserError and its kin, e.g. a stopped command) already say it in words.
  if (err instanceof Error && typeof (err as { exitCode?: unknown }).exitCode === 'number')
    return { message: err.message, hint: (err as { hint?: string }).hint, terminal: true };
  const e = (err ?? {}) as AwsLikeError;
  const cause = (e.cause ?? {}) as AwsLikeError;
  // The code AWS sent: shown, and matched without the SDK's class suffix.
  const name = errorCode(e) || 'Error';
  const key = base(name);
  const msg = oneLine(e.message ?? String(err));
  const netCode = e.code ?? cause.code;
  const call = e.$call ?? cause.$call;
  const action = iamActionOf(call);
  const during = call ? ` (${action ?? `${call.service}:${call.operation}`})` : '';

  if (name === 'CredentialsProviderError' || name === 'TokenProviderError' || (/Could not load credentials|credential/i.test(msg) && /load|provider/i.test(msg))) {
    if (/expired|refresh/i.test(msg))
      return { message: `the AWS login has expired: ${clip(msg)}`, hint: 'log in again (e.g. `aws sso login --profile <name>`) and run again', terminal: true };
    const profile = selectedProfile();
    if (profile && profileMissing(profile))
      return {
        message: `the AWS profile "${profile}" is not found (in ${profileFiles().config} or ${profileFiles().credentials})`,
        hint: `check the name in AWS_PROFILE / --profile (\`aws configure list-profiles\` lists them), or create it: \`aws configure --profile ${profile}\``,
        terminal: true,
      };
    return {
      message: 'no AWS credentials found',
      hint: 'set AWS_PROFILE (or pass --profile), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run `aws sso login`',
      terminal: true,
    };
  }
  if (EXPIRED.has(key) || (key === 'InvalidToken' && /expired/i.test(msg)))
    return { message: `the AWS credentials have expired (${name})`, hint: 'refresh them (e.g. `aws sso login`, or new temporary keys) and run again', terminal: true };
  if (CLOCK.has(key))
    return { message: `the request's signing time is too far from AWS's clock (${name}): ${clip(msg)}`, hint: "the machine's clock is off: sync it (e.g. with NTP) and run again", terminal: true };
  if (REJECTED_CREDENTIALS.has(key) || key === 'SignatureDoesNotMatch')
    return { message: `AWS rejected the credentials (${name})`, hint: 'check the access key / profile and the region', terminal: true };
  if (DENIED.has(key) || (e.$metadata?.httpStatusCode === 403 && /denied|not authorized/i.test(msg))) {
    // "User: arn:... is not authorized to perform: ec2:CreateVpc on resource: arn:... because ..." --
    // the action and resource AWS names; else (S3's bare "Access Denied") the call that was made.
    const named = /authorized to perform:?\s*([A-Za-z0-9-]+:[A-Za-z0-9*]+)/.exec(msg)?.[1];
    const refused = named ? `${named.split(':')[0].toLowerCase()}:${named.split(':')[1]}` : action;
    const resource = /on resource:?\s*([^\s,;]+)/.exec(msg)?.[1]?.replace(/[.)]$/, '') ?? (named ? undefined : call?.resource);
    const who = /User:\s*(arn:\S+)/.exec(msg)?.[1];
    const explicit = /explicit deny/i.test(msg) ? ' (an explicit deny: a policy, permissions boundary or SCP forbids it)' : '';
    const encoded = /Encoded authorization failure message/i.test(msg) ? '; `aws sts decode-authorization-message` decodes the details AWS attached' : '';
    return {
      message: `AWS refused ${refused ?? 'the call'}${resource ? ` on ${resource}` : ''} (${name})${explicit}`,
      hint: `grant ${refused ?? 'the missing permission'}${resource ? ` on ${resource}` : ''} to ${who ?? 'the identity reconcile runs as'}; \`reconcile policy SPEC\` prints the policy this spec needs${encoded}`,
      terminal: true,
    };
  }
  if (QUOTA_HINTS[key] || (/LimitExceeded$|^TooMany/.test(key) && !/Request/.test(key) && !THROTTLING_NAMES.has(key)))
    return {
      message: `an AWS quota is used up${during}: ${name}: ${clip(withoutBlob(msg))}`,
      hint: QUOTA_HINTS[key] ?? 'see Service Quotas in the AWS console: free some up or request an increase',
      terminal: true,
    };
  if (THROTTLING_NAMES.has(key))
    return { message: `AWS is throttling ${action ?? 'requests'} (${name})`, hint: 'the account is busy; run again shortly, or lower --concurrency', terminal: false };
  if (UNRESOLVED.has(netCode ?? '')) {
    const host = e.hostname ?? cause.hostname ?? /ENOTFOUND\s+(\S+)/.exec(msg)?.[1];
    const region = host ? AWS_HOST.exec(host)?.[1] : undefined;
    if (region && KNOWN_REGIONS.has(region))
      return {
        message: `cannot reach AWS: ${host} does not resolve (${netCode}): is this machine offline, or its DNS not working?`,
        hint: 'check the network and DNS (and HTTPS_PROXY if you need a proxy); with --endpoint-url / AWS_ENDPOINT_URL, that it is right',
        terminal: false,
      };
    if (region)
      return {
        message: `there is no AWS endpoint ${host}: is "${region}" a real AWS region? (${netCode})`,
        hint: 'check --region and the spec\'s region: (e.g. us-east-1), and that this machine resolves DNS names',
        terminal: netCode === 'ENOTFOUND',
      };
    return { message: `cannot reach the AWS endpoint ${host ?? ''}: the name does not resolve (${netCode})`.replace('  ', ' '), hint: 'check --endpoint-url / AWS_ENDPOINT_URL and the network (DNS)', terminal: false };
  }
  if (UNREACHABLE.has(netCode ?? '') || name === 'TimeoutError' || /socket hang up/i.test(msg)) {
    const where = e.address ? `${e.address}${e.port ? `:${e.port}` : ''}` : (e.hostname ?? '');
    if (name === 'TimeoutError' && /requestTimeout/.test(msg))
      return { message: `the AWS endpoint did not answer in time (TimeoutError)${during}`, hint: 'check the network, --endpoint-url / AWS_ENDPOINT_URL, and --region; run again', terminal: false };
    return {
      message: `cannot reach the AWS endpoint${where ? ` ${where}` : ''} (${netCode ?? name})${during}`,
      hint: 'check the network, --endpoint-url / AWS_ENDPOINT_URL, and --region',
      terminal: false,
    };
  }
  if (/Region is missing|region.*(invalid|unknown|not supported|not valid)|(invalid|unknown) region/i.test(msg))
    return { message: `unknown or missing region: ${clip(msg)}`, hint: 'pass --region (e.g. us-east-1) or set region: in the spec', terminal: true };
  if (key === 'DependencyViolation')
    return { message: `AWS still sees something using this resource: ${clip(msg)}`, hint: 'delete what depends on it first, or run again once AWS has caught up', terminal: false };
  if (/^Invalid|Validation|Malformed|MissingParameter|^UnknownParameter|^Unsupported/.test(key))
    return { message: `AWS rejected a parameter${during} (${name}): ${clip(withoutBlob(msg))}`, hint: 'check the value in the spec', terminal: true };
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && status >= 500)
    return { message: `AWS had an internal error${during} (${name}, HTTP ${status}): ${clip(msg)}`, hint: 'a passing AWS fault: run again', terminal: false };
  return { message: `${name}${status ? ` (HTTP ${status})` : ''}: ${clip(msg)}`, terminal: status !== undefined && status < 500 };
}

const PRIOR = 'PriorRequestNotComplete';
const NETWORK = new Set(['ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH']);

/**
 * True when trying the same call again can succeed: throttling, a 5xx answer, a broken or timed-out
 * connection (the error itself or its cause). False for everything AWS refused on its merits
 * (permissions, validation, quotas, "already exists") and for the tool's own errors.
 */
export function isRetryable(err: unknown): boolean {
  for (let e = err as (AwsLikeError & { cause?: unknown; $retryable?: unknown }) | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if ([e.name, e.Code, e.Error?.Code].some((c) => c && (c === PRIOR || THROTTLING_NAMES.has(base(c))))) return true;
    const name = e.name ?? '';
    if (e.$retryable) return true;
    if (NETWORK.has(e.code ?? '') || name === 'TimeoutError' || name === 'RequestTimeout' || /socket hang up/i.test(e.message ?? '')) return true;
    const status = e.$metadata?.httpStatusCode;
    if (status !== undefined && status >= 500) return true;
    if (status !== undefined) return false;
  }
  return false;
}

/**
 * True when AWS could not be asked at all: no credentials, or the network / DNS failed. Every call of
 * the command then fails alike and the command reports it once, as its error: callers that would
 * warn about each failed call (one per instance) stay quiet.
 */
export function cannotAskAws(err: unknown): boolean {
  for (let e = err as AwsLikeError | undefined, depth = 0; e && typeof e === 'object' && depth < 5; e = e.cause as AwsLikeError | undefined, depth++) {
    if (e.name === 'CredentialsProviderError' || e.name === 'TokenProviderError') return true;
    if (UNRESOLVED.has(e.code ?? '') || UNREACHABLE.has(e.code ?? '')) return true;
  }
  return false;
}

/**
 * Error names AWS uses for throttling (the SDK's list, plus the S3, SNS and Auto Scaling spellings):
 * what makes the rate limiter (limiter.ts) slow down. Wider than THROTTLING_NAMES above, which says
 * what explainAwsError calls throttling: a LimitExceededException or a PriorRequestNotComplete is a
 * reason to send less, not always a throttle to report.
 */
const THROTTLING = new Set([
  'Throttling',
  'ThrottlingException',
  'Throttled',
  'ThrottledException',
  'RateExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'SlowDown',
  'EC2ThrottledException',
  'LimitExceededException',
  'PriorRequestNotComplete',
  'BandwidthLimitExceeded',
]);

/** True when AWS asks the caller to send less (the rate limiter halves its rate). */
export function isThrottlingError(e: unknown): boolean {
  const x = e as { name?: string; $metadata?: { httpStatusCode?: number }; $retryable?: { throttling?: boolean } };
  return !!x && (THROTTLING.has(x.name ?? '') || x.$metadata?.httpStatusCode === 429 || x.$retryable?.throttling === true);
}
