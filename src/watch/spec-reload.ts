// The spec as watch sees it each cycle: read again from disk, so that an edited spec takes effect at
// the next cycle without a restart. A change, its warnings and a problem are logged once (not every
// cycle); an invalid spec on disk is reported and the last valid one is used until it is fixed.
import { parseDuration } from '../spec/common.js';
import { loadSpec } from '../spec/load.js';
import type { SpecOf } from '../spec/schema.js';
import type { LoadedSpec } from '../spec/types.js';
import type { Logger } from './logger.js';
import type { WatchMetrics } from './metrics.js';

export class SpecReloader {
  private lastGood?: LoadedSpec;
  private lastSpecProblem?: string;
  private lastWarnings?: string;

  constructor(
    private readonly opts: {
      specFile: string;
      params?: Record<string, string>;
      /** watch's interval: an alert rule asking to run more often is warned about. */
      intervalMs: number;
      logger: Logger;
      metrics: WatchMetrics;
    },
  ) {}

  /** The spec to use this cycle: the one on disk, else the last valid one (undefined: none yet). */
  load(): LoadedSpec | undefined {
    const log = this.opts.logger;
    const r = loadSpec(this.opts.specFile, { params: this.opts.params });
    if (r.ok) {
      this.opts.metrics.specValid.set(1);
      if (this.lastGood?.hash !== r.loaded.hash)
        log.info({ spec: this.opts.specFile, stack: r.loaded.spec.stack, resources: r.loaded.resources.length, hash: r.loaded.hash.slice(0, 12) }, this.lastGood ? 'the spec changed: using the new one' : 'spec loaded');
      const warnings = r.loaded.warnings.map((w) => `${w.file}:${w.line}:${w.col} ${w.message}`).join('\n');
      if (warnings && warnings !== this.lastWarnings) for (const w of r.loaded.warnings) log.warn({ file: w.file, line: w.line, col: w.col, hint: w.hint }, w.message);
      this.lastWarnings = warnings;
      if (this.lastGood?.hash !== r.loaded.hash)
        for (const a of r.loaded.resources.filter((x) => x.kind === 'alert-rule')) {
          const every = (a.body as SpecOf<'alert-rule'>).every;
          if (parseDuration(every) < this.opts.intervalMs)
            log.warn({ rule: a.name }, `alert rule ${a.name} asks to run every ${every}, but watch wakes every ${this.opts.intervalMs / 1000}s: lower --interval to evaluate it that often`);
        }
      this.lastSpecProblem = undefined;
      this.lastGood = r.loaded;
      return r.loaded;
    }
    this.opts.metrics.specValid.set(0);
    this.opts.metrics.specErrors.inc();
    const text = r.diagnostics.map((d) => `${d.file}:${d.line}:${d.col} ${d.severity} ${d.message}${d.hint ? ` (hint: ${d.hint})` : ''}`).join('\n');
    if (text !== this.lastSpecProblem) {
      for (const d of r.diagnostics.filter((x) => x.severity === 'error')) log.error({ file: d.file, line: d.line, col: d.col, hint: d.hint }, `spec: ${d.message}`);
      log.error(
        { spec: this.opts.specFile },
        this.lastGood ? 'the spec on disk is invalid: still using the last valid one (fix it; `reconcile validate` shows the same errors)' : 'the spec is invalid and there is no valid one to use yet',
      );
    }
    this.lastSpecProblem = text;
    return this.lastGood;
  }
}
