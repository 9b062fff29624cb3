// deploy/prometheus-rules.yml through Prometheus's own tool: `promtool test rules` runs the unit tests
// of deploy/prometheus-rules.test.yml (the first failed notification alerts, the controller down or
// absent alerts). promtool is Debian's package `prometheus` (.ci/run installs it when apt can).
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { WatchMetrics } from '../../src/watch/metrics.js';

const promtool = spawnSync('promtool', ['--version']).status === 0;

describe('the failure count of an alert rule', () => {
  it('is exported at 0 from the rule\'s first evaluation, before any failure', async () => {
    const m = new WatchMetrics({ defaultMetrics: false });
    m.ruleEvaluated('high-cpu');
    const text = await m.registry.metrics();
    expect(text).toContain('reconcile_notification_failures_total{rule="high-cpu",reason=""} 0');
    expect(text).toContain('reconcile_alert_evaluations_total{rule="high-cpu"} 1');
  });
});

describe.runIf(promtool)('deploy/prometheus-rules.yml (promtool)', () => {
  it('passes promtool check rules and promtool test rules', () => {
    const check = spawnSync('promtool', ['check', 'rules', 'deploy/prometheus-rules.yml'], { encoding: 'utf8' });
    expect(check.status, check.stdout + check.stderr).toBe(0);
    const test = spawnSync('promtool', ['test', 'rules', 'deploy/prometheus-rules.test.yml'], { encoding: 'utf8' });
    expect(test.status, test.stdout + test.stderr).toBe(0);
  });
});
