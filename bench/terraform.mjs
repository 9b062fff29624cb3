#!/usr/bin/env node
// `npm run bench:terraform`: reconcile against Terraform on the same stack, the same moto and the same
// machine load. For N copies of clock-app-ha (bench/gen-spec.mjs for reconcile; bench/terraform/ with
// copies = N for Terraform: the same resources and settings, see its main.tf) and for each tool --
// reconcile as shipped, reconcile with its client-side rate limiter off (RECONCILE_RATE_SCALE=off),
// Terraform -- one after the other in every run, each on a fresh moto: apply from empty, plan when
// converged (it must say "no changes"; Terraform's perpetual diffs on moto are recorded), destroy.
// Wall time from spawn to exit, CPU time and peak RSS of the process and its children (/usr/bin/time:
// Terraform's provider plugin included), and the HTTP requests that reach moto, counted by operation
// by one proxy in front of it (bench/latency-proxy.mjs, no added latency) the same way for both tools,
// retries included. Terraform runs with its defaults (-parallelism=10, refresh on plan, a local state
// file) and the AWS provider from a local filesystem mirror, through a CLI config file of its own
// (no network). Without terraform or the provider in the mirror, nothing runs and the section says so.
// Writes the "Against Terraform" section of bench/RESULTS.md (between its markers; run.mjs keeps it).
//
//   npm run build && node bench/terraform.mjs [--sizes 1,5,20] [--repeat 3] [--heavy-repeat 1]
//       [--mirror /opt/tf-plugins] [--terraform terraform] [--out bench/RESULTS.md]
//       [--json bench/terraform-results.json] [--render bench/terraform-results.json] [--step-timeout 900]
// (--heavy-repeat: runs at N >= 20, where one Terraform run takes minutes; --step-timeout: seconds
// before a command that hangs is killed and the bench fails.)
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { replaceSection } from './fleet-section.mjs';
import { clockAppHaCopies, resourcesPerCopy } from './gen-spec.mjs';
import { startLatencyProxy } from './latency-proxy.mjs';
import { startMoto } from './moto.mjs';
import { motoPython } from '../scripts/moto-python.mjs';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TF_SRC = join(root, 'bench', 'terraform');
const CLI = join(root, 'dist', 'cli.js');
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

const { values: opt } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1,5,20' },
    repeat: { type: 'string', default: '3' },
    'heavy-repeat': { type: 'string', default: '1' },
    'step-timeout': { type: 'string', default: '900' },
    mirror: { type: 'string', default: process.env.TF_PLUGIN_MIRROR ?? '/opt/tf-plugins' },
    terraform: { type: 'string', default: process.env.TERRAFORM ?? 'terraform' },
    out: { type: 'string', default: join(root, 'bench', 'RESULTS.md') },
    json: { type: 'string', default: join(root, 'bench', 'terraform-results.json') },
    render: { type: 'string' },
  },
});
const SIZES = opt.sizes.split(',').map(Number);
const log = (...a) => process.stderr.write(`[terraform bench ${((performance.now() / 1000) | 0)}s] ${a.join(' ')}\n`);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
/** The provider version bench/terraform/provider.tf pins (the mirror must hold it). */
const PROVIDER_VERSION = /version\s*=\s*"([\d.]+)"/.exec(readFileSync(join(TF_SRC, 'provider.tf'), 'utf8'))[1];
const TOOLS = [
  { id: 'reconcile', label: 'reconcile (as shipped)', env: {} },
  { id: 'reconcile-off', label: 'reconcile, limiter off', env: { RECONCILE_RATE_SCALE: 'off' } },
  { id: 'terraform', label: `Terraform`, env: {} },
];
const STEPS = ['apply from empty', 'plan (converged)', 'destroy'];

/** The terraform binary: --terraform as a path, or found on PATH. */
function findTerraform() {
  if (isAbsolute(opt.terraform)) return existsSync(opt.terraform) ? opt.terraform : undefined;
  return (process.env.PATH ?? '')
    .split(delimiter)
    .map((d) => d && join(d, opt.terraform))
    .find((f) => f && existsSync(f));
}
const providerDir = () => join(opt.mirror, 'registry.terraform.io', 'hashicorp', 'aws', PROVIDER_VERSION, `${process.platform}_${process.arch === 'x64' ? 'amd64' : process.arch}`);

/** Runs a command and measures it: wall ms, CPU s and peak RSS of it and its children. */
async function measure(cmd, args, { cwd, env, expect = [0] }) {
  const rusage = join(tmp, `time-${Math.random().toString(36).slice(2)}.txt`);
  const [c, ...argv] = TIME ? [TIME, '-f', '%U %S %M', '-o', rusage, cmd, ...args] : [cmd, ...args];
  const load = os.loadavg()[0];
  const start = performance.now();
  // Its own process group, so a step that hangs (a provider retrying without end) is killed whole.
  const child = spawn(c, argv, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const timer = setTimeout(() => process.kill(-child.pid, 'SIGKILL'), Number(opt['step-timeout']) * 1000);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise((r) => child.on('close', r));
  clearTimeout(timer);
  const wallMs = performance.now() - start;
  if (!expect.includes(code)) throw new Error(`${cmd} ${args.join(' ')} exited ${code}, expected ${expect.join(' or ')}\n${stdout.slice(-4000)}\n${stderr.slice(-3000)}`);
  const [u, s, m] = TIME && existsSync(rusage) ? readFileSync(rusage, 'utf8').trim().split('\n').pop().split(' ').map(Number) : [NaN, NaN, NaN];
  return { code, wallMs, cpuS: u + s, rssKb: m, load, stdout, stderr };
}

/** How long Terraform's slowest resources took, by resource type ("Creation complete after 1m0s"). */
function slowest(stdout, verb) {
  const secs = (t) => [...t.matchAll(/(\d+)([hms])/g)].reduce((a, [, n, u]) => a + Number(n) * { h: 3600, m: 60, s: 1 }[u], 0);
  const by = new Map();
  for (const [, addr, took] of stdout.matchAll(new RegExp(`^(\\S+): ${verb} complete after (\\S+)`, 'gm'))) {
    const type = addr.split('.')[0];
    by.set(type, Math.max(by.get(type) ?? 0, secs(took)));
  }
  return Object.fromEntries([...by].filter(([, s]) => s >= 2).sort((a, b) => b[1] - a[1]));
}

/** What a Terraform plan that is not empty wants to do: its summary line and the attributes it would change. */
function planDiff(stdout) {
  const summary = /^Plan: .*$/m.exec(stdout)?.[0] ?? '';
  const changes = new Map();
  let resource;
  for (const line of stdout.split('\n')) {
    const r = /^\s*# (\S+) (will|must) be (.*)$/.exec(line);
    if (r) {
      resource = `${r[1].replace(/\[[^\]]*\]/g, '')} (${r[3]})`;
      continue;
    }
    const a = /^\s{6}([~+-]) ([\w.]+)\s/.exec(line);
    if (resource && a) changes.set(`${resource}: ${a[1]} ${a[2]}`, true);
  }
  return { summary, changes: [...changes.keys()] };
}

/** Why the provider sees a change on moto that is not there, for the diffs seen (checked on moto 5.2.1). */
const MOTO_DIFFS = [
  [/aws_launch_template.*tag_specifications|aws_launch_template.*latest_version/, "aws_launch_template: moto returns the template's own tags as a TagSpecifications entry of ResourceType launch-template (a known moto quirk), which the provider reads as a second tag_specifications block to remove; that update would make a new template version, hence latest_version"],
  [/aws_autoscaling_policy.*(enabled|predictive_scaling_configuration)/, 'aws_autoscaling_policy: moto\'s DescribePolicies has no Enabled field (read as false) and returns an empty PredictiveScalingConfiguration for every policy (read as a block the configuration does not have)'],
];
const explain = (changes) => MOTO_DIFFS.filter(([re]) => changes.some((c) => re.test(c))).map(([, why]) => why);

let tmp;

/** One run of one tool: a fresh moto with a counting proxy, then apply, converged plan and destroy. */
async function runTool(tool, { specFile, tfDir, tfEnv }) {
  const moto = await startMoto();
  const proxy = await startLatencyProxy(moto.endpoint, 0);
  const steps = {};
  try {
    const env = { ...moto.env, AWS_ENDPOINT_URL: proxy.endpoint, ...tool.env };
    const go = async (name, args, expect) => {
      proxy.takeOperations();
      const before = proxy.requests();
      const r =
        tool.id === 'terraform'
          ? await measure(TERRAFORM, [...args, '-input=false', '-no-color'], { cwd: tfDir, env: { ...tfEnv, TF_VAR_endpoint: proxy.endpoint }, expect })
          : await measure(process.execPath, [CLI, ...args], { env, expect });
      steps[name] = { ...r, requests: proxy.requests() - before, byOperation: proxy.takeOperations() };
      return r;
    };
    if (tool.id === 'terraform') {
      const a = await go('apply from empty', ['apply', '-auto-approve'], [0]);
      steps['apply from empty'].waits = slowest(a.stdout, 'Creation');
      steps['apply from empty'].added = Number(/Resources: (\d+) added/.exec(a.stdout)?.[1]);
      const p = await go('plan (converged)', ['plan', '-detailed-exitcode'], [0, 2]);
      if (p.code === 2) steps['plan (converged)'].diff = planDiff(p.stdout);
      const d = await go('destroy', ['destroy', '-auto-approve'], [0]);
      steps.destroy.waits = slowest(d.stdout, 'Destruction');
    } else {
      await go('apply from empty', ['apply', specFile, '--yes'], [0]);
      await go('plan (converged)', ['plan', specFile, '--detailed-exitcode'], [0, 2]);
      await go('destroy', ['destroy', specFile, '--yes'], [0]);
    }
    for (const s of Object.values(steps)) delete s.stdout, delete s.stderr;
    return steps;
  } finally {
    await proxy.close();
    await moto.stop();
  }
}

async function measureAll() {
  tmp = mkdtempSync(join(os.tmpdir(), 'reconcile-tfbench-'));
  const started = performance.now();
  const loadStart = os.loadavg();
  const cliConfig = join(tmp, 'terraform.tfrc');
  // Providers come from the mirror only; nothing from the network.
  writeFileSync(cliConfig, `provider_installation {\n  filesystem_mirror {\n    path    = ${JSON.stringify(opt.mirror)}\n    include = ["registry.terraform.io/hashicorp/aws"]\n  }\n  direct {\n    exclude = ["registry.terraform.io/*/*"]\n  }\n}\n`);
  const terraformVersion = JSON.parse(execFileSync(TERRAFORM, ['version', '-json'], { encoding: 'utf8', env: { ...process.env, TF_CLI_CONFIG_FILE: cliConfig } })).terraform_version;
  const motoVersion = execFileSync(motoPython(root), ['-c', 'import moto; print(moto.__version__)'], { encoding: 'utf8' }).trim();
  const sizes = [];
  for (const n of SIZES) {
    const dir = join(tmp, `n${n}`);
    const tfDir = join(dir, 'terraform');
    mkdirSync(tfDir, { recursive: true });
    for (const f of readdirSync(TF_SRC).filter((x) => x.endsWith('.tf'))) cpSync(join(TF_SRC, f), join(tfDir, f));
    cpSync(join(root, 'examples', 'files'), join(dir, 'files'), { recursive: true });
    const specFile = join(dir, 'spec.yaml');
    writeFileSync(specFile, clockAppHaCopies(n, { stack: `bench-clock-${n}` }));
    const tfEnv = {
      TF_CLI_CONFIG_FILE: cliConfig,
      TF_IN_AUTOMATION: '1',
      CHECKPOINT_DISABLE: '1',
      TF_VAR_copies: String(n),
      TF_VAR_prefix: `tf-clock-${n}`,
      TF_VAR_app_file: join(dir, 'files', 'app.py'),
      TF_VAR_asg_notifications: 'false',
    };
    const init = await measure(TERRAFORM, ['init', '-input=false', '-no-color'], { cwd: tfDir, env: tfEnv });
    const runs = n >= 20 ? Number(opt['heavy-repeat']) : Number(opt.repeat);
    const tools = Object.fromEntries(TOOLS.map((t) => [t.id, []]));
    for (let i = 0; i < runs; i++)
      for (const t of TOOLS) {
        const r = await runTool(t, { specFile, tfDir, tfEnv });
        tools[t.id].push(r);
        log(`N=${n} run ${i + 1}/${runs} ${t.label}: ${STEPS.map((s) => `${s} ${Math.round(r[s].wallMs)} ms / ${r[s].requests} requests`).join(', ')}`);
      }
    sizes.push({ n, resources: n * resourcesPerCopy(), tfResources: tools.terraform[0]['apply from empty'].added, initMs: init.wallMs, tools });
  }
  rmSync(tmp, { recursive: true, force: true });
  return {
    date: new Date().toISOString(),
    cpus: `${os.availableParallelism?.() ?? os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown CPU'}`,
    node: process.version,
    terraformVersion,
    providerVersion: PROVIDER_VERSION,
    motoVersion,
    loadStart,
    loadEnd: os.loadavg(),
    phaseSeconds: (performance.now() - started) / 1000,
    sizes,
  };
}

// ---------------------------------------------------------------------------------------------

const ms = (x) => `${Math.round(x)}`;
const secs = (x) => (x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : `${Math.round(x)} ms`);
const range = (xs) => (xs.length > 1 ? ` (${secs(Math.min(...xs))}–${secs(Math.max(...xs))})` : '');
const fmtLoad = (xs) => {
  const [a, b] = [Math.min(...xs), Math.max(...xs)];
  return a.toFixed(1) === b.toFixed(1) ? a.toFixed(1) : `${a.toFixed(1)}–${b.toFixed(1)}`;
};
const span = (xs) => {
  const [a, b] = [Math.min(...xs), Math.max(...xs)];
  return a === b ? String(a) : `${a}–${b}`;
};
const wallOf = (runs, step) => median(runs.map((r) => r[step].wallMs));
const callsOf = (runs, step) => median(runs.map((r) => r[step].requests));

function section(j) {
  if (j.skipped)
    return `## Against Terraform\n\nNot measured: ${j.skipped} bench/terraform.mjs runs Terraform only with the binary and the AWS provider ${PROVIDER_VERSION} in a local filesystem mirror (--mirror, no network); nothing was compared.\n`;
  const rows = ['| N | tool | step | runs | wall median | HTTP requests | CPU s (median) | peak RSS MB | load 1m |', '|---:|---|---|---:|---:|---:|---:|---:|---:|'];
  for (const s of j.sizes)
    for (const t of TOOLS)
      for (const step of STEPS) {
        const runs = s.tools[t.id];
        const xs = runs.map((r) => r[step]);
        rows.push(
          `| ${s.n} | ${t.label} | ${step} | ${runs.length} | ${secs(wallOf(runs, step))}${range(xs.map((x) => x.wallMs))} | ${span(xs.map((x) => x.requests))} | ${median(xs.map((x) => x.cpuS)).toFixed(1)} | ${Math.max(...xs.map((x) => x.rssKb / 1024)).toFixed(0)} | ${fmtLoad(xs.map((x) => x.load))} |`,
        );
      }
  const ratios = ['| N | step | reconcile / Terraform, wall | limiter off / Terraform, wall | reconcile / Terraform, requests |', '|---:|---|---:|---:|---:|'];
  for (const s of j.sizes)
    for (const step of STEPS) {
      const tf = s.tools.terraform;
      const r = (id, f) => (f(s.tools[id], step) / f(tf, step)).toFixed(2);
      ratios.push(`| ${s.n} | ${step} | ${r('reconcile', wallOf)}x | ${r('reconcile-off', wallOf)}x | ${r('reconcile', callsOf)}x |`);
    }
  const diffs = new Map();
  for (const s of j.sizes)
    for (const r of s.tools.terraform) {
      const d = r['plan (converged)'].diff;
      if (d) diffs.set(s.n, d);
    }
  const diffText = diffs.size
    ? `${[...diffs].map(([n, d]) => `at N=${n} "${d.summary}"`).join(', ')}; the attributes: ${[...new Set([...diffs.values()].flatMap((d) => d.changes))].join('; ')}. Why: ${[...new Set([...diffs.values()].flatMap((d) => explain(d.changes)))].join('; ') || 'not known'}. Each run's plan is still timed and counted as it ran (a plan with changes does the same reads)`
    : '';
  const tfPlanCodes = j.sizes.flatMap((s) => s.tools.terraform.map((r) => r['plan (converged)'].code));
  const waits = {};
  for (const s of j.sizes)
    for (const r of s.tools.terraform)
      for (const [verb, step] of [['creating', 'apply from empty'], ['destroying', 'destroy']])
        for (const [type, sec] of Object.entries(r[step].waits ?? {})) waits[`${type} ${verb}`] = Math.max(waits[`${type} ${verb}`] ?? 0, sec);
  const waitText = Object.entries(waits)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([k, v]) => `${k} up to ${v} s`)
    .join(', ');
  // The waits hold Terraform's -parallelism slots: at N copies, each copy's waits once (subnets twice).
  const lastWaits = j.sizes[j.sizes.length - 1].tools.terraform.map((r) => r['apply from empty'].waits ?? {})[0] ?? {};
  const slotSeconds = Object.entries(lastWaits).reduce((a, [type, sec]) => a + sec * (type === 'aws_subnet' ? 2 : 1), 0) * j.sizes[j.sizes.length - 1].n;
  const topOps = (runs, step) =>
    Object.entries(runs[runs.length - 1][step].byOperation)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 6)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
  const big = j.sizes[j.sizes.length - 1];
  return `## Against Terraform

Written by \`npm run bench:terraform\` (bench/terraform.mjs), ${j.date}: ${j.cpus}, Node ${j.node}; the
whole phase took ${(j.phaseSeconds / 60).toFixed(1)} min. Load average (1, 5, 15 min) ${j.loadStart.map((x) => x.toFixed(2)).join(', ')} at
start, ${j.loadEnd.map((x) => x.toFixed(2)).join(', ')} at the end (the machine is shared; the load column is per step).
Terraform ${j.terraformVersion} with the AWS provider ${j.providerVersion} (from a local filesystem mirror), moto
${j.motoVersion}. Same stack, same moto, same machine load: in each run the three tools take turns,
each on a fresh moto, and every HTTP request that reaches moto goes through one counting proxy
(bench/latency-proxy.mjs, no added latency), retries included, counted the same way for both tools.

- **Configurations.** reconcile: N copies of examples/clock-app-ha.yaml in one spec
  (bench/gen-spec.mjs, ${resourcesPerCopy()} resources a copy). Terraform: bench/terraform/ with copies = N, the
  same AWS resources and settings in the provider's resource types (${big.tfResources / big.n} a copy plus an AMI data source, as
  main.tf maps them). Left out of Terraform's: the Auto Scaling notification configuration, which moto
  does not implement (reconcile's one call gets a 500, it warns and goes on; the provider retries it
  without end). Terraform removes the allow-all egress rule AWS gives a new security group and adds it
  back from the configuration; reconcile leaves it. Terraform keeps a state file; reconcile reads AWS.
- **Terraform as users run it**: \`terraform apply -auto-approve\`, \`terraform plan -detailed-exitcode\`
  (it refreshes every resource), \`terraform destroy -auto-approve\`, the default -parallelism=10.
  reconcile: \`apply --yes\`, \`plan --detailed-exitcode\`, \`destroy --yes\`, its default --concurrency=8.
- **Pacing.** reconcile as shipped paces its calls at AWS's published request rates (a client-side
  token bucket per service and action class, src/aws/limiter.ts); Terraform has no such limiter and
  moto throttles nobody, so on moto Terraform never waits for a rate while reconcile does where a step
  needs more calls than a bucket holds. "limiter off" is reconcile with RECONCILE_RATE_SCALE=off: the
  tool's own cost. Against AWS, Terraform would meet the same buckets as throttling errors and retries.
- **Terraform's own waits** (its slowest resources, from its output): ${waitText || 'none over 2 s'}. These are
  the provider's waits after a write: it polls a load balancer until it is active (first check after
  a fixed delay), reads a VPC's or subnet's attributes, a bucket's lifecycle configuration, a new
  instance profile or launch template back until they show as written; it pays them on moto too,
  where everything is done at once. Each wait holds one of Terraform's 10 parallel slots: at
  N=${j.sizes[j.sizes.length - 1].n} they add up to about ${Math.round(slotSeconds)} slot-seconds, at least ${Math.round(slotSeconds / 10)} s of apply.
- **Converged plan**: ${tfPlanCodes.every((c) => c === 0) ? 'Terraform said "No changes" in every run.' : `Terraform reported changes (exit 2) in ${tfPlanCodes.filter((c) => c === 2).length} of ${tfPlanCodes.length} runs: perpetual diffs of the provider against moto, ${diffText}.`}
- Requests of the converged plan at N=${big.n}, by operation (most first): Terraform ${topOps(big.tools.terraform, 'plan (converged)')};
  reconcile ${topOps(big.tools.reconcile, 'plan (converged)')}.

### Ratios (medians)

${ratios.join('\n')}

### Raw numbers

CPU s and peak RSS are the process's and its children's (Terraform's provider plugin included), from
\`/usr/bin/time\`.

${rows.join('\n')}
`;
}

let TERRAFORM;
async function main() {
  let j;
  if (opt.render) j = JSON.parse(readFileSync(opt.render, 'utf8'));
  else {
    if (!existsSync(CLI)) throw new Error('dist/cli.js is missing: run npm run build first (npm run bench:terraform does)');
    TERRAFORM = findTerraform();
    const skipped = !TERRAFORM
      ? `no terraform binary (--terraform ${opt.terraform}) on this machine.`
      : !existsSync(providerDir())
        ? `the AWS provider ${PROVIDER_VERSION} is not in the filesystem mirror ${opt.mirror} (${providerDir()}).`
        : undefined;
    if (skipped) log(`skipped: ${skipped}`);
    j = skipped ? { date: new Date().toISOString(), skipped } : await measureAll();
    writeFileSync(opt.json, JSON.stringify(j, null, 1) + '\n');
  }
  writeFileSync(opt.out, replaceSection(existsSync(opt.out) ? readFileSync(opt.out, 'utf8') : '', 'terraform', section(j)));
  log(`wrote ${opt.out}${opt.render ? '' : ` and ${opt.json}`}`);
}

await main();
