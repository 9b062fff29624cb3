// IPv4 blocks and port spans, for the network kinds' checks (network.ts). Pure.
import type { SgRule } from './network.js';

function parseCidr(c: string): { net: number; bits: number } | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(c);
  if (!m) return undefined;
  const bits = Number(m[5]);
  const ip = ((Number(m[1]) << 24) >>> 0) + (Number(m[2]) << 16) + (Number(m[3]) << 8) + Number(m[4]);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return { net: (ip & mask) >>> 0, bits };
}

/** Whether block `inner` lies inside block `outer`; undefined when either is not a block. */
export function cidrContains(outer: string, inner: string): boolean | undefined {
  const o = parseCidr(outer);
  const i = parseCidr(inner);
  if (!o || !i) return undefined;
  if (i.bits < o.bits) return false;
  const mask = o.bits === 0 ? 0 : (0xffffffff << (32 - o.bits)) >>> 0;
  return ((i.net & mask) >>> 0) === o.net;
}
export const cidrsOverlap = (a: string, b: string): boolean => cidrContains(a, b) === true || cidrContains(b, a) === true;

/** The blocks that mean "anywhere". */
export const WORLD = ['0.0.0.0/0', '::/0'];

export interface PortSpan {
  proto: string;
  from: number;
  to: number;
}

/** The ports a security group rule opens (from -1: every port of its protocol), or why it cannot. */
export function portSpan(r: SgRule): PortSpan | { error: string } {
  if (r.protocol === 'all') return { proto: 'all', from: 0, to: 65535 };
  const p = r.port;
  if (p === undefined || p === -1) return { proto: r.protocol, from: -1, to: -1 };
  if (typeof p === 'number') return { proto: r.protocol, from: p, to: p };
  const [a, b] = p.split('-').map(Number);
  if (a > b) return { error: `port range "${p}" runs backwards: write "${b}-${a}"` };
  if (b > 65535) return { error: `port range "${p}" goes past 65535` };
  return { proto: r.protocol, from: a, to: b };
}

/** Whether the span opens `port` for one of `protos`. */
export function covers(s: PortSpan, port: number, protos: string[]): boolean {
  if (s.proto === 'all') return true;
  if (!protos.includes(s.proto)) return false;
  return s.from === -1 || (s.from <= port && port <= s.to);
}
