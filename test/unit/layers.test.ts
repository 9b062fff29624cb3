// The layers import downwards only: src/aws (AWS clients, tags, errors) and src/lock (the stack
// lock) know nothing of the engine -- they take what they need (clients, a stack, an emit) as
// plain types, so the engine can change its context without touching them.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const filesUnder = (dir: string): string[] =>
  readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? filesUnder(p) : f.endsWith('.ts') ? [p] : [];
  });

/** Every module a file imports (static, type-only, re-exports and import()), as paths from the repository root. */
function importsOf(file: string): string[] {
  const src = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of src.matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
    const spec = m[1] ?? m[2];
    if (spec.startsWith('.')) out.push(relative(ROOT, resolve(dirname(file), spec.replace(/\.js$/, '.ts'))));
  }
  return out;
}

describe('layers', () => {
  it.each(['src/aws', 'src/lock'])('%s imports nothing of src/engine', (dir) => {
    const bad = filesUnder(join(ROOT, dir)).flatMap((f) => importsOf(f).filter((i) => i.startsWith('src/engine/')).map((i) => `${relative(ROOT, f)} -> ${i}`));
    expect(bad).toEqual([]);
  });
});
