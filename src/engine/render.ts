// Plans as text (Terraform-like, coloured unless NO_COLOR), markdown (for pull requests) and JSON.
import { createRequire } from 'node:module';
import type Picocolors from 'picocolors';
import { changeLabel, type Change } from './decide.js';
import type { Plan } from './plan.js';
import type { FieldChange, Resolution } from './types.js';

export type Colors = Pick<typeof Picocolors, 'green' | 'yellow' | 'red' | 'cyan' | 'bold' | 'dim' | 'magenta'>;
// Loaded when the plan is rendered, not at start-up (it loads node:tty: ~5 ms before a plan's first AWS call).
let pc: typeof Picocolors | undefined;
export const colors = (on: boolean): Colors => {
  pc ??= createRequire(import.meta.url)('picocolors') as typeof Picocolors;
  return on ? pc : pc.createColors(false);
};

const SYMBOL: Record<Change['action'], string> = {
  create: '+',
  update: '~',
  replace: '-/+',
  delete: '-',
  noop: ' ',
  read: '<=',
  adopt: '~',
  keep: '!',
};

const VERB: Record<Change['action'], string> = {
  create: 'will be created',
  update: 'will be updated in place',
  replace: 'must be replaced',
  delete: 'will be destroyed',
  noop: 'is up to date',
  read: 'will be read',
  adopt: 'will be adopted',
  keep: 'is no longer in the spec and will be kept',
};

export function formatValue(v: unknown, sensitive = false): string {
  if (sensitive) return '(sensitive)';
  if (v === undefined) return '(none)';
  if (typeof v === 'string') return v.startsWith('(') && v.endsWith(')') ? v : JSON.stringify(v);
  return JSON.stringify(v);
}

function fieldLine(f: FieldChange, action: Change['action'], c: Colors): string {
  const sens = !!f.sensitive;
  const force = f.forcesReplace ? c.red(' # forces replacement') : '';
  if (action === 'create') return `      ${c.green('+')} ${f.path} = ${formatValue(f.after, sens)}`;
  if (f.before === undefined) return `      ${c.green('+')} ${f.path} = ${formatValue(f.after, sens)}${force}`;
  if (f.after === undefined) return `      ${c.red('-')} ${f.path} = ${formatValue(f.before, sens)}${force}`;
  return `      ${c.yellow('~')} ${f.path}: ${formatValue(f.before, sens)} -> ${formatValue(f.after, sens)}${force}`;
}

/** A value prepare resolved, e.g. "ami = ami-0abc (al2023-ami-2023.6.x, the newest of amazon/al2023-ami-2023.*-x86_64)". */
const resolvedLine = (r: Resolution): string => `${r.field} = ${r.value}${r.detail ? ` (${r.detail})` : ''}`;

/**
 * What a change's late references wait for, one line per resource created now: "then, once
 * security-group.db exists: ingress[0].securityGroup (a second step)" under a create.
 */
export function waitsForLines(ch: Change): string[] {
  const by = new Map<string, string[]>();
  for (const w of ch.waitsFor ?? []) by.set(w.address, [...(by.get(w.address) ?? []), w.field]);
  return [...by].map(([address, fields]) =>
    ch.action === 'create' ? `then, once ${address} exists: ${fields.join(', ')} (a second step)` : `made once ${address} exists (${fields.join(', ')} names it)`,
  );
}

export function summaryLine(p: Plan): string {
  const s = p.summary;
  const parts = [`${s.create} to add`, `${s.update + s.adopt} to change`, `${s.replace} to replace`, `${s.delete} to destroy`];
  let line = `Plan: ${parts.join(', ')}.`;
  if (s.keep) line += ` ${s.keep} no longer in the spec, kept (prune is off).`;
  if (p.blocked.length) line += ` BLOCKED by ${p.blocked.length} safety rule(s).`;
  return line;
}

export function renderText(p: Plan, opts: { color: boolean; verbose?: boolean }): string {
  const c = colors(opts.color);
  const paint = (a: Change['action'], s: string) =>
    a === 'create' ? c.green(s) : a === 'delete' ? c.red(s) : a === 'replace' ? c.magenta(s) : a === 'keep' ? c.yellow(s) : a === 'read' ? c.cyan(s) : c.yellow(s);
  const lines: string[] = [];
  const shown = p.changes.filter((ch) => ch.action !== 'noop' && (ch.action !== 'read' || opts.verbose));
  for (const ch of shown) {
    lines.push(`  ${paint(ch.action, SYMBOL[ch.action].padStart(3))} ${c.bold(changeLabel(ch))}${ch.id ? c.dim(` (${ch.id})`) : ''} ${VERB[ch.action]}`);
    if (ch.action === 'replace' && ch.forcedBy?.length) lines.push(c.dim(`      # ${ch.reason}`));
    else if (ch.action !== 'create') lines.push(c.dim(`      # ${ch.reason}`));
    for (const r of ch.resolved ?? []) lines.push(c.dim(`      # ${resolvedLine(r)}`));
    for (const w of waitsForLines(ch)) lines.push(c.dim(`      # ${w}`));
    for (const f of ch.fields) lines.push(fieldLine(f, ch.action, c));
  }
  const noops = p.changes.filter((ch) => ch.action === 'noop').length;
  if (!shown.some((ch) => ch.action !== 'read'))
    lines.push(
      c.green(
        p.mode === 'destroy'
          ? `Nothing to destroy: stack ${p.stack} owns no resources.`
          : `No changes. ${p.stack} (${noops} resource${noops === 1 ? '' : 's'}) matches the spec.`,
      ),
    );
  for (const b of p.blocked) lines.push(c.red(`  BLOCKED ${b.address}: ${b.reason}`));
  lines.push('', c.bold(summaryLine(p)));
  return lines.join('\n');
}

/** GitHub rejects a comment (or a job summary) over 65,536 characters; markdown never passes this. */
export const MARKDOWN_HARD_CAP = 65_000;

export interface MarkdownOptions {
  /** Longest output, in characters (default 60,000; never above MARKDOWN_HARD_CAP). */
  maxChars?: number;
  /**
   * Where the full JSON plan is, named when details are cut: markdown such as "the `reconcile-plan`
   * artifact of [this run](https://...)". Default: how to make one (`reconcile plan --out`).
   */
  fullPlan?: string;
}

/** The counts a reviewer reads first: add, change, replace, destroy, blocked (and kept, if any). */
export function markdownSummary(p: Plan): string {
  const s = p.summary;
  let line = `${s.create} to add, ${s.update + s.adopt} to change, ${s.replace} to replace, ${s.delete} to destroy, ${p.blocked.length} blocked`;
  if (s.keep) line += `; ${s.keep} no longer in the spec, kept`;
  return line;
}

const escapeHtml = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const code = (t: string) => `<code>${escapeHtml(t)}</code>`;

/** A list that must be shown whole: full lines if they fit, else shorter forms, else cut with a count. */
function fitList(items: { full: string; short: string; name: string }[], budget: number): string[] {
  const size = (ls: string[]) => ls.reduce((n, l) => n + l.length + 1, 0);
  const full = items.map((i) => i.full);
  if (size(full) <= budget) return full;
  const short = items.map((i) => i.short);
  if (size(short) <= budget) return short;
  const names = items.map((i) => i.name).join(', ');
  if (names.length < budget) return [names];
  const out: string[] = [];
  let used = 0;
  for (const [k, i] of items.entries()) {
    const more = ` ... and ${items.length - k} more (see the full plan)`;
    if (used + i.name.length + 2 + more.length > budget) return [`${out.join(', ')}${more}`];
    out.push(i.name);
    used += i.name.length + 2;
  }
  return [out.join(', ')];
}

const DETAIL_ORDER: Change['action'][] = ['replace', 'delete', 'update', 'adopt', 'create'];

/**
 * Markdown for pull request comments and job summaries: the counts first (in the heading), blocked
 * changes, then every replacement and deletion named at the top, then one collapsed <details> per
 * changed resource. Never longer than the cap: past it the details are cut, with a line saying how
 * many and where the full plan is; the replacements and deletions are always all named.
 */
export function renderMarkdown(p: Plan, options: number | MarkdownOptions = {}): string {
  const opts = typeof options === 'number' ? { maxChars: options } : options;
  const cap = Math.min(opts.maxChars ?? 60_000, MARKDOWN_HARD_CAP);
  const fullPlan = opts.fullPlan ?? 'the JSON plan: `reconcile plan SPEC --out plan.json` writes it';
  const changed = p.changes.filter((c) => !['noop', 'read', 'keep'].includes(c.action));
  const risky = p.changes.filter((c) => c.action === 'replace' || c.action === 'delete');
  const kept = p.changes.filter((c) => c.action === 'keep');
  const id = (c: Change) => (c.id ? ` (${c.id})` : '');

  const cutNote = (n: number) =>
    `\n_The plan is too long for a comment (GitHub takes at most 65,536 characters): the details of ${n} of ${changed.length} changed resources are cut. The full plan is in ${fullPlan}._\n`;
  const reserve = cutNote(changed.length).length + 16;
  let budget = cap - reserve;

  const head: string[] = [`### reconcile plan: \`${p.stack}\` (${p.region}): ${changed.length || kept.length || p.blocked.length ? markdownSummary(p) : 'no changes'}`, ''];
  if (p.mode === 'destroy') head.push('**This plan destroys everything the stack owns.**', '');
  const push = (title: string, list: string[]) => head.push(title, ...list, '');
  const fit = (items: { full: string; short: string; name: string }[], title: string) => {
    const list = fitList(items, Math.max(200, budget - title.length - head.join('\n').length));
    push(title, list);
  };
  if (p.blocked.length)
    fit(
      p.blocked.map((b) => ({ full: `- :no_entry: \`${b.address}\`: ${b.reason}`, short: `- :no_entry: \`${b.address}\``, name: `\`${b.address}\`` })),
      `:no_entry: **Blocked: apply refuses this plan (exit 3)** (${p.blocked.length}):`,
    );
  if (risky.length)
    fit(
      risky.map((c) => ({ full: `- \`${SYMBOL[c.action]}\` \`${changeLabel(c)}\`${id(c)} ${VERB[c.action]}: ${c.reason}`, short: `- \`${SYMBOL[c.action]}\` \`${changeLabel(c)}\``, name: `\`${changeLabel(c)}\`` })),
      `:warning: **Replacements and deletions** (${risky.length}):`,
    );
  if (kept.length)
    fit(
      kept.map((c) => ({ full: `- \`${c.address}\`${id(c)}`, short: `- \`${c.address}\``, name: `\`${c.address}\`` })),
      `**No longer in the spec, kept** (prune is off; \`--prune\` or \`prune: true\` deletes them) (${kept.length}):`,
    );
  if (!changed.length && !kept.length) head.push(`No changes. \`${p.stack}\` matches the spec.`, '');

  let out = head.join('\n');
  budget = cap - reserve;
  const details = [...changed].sort((a, b) => DETAIL_ORDER.indexOf(a.action) - DETAIL_ORDER.indexOf(b.action));
  for (const [k, ch] of details.entries()) {
    const body = [`# ${ch.reason}`, ...(ch.id ? [`# id: ${ch.id}`] : []), ...(ch.resolved ?? []).map((r) => `# ${resolvedLine(r)}`), ...waitsForLines(ch).map((w) => `# ${w}`), ...ch.fields.map((f) => fieldLine(f, ch.action, colors(false)).trimStart())];
    // A fence longer than any run of backticks inside (user data may hold some).
    const longest = Math.max(2, ...body.map((l) => Math.max(0, ...(l.match(/`+/g) ?? []).map((r) => r.length))));
    const fence = '`'.repeat(longest + 1);
    const block = [
      `<details><summary>${code(SYMBOL[ch.action])} ${code(changeLabel(ch))} ${VERB[ch.action]}</summary>`,
      '',
      `${fence}diff`,
      ...body,
      fence,
      '</details>',
    ].join('\n');
    if (out.length + block.length + 1 > budget) return out + cutNote(details.length - k);
    out += '\n' + block;
  }
  return out + '\n';
}

export function renderJson(p: Plan): string {
  const redact = (f: FieldChange) => (f.sensitive ? { ...f, before: f.before === undefined ? undefined : '(sensitive)', after: f.after === undefined ? undefined : '(sensitive)' } : f);
  return JSON.stringify({ ...p, changes: p.changes.map((c) => ({ ...c, fields: c.fields.map(redact) })) }, null, 2);
}
