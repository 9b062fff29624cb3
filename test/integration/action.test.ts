// The GitHub Action as GitHub runs it: action.yml is parsed, its composite steps' `run` scripts are
// executed with bash (as GitHub does: bash --noprofile --norc -eo pipefail) with ${{ inputs.* }}
// filled in, a fresh GITHUB_OUTPUT file per step and one GITHUB_STEP_SUMMARY file, against moto.
// The install step is told to skip `npm ci` (RECONCILE_ACTION_SKIP_INSTALL) since this checkout is built.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { validateFiles } from '../../src/commands/validate.js';
import type { Change, Plan } from '../../src/engine/plan.js';
import { MARKDOWN_HARD_CAP, renderMarkdown } from '../../src/engine/render.js';
import { startMoto, type Moto } from '../helpers/moto.js';
import { specYaml, vpcWithWeb } from '../helpers/specs.js';

const ROOT = resolve(import.meta.dirname, '../..');

interface ActionYml {
  inputs: Record<string, { required?: boolean; default?: string; description: string }>;
  outputs: Record<string, { value: string; description: string }>;
  runs: { using: string; steps: { id?: string; name: string; shell: string; run: string; env?: Record<string, string>; 'working-directory'?: string }[] };
}
const action = parse(readFileSync(join(ROOT, 'action.yml'), 'utf8')) as ActionYml;

interface ActionRun {
  /** 0 when every step succeeded, else the exit code of the step that failed. */
  code: number;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  summary: string;
}

let moto: Moto;
let ws: string; // GITHUB_WORKSPACE

/** Runs the composite action's steps like the runner does. */
function runAction(inputs: Record<string, string>, extraEnv: Record<string, string> = {}, actionPath = ROOT): ActionRun {
  for (const k of Object.keys(inputs)) expect(action.inputs, `unknown input ${k}`).toHaveProperty(k);
  const values: Record<string, string> = {};
  for (const [k, def] of Object.entries(action.inputs)) {
    if (def.required && inputs[k] === undefined) throw new Error(`input ${k} is required`);
    values[k] = inputs[k] ?? def.default ?? '';
  }
  const fill = (s: string) => {
    const out = s.replace(/\$\{\{\s*inputs\.([\w-]+)\s*\}\}/g, (_, k: string) => values[k]);
    if (out.includes('${{')) throw new Error(`an expression the test runner does not know: ${out}`);
    return out;
  };
  const tmp = mkdtempSync(join(tmpdir(), 'reconcile-action-run-'));
  const summaryFile = join(tmp, 'summary.md');
  writeFileSync(summaryFile, '');
  const stepOutputs: Record<string, Record<string, string>> = {};
  let code = 0;
  let stdout = '';
  let stderr = '';
  for (const [i, step] of action.runs.steps.entries()) {
    expect(step.shell).toBe('bash');
    const outFile = join(tmp, `output-${i}`);
    writeFileSync(outFile, '');
    const script = join(tmp, `step-${i}.sh`);
    writeFileSync(script, fill(step.run));
    const env: Record<string, string> = {
      ...(process.env as Record<string, string>),
      ...moto.env,
      GITHUB_ACTIONS: 'true',
      GITHUB_WORKSPACE: ws,
      GITHUB_ACTION_PATH: actionPath,
      GITHUB_OUTPUT: outFile,
      GITHUB_STEP_SUMMARY: summaryFile,
      RECONCILE_ACTION_SKIP_INSTALL: 'true',
      ...extraEnv,
    };
    for (const [k, v] of Object.entries(step.env ?? {})) env[k] = fill(v);
    const r = spawnSync('bash', ['--noprofile', '--norc', '-eo', 'pipefail', script], {
      cwd: resolve(ws, fill(step['working-directory'] ?? '.')),
      env,
      encoding: 'utf8',
      timeout: 120_000,
    });
    stdout += r.stdout;
    stderr += r.stderr;
    const outs: Record<string, string> = {};
    for (const line of readFileSync(outFile, 'utf8').split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) outs[line.slice(0, eq)] = line.slice(eq + 1);
    }
    if (step.id) stepOutputs[step.id] = outs;
    if (r.status !== 0) {
      code = r.status ?? 1;
      break;
    }
  }
  const outputs: Record<string, string> = {};
  for (const [k, o] of Object.entries(action.outputs)) {
    const m = /^\$\{\{\s*steps\.([\w-]+)\.outputs\.([\w-]+)\s*\}\}$/.exec(o.value);
    expect(m, `output ${k} maps to a step output`).toBeTruthy();
    outputs[k] = stepOutputs[m![1]]?.[m![2]] ?? '';
  }
  return { code, stdout, stderr, outputs, summary: readFileSync(summaryFile, 'utf8') };
}

const SPEC = (sgDescription = 'web tier', protect = false) =>
  specYaml('actiontest', vpcWithWeb({ web: `    description: ${sgDescription}\n${protect ? '    protect: true\n' : ''}` }));

beforeAll(async () => {
  if (!existsSync(join(ROOT, 'dist/cli.js')) || !existsSync(join(ROOT, 'dist/src/engine/render.js')))
    throw new Error('dist/ is missing: run npm run build (npm test does)');
  moto = await startMoto();
  ws = mkdtempSync(join(tmpdir(), 'reconcile-action-ws-'));
  mkdirSync(join(ws, 'infra/stacks'), { recursive: true });
});
afterAll(async () => moto?.stop());

describe('action.yml', () => {
  it('is a composite action with the inputs and outputs the workflows use', () => {
    expect(action.runs.using).toBe('composite');
    for (const k of ['command', 'spec', 'working-directory', 'args', 'plan-file', 'plan-artifact', 'sarif-file']) expect(action.inputs[k]?.description, k).toBeTruthy();
    expect(action.inputs.command.required).toBe(true);
    expect(action.inputs.spec.required).toBe(true);
    for (const k of ['exit-code', 'has-changes', 'plan-file', 'markdown-file', 'sarif-file']) expect(action.outputs[k]?.description, k).toBeTruthy();
    // Inputs reach the shell only through env, never pasted into the script text (script injection).
    for (const s of action.runs.steps) expect(s.run).not.toMatch(/\$\{\{/);
    expect(action.runs.steps.map((s) => s.run).join('\n')).toContain('$GITHUB_ACTION_PATH/scripts/action-run.mjs');
  });
});

describe('the action against moto', () => {
  it('validate: annotations at the positions validate reports, relative to the workspace; SARIF on request; fails on errors', () => {
    writeFileSync(join(ws, 'infra/stacks/good.yaml'), SPEC().replace('cidr: 0.0.0.0/0', 'cidr: 0.0.0.0/0 }\n      - { port: 22, cidr: 0.0.0.0/0'));
    writeFileSync(join(ws, 'infra/stacks/bad.yaml'), SPEC().replace('vpc: main', 'vpc: mian').replace('kind: vpc', 'kind: vpc\n    zone: a'));
    const r = runAction({ command: 'validate', spec: 'stacks/*.yaml', 'working-directory': 'infra', 'sarif-file': 'out.sarif' });
    expect(r.code).toBe(1);
    expect(r.outputs['exit-code']).toBe('1');
    const report = validateFiles([join(ws, 'infra/stacks/bad.yaml'), join(ws, 'infra/stacks/good.yaml')], {});
    const want = report.files.flatMap((f) => f.diagnostics.map((d) => `::${d.severity} file=infra/stacks/${f.file.split('/').pop()},line=${d.line},col=${d.col}`));
    expect(want).toHaveLength(3); // two errors in bad.yaml, the SSH warning in good.yaml
    const got = r.stdout.split('\n').filter((l) => l.startsWith('::')).map((l) => l.replace(/,title=.*$/, ''));
    expect(got).toEqual(want);
    expect(r.summary).toContain('### reconcile validate: errors');
    expect(r.summary).toContain('- stacks/bad.yaml: 2 errors, 0 warnings');
    const sarif = JSON.parse(readFileSync(join(ws, 'infra/out.sarif'), 'utf8'));
    expect(r.outputs['sarif-file']).toBe(join(ws, 'infra/out.sarif'));
    expect(sarif.runs[0].results.map((x: { locations: { physicalLocation: { artifactLocation: { uri: string } } }[] }) => x.locations[0].physicalLocation.artifactLocation.uri)).toEqual([
      'infra/stacks/bad.yaml',
      'infra/stacks/bad.yaml',
      'infra/stacks/good.yaml',
    ]);
    // Only the valid one: the step passes, the warning is still annotated.
    const ok = runAction({ command: 'validate', spec: 'stacks/good.yaml', 'working-directory': 'infra' });
    expect(ok.code).toBe(0);
    expect(ok.outputs['exit-code']).toBe('0');
    expect(ok.stdout).toMatch(/^::warning file=infra\/stacks\/good\.yaml,line=14,col=\d+,title=reconcile open-to-internet::/m);
  });

  it('plan: changes are a successful step with has-changes=true, the markdown plan in the summary and a file, the JSON plan saved', () => {
    writeFileSync(join(ws, 'spec.yaml'), SPEC());
    const r = runAction({ command: 'plan', spec: 'spec.yaml', 'plan-artifact': 'reconcile-plan' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.outputs).toMatchObject({ 'exit-code': '2', 'has-changes': 'true', 'plan-file': join(ws, 'reconcile-plan.json'), 'markdown-file': join(ws, 'reconcile-plan.md') });
    expect(r.summary.split('\n')[0]).toBe('### reconcile plan: `actiontest` (us-east-1): 2 to add, 0 to change, 0 to replace, 0 to destroy, 0 blocked');
    expect(r.summary).toContain('<details><summary><code>+</code> <code>security-group.web</code> will be created</summary>');
    expect(readFileSync(join(ws, 'reconcile-plan.md'), 'utf8')).toBe(r.summary);
    const saved = JSON.parse(readFileSync(join(ws, 'reconcile-plan.json'), 'utf8')) as Plan;
    expect(saved.formatVersion).toBe(1);
    expect(saved.summary.create).toBe(2);
    expect(r.stdout).toContain('+ vpc.main will be created'); // the text plan in the log
  });

  it('apply: --yes, the result in the summary; a re-plan has no changes', () => {
    const a = runAction({ command: 'apply', spec: 'spec.yaml' });
    expect(a.code, a.stderr).toBe(0);
    expect(a.outputs['exit-code']).toBe('0');
    expect(a.summary).toMatch(/^### reconcile apply: `spec\.yaml` done/);
    expect(a.summary).toContain('Apply complete');
    const p = runAction({ command: 'plan', spec: 'spec.yaml' });
    expect(p.code).toBe(0);
    expect(p.outputs).toMatchObject({ 'exit-code': '0', 'has-changes': 'false' });
    expect(p.summary).toContain('### reconcile plan: `actiontest` (us-east-1): no changes');
  });

  it('a plan blocked by a safety rule fails the step (exit 3) and still shows the plan; extra args reach reconcile', () => {
    writeFileSync(join(ws, 'spec.yaml'), SPEC('web tier', true));
    expect(runAction({ command: 'apply', spec: 'spec.yaml' }).code).toBe(0); // protect is now a tag
    writeFileSync(join(ws, 'spec.yaml'), SPEC('the web tier', true)); // description forces replacement
    const r = runAction({ command: 'plan', spec: 'spec.yaml' });
    expect(r.code).toBe(3);
    expect(r.outputs).toMatchObject({ 'exit-code': '3', 'has-changes': 'true' });
    expect(r.summary).toContain('1 to replace, 0 to destroy, 1 blocked');
    expect(r.summary).toMatch(/Blocked: apply refuses this plan[^\n]*\n- :no_entry: `security-group\.web`: protected/);
    const applied = runAction({ command: 'apply', spec: 'spec.yaml' });
    expect(applied.code).toBe(3);
    expect(applied.summary).toContain('blocked by a safety rule (exit 3)');
    // --max-deletes 0 through args blocks an otherwise allowed replacement.
    writeFileSync(join(ws, 'spec.yaml'), SPEC('web tier'));
    expect(runAction({ command: 'apply', spec: 'spec.yaml' }).code).toBe(0); // protect off: the tag goes, in place
    writeFileSync(join(ws, 'spec.yaml'), SPEC('web tier again'));
    const capped = runAction({ command: 'plan', spec: 'spec.yaml', args: '--max-deletes 0' });
    expect(capped.outputs['exit-code']).toBe('3');
    expect(capped.summary).toContain('more than --max-deletes 0');
  });

  it('an invalid spec fails the step with exit 1 and the positioned error in the summary', () => {
    writeFileSync(join(ws, 'broken.yaml'), SPEC().replace('10.7.0.0/16', '10.7.0.0/33'));
    const r = runAction({ command: 'plan', spec: 'broken.yaml' });
    expect(r.code).toBe(1);
    expect(r.outputs).toMatchObject({ 'exit-code': '1', 'has-changes': 'false' });
    expect(r.summary).toContain('### reconcile plan: `broken.yaml` failed (exit 1)');
    expect(r.summary).toMatch(/broken\.yaml:7:11 {2}error/);
  });

  it('refuses a wrong command or several specs for plan, and says so as an annotation', () => {
    const bad = runAction({ command: 'deploy', spec: 'spec.yaml' });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('::error title=reconcile::command must be validate, plan or apply, not "deploy"');
    const two = runAction({ command: 'plan', spec: 'spec.yaml broken.yaml' });
    expect(two.code).toBe(1);
    expect(two.stdout).toContain('plan takes one spec file; got 2');
  });

  it('a failed install says why, as an annotation', () => {
    const fake = mkdtempSync(join(tmpdir(), 'reconcile-action-path-'));
    mkdirSync(join(fake, 'scripts'));
    copyFileSync(join(ROOT, 'scripts/action-run.mjs'), join(fake, 'scripts/action-run.mjs'));
    writeFileSync(join(fake, 'package.json'), '{ "name": "not-reconcile", "version": "0.0.0" }\n'); // no lock file: npm ci refuses at once
    const r = runAction({ command: 'validate', spec: 'spec.yaml' }, { npm_config_offline: 'true' }, fake);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('::error title=reconcile::installing reconcile failed');
  });

  it('the markdown plan of a large generated spec stays under the cap and names every replacement and deletion', () => {
    // A stack of 24 groups in one VPC; then the VPC's cidr changes (it and the groups it holds are
    // replaced), 8 groups leave the spec (prune deletes them) and 40 large groups are added.
    const group = (name: string, rules: number) =>
      `  ${name}:\n    kind: security-group\n    vpc: net\n    description: group ${name}\n    ingress:\n` +
      Array.from({ length: rules }, (_, j) => `      - { port: ${1000 + j}, cidr: 10.${j}.0.0/16, description: rule ${j} of ${name} for the application tier }\n`).join('');
    const head = (cidr: string) => `apiVersion: reconcile/v1\nstack: big\nregion: us-east-1\nprune: true\nresources:\n  net:\n    kind: vpc\n    cidr: ${cidr}\n`;
    const before = head('10.20.0.0/16') + Array.from({ length: 24 }, (_, i) => group(`g${i}`, 2)).join('');
    writeFileSync(join(ws, 'big.yaml'), before);
    const applied = runAction({ command: 'apply', spec: 'big.yaml' });
    expect(applied.code, applied.stderr).toBe(0);
    const after =
      head('10.21.0.0/16') +
      Array.from({ length: 16 }, (_, i) => group(`g${i}`, 2)).join('') +
      Array.from({ length: 40 }, (_, i) => group(`added${i}`, 20)).join('');
    writeFileSync(join(ws, 'big.yaml'), after);
    const r = runAction(
      { command: 'plan', spec: 'big.yaml', 'plan-file': 'big-plan.json', 'plan-artifact': 'reconcile-plan-big' },
      { GITHUB_SERVER_URL: 'https://github.example', GITHUB_REPOSITORY: 'acme/infra', GITHUB_RUN_ID: '4242' },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.outputs['has-changes']).toBe('true');
    const plan = JSON.parse(readFileSync(join(ws, 'big-plan.json'), 'utf8')) as Plan;
    const replaced = plan.changes.filter((c) => c.action === 'replace').map((c) => c.address);
    const deleted = plan.changes.filter((c) => c.action === 'delete').map((c) => c.address);
    expect(replaced).toHaveLength(17);
    expect(deleted).toHaveLength(8);
    const md = r.summary;
    expect(md.length).toBeLessThan(65_536);
    expect(md.split('\n')[0]).toContain('40 to add, 0 to change, 17 to replace, 8 to destroy, 0 blocked');
    // Every replacement and deletion is named above the first collapsed details.
    const top = md.slice(0, md.indexOf('<details>'));
    for (const a of [...replaced, ...deleted]) expect(top).toContain(`\`${a}\``);
    // The details were cut, and the cut says where the full plan is.
    expect(md).toContain('too long for a comment');
    expect(md).toContain('the `reconcile-plan-big` artifact of [this run](https://github.example/acme/infra/actions/runs/4242)');
    expect(md.match(/<details>/g)!.length).toBeLessThan(plan.changes.length);
  });
});

describe('markdown plan for pull request comments (pure)', () => {
  const plan = (changes: Change[], blocked: Plan['blocked'] = []): Plan => {
    const summary = { create: 0, update: 0, replace: 0, delete: 0, adopt: 0, keep: 0 };
    for (const c of changes) if (c.action in summary) summary[c.action as keyof typeof summary]++;
    return { formatVersion: 1, stack: 'huge', region: 'us-east-1', specFile: 'x.yaml', specHash: 'h', liveHash: 'l', createdAt: 'now', mode: 'apply', prune: true, changes, blocked, summary };
  };
  const change = (i: number, action: Change['action']): Change => ({
    address: `security-group.a-rather-long-generated-name-for-group-number-${i}`,
    kind: 'security-group',
    name: `g${i}`,
    action,
    id: `sg-${i.toString(16).padStart(17, '0')}`,
    reason: action === 'replace' ? 'vpc, description cannot change in place' : 'no longer in the spec (prune)',
    fields: [{ path: 'description', before: 'x'.repeat(50), after: 'y'.repeat(50), forcesReplace: action === 'replace' }],
  });

  const full = (c: Change) => `- \`${c.action === 'replace' ? '-/+' : '-'}\` \`${c.address}\` (${c.id})`;
  it.each([
    ['every line with its reason', 300, (top: string, cs: Change[]) => cs.every((c) => top.includes(full(c)))],
    ['symbols and names, no reasons', 700, (top: string, cs: Change[]) => !top.includes('cannot change in place') && cs.every((c) => top.includes(`- \`${c.action === 'replace' ? '-/+' : '-'}\` \`${c.address}\`\n`))],
    ['one list of names', 900, (top: string, cs: Change[]) => top.includes(cs.slice(0, 3).map((c) => `\`${c.address}\``).join(', '))],
  ] as const)('stays under the hard cap and names every one: %s (%i replacements and deletions)', (_what, n, shape) => {
    const changes = Array.from({ length: n }, (_, i) => change(i, i % 3 ? 'replace' : 'delete'));
    const md = renderMarkdown(plan(changes), { maxChars: 1_000_000 });
    expect(md.length).toBeLessThanOrEqual(MARKDOWN_HARD_CAP);
    const top = md.includes('<details>') ? md.slice(0, md.indexOf('<details>')) : md;
    expect(changes.filter((c) => !top.includes(`\`${c.address}\``)).map((c) => c.address)).toEqual([]);
    expect(shape(top, changes)).toBe(true);
  });

  it('past what even names can hold, names as many as fit and counts the rest', () => {
    const changes = Array.from({ length: 3000 }, (_, i) => change(i, i % 3 ? 'replace' : 'delete'));
    const md = renderMarkdown(plan(changes));
    expect(md.length).toBeLessThanOrEqual(60_000);
    const named = changes.filter((c) => md.includes(`\`${c.address}\``)).length;
    expect(named).toBeGreaterThan(500);
    expect(md).toContain(`... and ${3000 - named} more (see the full plan)`);
    expect(md.split('\n')[0]).toContain('0 to add, 0 to change, 2000 to replace, 1000 to destroy, 0 blocked');
  });

  it('a fence inside a value does not break out of its code block', () => {
    const c: Change = { address: 'instance.app', kind: 'instance', name: 'app', action: 'update', id: 'i-1', reason: 'x', fields: [{ path: 'userData', before: 'echo ```', after: 'echo ````', forcesReplace: false }] };
    const md = renderMarkdown(plan([c]));
    expect(md).toContain('`````diff\n');
    expect(md).toContain('\n`````\n</details>');
  });
});

describe('examples/github-actions/reconcile.yml', () => {
  type Step = { uses?: string; with?: Record<string, string>; env?: Record<string, string>; if?: string; id?: string };
  type Job = { if?: string; needs?: string; permissions: Record<string, string>; concurrency?: { group: string; 'cancel-in-progress': boolean }; steps: Step[] };
  const text = readFileSync(join(ROOT, 'examples/github-actions/reconcile.yml'), 'utf8');
  const wf = parse(text) as { on: Record<string, unknown>; permissions: Record<string, string>; jobs: Record<string, Job> };
  const ours = (j: Job) => j.steps.filter((s) => s.uses?.startsWith('your-org/reconcile@'));

  it('validates on every push, plans on pull requests, applies on main', () => {
    expect(wf.on).toEqual({ push: { branches: ['**'] }, pull_request: null });
    expect(ours(wf.jobs.validate).map((s) => s.with!.command)).toEqual(['validate']);
    expect(wf.jobs.plan.if).toContain("github.event_name == 'pull_request'");
    expect(ours(wf.jobs.plan).map((s) => s.with!.command)).toEqual(['plan']);
    expect(wf.jobs.apply.if).toContain("github.ref == 'refs/heads/main'");
    expect(wf.jobs.apply.if).toContain("github.event_name == 'push'");
    expect(ours(wf.jobs.apply).map((s) => s.with!.command)).toEqual(['apply']);
    for (const j of [wf.jobs.plan, wf.jobs.apply]) expect(j.needs).toBe('validate');
  });

  it('every input it passes to the action exists, and every required one is given', () => {
    for (const job of Object.values(wf.jobs))
      for (const s of ours(job)) {
        for (const k of Object.keys(s.with ?? {})) expect(action.inputs, k).toHaveProperty(k);
        for (const [k, d] of Object.entries(action.inputs)) if (d.required) expect(s.with, k).toHaveProperty(k);
      }
  });

  it('AWS credentials come from GitHub OIDC and one role ARN; never keys', () => {
    expect(text).not.toMatch(/aws-access-key-id|aws-secret-access-key|AWS_SECRET|secrets\./i);
    for (const name of ['plan', 'apply']) {
      const job = wf.jobs[name];
      expect(job.permissions['id-token']).toBe('write');
      const creds = job.steps.find((s) => s.uses?.startsWith('aws-actions/configure-aws-credentials@'));
      expect(creds?.with?.['role-to-assume']).toBe('${{ vars.RECONCILE_ROLE_ARN }}');
      // Credentials before the action that needs them.
      expect(job.steps.indexOf(creds!)).toBeLessThan(job.steps.indexOf(ours(job)[0]));
    }
    expect(wf.jobs.validate.permissions['id-token']).toBeUndefined();
  });

  it('one apply per stack at a time, never cancelled; the plan artifact is the one the comment names', () => {
    expect(wf.jobs.apply.concurrency).toEqual({ group: 'reconcile-apply-${{ matrix.stack }}', 'cancel-in-progress': false });
    const upload = wf.jobs.plan.steps.find((s) => s.uses?.startsWith('actions/upload-artifact@'))!;
    expect(upload.with!.name).toBe(ours(wf.jobs.plan)[0].with!['plan-artifact']);
    expect(upload.with!.path).toContain(ours(wf.jobs.plan)[0].with!['plan-file']);
    expect(wf.jobs.plan.permissions['pull-requests']).toBe('write');
  });

  it('posts one comment per stack and updates it in place on the next push', async () => {
    const step = wf.jobs.plan.steps.find((s) => s.uses?.startsWith('actions/github-script@'))!;
    const dir = mkdtempSync(join(tmpdir(), 'reconcile-comment-'));
    writeFileSync(join(dir, 'reconcile-plan.md'), '### reconcile plan: `pipeline-single-node` (us-east-1): 1 to add\n');
    const comments: { id: number; body: string; user: { type: string } }[] = [{ id: 1, body: 'LGTM', user: { type: 'User' } }];
    const calls: string[] = [];
    const github = {
      paginate: async (_fn: unknown, _args: unknown) => comments.map((c) => ({ ...c })),
      rest: {
        issues: {
          listComments: () => undefined,
          createComment: async ({ body }: { body: string }) => {
            calls.push('create');
            comments.push({ id: comments.length + 1, body, user: { type: 'Bot' } });
          },
          updateComment: async ({ comment_id, body }: { comment_id: number; body: string }) => {
            calls.push(`update ${comment_id}`);
            comments.find((c) => c.id === comment_id)!.body = body;
          },
        },
      },
    };
    const context = { repo: { owner: 'acme', repo: 'infra' }, issue: { number: 7 } };
    const cwd = process.cwd();
    const envBefore = process.env.STACK;
    const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (...a: string[]) => (...v: unknown[]) => Promise<void>;
    const script = new AsyncFunction('require', 'github', 'context', step.with!.script);
    try {
      process.chdir(dir);
      process.env.STACK = step.env!.STACK === '${{ matrix.stack }}' ? 'pipeline-single-node' : 'unexpected';
      const { createRequire } = await import('node:module');
      const req = createRequire(import.meta.url);
      await script(req, github, context);
      writeFileSync(join(dir, 'reconcile-plan.md'), '### reconcile plan: `pipeline-single-node` (us-east-1): no changes\n');
      await script(req, github, context);
    } finally {
      process.chdir(cwd);
      if (envBefore === undefined) delete process.env.STACK;
      else process.env.STACK = envBefore;
    }
    expect(calls).toEqual(['create', 'update 2']);
    expect(comments).toHaveLength(2);
    expect(comments[1].body).toBe('<!-- reconcile-plan: pipeline-single-node -->\n### reconcile plan: `pipeline-single-node` (us-east-1): no changes\n');
  });
});

describe('.pre-commit-hooks.yaml', () => {
  const hooks = parse(readFileSync(join(ROOT, '.pre-commit-hooks.yaml'), 'utf8')) as { id: string; entry: string; language: string; files: string }[];

  it('runs `reconcile validate` (the package bin) on spec files only, and fails the commit on errors', () => {
    expect(hooks.map((h) => h.id)).toEqual(['reconcile-validate']);
    const [h] = hooks;
    expect(h.language).toBe('node');
    const [bin, ...args] = h.entry.split(' ');
    expect(Object.keys(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).bin)).toContain(bin);
    const re = new RegExp(h.files);
    expect(['infra/app.yaml', 'deploy/stacks/web.yml', 'reconcile/db.yaml', 'prod.reconcile.yaml'].filter((f) => !re.test(f))).toEqual([]);
    expect(['.github/workflows/ci.yml', 'docker-compose.yaml', 'infra.yaml', 'infra/notes.md'].filter((f) => re.test(f))).toEqual([]);
    // As pre-commit runs it: the entry with the matching staged files appended.
    const dir = mkdtempSync(join(tmpdir(), 'reconcile-precommit-'));
    mkdirSync(join(dir, 'infra'));
    writeFileSync(join(dir, 'infra/ok.yaml'), SPEC());
    writeFileSync(join(dir, 'infra/bad.yaml'), SPEC().replace('vpc: main', 'vpc: mian'));
    const hook = (files: string[]) => spawnSync(process.execPath, [join(ROOT, 'dist/cli.js'), ...args, ...files], { cwd: dir, encoding: 'utf8' });
    expect(hook(['infra/ok.yaml']).status).toBe(0);
    const bad = hook(['infra/ok.yaml', 'infra/bad.yaml']);
    expect(bad.status).toBe(1);
    expect(bad.stdout).toContain('infra/bad.yaml:10:10  error  vpc refers to vpc "mian", which is not in this spec');
  });

  it('installs under pre-commit: npm pack must print only the tarball name, so the prepare script runs in the background', () => {
    // pre-commit (language: node) runs `npm install`, then takes `npm pack`'s stdout as the tarball's
    // file name; npm pack runs `prepare` in the foreground by default, and its banner ends up in that
    // name. Checked by hand with pre-commit 3.0.4 try-repo: fails without this line, passes with it.
    const npmrc = readFileSync(join(ROOT, '.npmrc'), 'utf8');
    expect(npmrc).toMatch(/^foreground-scripts=false$/m);
    expect(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts.prepare).toBeTruthy();
  });
});
