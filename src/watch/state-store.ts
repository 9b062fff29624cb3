// Where alert state survives a restart, so a restarted watch (or the next `check` from cron) neither
// announces an ALARM twice nor forgets to announce its recovery. Per rule, in order:
//   1. the rule's stateBucket (an s3-bucket of the spec, or arn:aws:s3:::<bucket>),
//   2. the stack lock's bucket (spec `lock.bucket`), which the tool already writes to,
//   3. a local JSON file (--state-file; default $XDG_STATE_HOME/reconcile/<stack>-alerts.json).
// In S3 a rule's state is one object, reconcile-state/<stack>/alerts/<rule>.json: one GET when the
// rule is first evaluated, one PUT only when a state or an announcement changes (never per cycle),
// whatever the number of targets. See README "Alert state" for why not tags.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { GetObjectCommand, PutObjectCommand } from '../aws/sdk/s3.js';
import type { Aws } from '../aws/clients.js';
import { isMissingKey } from '../aws/errors.js';
import type { SpecOf } from '../spec/schema.js';
import type { LoadedSpec } from '../spec/types.js';
import type { AlertState, TargetRecord } from './alerts.js';
import { makeDir } from '../make-dir.js';

export interface StateStore {
  /** Where, for logs and errors: s3://bucket/key or a file path. */
  readonly where: string;
  /** Records by target id; empty when nothing was stored yet. */
  load(): Promise<Record<string, TargetRecord>>;
  save(records: Record<string, TargetRecord>): Promise<void>;
}

interface StoredRecord {
  state: AlertState;
  since: string;
  announced?: 'ALARM' | 'OK';
  announcedAt?: string;
}

const STATES = new Set(['OK', 'ALARM', 'INSUFFICIENT_DATA']);

export function toStored(records: Record<string, TargetRecord>): Record<string, StoredRecord> {
  const out: Record<string, StoredRecord> = {};
  for (const id of Object.keys(records).sort()) {
    const r = records[id];
    out[id] = {
      state: r.state,
      since: new Date(r.since).toISOString(),
      ...(r.announced ? { announced: r.announced } : {}),
      ...(r.announcedAt !== undefined ? { announcedAt: new Date(r.announcedAt).toISOString() } : {}),
    };
  }
  return out;
}

/** Reads stored records, skipping anything malformed (a hand-edited file must not stop alerts). */
export function fromStored(raw: unknown): Record<string, TargetRecord> {
  const out: Record<string, TargetRecord> = {};
  if (!raw || typeof raw !== 'object') return out;
  for (const [id, v] of Object.entries(raw as Record<string, Partial<StoredRecord>>)) {
    const since = Date.parse(String(v?.since));
    if (!v || !STATES.has(String(v.state)) || Number.isNaN(since)) continue;
    const at = v.announcedAt !== undefined ? Date.parse(v.announcedAt) : undefined;
    out[id] = {
      state: v.state as AlertState,
      since,
      ...(v.announced === 'ALARM' || v.announced === 'OK' ? { announced: v.announced } : {}),
      ...(at !== undefined && !Number.isNaN(at) ? { announcedAt: at } : {}),
    };
  }
  return out;
}

export const stateKey = (stack: string, rule: string): string => `reconcile-state/${stack}/alerts/${rule}.json`;

export class S3StateStore implements StateStore {
  readonly where: string;
  constructor(
    private readonly aws: Aws,
    readonly bucket: string,
    readonly key: string,
    private readonly stack: string,
    private readonly rule: string,
  ) {
    this.where = `s3://${bucket}/${key}`;
  }

  async load(): Promise<Record<string, TargetRecord>> {
    const s3 = await this.aws.s3();
    try {
      const r = await s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key }));
      const text = (await r.Body?.transformToString()) ?? '';
      return fromStored((JSON.parse(text) as { targets?: unknown }).targets);
    } catch (e) {
      if (isMissingKey(e)) return {};
      if (e instanceof SyntaxError) return {};
      throw e;
    }
  }

  async save(records: Record<string, TargetRecord>): Promise<void> {
    const s3 = await this.aws.s3();
    const body = JSON.stringify({ formatVersion: 1, stack: this.stack, rule: this.rule, targets: toStored(records) }, null, 2);
    await s3.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.key, Body: body, ContentType: 'application/json' }));
  }
}

/** All rules of a stack in one JSON file, written atomically (temp file + rename). */
export class FileStateStore implements StateStore {
  private static chains = new Map<string, Promise<unknown>>();
  constructor(
    readonly where: string,
    private readonly stack: string,
    private readonly rule: string,
  ) {}

  private readAll(): { formatVersion: 1; stack: string; rules: Record<string, unknown> } {
    try {
      const j = JSON.parse(readFileSync(this.where, 'utf8')) as { rules?: Record<string, unknown> };
      return { formatVersion: 1, stack: this.stack, rules: j.rules && typeof j.rules === 'object' ? j.rules : {} };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' || e instanceof SyntaxError) return { formatVersion: 1, stack: this.stack, rules: {} };
      throw e;
    }
  }

  async load(): Promise<Record<string, TargetRecord>> {
    return fromStored(this.readAll().rules[this.rule]);
  }

  save(records: Record<string, TargetRecord>): Promise<void> {
    // Rules share the file: one read-modify-write at a time.
    const prev = FileStateStore.chains.get(this.where) ?? Promise.resolve();
    const next = prev
      .catch(() => {})
      .then(() => {
        const all = this.readAll();
        all.rules[this.rule] = toStored(records);
        makeDir(dirname(this.where));
        const tmp = `${this.where}.${process.pid}.tmp`;
        writeFileSync(tmp, JSON.stringify(all, null, 2) + '\n');
        renameSync(tmp, this.where);
      });
    FileStateStore.chains.set(this.where, next);
    return next;
  }
}

export function defaultStateFile(stack: string, env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  return join(base, 'reconcile', `${stack}-alerts.json`);
}

export interface StoreChoice {
  kind: 's3' | 'file';
  bucket?: string;
  /** Region of the bucket when it differs from the stack's (the lock bucket may say so). */
  region?: string;
  key?: string;
  file?: string;
}

/** Where the state of `rule` lives (see the top of this file). Pure. */
export function chooseStore(loaded: LoadedSpec, rule: string, stateFile?: string): StoreChoice {
  const body = loaded.resources.find((r) => r.name === rule && r.kind === 'alert-rule')?.body as SpecOf<'alert-rule'> | undefined;
  const key = stateKey(loaded.spec.stack, rule);
  const ref = body?.stateBucket;
  if (ref) {
    if (ref.startsWith('arn:')) return { kind: 's3', bucket: ref.slice(ref.lastIndexOf(':') + 1), key };
    const bucket = (loaded.resources.find((r) => r.name === ref && r.kind === 's3-bucket')?.body as SpecOf<'s3-bucket'> | undefined)?.bucketName;
    if (bucket) return { kind: 's3', bucket, key };
  }
  const lock = (loaded.spec as { lock?: { bucket?: string; region?: string } }).lock;
  if (lock?.bucket) return { kind: 's3', bucket: lock.bucket, region: lock.region, key };
  return { kind: 'file', file: stateFile ?? defaultStateFile(loaded.spec.stack) };
}
