// The fleet benchmark (issue 17): `reconcile watch DIR` over many small stacks on one moto, served by
// several shard processes (--shards n --shard i, as the StatefulSet runs them).
//   npm run build && node bench/fleet.mjs [--stacks 100] [--shards 3] [--interval 30s] [--steady 150]
//                                          [--latency 50] [--max-concurrent 4] [--out bench/RESULTS.md]
// Every AWS call goes through a latency proxy (--latency ms per call, like a round trip to AWS).
// 1. Steady state: every stack served, each cycle within its interval, calls per cycle (from each
//    process's /metrics, between two snapshots), RSS per process (/proc/<pid>/status), no stack
//    served by two processes.
// 2. Kill and restart: drift is made on every stack of one shard; when that shard's process logs
//    that it is healing (it holds a stack lock), it is frozen (SIGSTOP) and killed (SIGKILL), so its
//    lock is left behind mid-heal; a new process for the shard is started. Measured: how long until
//    every stack of the shard is healed again, and the lock's counters (reconcile_lock_events_total:
//    acquired, taken_over, timed_out, lost, write_refused) with the heal spans of every process, which
//    show that no two processes ever wrote to one stack at once.
// Writes its own section of bench/RESULTS.md (between the fleet markers; bench/run.mjs keeps it).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startLatencyProxy } from './latency-proxy.mjs';
import { startMoto } from './moto.mjs';
import { replaceFleetSection } from './fleet-section.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(root, 'package.json'));
const { values: opt } = parseArgs({
  options: {
    stacks: { type: 'string', default: '100' },
    shards: { type: 'string', default: '3' },
    interval: { type: 'string', default: '30s' },
    steady: { type: 'string', default: '150' },
    latency: { type: 'string', default: '50' },
    'max-concurrent': { type: 'string', default: '4' },
    out: { type: 'string', default: join(root, 'bench', 'RESULTS.md') },
  },
});
const STACKS = Number(opt.stacks);
const SHARDS = Number(opt.shards);
const INTERVAL_S = Number(/^(\d+)s$/.exec(opt.interval)?.[1] ?? NaN);
if (!INTERVAL_S) throw new Error('--interval: whole seconds, e.g. 30s');
const STEADY_MS = Number(opt.steady) * 1000;
const BUCKET = 'fleet-bench-locks';
const CLI = join(root, 'dist', 'cli.js');
const t0 = Date.now();
const say = (m) => console.error(`[fleet ${((Date.now() - t0) / 1000).toFixed(0)}s] ${m}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const la = () => loadavg().map((x) => x.toFixed(2)).join(', ');
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
};

const stackName = (i) => `fleet-bench-${String(i).padStart(3, '0')}`;
const spec = (i) => `apiVersion: reconcile/v1
stack: ${stackName(i)}
region: us-east-1
lock: { bucket: ${BUCKET} }
watch: { interval: ${opt.interval} }
resources:
  default-vpc: { kind: vpc, lookup: default }
  web:
    kind: security-group
    vpc: default-vpc
    description: fleet benchmark stack ${i}
    ingress:
      - { port: 443, cidr: 0.0.0.0/0 }
`;

/** A metrics text into samples. */
function samples(text) {
  const out = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

const procs = [];
function startShard(index, tag, env, stateDir, specDir) {
  const child = spawn(
    process.execPath,
    [CLI, 'watch', specDir, '--shards', String(SHARDS), '--shard', String(index), '--port', '0', '--host', '127.0.0.1', '--max-concurrent-stacks', opt['max-concurrent'], '--log-format', 'json', '--no-notify'],
    { env: { ...process.env, ...env, XDG_STATE_HOME: stateDir }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const p = { index, tag, child, pid: child.pid, logs: [], port: undefined, rssMaxKb: 0, rssKb: 0, stderr: '', listeners: [] };
  child.stderr.on('data', (d) => (p.stderr = (p.stderr + String(d)).slice(-4000)));
  createInterface({ input: child.stdout }).on('line', (l) => {
    let o;
    try {
      o = JSON.parse(l);
    } catch {
      return;
    }
    o.t = Date.parse(o.time);
    p.logs.push(o);
    if (typeof o.port === 'number') p.port = o.port;
    for (const f of p.listeners) f(o);
  });
  procs.push(p);
  return p;
}

async function metricsOf(p) {
  const r = await fetch(`http://127.0.0.1:${p.port}/metrics`);
  return samples(await r.text());
}

function sampleRss() {
  for (const p of procs) {
    if (p.child.exitCode !== null || p.child.signalCode) continue;
    try {
      const st = readFileSync(`/proc/${p.pid}/status`, 'utf8');
      p.rssKb = Number(/VmRSS:\s+(\d+)/.exec(st)?.[1] ?? 0);
      p.rssMaxKb = Math.max(p.rssMaxKb, Number(/VmHWM:\s+(\d+)/.exec(st)?.[1] ?? 0));
    } catch {
      /* gone */
    }
  }
}

async function waitFor(what, fn, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(500);
  }
}

/** Per stack: calls and cycles from one process's metrics. */
function perStack(ms) {
  const by = new Map();
  const get = (s) => by.get(s) ?? by.set(s, { cycles: 0, reads: 0, writes: 0, ops: {} }).get(s);
  for (const x of ms) {
    const stack = x.labels.stack;
    if (!stack) continue;
    if (x.name === 'reconcile_cycles_total') get(stack).cycles += x.value;
    if (x.name === 'reconcile_aws_calls_total') {
      const s = get(stack);
      const read = /^(Describe|Get|List|Head)/.test(x.labels.operation);
      s[read ? 'reads' : 'writes'] += x.value;
      s.ops[`${x.labels.service}:${x.labels.operation}`] = (s.ops[`${x.labels.service}:${x.labels.operation}`] ?? 0) + x.value;
    }
  }
  return by;
}

const lockEvents = (ms) => {
  const out = {};
  for (const x of ms) if (x.name === 'reconcile_lock_events_total') out[x.labels.event] = (out[x.labels.event] ?? 0) + x.value;
  return out;
};

async function main() {
  const specDir = mkdtempSync(join(tmpdir(), 'reconcile-fleet-bench-'));
  const stateDir = mkdtempSync(join(tmpdir(), 'reconcile-fleet-state-'));
  const machine = { date: new Date().toISOString(), cpus: `${cpus().length} × ${cpus()[0]?.model ?? '?'}`, memGiB: (totalmem() / 2 ** 30).toFixed(1), node: process.version, loadStart: la() };
  say(`load average at start: ${machine.loadStart}`);
  const moto = await startMoto();
  const proxy = await startLatencyProxy(moto.endpoint, Number(opt.latency));
  const env = { ...moto.env, AWS_ENDPOINT_URL: proxy.endpoint };
  const cfg = { region: 'us-east-1', endpoint: moto.endpoint, forcePathStyle: true, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };
  const { S3Client, CreateBucketCommand } = require('@aws-sdk/client-s3');
  const { EC2Client, DescribeVpcsCommand, DescribeSecurityGroupsCommand, RevokeSecurityGroupIngressCommand } = require('@aws-sdk/client-ec2');
  const s3 = new S3Client(cfg);
  const ec2 = new EC2Client(cfg);
  const rssTimer = setInterval(sampleRss, 1000);
  const result = { machine, stacks: STACKS, shards: SHARDS, intervalS: INTERVAL_S, latencyMs: Number(opt.latency), maxConcurrent: Number(opt['max-concurrent']) };
  try {
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    await ec2.send(new DescribeVpcsCommand({})); // moto builds its EC2 region on the first call
    for (let i = 0; i < STACKS; i++) writeFileSync(join(specDir, `${stackName(i)}.yaml`), spec(i));
    const groups = async () => {
      const r = await ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'tag-key', Values: ['reconcile:stack'] }] }));
      const out = new Map();
      for (const g of r.SecurityGroups ?? []) {
        const stack = g.Tags?.find((t) => t.Key === 'reconcile:stack')?.Value;
        out.set(stack, { id: g.GroupId, rules: (g.IpPermissions ?? []).reduce((n, p) => n + (p.IpRanges?.length ?? 0), 0) });
      }
      return out;
    };

    // 1. Start the shards; wait for every stack to be ready.
    const startedAt = Date.now();
    const shards = Array.from({ length: SHARDS }, (_, i) => startShard(i, `shard-${i}`, env, stateDir, specDir));
    await waitFor('the shards to listen', async () => shards.every((p) => p.port), 30_000);
    await waitFor(
      'every stack ready',
      async () => {
        let ready = 0;
        for (const p of shards) ready += (await metricsOf(p)).find((x) => x.name === 'reconcile_shard_stacks_ready')?.value ?? 0;
        return ready === STACKS;
      },
      INTERVAL_S * 1000 * 4 + 120_000,
    );
    result.allReadyS = (Date.now() - startedAt) / 1000;
    say(`all ${STACKS} stacks ready after ${result.allReadyS.toFixed(1)} s`);

    // Steady state.
    const before = await Promise.all(shards.map(metricsOf));
    const steadyFrom = Date.now();
    await sleep(STEADY_MS);
    const after = await Promise.all(shards.map(metricsOf));
    const steadyTo = Date.now();
    sampleRss();
    const served = new Map();
    const perShard = [];
    let reads = 0;
    let writes = 0;
    let cycles = 0;
    const ops = {};
    for (let i = 0; i < SHARDS; i++) {
      const a = perStack(before[i]);
      const b = perStack(after[i]);
      for (const s of b.keys()) served.set(s, [...(served.get(s) ?? []), i]);
      let c = 0;
      for (const [s, x] of b) {
        const y = a.get(s) ?? { cycles: 0, reads: 0, writes: 0, ops: {} };
        c += x.cycles - y.cycles;
        reads += x.reads - y.reads;
        writes += x.writes - y.writes;
        for (const [k, v] of Object.entries(x.ops)) ops[k] = (ops[k] ?? 0) + v - (y.ops[k] ?? 0);
      }
      cycles += c;
      const lagOf = (ms, suffix) => ms.find((x) => x.name === `reconcile_shard_schedule_lag_seconds_${suffix}`)?.value ?? 0;
      const done = shards[i].logs.filter((l) => l.msg === 'cycle done' && l.t >= steadyFrom && l.t <= steadyTo);
      perShard.push({
        shard: i,
        stacks: b.size,
        cycles: c,
        cycleMs: { p50: pct(done.map((l) => l.ms), 50), p95: pct(done.map((l) => l.ms), 95), max: Math.max(...done.map((l) => l.ms)) },
        lagMeanS: (lagOf(after[i], 'sum') - lagOf(before[i], 'sum')) / (lagOf(after[i], 'count') - lagOf(before[i], 'count') || 1),
        rssMb: Math.round(shards[i].rssKb / 1024),
        rssPeakMb: Math.round(shards[i].rssMaxKb / 1024),
      });
    }
    // Each stack's gaps between cycle ends during the steady phase: within interval + 10 % jitter (+ 1 s)?
    const gaps = [];
    let late = 0;
    for (const p of shards) {
      const byStack = new Map();
      for (const l of p.logs) if (l.msg === 'cycle done' && l.stack && l.t >= steadyFrom - INTERVAL_S * 1000 && l.t <= steadyTo) byStack.set(l.stack, [...(byStack.get(l.stack) ?? []), l.t]);
      for (const ts of byStack.values())
        for (let k = 1; k < ts.length; k++) {
          const g = (ts[k] - ts[k - 1]) / 1000;
          gaps.push(g);
          if (g > INTERVAL_S * 1.1 + 1) late++;
        }
    }
    result.steady = {
      seconds: (steadyTo - steadyFrom) / 1000,
      served: served.size,
      servedTwice: [...served.values()].filter((v) => v.length > 1).length,
      cycles,
      readsPerCycle: reads / cycles,
      writesPerCycle: writes / cycles,
      opsPerCycle: Object.fromEntries(Object.entries(ops).map(([k, v]) => [k, +(v / cycles).toFixed(2)]).filter(([, v]) => v > 0)),
      gapS: { p50: pct(gaps, 50), p95: pct(gaps, 95), max: Math.max(...gaps) },
      lateGaps: late,
      gaps: gaps.length,
      perShard,
      load: la(),
    };
    say(`steady: ${JSON.stringify(result.steady)}`);

    // 2. Kill a shard mid-heal, start it again.
    const victim = shards[1];
    const victimStacks = [...perStack(after[1]).keys()];
    const g0 = await groups();
    const healing = new Promise((resolve) => victim.listeners.push((o) => o.msg === 'healing drift: applying the plan' && resolve(o)));
    for (const s of victimStacks)
      await ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId: g0.get(s).id, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] }));
    const driftAt = Date.now();
    const caught = await Promise.race([healing, sleep(INTERVAL_S * 1500 + 10_000).then(() => undefined)]);
    if (!caught) throw new Error('the victim shard never started healing');
    victim.child.kill('SIGSTOP');
    victim.child.kill('SIGKILL');
    const killedAt = Date.now();
    say(`killed shard 1 (pid ${victim.pid}) while it healed ${caught.stack}`);
    await new Promise((r) => (victim.child.exitCode !== null || victim.child.signalCode ? r() : victim.child.once('exit', r)));
    const healedBeforeKill = new Set(victim.logs.filter((l) => l.t >= driftAt && l.msg?.startsWith('healed:')).map((l) => l.stack));
    const restarted = startShard(1, 'shard-1 (restarted)', env, stateDir, specDir);
    const restartAt = Date.now();
    await waitFor('the restarted shard to listen', async () => restarted.port, 30_000);
    const healedAt = new Map();
    await waitFor(
      'every stack of the killed shard healed again',
      async () => {
        const g = await groups();
        for (const s of victimStacks) if (!healedAt.has(s) && g.get(s)?.rules === 1) healedAt.set(s, Date.now());
        return victimStacks.every((s) => healedAt.has(s));
      },
      180_000,
    );
    const allHealedAt = Math.max(...healedAt.values());
    await sleep(2_000);
    sampleRss();
    const final = await Promise.all(shards.filter((p) => p !== victim).concat(restarted).map(metricsOf));
    // The dead process's counters died with it: its acquisitions are read from its log instead.
    const events = {};
    for (const ms of final) for (const [k, v] of Object.entries(lockEvents(ms))) events[k] = (events[k] ?? 0) + v;
    // Heal spans: from "healing drift" (lock held) to "healed" or the cycle's end, per process and stack.
    const spans = [];
    for (const p of procs) {
      const open = new Map();
      for (const l of p.logs) {
        if (!l.stack) continue;
        if (l.msg === 'healing drift: applying the plan') open.set(l.stack, l.t);
        else if ((l.msg?.startsWith('healed:') || l.msg === 'cycle done' || l.msg?.startsWith('cycle failed')) && open.has(l.stack)) {
          spans.push({ proc: p.tag, stack: l.stack, from: open.get(l.stack), to: l.t });
          open.delete(l.stack);
        }
      }
      for (const [stack, from] of open) spans.push({ proc: p.tag, stack, from, to: killedAt, cut: true });
    }
    let overlaps = 0;
    for (const a of spans) for (const b of spans) if (a !== b && a.proc < b.proc && a.stack === b.stack && a.from < b.to && b.from < a.to) overlaps++;
    const g1 = await groups();
    const victimTakeovers = restarted.logs.filter((l) => /took over the stack lock/.test(l.msg ?? '')).map((l) => ({ stack: l.stack, afterKillS: (l.t - killedAt) / 1000 }));
    result.takeover = {
      victimStacks: victimStacks.length,
      killedWhileHealing: caught.stack,
      healedBeforeKill: healedBeforeKill.size,
      driftToKillS: (killedAt - driftAt) / 1000,
      restartToListenS: (restarted.logs.find((l) => typeof l.port === 'number').t - restartAt) / 1000,
      killToAllHealedS: (allHealedAt - killedAt) / 1000,
      killToHealedP50S: pct([...healedAt.values()].map((t) => (t - killedAt) / 1000), 50),
      lockedStackHealedAfterS: healedAt.has(caught.stack) ? (healedAt.get(caught.stack) - killedAt) / 1000 : null,
      takeovers: victimTakeovers,
      lockEventsLive: events,
      deadProcessAcquisitions: victim.logs.filter((l) => l.t >= driftAt && l.msg === 'healing drift: applying the plan').length,
      healSpans: spans.length,
      overlappingHealSpans: overlaps,
      rulesPerGroup: [...new Set(victimStacks.map((s) => g1.get(s)?.rules))],
      load: la(),
    };
    say(`takeover: ${JSON.stringify(result.takeover)}`);
    result.rss = procs.map((p) => ({ proc: p.tag, rssMb: Math.round(p.rssKb / 1024), peakMb: Math.round(p.rssMaxKb / 1024) }));
    result.machine.loadEnd = la();
    writeFileSync(join(root, 'bench', 'fleet-results.json'), JSON.stringify(result, null, 1) + '\n');
    writeFileSync(opt.out, replaceFleetSection(readFileSync(opt.out, 'utf8'), report(result)));
    say(`wrote ${opt.out} and bench/fleet-results.json`);
  } finally {
    clearInterval(rssTimer);
    for (const p of procs) if (p.child.exitCode === null && !p.child.signalCode) p.child.kill('SIGKILL');
    s3.destroy();
    ec2.destroy();
    await proxy.close();
    await moto.stop();
    rmSync(specDir, { recursive: true, force: true });
    rmSync(stateDir, { recursive: true, force: true });
  }
}

function report(r) {
  const s = r.steady;
  const k = r.takeover;
  const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : '–');
  return [
    `## A fleet of ${r.stacks} stacks over ${r.shards} shards`,
    '',
    `Written by \`node bench/fleet.mjs\` (after \`npm run build\`), ${r.machine.date}: ${r.machine.cpus}, ${r.machine.memGiB} GiB, Node ${r.machine.node}.`,
    `Load average (1, 5, 15 min): ${r.machine.loadStart} at start, ${s.load} after the steady phase, ${r.machine.loadEnd} at the end`,
    '(the machine is shared with other work: read the times with it).',
    '',
    `${r.stacks} small stacks (a security group in the default VPC, one ingress rule, a lock bucket), each \`watch: { interval: ${r.intervalS}s }\`,`,
    `in one directory, on one moto behind a ${r.latencyMs} ms-per-call latency proxy, served by ${r.shards} processes`,
    `\`reconcile watch DIR --shards ${r.shards} --shard i --max-concurrent-stacks ${r.maxConcurrent}\` (apply mode). Every stack is in one account and`,
    'region: each process paces its calls with one rate budget for it.',
    '',
    `**Steady state** (${f1(s.seconds)} s, after every stack was ready ${f1(r.allReadyS)} s from start):`,
    '',
    '| shard | stacks | cycles | cycle p50 ms | p95 ms | max ms | mean schedule lag s | RSS MB (end) | peak RSS MB |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...s.perShard.map((p) => `| ${p.shard} | ${p.stacks} | ${p.cycles} | ${p.cycleMs.p50} | ${p.cycleMs.p95} | ${p.cycleMs.max} | ${p.lagMeanS.toFixed(2)} | ${p.rssMb} | ${p.rssPeakMb} |`),
    '',
    `- stacks served: ${s.served} of ${r.stacks}; served by more than one process: **${s.servedTwice}**.`,
    `- each stack's cycle within its interval: time between a stack's consecutive cycles p50 ${f1(s.gapS.p50)} s, p95 ${f1(s.gapS.p95)} s, max ${f1(s.gapS.max)} s`,
    `  (interval ${r.intervalS} s ± 10 % jitter); ${s.lateGaps} of ${s.gaps} gaps longer than ${f1(r.intervalS * 1.1 + 1)} s.`,
    `- AWS calls per cycle (converged stack): ${s.readsPerCycle.toFixed(2)} reads, ${s.writesPerCycle.toFixed(2)} writes: ${Object.entries(s.opsPerCycle)
      .map(([op, n]) => `${op} ${n}`)
      .join(', ')}.`,
    '',
    `**Kill and restart.** Drift was made on the ${k.victimStacks} stacks of shard 1 (their ingress rule revoked); ${f1(k.driftToKillS)} s later, when the`,
    `process logged that it was healing \`${k.killedWhileHealing}\` (holding its lock), it was frozen and killed (SIGSTOP, SIGKILL; it had healed ${k.healedBeforeKill}`,
    'stacks by then), and a new process for shard 1 was started at once, as Kubernetes would.',
    '',
    `- the new process listened after ${f1(k.restartToListenS)} s; every stack of the shard was healed again ${f1(k.killToAllHealedS)} s after the kill (median stack`,
    `  ${f1(k.killToHealedP50S)} s); the stack whose lock the dead process held: ${k.lockedStackHealedAfterS === null ? '–' : `${f1(k.lockedStackHealedAfterS)} s`} after the kill${k.takeovers.length ? `, after taking over the expired lease (${k.takeovers.map((t) => `${t.stack} at ${f1(t.afterKillS)} s`).join(', ')})` : ' (the dead process had released it before it died)'}.`,
    `- lock counters of the live processes (\`reconcile_lock_events_total\`): ${Object.entries(k.lockEventsLive)
      .map(([e, n]) => `${e} ${n}`)
      .join(', ')}; after the drift, the dead process had started ${k.deadProcessAcquisitions} heal(s) under the lock before it died (its own counters died with it).`,
    `- no double writer: **${k.overlappingHealSpans}** overlapping heal spans (lock held → healed) of two processes on one stack, out of ${k.healSpans};`,
    `  \`lost\` and \`write_refused\` ${(k.lockEventsLive.lost ?? 0) + (k.lockEventsLive.write_refused ?? 0) === 0 ? 'never happened' : 'happened (see the counters)'}; every group ends with ${k.rulesPerGroup.join(' / ')} ingress rule(s).`,
    '',
    '**RSS per process** (MB, at the end / peak):',
    '',
    ...r.rss.map((p) => `- ${p.proc}: ${p.rssMb} / ${p.peakMb}`),
    '',
  ].join('\n');
}

main().catch((e) => {
  console.error(e);
  for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  process.exit(1);
});
