// Errors the engine raises on purpose. The CLI maps them to exit codes in one place.

/** A mistake in what the user asked for (bad flag, missing file, refused confirmation): exit 1, no stack trace. */
export class UserError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

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
