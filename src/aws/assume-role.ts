// The credentials of a spec's `roleArn`: STS AssumeRole, made with the caller's own credentials (the
// standard chain, --profile), with the session name `reconcile-<stack>` so CloudTrail says which tool
// and which stack acted. One process serves stacks in many accounts this way (watch DIR) from one
// identity. The credentials are cached per role and session for the whole process (every cycle of
// watch makes new clients; it does not assume the role again) and renewed REFRESH_BEFORE_MS before
// they expire; concurrent callers share one AssumeRole call.
import { UserError } from '../errors.js';
import type { Aws, AwsOptions } from './clients.js';
import { explainAwsError } from './errors.js';

export interface RoleCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
}

/** Renew this long before expiry (the SDK itself asks again 5 minutes before). */
export const REFRESH_BEFORE_MS = 10 * 60_000;
/** What is asked for: an hour (a role's default maximum session). */
export const SESSION_SECONDS = 3600;

/** The 12-digit account of a role ARN (its rate budget), or undefined. */
export function accountOfRole(roleArn: string | undefined): string | undefined {
  return roleArn ? /^arn:[^:]+:iam::(\d{12}):/.exec(roleArn)?.[1] : undefined;
}

/** `reconcile-<stack>`, within STS's 64 characters and [\w+=,.@-]. */
export function sessionNameFor(stack: string): string {
  return `reconcile-${stack}`.replace(/[^\w+=,.@-]/g, '-').slice(0, 64);
}

/** The Aws options that make every call of a stack in its spec's role (none when it names no role). */
export function roleOptions(spec: { stack: string; roleArn?: string }): Pick<AwsOptions, 'roleArn' | 'roleSessionName'> {
  return spec.roleArn ? { roleArn: spec.roleArn, roleSessionName: sessionNameFor(spec.stack) } : {};
}

const cache = new Map<string, { creds?: RoleCredentials; pending?: Promise<RoleCredentials> }>();

/** Forgets every cached credential (tests). */
export function clearRoleCredentials(): void {
  cache.clear();
}

/**
 * A credentials provider for the SDK: the role's cached credentials, assumed through `base` (an Aws
 * without a role: the caller's identity) when there are none or they expire within REFRESH_BEFORE_MS.
 * A refusal (AccessDenied: the role's trust policy) is a UserError naming the role and the stack.
 */
export function roleCredentials(roleArn: string, sessionName: string, base: () => Aws, now: () => number = Date.now): () => Promise<RoleCredentials> {
  const key = `${roleArn}\0${sessionName}`;
  return async () => {
    const entry = cache.get(key) ?? {};
    if (entry.creds && entry.creds.expiration.getTime() - now() > REFRESH_BEFORE_MS) return entry.creds;
    if (entry.pending) return entry.pending;
    const pending = (async () => {
      const aws = base();
      try {
        // Loaded here, not at the top: clients.ts imports this module, and every command would load
        // the STS SDK before its first call (about 35 ms) whether or not its spec names a role.
        const { AssumeRoleCommand } = await import('./sdk/sts.js');
        const sts = await aws.sts();
        const r = await sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: sessionName, DurationSeconds: SESSION_SECONDS }));
        const c = r.Credentials;
        if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken) throw new Error(`STS AssumeRole of ${roleArn} answered without credentials`);
        return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken, expiration: c.Expiration ?? new Date(now() + SESSION_SECONDS * 1000) };
      } catch (e) {
        const x = explainAwsError(e);
        if (!x.terminal) throw e; // throttling, 5xx, network: the caller's retries apply
        throw new UserError(
          `cannot assume role ${roleArn} (session ${sessionName}): ${x.message}`,
          `the role's trust policy must let the identity reconcile runs as call sts:AssumeRole on it${x.hint ? `; ${x.hint}` : ''}`,
        );
      } finally {
        aws.destroy();
      }
    })();
    cache.set(key, { creds: entry.creds, pending });
    try {
      const creds = await pending;
      cache.set(key, { creds });
      return creds;
    } catch (e) {
      cache.set(key, { creds: entry.creds });
      throw e;
    }
  };
}
