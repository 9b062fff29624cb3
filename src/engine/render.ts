// Plans as text (Terraform-like, coloured unless NO_COLOR), markdown (for pull requests) and JSON.
import pc from 'picocolors';
import type { Change, Plan } from './plan.js';
import type { FieldChange } from './types.js';

export type Colors = Pick<typeof pc, 'green' | 'yellow' | 'red' | 'cyan' | 'bold' | 'dim' | 'magenta'>;
export const colors = (on: boolean): Colors => (on ? pc : pc.createColors(false));

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
    lines.push(`  ${paint(ch.action, SYMBOL[ch.action].padStart(3))} ${c.bold(ch.address)}${ch.id ? c.dim(` (${ch.id})`) : ''} ${VERB[ch.action]}`);
    if (ch.action === 'replace' && ch.forcedBy?.length) lines.push(c.dim(`      # ${ch.reason}`));
    else if (ch.action !== 'create') lines.push(c.dim(`      # ${ch.reason}`));
    for (const f of ch.fields) lines.push(fieldLine(f, ch.action, c));
  }
  const noops = p.changes.filter((ch) => ch.action === 'noop').length;
  if (!shown.some((ch) => ch.action !== 'read')) lines.push(c.green(`No changes. ${p.stack} (${noops} resources) matches the spec.`));
  for (const b of p.blocked) lines.push(c.red(`  BLOCKED ${b.address}: ${b.reason}`));
  lines.push('', c.bold(summaryLine(p)));
  return lines.join('\n');
}

/** Markdown for pull request comments; cut to `maxChars` (GitHub rejects comments over 65,536). */
export function renderMarkdown(p: Plan, maxChars = 60_000): string {
  const head: string[] = [`### reconcile plan: \`${p.stack}\` (${p.region})`, '', `**${summaryLine(p)}**`, ''];
  const risky = p.changes.filter((c) => c.action === 'replace' || c.action === 'delete');
  if (p.blocked.length) head.push(...p.blocked.map((b) => `- :no_entry: **blocked** \`${b.address}\`: ${b.reason}`), '');
  if (risky.length) head.push('**Replacements and deletions:**', ...risky.map((c) => `- \`${SYMBOL[c.action]}\` \`${c.address}\` ${VERB[c.action]}: ${c.reason}`), '');
  const details: string[] = [];
  for (const ch of p.changes.filter((x) => !['noop', 'read'].includes(x.action))) {
    const body = ch.fields.map((f) => fieldLine(f, ch.action, colors(false)).trimStart());
    details.push(
      `<details><summary><code>${SYMBOL[ch.action]}</code> <code>${ch.address}</code> ${VERB[ch.action]}</summary>`,
      '',
      '```diff',
      `# ${ch.reason}`,
      ...body,
      '```',
      '</details>',
    );
  }
  let out = head.join('\n');
  const cutNote = '\n\n_The plan is too long for a comment: the rest of the details are cut. See the JSON plan (`reconcile plan --json`) in the job\'s artifacts._\n';
  for (const line of details) {
    if (out.length + line.length + 1 + cutNote.length > maxChars) return out + cutNote;
    out += '\n' + line;
  }
  if (!p.changes.some((x) => !['noop', 'read', 'keep'].includes(x.action))) out += '\nNo changes.';
  return out + '\n';
}

export function renderJson(p: Plan): string {
  const redact = (f: FieldChange) => (f.sensitive ? { ...f, before: f.before === undefined ? undefined : '(sensitive)', after: f.after === undefined ? undefined : '(sensitive)' } : f);
  return JSON.stringify({ ...p, changes: p.changes.map((c) => ({ ...c, fields: c.fields.map(redact) })) }, null, 2);
}
