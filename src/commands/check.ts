// `reconcile check SPEC`: evaluate every alert rule once, notify what is due (as watch would) and
// exit 0 when all targets are OK, 2 when any is in ALARM, 1 on an error -- for cron or CI. The
// state is kept as watch keeps it, so a check every 5 minutes from cron announces an ALARM once.
import { colors } from '../engine/render.js';
import { UserError } from '../engine/errors.js';
import { AlertEvaluator, type RuleReport, type TargetReport } from '../watch/evaluate.js';
import { AlertStepError } from '../watch/step-error.js';
import { breachSummary, type MissingData } from '../watch/alerts.js';
import { formatNumber } from '../watch/notifier.js';
import { loadOrThrow, makeCtx, type GlobalOptions, type Io } from './common.js';

export interface CheckOptions {
  /** false with --no-notify: evaluate, publish nothing, keep no state. */
  notify?: boolean;
  json?: boolean;
  stateFile?: string;
}

function targetLine(r: RuleReport, t: TargetReport, body: { metric: string; statistic: string; comparison: string; threshold: number; missingData: MissingData }, c: ReturnType<typeof colors>): string {
  const state = t.state === 'ALARM' ? c.red(t.state) : t.state === 'OK' ? c.green(t.state) : c.yellow(t.state);
  const who = t.name ? `${t.id} (${t.name})` : t.id;
  const e = t.evaluation;
  let line = `  ${who}  ${state}  ${body.metric} ${body.statistic} ${formatNumber(e.value)}, alarm when ${body.comparison} ${formatNumber(body.threshold)} [${breachSummary(e, body.missingData)}]`;
  const n = t.notification;
  if (n?.sent) line += `  -> notified (${n.kind}) ${n.topicArn}`;
  else if (n?.error) line += `\n    ${c.red(`notification failed (${n.kind}): ${n.error}`)}${n.hint ? `\n    hint: ${n.hint}` : ''}`;
  else if (n?.suppressed === 'no-notify') line += `  (${n.kind} not sent: --no-notify)`;
  else if (n?.suppressed === 'no-topic') line += `  (${n.kind}: the rule has no notify topic)`;
  return line;
}

export async function checkCommand(file: string, opts: CheckOptions, g: GlobalOptions, io: Io): Promise<number> {
  const loaded = loadOrThrow(file, g);
  const rules = loaded.resources.filter((r) => r.kind === 'alert-rule');
  if (!rules.length) {
    io.err(`${file} has no alert-rule: nothing to check`);
    return 0;
  }
  const ctx = makeCtx(loaded, g, () => {});
  const notify = opts.notify !== false;
  try {
    const run = await new AlertEvaluator({ stateFile: opts.stateFile })
      .run(loaded, ctx.aws, { now: Date.now(), force: true, notify, persist: notify })
      .catch((e: unknown) => {
        throw e instanceof AlertStepError ? new UserError(e.message, e.hint) : e;
      });
    const alarms = run.rules.flatMap((r) => r.targets).filter((t) => t.state === 'ALARM').length;
    const failedNotifications = run.rules.flatMap((r) => [...r.targets, ...r.gone]).filter((t) => t.notification?.error).length;
    const empty = run.rules.filter((r) => r.evaluated && !r.targets.length);
    const errors = run.rules.filter((r) => r.error);
    const code = errors.length || failedNotifications || empty.length ? 1 : alarms ? 2 : 0;
    if (opts.json) {
      io.out(JSON.stringify({ formatVersion: 1, stack: loaded.spec.stack, exitCode: code, rules: run.rules }, null, 2));
      return code;
    }
    const c = colors(io.color);
    for (const r of run.rules) {
      const body = rules.find((x) => x.name === r.rule)!.body as { metric: string; statistic: string; comparison: string; threshold: number; missingData: MissingData };
      io.out(`${c.bold(r.rule)}: ${r.selection}${r.store ? c.dim(`  (state: ${r.store})`) : ''}`);
      for (const t of r.targets) io.out(targetLine(r, t, body, c));
      for (const gn of r.gone)
        io.out(`  ${gn.id}  ${c.dim('no longer matches')}${gn.notification?.sent ? `  -> notified (GONE) ${gn.notification.topicArn}` : gn.notification?.error ? `\n    ${c.red(`notification failed: ${gn.notification.error}`)}` : ''}`);
      if (r.evaluated && !r.targets.length)
        io.err(`error: alert rule ${r.rule} matched no instance (${r.selection}, in state pending/running/stopping/stopped)\n  hint: check the tag values in the spec against the instance's tags, and that the instance exists in ${ctx.region}`);
      if (r.error) io.err(`error: ${r.error.message}${r.error.hint ? `\n  hint: ${r.error.hint}` : ''}`);
    }
    const total = run.rules.reduce((n, r) => n + r.targets.length, 0);
    io.out(`\n${alarms ? c.red(`${alarms} of ${total} target(s) in ALARM`) : `${total} target(s), none in ALARM`}${failedNotifications ? c.red(`; ${failedNotifications} notification(s) failed`) : ''}.`);
    return code;
  } finally {
    ctx.aws.destroy();
  }
}
