#!/usr/bin/env node
// The command table. This is the only place that prints errors and sets exit codes.
import type { Command as CommandType } from 'commander';
import { createInterface } from 'node:readline/promises';
import { readFileSync } from 'node:fs';
import { enableCompileCache } from './src/aws/sdk/load.js';
import { defaultSpecCacheDir, enableSpecCache } from './src/spec/parse-cache.js';
import type { GlobalOptions, Io } from './src/commands/common.js';

// The SDK's notice that future releases need Node 22 is said once in the README, not on every run.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
// Before any CommonJS module is loaded (commander is the first; the SDK clients cost the most). Not
// for watch: a long-running process, whose start-up time does not matter and whose memory does (the
// cache file stays in memory); V8 is set to keep its memory small from here on (src/watch/memory.ts).
if (!process.argv.slice(2).includes('watch')) enableCompileCache();
else (await import('./src/watch/memory.js')).startService();
// What parsing a spec's YAML gave, kept by the text's hash (src/spec/parse-cache.ts); RECONCILE_SPEC_CACHE=off turns it off.
if (process.env.RECONCILE_SPEC_CACHE !== 'off') enableSpecCache(defaultSpecCacheDir(process.env));
const { Command, Option } = await import('commander');
type Command = CommandType;
const { FLAG_PARSERS: parse } = await import('./src/commands/flags.js');

// A reader that stops early (`reconcile plan spec.yaml | head`): the rest of the output is dropped and
// the command finishes as it would have (an apply is never cut short by its reader), instead of a
// crash on EPIPE with a stack trace.
const dropOnClosedPipe = (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE' && e.code !== 'ERR_STREAM_DESTROYED') throw e;
};
process.stdout.on('error', dropOnClosedPipe);
process.stderr.on('error', dropOnClosedPipe);

const useColor = (flag: boolean | undefined) => flag !== false && !process.env.NO_COLOR && !!process.stdout.isTTY;

function makeIo(g: GlobalOptions): Io {
  const tty = !!process.stdin.isTTY && !!process.stdout.isTTY;
  return {
    out: (t) => process.stdout.write(t + '\n'),
    err: (t) => process.stderr.write(t + '\n'),
    color: useColor(g.color),
    confirm: tty
      ? async (q) => {
          const rl = createInterface({ input: process.stdin, output: process.stdout });
          try {
            const { confirmYes } = await import('./src/commands/confirm.js');
            return await confirmYes((p) => rl.question(p), q);
          } finally {
            rl.close();
          }
        }
      : undefined,
  };
}

/** Turns anything thrown into one clear message and an exit code. Stack traces only with DEBUG. */
async function fail(e: unknown): Promise<number> {
  const { UserError } = await import('./src/engine/errors.js');
  const { ParamsError } = await import('./src/spec/params.js');
  if (e instanceof UserError || e instanceof ParamsError) {
    process.stderr.write(`error: ${e.message}\n${e.hint ? `  hint: ${e.hint}\n` : ''}`);
    return e.exitCode;
  }
  const { explainAwsError } = await import('./src/aws/errors.js');
  const x = explainAwsError(e);
  process.stderr.write(`error: ${x.message}\n${x.hint ? `  hint: ${x.hint}\n` : ''}`);
  if (process.env.DEBUG) process.stderr.write(`${(e as Error)?.stack ?? e}\n`);
  return 1;
}

function run(action: (g: GlobalOptions, io: Io) => Promise<number>) {
  return async function (this: Command) {
    const g = this.optsWithGlobals() as GlobalOptions;
    if (g.profile) process.env.AWS_PROFILE = g.profile; // so that an error can name a profile that does not exist
    let code: number;
    try {
      code = await action(g, makeIo(g));
    } catch (e) {
      code = await fail(e);
    }
    process.exitCode = code;
  };
}

const version = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const program = new Command('reconcile')
  .description(
    'Keep an AWS deployment exactly as its YAML spec says. Live AWS is the state (no state file): everything the tool creates carries the tags reconcile:stack and reconcile:id, and it never changes what lacks them.',
  )
  .version(version)
  .option('--region <region>', 'AWS region (default: the spec\'s region)')
  .option('--profile <name>', 'named AWS profile (default: AWS_PROFILE or the default credential chain)')
  .option('--endpoint-url <url>', 'send every AWS call here, e.g. a local moto server (default: AWS_ENDPOINT_URL)')
  .option('--no-color', 'plain output (NO_COLOR is honoured too)')
  .option('--set <name=value>', "a value for the spec's parameter name, used as ${param:name} (repeatable)", (v: string, prev: string[] = []) => [...prev, v])
  .option('--values <file>', 'a YAML file of parameter values (name: value); --set wins over it')
  .showHelpAfterError('(run with --help for usage)')
  .addHelpText(
    'after',
    `
Exit codes: 0 success / no changes, 1 error, 2 plan has changes (with --detailed-exitcode;
for check: a target in ALARM), 3 a safety rule (protect, --max-deletes) blocked the plan.

Examples:
  reconcile validate examples/*.yaml                 check specs offline (no AWS, no credentials)
  reconcile plan examples/microblog-vpc.yaml         what would change, and why
  reconcile plan spec.yaml --out plan.json           save a plan; apply exactly it later
  reconcile apply spec.yaml                          show the plan, ask, then change AWS
  reconcile apply plan.json                          apply a saved plan (refused if AWS changed since)
  reconcile destroy spec.yaml --yes                  delete everything the stack owns
  reconcile apply spec.yaml --yes --lock-bucket ci-locks --lock-timeout 10m   one apply of the stack at a time
  reconcile apply spec.yaml --yes --timeout 30m      give up after 30 minutes, saying what was done
  reconcile unlock spec.yaml                         who holds the stack lock; remove it (asks first)
  reconcile policy spec.yaml --json                  the IAM policy this spec needs, for the CI role
  reconcile watch spec.yaml                          heal drift every minute, run alert rules, /metrics on :9464
  reconcile watch specs/ --max-concurrent-stacks 8   a fleet: every spec under specs/, each on its own schedule
  reconcile check spec.yaml                          alert rules once, for cron: exit 0 OK, 2 ALARM, 1 error
  AWS_ENDPOINT_URL=http://127.0.0.1:5000 reconcile plan spec.yaml   against a local moto server`,
  );

program
  .command('validate')
  .description('Check specs offline: schema, references, cycles, ${env:...} values. No AWS call.')
  .argument('<spec...>', 'spec files')
  .option('--json', 'machine-readable diagnostics (same as --format json)')
  .addOption(
    new Option('--format <format>', 'text; json; sarif (SARIF 2.1.0 for GitHub code scanning); github (::error annotations in Actions logs)')
      .choices(['text', 'json', 'sarif', 'github'])
      .default('text'),
  )
  .action(
    run(async (g, io) => {
      const cmd = program.commands.find((c) => c.name() === 'validate')!;
      const { runValidate } = await import('./src/commands/validate.js');
      const o = cmd.opts();
      const { specParams } = await import('./src/spec/params.js');
      const r = runValidate(cmd.args, { format: o.json ? 'json' : o.format, toolVersion: version, params: specParams(g) });
      if (r.output) io.out(r.output);
      return r.exitCode;
    }),
  );

program
  .command('graph')
  .description('Print the dependency graph of a spec offline (no AWS call): what refers to what, and the steps apply takes.')
  .argument('<spec>', 'spec file')
  .addOption(new Option('--format <format>', 'mermaid (renders on GitHub), dot (Graphviz) or json').choices(['mermaid', 'dot', 'json']).default('mermaid'))
  .action(
    run(async (g, io) => {
      const cmd = program.commands.find((c) => c.name() === 'graph')!;
      const { graphCommand } = await import('./src/commands/graph.js');
      const { specParams } = await import('./src/spec/params.js');
      return graphCommand(cmd.args[0], cmd.opts(), io, specParams(g));
    }),
  );

program
  .command('completion')
  .description('Print a shell completion script for bash or zsh, e.g. source <(reconcile completion bash)')
  .argument('<shell>', 'bash or zsh')
  .action(
    run(async (g, io) => {
      const cmd = program.commands.find((c) => c.name() === 'completion')!;
      const { completionScript } = await import('./src/commands/completion.js');
      io.out(completionScript(cmd.args[0], program));
      return 0;
    }),
  );

const planOptions = (c: Command) =>
  c
    .option('--prune', 'also delete resources the stack owns that are no longer in the spec')
    .addOption(new Option('--max-deletes <n>', 'refuse a plan that deletes or replaces more than n resources').argParser(parse.maxDeletes))
    .addOption(timeoutOption('the whole command'));

/** --timeout: a bound on a command (on each cycle for watch); when reached, the command stops with a clear error. */
function timeoutOption(what: string, dflt?: string) {
  const o = new Option('--timeout <duration>', `give up when ${what} has not finished within this time, e.g. 10m (1s or more)`).argParser(parse.timeout);
  return dflt ? o.default(dflt) : o;
}

planOptions(
  program
    .command('plan')
    .description('Read live AWS and show what apply would change: + create, ~ update in place, -/+ replace, - delete.')
    .argument('<spec>', 'spec file')
    .option('--out <file>', 'save the plan as JSON, to apply exactly it later with `reconcile apply <file>`')
    .option('--json', 'print the plan as JSON (same as --format json)')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json', 'markdown']).default('text'))
    .option('--detailed-exitcode', 'exit 2 when there are changes (0: none, 1: error, 3: blocked)')
    .option('-v, --verbose', 'also list looked-up resources'),
).action(
  run(async (g, io) => {
    const cmd = program.commands.find((c) => c.name() === 'plan')!;
    const o = cmd.opts();
    const { planCommand } = await import('./src/commands/plan.js');
    return planCommand(cmd.args[0], { ...o, format: o.json ? 'json' : o.format }, g, io);
  }),
);

/** The stack lock's flags, for the commands that write (apply, destroy). */
const lockOptions = (c: Command) =>
  c
    .option('--lock-bucket <bucket>', 'S3 bucket holding the stack lock (default: lock.bucket in the spec; with neither, the run is unlocked and says so)')
    .addOption(new Option('--lock-timeout <duration>', 'how long to wait while another run holds the lock, e.g. 30s, 10m (default: lock.timeout in the spec, else 5m)').argParser(parse.lockTimeout))
    .option('--no-lock', 'do not take the stack lock (unsafe while another run may change the stack)');

lockOptions(planOptions(
  program
    .command('apply')
    .description('Make AWS match the spec. Shows the plan and asks first (on a terminal); --yes to skip.')
    .argument('<spec-or-plan>', 'spec file, or a plan saved with `plan --out`')
    .option('-y, --yes', 'do not ask for confirmation (required without a terminal, e.g. in CI)')
    .addOption(new Option('--concurrency <n>', 'resources worked on at once (1 to 100)').default(8).argParser(parse.concurrency)),
)).action(
  run(async (g, io) => {
    const cmd = program.commands.find((c) => c.name() === 'apply')!;
    const { applyCommand } = await import('./src/commands/apply.js');
    return applyCommand(cmd.args[0], cmd.opts(), g, io);
  }),
);

lockOptions(
  program
    .command('destroy')
    .description('Delete everything the stack owns (tagged reconcile:stack=<stack>), in reverse dependency order.')
    .argument('<spec>', 'spec file')
    .option('-y, --yes', 'do not ask for confirmation')
    .addOption(timeoutOption('the whole command')),
).action(
  run(async (g, io) => {
    const cmd = program.commands.find((c) => c.name() === 'destroy')!;
    const { applyCommand } = await import('./src/commands/apply.js');
    return applyCommand(cmd.args[0], cmd.opts(), g, io, true);
  }),
);

program
  .command('unlock')
  .description(
    'Show who holds the stack lock and remove it, e.g. after a run was killed. Removes any lock, expired or not: a holder still running stops making changes at its next lease renewal.',
  )
  .argument('<spec>', 'spec file')
  .option('--lock-bucket <bucket>', 'S3 bucket holding the stack lock (default: lock.bucket in the spec)')
  .option('-y, --yes', 'do not ask for confirmation (required without a terminal)')
  .action(
    run(async (g, io) => {
      const cmd = program.commands.find((c) => c.name() === 'unlock')!;
      const { unlockCommand } = await import('./src/commands/unlock.js');
      return unlockCommand(cmd.args[0], cmd.opts(), g, io);
    }),
  );

program
  .command('policy')
  .description(
    'Print the least-privilege IAM policy for this spec (plan, apply, watch, destroy), from what each kind declares it calls. Offline: no AWS call.',
  )
  .argument('<spec>', 'spec file')
  .option('--json', 'only the policy document, e.g. for aws iam put-user-policy --policy-document')
  .option('--lock-bucket <bucket>', 'include the stack lock in this bucket (default: lock.bucket in the spec)')
  .action(
    run(async (g, io) => {
      const cmd = program.commands.find((c) => c.name() === 'policy')!;
      const { policyCommand } = await import('./src/commands/policy.js');
      return policyCommand(cmd.args[0], cmd.opts(), g, io);
    }),
  );

program
  .command('output')
  .description('Print the ids, IPs and DNS names of what the stack has in AWS now.')
  .argument('<spec>', 'spec file')
  .option('--json', 'as JSON')
  .action(
    run(async (g, io) => {
      const cmd = program.commands.find((c) => c.name() === 'output')!;
      const { outputCommand } = await import('./src/commands/output.js');
      return outputCommand(cmd.args[0], cmd.opts(), g, io);
    }),
  );

program
  .command('watch')
  .description(
    'Run as a controller: every --interval load the spec, heal drift (apply mode) or report it (detect mode), and evaluate the alert rules. Serves /healthz, /readyz and /metrics; logs JSON lines (readable on a terminal). SIGTERM/SIGINT: finish the current step (its AWS calls are ended after 5 s), exit 0. Given a directory or several specs, serves every stack in one process (a fleet), each on its own schedule; --shards splits a fleet over processes.',
  )
  .argument('<spec...>', 'spec file (re-read every cycle; an invalid edit is reported and the last valid spec is kept), or directories of spec files and several specs: a fleet, whose specs are looked for again every 5 s')
  .addOption(new Option('--interval <duration>', "time between cycles, with 10% jitter; e.g. 30s, 5m (alert rules run at their own `every`); a spec's watch.interval wins").argParser(parse.interval).default('60s'))
  .addOption(timeoutOption('a cycle', '15m'))
  .addOption(
    new Option('--mode <mode>', "apply: change AWS back to the spec; detect: only report drift (log, metric, notify.drift topics); a spec's watch.mode wins").choices(['apply', 'detect']).default('apply'),
  )
  .addOption(new Option('--port <port>', 'port of /healthz, /readyz and /metrics (0: any free port)').argParser(parse.port).default(9464))
  .option('--host <address>', 'address to listen on', '0.0.0.0')
  .option('--once', 'run one cycle (every alert rule evaluated) and exit: 0 when it succeeded, 1 otherwise')
  .option('--no-notify', 'evaluate alert rules without publishing (and without keeping their state)')
  .option('--state-file <file>', 'alert state file, for rules whose state is not kept in S3 (default: $XDG_STATE_HOME/reconcile/<stack>-alerts.json)')
  .addOption(new Option('--max-deletes <n>', 'never apply a plan that deletes or replaces more than n resources').argParser(parse.maxDeletes))
  .addOption(new Option('--concurrency <n>', 'resources worked on at once when healing (1 to 100)').argParser(parse.concurrency).default(8))
  .addOption(new Option('--log-level <level>', 'log level').choices(['debug', 'info', 'warn', 'error']).default('info'))
  .addOption(new Option('--log-format <format>', 'json lines, or pretty (default: pretty on a terminal, json otherwise)').choices(['json', 'pretty']))
  .option('--lock-bucket <bucket>', 'S3 bucket holding the stack lock, taken around each healing apply (default: lock.bucket in the spec; with neither, healing takes a lock on this machine only and says so once)')
  .addOption(
    new Option('--lock-timeout <duration>', 'how long a healing cycle waits while another run holds the lock before trying again at the next cycle (default: 10s)').argParser(parse.lockTimeout),
  )
  .option('--no-lock', 'heal without the stack lock (unsafe while another run may change the stack)')
  .addOption(new Option('--max-concurrent-stacks <n>', 'a fleet: stack cycles that run at once; a due stack waits for a free slot').argParser(parse.maxConcurrentStacks).default(4))
  .addOption(new Option('--shards <n>', 'a fleet cut into n shards (one per StatefulSet replica): serve only the stacks whose hash falls in --shard').env('RECONCILE_SHARDS'))
  .addOption(new Option('--shard <i>', 'which shard this process serves: 0..n-1, or a StatefulSet pod name such as reconcile-2 (default: the host name)').env('RECONCILE_SHARD'))
  .action(
    run(async (g, io) => {
      const cmd = program.commands.find((c) => c.name() === 'watch')!;
      const { isFleet, watchFleetCommand } = await import('./src/commands/watch-fleet.js');
      if (isFleet(cmd.args, cmd.opts())) return watchFleetCommand(cmd.args, cmd.opts(), g, io);
      const { watchCommand } = await import('./src/commands/watch.js');
      return watchCommand(cmd.args[0], cmd.opts(), g, io);
    }),
  );

program
  .command('check')
  .description(
    'Evaluate every alert rule once and notify what is due, as watch would (for cron or CI). Exit 0: all OK, 2: any target in ALARM, 1: an error (including a rule that matched no instance or a failed notification).',
  )
  .argument('<spec>', 'spec file')
  .option('--no-notify', 'evaluate without publishing (and without keeping the state)')
  .option('--state-file <file>', 'alert state file, for rules whose state is not kept in S3 (default: $XDG_STATE_HOME/reconcile/<stack>-alerts.json)')
  .option('--json', 'the evaluation as JSON')
  .action(
    run(async (g, io) => {
      const cmd = program.commands.find((c) => c.name() === 'check')!;
      const { checkCommand } = await import('./src/commands/check.js');
      return checkCommand(cmd.args[0], cmd.opts(), g, io);
    }),
  );

program
  .command('status')
  .description(
    'A table of each resource: in sync, drifted or missing; for instances their state, CPUUtilization, NetworkIn and NetworkOut over the last 5 minutes; and the state of every alert rule target. Changes nothing.',
  )
  .argument('<spec>', 'spec file')
  .option('--json', 'as JSON')
  .action(
    run(async (g, io) => {
      const cmd = program.commands.find((c) => c.name() === 'status')!;
      const { statusCommand } = await import('./src/commands/status.js');
      return statusCommand(cmd.args[0], cmd.opts(), g, io);
    }),
  );

await program.parseAsync(process.argv);
