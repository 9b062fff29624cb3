// The error of an alert evaluation step that failed as a whole (listing the targets, reading the
// metrics, finding the account): its message names the AWS call, its hint the permission to grant.
import { explainAwsError } from '../aws/errors.js';

/** A step of the evaluation failed as a whole; the message names the AWS call. */
export class AlertStepError extends Error {
  constructor(
    message: string,
    readonly hint: string | undefined,
    readonly terminal: boolean,
    readonly cause: unknown,
  ) {
    super(message);
    this.name = 'AlertStepError';
  }
}

/** `what` failed calling `permission`: said as a refusal to grant when AWS refused, else as the AWS error. */
export function stepError(what: string, permission: string, e: unknown): AlertStepError {
  const x = explainAwsError(e);
  const denied = /refused/.test(x.message) || /AccessDenied|Unauthorized/.test((e as Error)?.name ?? '');
  const message = denied ? `${what}: AWS refused ${permission} (${(e as Error)?.name})` : `${what}: ${x.message}`;
  const hint = denied ? `grant ${permission} to the identity reconcile runs as` : x.hint;
  return new AlertStepError(message, hint, x.terminal, e);
}
