// Errors the engine raises on purpose. The CLI maps them to exit codes in one place.

import { UserError } from '../errors.js';

/** A mistake in what the user asked for: src/errors.ts (the lock and src/aws raise it too). */
export { UserError };

/** A safety rule blocked the plan (protect, --max-deletes): exit 3. */
export class SafetyError extends UserError {
  constructor(message: string, hint?: string) {
    super(message, hint, 3);
    this.name = 'SafetyError';
  }
}

export interface ApplyFailure {
  address: string;
  message: string;
  hint?: string;
}

/** Apply stopped part-way: says what failed, why, and what was already done. */
export class ApplyError extends Error {
  constructor(
    readonly failed: ApplyFailure[],
    readonly done: string[],
    readonly skipped: string[],
    /** Changes never started because the run was stopped (ctx.stop). */
    readonly notStarted: string[] = [],
  ) {
    super(`apply failed: ${failed.map((f) => `${f.address}: ${f.message}`).join('; ')}`);
    this.name = 'ApplyError';
  }
}
