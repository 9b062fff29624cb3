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

/** A file system error in plain words ("permission denied"); `missing` says what ENOENT means where it happened. */
export function fileErrorWhy(e: unknown, missing: string): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' ? missing : code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
}
