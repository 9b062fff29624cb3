#!/usr/bin/env node
// The step logic of the GitHub Action (action.yml at the repository root), kept here so that it can
// be run and tested outside GitHub: `node scripts/action-run.mjs install` and
// `node scripts/action-run.mjs run SPEC...`, with the action's inputs in INPUT_* variables and
// GitHub's files in GITHUB_OUTPUT / GITHUB_STEP_SUMMARY.
//
//   validate  annotations on the changed lines (::error file=...), optional SARIF file; fails on errors
//   plan      the plan in the log, as markdown in the job summary and a file (for a PR comment), the
//             JSON plan as a file (for an artifact); outputs has-changes and exit-code. A plan with
//             changes is a successful step; an error (exit 1) or a safety block (exit 3) fails it.
//   apply     apply --yes; the result in the job summary.
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ACTION_PATH = process.env.GITHUB_ACTION_PATH || join(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ACTION_PATH, 'dist', 'cli.js');
const env = process.env;

function setOutput(name, value) {
  if (env.GITHUB_OUTPUT) appendFileSync(env.GITHUB_OUTPUT, `${name}=${value}\n`);
  else console.log(`output ${name}=${value}`);
}

function summary(markdown) {
  if (env.GITHUB_STEP_SUMMARY) appendFileSync(env.GITHUB_STEP_SUMMARY, markdown.endsWith('\n') ? markdown : `${markdown}\n`);
}

/** Splits the `args` input on whitespace; '...' and "..." keep spaces together. */
export function splitArgs(s) {
  const out = [];
  for (const m of (s ?? '').matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}

/** Runs the CLI, showing its output in the log as it comes, and returns the exit code and stderr. */
function reconcile(args, { captureStdout = false } = {}) {
  return new Promise((done) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      process.stdout.write(d);
      if (captureStdout) out += d;
    });
    child.stderr.on('data', (d) => {
      process.stderr.write(d);
      err += d;
    });
    child.on('error', (e) => done({ code: 1, out, err: `${err}cannot start reconcile: ${e.message}\n` }));
    child.on('close', (code, signal) => done({ code: code ?? (signal ? 1 : 0), out, err }));
  });
}

const fence = (text) => {
  const longest = Math.max(2, ...(text.match(/`+/g) ?? []).map((r) => r.length));
  return `${'`'.repeat(longest + 1)}\n${text.trimEnd()}\n${'`'.repeat(longest + 1)}`;
};
const tail = (text, lines = 40) => text.trimEnd().split('\n').slice(-lines).join('\n');

function install() {
  if (env.RECONCILE_ACTION_SKIP_INSTALL === 'true' && existsSync(CLI)) {
    console.log(`reconcile is already built in ${ACTION_PATH}: not installing (RECONCILE_ACTION_SKIP_INSTALL)`);
    return 0;
  }
  console.log(`Installing reconcile in ${ACTION_PATH} with Node ${process.version} (npm ci builds dist/)`);
  const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: ACTION_PATH, stdio: 'inherit', env });
  if (r.status !== 0 || !existsSync(CLI)) {
    console.log(`::error title=reconcile::installing reconcile failed (npm ci exited ${r.status ?? r.signal}); it needs Node.js 20.11 or later (this runner has ${process.version})`);
    return 1;
  }
  return 0;
}

async function validate(specs, extra) {
  const r = await reconcile(['validate', '--format', 'github', ...extra, ...specs], { captureStdout: true });
  if (env.INPUT_SARIF_FILE) {
    const sarif = spawnSync(process.execPath, [CLI, 'validate', '--format', 'sarif', ...extra, ...specs], { encoding: 'utf8', env, maxBuffer: 64 * 1024 * 1024 });
    writeFileSync(env.INPUT_SARIF_FILE, sarif.stdout);
    setOutput('sarif-file', resolve(env.INPUT_SARIF_FILE));
  }
  const lines = r.out.split('\n').filter((l) => l && !l.startsWith('::'));
  const problems = r.out.split('\n').filter((l) => l.startsWith('::error') || l.startsWith('::warning')).length;
  summary(
    [`### reconcile validate: ${r.code === 0 ? 'valid' : r.code === 1 && problems ? 'errors' : `failed (exit ${r.code})`}`, '', ...lines.map((l) => `- ${l}`), ...(r.err ? ['', fence(tail(r.err))] : []), ''].join('\n'),
  );
  setOutput('exit-code', r.code);
  return r.code;
}

async function plan(spec, extra) {
  const planFile = resolve(env.INPUT_PLAN_FILE || 'reconcile-plan.json');
  const mdFile = planFile.replace(/(\.json)?$/, '.md');
  const r = await reconcile(['plan', spec, '--out', planFile, '--detailed-exitcode', ...extra]);
  let markdown;
  let hasChanges = false;
  // 0 no changes, 2 changes, 3 blocked: the plan was made and saved. 1: an error, no plan.
  if ([0, 2, 3].includes(r.code) && existsSync(planFile)) {
    const saved = JSON.parse(readFileSync(planFile, 'utf8'));
    hasChanges = saved.changes.some((c) => !['noop', 'read', 'keep'].includes(c.action));
    const { renderMarkdown } = await import(pathToFileURL(join(ACTION_PATH, 'dist', 'src', 'engine', 'render.js')).href);
    const run = env.GITHUB_RUN_ID && env.GITHUB_REPOSITORY ? `${env.GITHUB_SERVER_URL || 'https://github.com'}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}` : undefined;
    const artifact = env.INPUT_PLAN_ARTIFACT;
    const fullPlan = artifact && run ? `the \`${artifact}\` artifact of [this run](${run})` : artifact ? `the \`${artifact}\` artifact of this run` : `\`${planFile}\``;
    markdown = renderMarkdown(saved, { fullPlan });
    setOutput('plan-file', planFile);
  } else {
    markdown = [`### reconcile plan: \`${spec}\` failed (exit ${r.code})`, '', fence(tail(r.err || 'no output')), ''].join('\n');
  }
  writeFileSync(mdFile, markdown);
  summary(markdown);
  setOutput('markdown-file', mdFile);
  setOutput('has-changes', hasChanges);
  setOutput('exit-code', r.code);
  return r.code === 2 ? 0 : r.code;
}

async function apply(spec, extra) {
  const r = await reconcile(['apply', spec, '--yes', ...extra], { captureStdout: true });
  const verdict = r.code === 0 ? 'done' : r.code === 3 ? 'blocked by a safety rule (exit 3)' : `failed (exit ${r.code})`;
  summary([`### reconcile apply: \`${spec}\` ${verdict}`, '', fence(tail(`${r.out}${r.err ? `\n${r.err}` : ''}`, 60)), ''].join('\n'));
  setOutput('exit-code', r.code);
  return r.code;
}

async function main(argv) {
  const [step, ...specs] = argv;
  if (step === 'install') return install();
  if (step !== 'run') {
    console.error('usage: action-run.mjs install | run SPEC...');
    return 1;
  }
  const command = (env.INPUT_COMMAND || '').trim();
  const extra = splitArgs(env.INPUT_ARGS);
  const fail = (message) => {
    console.log(`::error title=reconcile::${message}`);
    setOutput('exit-code', 1);
    return 1;
  };
  if (!existsSync(CLI)) return fail(`reconcile is not built in ${ACTION_PATH} (the install step did not run or failed)`);
  if (specs.length === 0) return fail('the spec input is empty: name the spec file(s), relative to working-directory');
  if (command === 'validate') return validate(specs, extra);
  if (command !== 'plan' && command !== 'apply') return fail(`command must be validate, plan or apply, not "${command}"`);
  if (specs.length !== 1) return fail(`${command} takes one spec file; got ${specs.length}: ${specs.join(' ')}`);
  return command === 'plan' ? plan(specs[0], extra) : apply(specs[0], extra);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) process.exitCode = await main(process.argv.slice(2));
