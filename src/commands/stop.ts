// How a command ends early: its --timeout, or Ctrl-C / SIGTERM. One AbortController per command (per
// cycle for `watch`); every Aws client of the command carries its signal (src/aws/clients.ts), so the
// calls in flight end at once and later ones are refused, each with the Stopped reason as its error.
import { UserError } from '../engine/errors.js';
import { parseDuration } from '../spec/common.js';

/** Why a command (or a watch cycle) stopped before it was done. */
export class Stopped extends UserError {
  constructor(
    message: string,
    hint: string | undefined,
    exitCode: number,
    readonly why: 'timeout' | 'signal',
  ) {
    super(message, hint, exitCode);
    this.name = 'Stopped';
  }
}

/** Exit code of a command ended by a signal: 128 + its number, as a shell reports it. */
export const signalExitCode = (sig: NodeJS.Signals): number => (sig === 'SIGINT' ? 130 : sig === 'SIGTERM' ? 143 : 1);

export function timedOut(what: string, timeout: string): Stopped {
  return new Stopped(
    `${what} did not finish within ${timeout} (--timeout ${timeout})`,
    'an AWS endpoint may not be answering: check the network, --endpoint-url / AWS_ENDPOINT_URL and --region; or allow more time with --timeout',
    1,
    'timeout',
  );
}

export interface Stopper {
  readonly signal: AbortSignal;
  /** Ends the command now: calls in flight fail with `reason`, later ones are refused. */
  stop(reason: Stopped): void;
  /** The Stopped reason when the command was stopped (whatever error the stopped step raised), else e. */
  reason(e: unknown): unknown;
  /** Clears the timer. After a stop, also makes sure the process exits soon (see below). */
  dispose(): void;
}

/**
 * A stopper with an optional --timeout (a duration such as "10m", checked by the flag's parser).
 * After a stop, the process exits one second after the command returned even if something (an SDK
 * retry's back-off timer, a socket to an endpoint that never answers) would keep it alive.
 */
export function commandStopper(what: string, timeout?: string): Stopper {
  const controller = new AbortController();
  const timer = timeout ? setTimeout(() => controller.abort(timedOut(what, timeout)), parseDuration(timeout)) : undefined;
  timer?.unref();
  return {
    signal: controller.signal,
    stop: (reason) => {
      if (!controller.signal.aborted) controller.abort(reason);
    },
    reason: (e) => (controller.signal.aborted ? controller.signal.reason : e),
    dispose: () => {
      clearTimeout(timer);
      if (controller.signal.aborted) setTimeout(() => process.exit(), 1_000).unref();
    },
  };
}
