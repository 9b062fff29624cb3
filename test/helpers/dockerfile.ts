// Dockerfile instructions, for the tests of deploy/Dockerfile.

export interface Instruction {
  op: string;
  args: string;
  line: number;
}

/** Dockerfile instructions: comments dropped, continuation lines joined. */
export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let buf = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!buf && (!line || line.startsWith('#'))) return;
    if (buf && line.startsWith('#')) return;
    if (!buf) start = i + 1;
    buf += (buf ? ' ' : '') + line.replace(/\\$/, '').trim();
    if (line.endsWith('\\')) return;
    const m = /^([A-Za-z]+)\s+(.*)$/.exec(buf);
    if (!m) throw new Error(`Dockerfile:${start}: cannot read "${buf}"`);
    out.push({ op: m[1], args: m[2], line: start });
    buf = '';
  });
  if (buf) throw new Error('Dockerfile ends in a continuation line');
  return out;
}
