// What the cycles that finished say about the loop: /readyz (the last cycle succeeded, and recently;
// a cycle that hangs is named until its --timeout ends it) and when the next cycle runs (the
// interval with jitter after a success or a failure only a person can fix, an exponential backoff
// up to a cap after a transient failure).
import type { Health } from './http.js';
import type { WatchMetrics } from './metrics.js';

export interface ReadinessOptions {
  mode: 'apply' | 'detect';
  specFile: string;
  intervalMs: number;
  /** Fraction of the interval added or removed at random (default 0.1). */
  jitter?: number;
  /** First retry delay after a transient failure (default min(5 s, interval)). */
  retryBaseMs?: number;
  /** Longest retry delay (default 5 min). */
  retryCapMs?: number;
  /** A successful cycle older than this makes /readyz fail (default 2 x interval + 60 s). */
  readyStaleMs?: number;
  /** --timeout, named in /readyz while a cycle runs. */
  timeout?: string;
  metrics: WatchMetrics;
}

/** A finished cycle, as far as readiness and scheduling go. */
export interface CycleOutcome {
  ok: boolean;
  errors: { message: string; terminal: boolean }[];
}

export class Readiness {
  private lastCycle?: { ok: boolean; at: number; errors: CycleOutcome['errors'] };
  private lastSuccessAt?: number;
  private startedAt?: number;
  /** Cycles failed in a row. */
  failures = 0;

  constructor(private readonly opts: ReadinessOptions) {}

  /** A cycle began at `at` (it is named in /readyz while it runs). */
  started(at: number): void {
    this.startedAt = at;
  }

  /** The running cycle ended, counted or not (a cycle without a result). */
  ended(): void {
    this.startedAt = undefined;
  }

  /** A cycle finished at `end`. */
  finished(r: CycleOutcome, end: number): void {
    this.lastCycle = { ok: r.ok, at: end, errors: r.errors };
    if (r.ok) {
      this.failures = 0;
      this.lastSuccessAt = end;
      this.opts.metrics.lastSuccess.set(end / 1000);
    } else this.failures++;
  }

  /** What /readyz says. */
  health(): Health {
    const staleMs = this.opts.readyStaleMs ?? 2 * this.opts.intervalMs + 60_000;
    const c = this.lastCycle;
    let ready = false;
    let reason: string;
    // A cycle that hangs (an endpoint that never answers) is said, until its --timeout ends it.
    const running = this.startedAt !== undefined ? `; the current cycle has been running for ${Math.round((Date.now() - this.startedAt) / 1000)}s${this.opts.timeout ? ` (--timeout ${this.opts.timeout})` : ''}` : '';
    if (!c) reason = `starting: no cycle has finished yet${running}`;
    else if (!c.ok) reason = `the last cycle failed: ${c.errors.map((e) => e.message).join('; ')}${running}`;
    else if (Date.now() - (this.lastSuccessAt ?? 0) > staleMs) reason = `the last successful cycle ended ${Math.round((Date.now() - this.lastSuccessAt!) / 1000)}s ago${running}`;
    else {
      ready = true;
      reason = 'ok';
    }
    this.opts.metrics.ready.set(ready ? 1 : 0);
    return {
      ready,
      reason,
      mode: this.opts.mode,
      spec: this.opts.specFile,
      lastCycleAt: c ? new Date(c.at).toISOString() : null,
      lastSuccessAt: this.lastSuccessAt ? new Date(this.lastSuccessAt).toISOString() : null,
      consecutiveFailures: this.failures,
    };
  }

  /** The delay before the next cycle: the interval (with jitter), or a backoff after a transient failure. */
  nextDelay(r: Pick<CycleOutcome, 'ok' | 'errors'>): number {
    const interval = this.opts.intervalMs;
    const j = this.opts.jitter ?? 0.1;
    const withJitter = (ms: number) => Math.max(0, Math.round(ms * (1 - j + Math.random() * 2 * j)));
    if (r.ok || r.errors.every((e) => e.terminal)) return withJitter(interval);
    const base = this.opts.retryBaseMs ?? Math.min(5_000, interval);
    const cap = this.opts.retryCapMs ?? 300_000;
    return withJitter(Math.min(cap, base * 2 ** Math.min(30, this.failures - 1)));
  }
}
