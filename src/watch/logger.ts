// Logs: pino JSON lines (one object per line, for Loki / CloudWatch Logs / journald), or readable
// lines through pino-pretty when they go to a terminal.
import { pino, type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level?: string;
  /** 'json' (default off a TTY) or 'pretty' (default on a TTY). */
  format?: 'json' | 'pretty';
  /** Where JSON lines go (default stdout); tests pass a stream to read them back. */
  destination?: NodeJS.WritableStream;
  color?: boolean;
}

export function makeLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? process.env.LOG_LEVEL ?? 'info';
  const pretty = opts.format ? opts.format === 'pretty' : !opts.destination && !!process.stdout.isTTY;
  if (pretty) {
    return pino({
      level,
      transport: { target: 'pino-pretty', options: { colorize: opts.color ?? !process.env.NO_COLOR, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname' } },
    });
  }
  return pino({ level, base: { service: 'reconcile' }, timestamp: pino.stdTimeFunctions.isoTime }, (opts.destination ?? pino.destination({ sync: true })) as never);
}
