// `reconcile completion bash|zsh`: the script is generated from the CLI's own command table, and
// completes commands, options and option choices when bash (and zsh, through bashcompinit) run it.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');
const CLI = join(ROOT, 'dist/cli.js');
const reconcile = (args: string[]) => {
  if (!existsSync(CLI)) throw new Error('dist/cli.js is missing: run npm run build (npm test does)');
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH, HOME: tmpdir(), NO_COLOR: '1' } });
};
const dir = mkdtempSync(join(tmpdir(), 'reconcile-completion-'));
const bashScript = join(dir, 'reconcile.bash');
const zshScript = join(dir, 'reconcile.zsh');
writeFileSync(bashScript, reconcile(['completion', 'bash']).stdout);
writeFileSync(zshScript, reconcile(['completion', 'zsh']).stdout);

/** What bash offers for the words typed so far (the last one being completed). */
function bash(...words: string[]): string[] {
  const r = spawnSync('bash', ['--noprofile', '--norc', '-c', `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); _reconcile; printf '%s\\n' "\${COMPREPLY[@]}"`, '_', bashScript, ...words], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  expect(r.stderr).toBe('');
  return r.stdout.split('\n').filter(Boolean);
}

/** The commands `reconcile --help` lists. */
function helpCommands(): string[] {
  const help = reconcile(['--help']).stdout;
  const section = help.slice(help.indexOf('Commands:'), help.indexOf('\n\n', help.indexOf('Commands:')));
  return [...section.matchAll(/^ {2}([a-z-]+)/gm)].map((m) => m[1]).filter((c) => c !== 'help');
}

describe('reconcile completion bash', () => {
  it('offers every command the CLI has, and only those', () => {
    const commands = helpCommands();
    expect(commands).toEqual(expect.arrayContaining(['validate', 'graph', 'plan', 'apply', 'destroy', 'output', 'completion']));
    expect(bash('reconcile', '').sort()).toEqual(commands.sort());
    expect(bash('reconcile', 'va')).toEqual(['validate']);
  });

  it("offers a command's options and the choices of --format", () => {
    expect(bash('reconcile', 'validate', '--f')).toEqual(['--format']);
    expect(bash('reconcile', 'validate', '--format', '')).toEqual(['text', 'json', 'sarif', 'github']);
    expect(bash('reconcile', 'graph', '--format', '')).toEqual(['mermaid', 'dot', 'json']);
    expect(bash('reconcile', 'plan', '--format', 'm')).toEqual(['markdown']);
    expect(bash('reconcile', 'apply', '--y')).toEqual(['--yes']);
    // Each option `plan --help` lists is offered, and the global ones (but --version) after it.
    const longs = (args: string[]) => {
      const help = reconcile(args).stdout;
      const options = help.slice(help.indexOf('Options:'), help.indexOf('\n\n', help.indexOf('Options:')));
      return [...options.matchAll(/^ {2}(?:-\w, )?(--[a-z-]+)/gm)].map((m) => m[1]);
    };
    const globals = longs(['--help']).filter((o) => o !== '--version');
    expect(globals).toEqual(expect.arrayContaining(['--region', '--profile', '--endpoint-url', '--no-color', '--help']));
    expect(new Set(bash('reconcile', 'plan', '--'))).toEqual(new Set([...longs(['plan', '--help']), ...globals]));
  });

  it('skips the values of global options to find the command; spec files after it', () => {
    expect(bash('reconcile', '--region', 'us-east-1', 'plan', '--detailed')).toEqual(['--detailed-exitcode']);
    expect(bash('reconcile', '--region', '')).toEqual([]);
    expect(bash('reconcile', '--reg')).toEqual(['--region']);
    expect(bash('reconcile', 'plan', 'examples/pipeline-')).toEqual(['examples/pipeline-single-node.yaml']);
  });

  it('refuses a shell it does not know', () => {
    const r = reconcile(['completion', 'fish']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('no completion for the shell "fish"');
  });
});

const zsh = spawnSync('zsh', ['--version']).status === 0;
describe.skipIf(!zsh)('reconcile completion zsh (through bashcompinit)', () => {
  it('registers the completion and computes the same candidates', () => {
    // zsh's compgen returns every candidate and leaves matching the typed prefix to compadd.
    const script = `autoload -U +X compinit && compinit -u -D
source ${JSON.stringify(zshScript)}
print -r -- "$_comps[reconcile]"
try() { words=("$@"); CURRENT=$#words; COMP_WORDS=("\${words[@]}"); COMP_CWORD=$((CURRENT-1)); print -r -- "$(compgen -F _reconcile -- "\${words[CURRENT]}" | tr '\\n' ' ')" }
try reconcile validate --format ''
try reconcile --region us-east-1 graph --format ''
try reconcile ''`;
    const r = spawnSync('zsh', ['-f', '-c', script], { cwd: ROOT, encoding: 'utf8' });
    const [registered, validate, graph, commands] = r.stdout.split('\n');
    expect(registered).toBe('_bash_complete -o filenames -o bashdefault -F _reconcile');
    expect(validate.trim()).toBe('text json sarif github');
    expect(graph.trim()).toBe('mermaid dot json');
    expect(commands.trim().split(' ').sort()).toEqual(helpCommands().sort());
  });
});
