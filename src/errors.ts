// Errors the user can act on, raised anywhere (engine, lock, AWS set-up): the CLI maps them to an
// exit code and one line with a hint, never a stack trace. No imports: every layer may use it.

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
