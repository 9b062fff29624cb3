// The watch part of the benchmark: alert evaluation over many instances, and watch's memory over
// many cycles.
// - Creates `instances` instances in moto (RunInstances, 250 a call, tagged bench=alert-<n>) and puts
//   one CPUUtilization datapoint for each (PutMetricData, 20 a call; half above the threshold).
// - Evaluation: `reconcile check SPEC --no-notify --json` on a spec whose one alert rule targets
//   those instances by tag, `repeat` times: wall time, GetMetricData and DescribeInstances calls,
//   and a check of the answer (every instance evaluated, the right ones in ALARM).
// - Memory: `reconcile watch` (detect mode, 1 s interval) on examples/clock-app-ha.yaml applied,
//   plus the same alert rule evaluated every cycle, for `cycles` cycles: RSS read from
//   /proc/<pid>/status after each cycle.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { startLatencyProxy } from './latency-proxy.mjs';

const THRESHOLD = 50;
/** Datapoints per PutMetricData: AWS takes 1,000, moto fails a call of 500 with a bare 500 (20 works). */
const PUT_BATCH = 20;

function alertRule(n) {
  return {
    kind: 'alert-rule',
    description: `CPU of the ${n} benchmark instances`,
    every: '1s',
    targets: { tags: { bench: `alert-${n}` } },
    namespace: 'AWS/EC2',
    metric: 'CPUUtilization',
    statistic: 'Average',
    // An hour: the rule reads complete periods that end a minute before the current one
    // (src/watch/metrics-query.ts), so the one datapoint below stays in its last period for the
    // whole run (a 5-minute period would leave it behind within three minutes).
    period: '1h',
    comparison: '>',
    threshold: THRESHOLD,
  };
}

async function makeInstances(moto, root, n, log) {
  const require = createRequire(join(root, 'package.json'));
  const { EC2Client, DescribeImagesCommand, RunInstancesCommand } = require('@aws-sdk/client-ec2');
  const { CloudWatchClient, PutMetricDataCommand } = require('@aws-sdk/client-cloudwatch');
  const cfg = { region: 'us-east-1', endpoint: moto.endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };
  const ec2 = new EC2Client(cfg);
  const cw = new CloudWatchClient(cfg);
  try {
    const images = await ec2.send(new DescribeImagesCommand({ Owners: ['amazon'], Filters: [{ Name: 'name', Values: ['al2023-ami-2023.*-x86_64'] }] }));
    const ami = images.Images?.[0]?.ImageId;
    if (!ami) throw new Error('moto has no al2023 AMI to launch the benchmark instances from');
    const ids = [];
    for (let left = n; left > 0; left -= 250) {
      const count = Math.min(250, left);
      const r = await ec2.send(
        new RunInstancesCommand({
          ImageId: ami,
          InstanceType: 't3.micro',
          MinCount: count,
          MaxCount: count,
          TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'bench', Value: `alert-${n}` }] }],
        }),
      );
      ids.push(...r.Instances.map((i) => i.InstanceId));
    }
    // One datapoint each, 150 s ago (before the end of the rule's range, inside its last period);
    // every other one above.
    const at = new Date(Date.now() - 150_000);
    const hot = new Set(ids.filter((_, i) => i % 2 === 0));
    for (let i = 0; i < ids.length; i += PUT_BATCH)
      await cw.send(
        new PutMetricDataCommand({
          Namespace: 'AWS/EC2',
          MetricData: ids.slice(i, i + PUT_BATCH).map((id) => ({
            MetricName: 'CPUUtilization',
            Dimensions: [{ Name: 'InstanceId', Value: id }],
            Timestamp: at,
            Value: hot.has(id) ? 80 : 20,
            Unit: 'Percent',
          })),
        }),
      );
    log(`watch: ${ids.length} instances running, ${hot.size} of them with CPU above ${THRESHOLD}`);
    return { ids, hot };
  } finally {
    ec2.destroy();
    cw.destroy();
  }
}

function rssOf(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)?.[1]);
    return { rssKb: kb('VmRSS'), hwmKb: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

/**
 * `reconcile watch` for `cycles` cycles; RSS after each. Its AWS calls are counted by a proxy in front
 * of moto (0 ms added): watch builds its own clients, so RECONCILE_CALL_LOG does not see them.
 */
async function watchMemory({ moto, root, tmp, cycles, file, log, nodeOptions }) {
  const proxy = await startLatencyProxy(moto.endpoint, 0);
  try {
    return await watchMemoryVia(proxy, { moto, root, tmp, cycles, file, log, nodeOptions });
  } finally {
    await proxy.close();
  }
}

async function watchMemoryVia(proxy, { moto, root, tmp, cycles, file, log, nodeOptions }) {
  const child = spawn(process.execPath, [...(nodeOptions ? nodeOptions.split(' ') : []), join(root, 'dist', 'cli.js'), 'watch', file, '--interval', '1s', '--mode', 'detect', '--no-notify', '--no-lock', '--port', '0', '--host', '127.0.0.1', '--log-format', 'json', '--state-file', join(tmp, 'alerts.json')], {
    env: { ...process.env, ...moto.env, AWS_ENDPOINT_URL: proxy.endpoint },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const samples = [];
  let requestsAtFirst = 0;
  let buf = '';
  let errors = 0;
  let tail = '';
  const done = new Promise((resolve) => child.on('close', resolve));
  const onData = (d) => {
    tail = (tail + d).slice(-4000);
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      let rec;
      try {
        rec = JSON.parse(line);
      } catch {
        continue;
      }
      if (rec.msg === 'cycle done' || /^cycle failed/.test(rec.msg ?? '')) {
        if (rec.msg !== 'cycle done') errors++;
        const m = rssOf(child.pid);
        if (m) samples.push({ cycle: samples.length + 1, ...m, t: performance.now() });
        if (samples.length === 1) requestsAtFirst = proxy.requests();
        if (samples.length % 10 === 0) log(`  watch cycle ${samples.length}/${cycles}: RSS ${(m.rssKb / 1024).toFixed(0)} MB`);
        if (samples.length >= cycles) child.kill('SIGTERM');
      }
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  let timer;
  const code = await Promise.race([done, new Promise((r) => (timer = setTimeout(() => r('timeout'), cycles * 30_000)))]);
  clearTimeout(timer); // else `npm run bench` lingers until it fires, long after RESULTS.md is written
  if (code === 'timeout') {
    child.kill('SIGKILL');
    throw new Error(`watch did not finish ${cycles} cycles in time (${samples.length} done)\n${tail}`);
  }
  if (samples.length < cycles) throw new Error(`watch exited (${code}) after ${samples.length} of ${cycles} cycles\n${tail}`);
  const requestsPerCycle = (proxy.requests() - requestsAtFirst) / (samples.length - 1);
  const at = (n) => samples[Math.min(n, samples.length) - 1].rssKb / 1024;
  return {
    cycles: samples.length,
    failedCycles: errors,
    exitCode: code,
    rssMb: { first: at(1), tenth: at(10), last: at(samples.length) },
    peakRssMb: Math.max(...samples.map((s) => s.hwmKb)) / 1024,
    /** The most RSS after any cycle from the 10th on: what watch holds once started. */
    heldMb: Math.max(...samples.slice(9).map((s) => s.rssKb)) / 1024,
    growthMb: at(samples.length) - at(10),
    secondsPerCycle: (samples[samples.length - 1].t - samples[0].t) / 1000 / (samples.length - 1),
    requestsPerCycle,
    nodeOptions,
  };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

export async function watchBench({ moto, root, tmp, instances, cycles, repeat, log, cli, tuned = true }) {
  if (!existsSync(join(root, 'dist', 'src', 'commands', 'check.js')) || !existsSync(join(root, 'dist', 'src', 'watch', 'evaluate.js')))
    return { gap: 'the alert evaluator (src/watch/evaluate.ts, `reconcile check`) is not built: nothing to measure' };
  const { hot } = await makeInstances(moto, root, instances, log);

  // 1. One alert evaluation, as `reconcile check` runs it.
  const spec = join(tmp, 'alert.yaml');
  writeFileSync(spec, stringify({ apiVersion: 'reconcile/v1', stack: 'bench-watch', region: 'us-east-1', resources: { 'cpu-high': alertRule(instances) } }));
  const runs = [];
  for (let i = 0; i < repeat; i++) {
    const r = await cli(['check', spec, '--no-notify', '--json'], moto.env, { expect: [2] });
    const out = JSON.parse(r.stdout);
    const targets = out.rules[0].targets;
    const alarms = targets.filter((t) => t.state === 'ALARM');
    if (targets.length !== instances || alarms.length !== hot.size || !alarms.every((t) => hot.has(t.id)))
      throw new Error(`check evaluated ${targets.length} targets, ${alarms.length} in ALARM; expected ${instances} and ${hot.size}`);
    runs.push(r);
  }
  const ops = runs[runs.length - 1].calls.byOperation;
  const getMetricData = ops['cloudwatch:GetMetricData'] ?? 0;
  const describePages = ops['ec2:DescribeInstances'] ?? 0;
  const total = Object.values(ops).reduce((a, b) => a + b, 0);
  const evaluation = {
    instances,
    runs: runs.length,
    wallMedianMs: median(runs.map((r) => r.wallMs)),
    wallRange: [Math.min(...runs.map((r) => r.wallMs)), Math.max(...runs.map((r) => r.wallMs))],
    rssMb: Math.max(...runs.map((r) => r.rssKb ?? 0)) / 1024,
    getMetricData,
    describePages,
    otherCalls: total - getMetricData - describePages,
    byOperation: ops,
    loads: runs.map((r) => r.load),
  };
  log(`watch: check over ${instances} instances: ${Math.round(evaluation.wallMedianMs)} ms median, ${getMetricData} GetMetricData, ${describePages} DescribeInstances`);

  // 2. watch over `cycles` cycles: clock-app-ha (a plan every cycle) and the rule evaluated every cycle.
  const memory = [];
  let memoryGap;
  const example = parse(readFileSync(join(root, 'examples', 'clock-app-ha.yaml'), 'utf8'));
  example.resources['cpu-high'] = alertRule(instances);
  cpSync(join(root, 'examples', 'files'), join(tmp, 'watch', 'files'), { recursive: true });
  const wfile = join(tmp, 'watch', 'watch.yaml');
  writeFileSync(wfile, stringify(example, { lineWidth: 0 }));
  await cli(['apply', wfile, '--yes'], moto.env);
  try {
    // As shipped, then with V8's heap held small (2 MB semi-spaces instead of 16, old generation capped
    // at 96 MB): what of watch's RSS is heap V8 keeps rather than memory it needs.
    for (const nodeOptions of tuned ? [undefined, '--max-semi-space-size=2 --max-old-space-size=96'] : [undefined]) {
      log(`watch: ${cycles} cycles of reconcile watch (clock-app-ha + the rule over ${instances} instances)${nodeOptions ? ` with ${nodeOptions}` : ''}`);
      memory.push(await watchMemory({ moto, root, tmp, cycles, file: wfile, log, nodeOptions }));
    }
  } catch (e) {
    memoryGap = `watch could not be measured: ${e.message.split('\n')[0]}`;
    log(e.message);
  } finally {
    await cli(['destroy', wfile, '--yes'], moto.env);
  }

  const fmt = (x) => Math.round(x);
  const lines = [
    `${instances} instances launched in moto (${Math.ceil(instances / 250)} RunInstances calls), tagged \`bench=alert-${instances}\`, one CPUUtilization datapoint each (${Math.ceil(instances / PUT_BATCH)} PutMetricData calls), every other one above the threshold of ${THRESHOLD}.`,
    '',
    `**One evaluation** (\`reconcile check SPEC --no-notify --json\`, a spec with one alert rule over those instances by tag; ${runs.length} runs; every run evaluated all ${instances} targets and found exactly the ${hot.size} hot ones in ALARM):`,
    '',
    '| wall median ms | min–max ms | GetMetricData | DescribeInstances (pages) | other calls | peak RSS MB | load 1m |',
    '|---:|---:|---:|---:|---:|---:|---:|',
    `| ${fmt(evaluation.wallMedianMs)} | ${fmt(evaluation.wallRange[0])}–${fmt(evaluation.wallRange[1])} | ${getMetricData} | ${describePages} | ${evaluation.otherCalls} | ${evaluation.rssMb.toFixed(0)} | ${Math.min(...evaluation.loads).toFixed(1)}–${Math.max(...evaluation.loads).toFixed(1)} |`,
    '',
    `Calls by operation: ${Object.entries(ops).map(([k, v]) => `${k} ${v}`).join(', ')}.`,
    '',
  ];
  if (memory.length) {
    lines.push(
      `**watch over ${cycles} cycles** (\`reconcile watch\` on examples/clock-app-ha.yaml applied, plus the same rule, \`--interval 1s --mode detect --no-notify\`: each cycle plans the stack and evaluates the ${instances} instances; RSS from /proc/<pid>/status after each cycle; HTTP requests counted by a proxy in front of moto):`,
      '',
      '| node options | cycles | failed | RSS after cycle 1 MB | after cycle 10 MB | after the last MB | most after cycle 10 on MB | growth 10 → last MB | peak RSS (VmHWM, startup included) MB | s per cycle | HTTP requests per cycle |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
      ...memory.map(
        (m) =>
          `| ${m.nodeOptions ?? '(none)'} | ${m.cycles} | ${m.failedCycles} | ${m.rssMb.first.toFixed(0)} | ${m.rssMb.tenth.toFixed(0)} | ${m.rssMb.last.toFixed(0)} | ${m.heldMb.toFixed(0)} | ${m.growthMb.toFixed(1)} | ${m.peakRssMb.toFixed(0)} | ${m.secondsPerCycle.toFixed(2)} | ${m.requestsPerCycle.toFixed(1)} |`,
      ),
      '',
    );
  }
  if (memoryGap) lines.push(`**watch over ${cycles} cycles**: ${memoryGap}.`, '');
  return { evaluation, memory, memoryGap, text: lines.join('\n') };
}
