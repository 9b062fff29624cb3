// AWS errors in plain words: one line saying what happened, and a hint saying what to do.

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
}

const QUOTA_HINTS: Record<string, string> = {
  VpcLimitExceeded: 'AWS allows 5 VPCs per region by default: delete one or ask AWS Support for a higher quota.',
  AddressLimitExceeded: 'AWS allows 5 Elastic IPs per region by default: release one or ask AWS Support for a higher quota.',
  InstanceLimitExceeded: 'the account reached its instance quota in this region: ask AWS Support (Service Quotas) for more.',
  VcpuLimitExceeded: 'the account reached its vCPU quota for this instance family: request more in Service Quotas.',
  RulesPerSecurityGroupLimitExceeded: 'a security group holds at most 60 inbound and 60 outbound rules by default.',
  NatGatewayLimitExceeded: 'AWS allows 5 NAT gateways per AZ by default.',
  TooManyBuckets: 'the account reached its bucket quota (100 by default).',
};

/** Turns any error from an AWS call (or from reaching AWS) into a plain message and a hint. */
export function explainAwsError(err: unknown): Explained {
  const e = (err ?? {}) as AwsLikeError & { cause?: { code?: string } };
  const name = e.name ?? e.Code ?? e.code ?? 'Error';
  const msg = (e.message ?? String(err)).trim();
  const netCode = (e as { code?: string }).code ?? e.cause?.code;

  if (name === 'CredentialsProviderError' || /Could not load credentials|credential/i.test(msg) && /load|provider/i.test(msg))
    return {
      message: 'no AWS credentials found',
      hint: 'set AWS_PROFILE (or pass --profile), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run `aws sso login`',
      terminal: true,
    };
  if (name === 'ExpiredToken' || name === 'ExpiredTokenException' || name === 'RequestExpired')
    return { message: 'the AWS credentials have expired', hint: 'refresh them (e.g. `aws sso login`) and run again', terminal: true };
  if (name === 'InvalidClientTokenId' || name === 'UnrecognizedClientException' || name === 'AuthFailure' || name === 'SignatureDoesNotMatch')
    return { message: `AWS rejected the credentials (${name})`, hint: 'check the access key / profile and the region', terminal: true };
  if (name === 'AccessDenied' || name === 'AccessDeniedException' || name === 'UnauthorizedOperation' || name === 'AuthorizationError') {
    const action = /(?:perform|authorized to perform):?\s*([a-z0-9-]+:[A-Za-z0-9]+)/.exec(msg)?.[1];
    const resource = /on resource:?\s*(\S+)/.exec(msg)?.[1];
    return {
      message: `AWS refused ${action ?? 'the call'}${resource ? ` on ${resource}` : ''} (${name})`,
      hint: `grant ${action ?? 'the missing permission'} to the caller; \`reconcile policy SPEC\` prints the policy this spec needs`,
      terminal: true,
    };
  }
  if (QUOTA_HINTS[name]) return { message: `${name}: ${msg}`, hint: QUOTA_HINTS[name], terminal: true };
  if (/LimitExceeded$/.test(name) && !/Request/.test(name)) return { message: `${name}: ${msg}`, hint: 'an AWS quota was reached: see Service Quotas', terminal: true };
  if (['Throttling', 'ThrottlingException', 'RequestLimitExceeded', 'TooManyRequestsException', 'SlowDown'].includes(name))
    return { message: `AWS is throttling requests (${name})`, hint: 'the account is busy; run again shortly, or lower concurrency', terminal: false };
  if (netCode === 'ECONNREFUSED' || netCode === 'ENOTFOUND' || netCode === 'ETIMEDOUT' || netCode === 'ECONNRESET' || name === 'TimeoutError')
    return {
      message: `cannot reach the AWS endpoint (${netCode ?? name})`,
      hint: 'check the network, --endpoint-url / AWS_ENDPOINT_URL, and --region',
      terminal: false,
    };
  if (/Region|region/.test(msg) && /(invalid|unknown|not supported|Region is missing)/i.test(msg))
    return { message: `unknown or missing region: ${msg}`, hint: 'pass --region (e.g. us-east-1) or set region: in the spec', terminal: true };
  if (name === 'DependencyViolation')
    return { message: `AWS still sees something using this resource: ${msg}`, hint: 'delete what depends on it first, or run again once AWS has caught up', terminal: false };
  if (/^Invalid|Validation|Malformed|MissingParameter/.test(name))
    return { message: `AWS rejected a parameter (${name}): ${msg}`, hint: 'check the value in the spec', terminal: true };
  const status = e.$metadata?.httpStatusCode;
  return { message: `${name}${status ? ` (HTTP ${status})` : ''}: ${msg}`, terminal: status !== undefined && status < 500 };
}

const THROTTLING = new Set([
  'Throttling',
  'ThrottlingException',
  'Throttled',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'SlowDown',
  'PriorRequestNotComplete',
]);
const NETWORK = new Set(['ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH']);

/**
 * True when trying the same call again can succeed: throttling, a 5xx answer, a broken or timed-out
 * connection (the error itself or its cause). False for everything AWS refused on its merits
 * (permissions, validation, quotas, "already exists") and for the tool's own errors.
 */
export function isRetryable(err: unknown): boolean {
  for (let e = err as (AwsLikeError & { cause?: unknown; $retryable?: unknown }) | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    const name = e.name ?? e.Code ?? '';
    if (THROTTLING.has(name) || THROTTLING.has(e.Code ?? '')) return true;
    if (e.$retryable) return true;
    if (NETWORK.has(e.code ?? '') || name === 'TimeoutError' || name === 'RequestTimeout' || /socket hang up/i.test(e.message ?? '')) return true;
    const status = e.$metadata?.httpStatusCode;
    if (status !== undefined && status >= 500) return true;
    if (status !== undefined) return false;
  }
  return false;
}
