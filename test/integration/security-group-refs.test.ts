// Security groups that name each other (app -> db, db -> app, db -> itself) end to end on moto: plan
// says the rules naming a group created now are authorized once both exist, apply makes the groups and
// then the rules, a second apply writes nothing, drift on those rules is shown and healed, a group
// pruned from the spec goes, one added back is named by the other's rules, and destroy leaves nothing.
//
// AWS refuses DeleteSecurityGroup while another group's rule names the group; moto 5.2.1 does not.
// The fault proxy in front of moto keeps that rule of AWS (DependencyViolation), so the deletes here
// are tested as AWS would answer them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AuthorizeSecurityGroupIngressCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
  RevokeSecurityGroupIngressCommand,
  type SecurityGroup,
} from '@aws-sdk/client-ec2';
import { startMoto, type Moto } from '../helpers/moto.js';
import { startFaultProxy, isWrite, type FaultProxy } from '../fault/proxy.js';
import { testCtx } from '../helpers/aws.js';
import { specYaml } from '../helpers/specs.js';
import { loadSpec } from '../../src/spec/load.js';
import { renderText } from '../../src/engine/render.js';
import { applyPlan, makePlan, type Plan, type PlanOptions } from '../helpers/engine.js';

const VPC = `  main:
    kind: vpc
    cidr: 10.0.0.0/16
`;
const APP = `  app:
    kind: security-group
    vpc: main
    ingress:
      - { port: 80, cidr: 10.0.0.0/16, description: HTTP from the VPC }
    egress:
      - { port: 5432, securityGroup: db, description: To the database }
      - { port: 443, cidr: 0.0.0.0/0 }
`;
const DB = `  db:
    kind: security-group
    vpc: main
    ingress:
      - { port: 5432, securityGroup: app, description: From the app }
      - { port: 5432, securityGroup: db, description: Replication }
`;
const APP_ALONE = APP.replace('      - { port: 5432, securityGroup: db, description: To the database }\n', '');
const BOTH = specYaml('sgrefs', VPC + APP + DB);

let moto: Moto;
let proxy: FaultProxy;
let ec2: EC2Client;
let dir: string;

const TIMING = { minDelayMs: 20, maxDelayMs: 100, maxWaitMs: 2_000, maxRetryMs: 1_500, notFoundGraceMs: 300 };

async function plan(text: string, opts: PlanOptions = {}) {
  const file = join(dir, 'spec.yaml');
  writeFileSync(file, text);
  const r = loadSpec(file);
  if (!r.ok) throw new Error(r.diagnostics.map((d) => `${d.line}:${d.col} ${d.message}`).join('\n'));
  const ctx = testCtx(proxy.endpoint, 'sgrefs', TIMING);
  return { ...(await makePlan(r.loaded, ctx, opts)), ctx };
}

/** Plans and applies; the writes the apply sent. */
async function apply(text: string, opts: PlanOptions = {}): Promise<{ plan: Plan; writes: string[] }> {
  const { plan: p, state, ctx } = await plan(text, opts);
  const from = proxy.log.length;
  await applyPlan(p, state, ctx);
  return { plan: p, writes: proxy.log.slice(from).filter(isWrite).map((e) => e.operation) };
}

const changed = (p: Plan) => Object.fromEntries(p.changes.filter((c) => !['noop', 'read', 'keep'].includes(c.action)).map((c) => [c.address, c.action]));

async function groups(): Promise<Map<string, SecurityGroup>> {
  const r = await ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'tag:reconcile:stack', Values: ['sgrefs'] }] }));
  return new Map((r.SecurityGroups ?? []).map((g) => [g.Tags!.find((t) => t.Key === 'reconcile:id')!.Value!, g]));
}

/** "tcp 5432 <name>" for each rule of a group naming a group, by the names of the stack's groups. */
function groupRules(g: SecurityGroup | undefined, all: Map<string, SecurityGroup>, dir: 'ingress' | 'egress'): string[] {
  const nameOf = new Map([...all].map(([n, x]) => [x.GroupId, n]));
  return ((dir === 'ingress' ? g?.IpPermissions : g?.IpPermissionsEgress) ?? []).flatMap((p) =>
    (p.UserIdGroupPairs ?? []).map((u) => `${p.IpProtocol} ${p.FromPort} ${nameOf.get(u.GroupId) ?? u.GroupId}`),
  );
}

beforeAll(async () => {
  moto = await startMoto();
  proxy = await startFaultProxy(moto.endpoint);
  dir = mkdtempSync(join(tmpdir(), 'reconcile-sgrefs-'));
  ec2 = new EC2Client({ region: 'us-east-1', endpoint: moto.endpoint, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  // AWS's rule: no DeleteSecurityGroup while another group's rule (ingress or egress) names the group.
  proxy.inject({
    match: (r) => r.operation === 'DeleteSecurityGroup',
    refuse: async (body) => {
      const id = new URLSearchParams(body).get('GroupId');
      if (!id) return undefined;
      for (const name of ['ip-permission.group-id', 'egress.ip-permission.group-id']) {
        const r = await ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: name, Values: [id] }] }));
        const other = (r.SecurityGroups ?? []).find((g) => g.GroupId !== id);
        if (other) return { code: 'DependencyViolation', message: `resource ${id} has a dependent object (a rule of ${other.GroupId})` };
      }
      return undefined;
    },
  });
});
afterAll(async () => {
  ec2?.destroy();
  await proxy?.stop();
  await moto?.stop();
});

describe('security groups that name each other', () => {
  it('plan: both groups created, the rules naming the other one authorized once both exist', async () => {
    const { plan: p } = await plan(BOTH);
    expect(changed(p)).toEqual({ 'vpc.main': 'create', 'security-group.app': 'create', 'security-group.db': 'create' });
    const text = renderText(p, { color: false });
    expect(text).toContain('# then, once security-group.db exists: egress[0].securityGroup (a second step)');
    expect(text).toContain('# then, once security-group.app exists: ingress[0].securityGroup (a second step)');
    // A rule naming the group itself is no second step: create knows its own id.
    expect(text).not.toContain('once security-group.db exists: ingress[1]');
  });

  it('apply creates both groups, then their rules; a second apply writes nothing', async () => {
    const { writes } = await apply(BOTH);
    expect(writes.filter((w) => w === 'CreateSecurityGroup')).toHaveLength(2);
    const all = await groups();
    expect(groupRules(all.get('app'), all, 'egress')).toEqual(['tcp 5432 db']);
    expect(groupRules(all.get('db'), all, 'ingress').sort()).toEqual(['tcp 5432 app', 'tcp 5432 db']);
    const again = await apply(BOTH);
    expect(changed(again.plan)).toEqual({});
    expect(again.writes).toEqual([]);
  });

  it('drift on the rules is shown and healed: a rule revoked by hand, a rule added by hand', async () => {
    const all = await groups();
    const [app, db] = [all.get('app')!.GroupId!, all.get('db')!.GroupId!];
    await ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId: db, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 5432, ToPort: 5432, UserIdGroupPairs: [{ GroupId: app, Description: 'From the app' }] }] }));
    await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: app, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, UserIdGroupPairs: [{ GroupId: db }] }] }));
    const { plan: p } = await plan(BOTH);
    expect(changed(p)).toEqual({ 'security-group.app': 'update', 'security-group.db': 'update' });
    const fields = (a: string) => p.changes.find((c) => c.address === a)!.fields.map((f) => [f.path, f.before === undefined ? 'authorize' : f.after === undefined ? 'revoke' : 'describe']);
    expect(fields('security-group.db')).toEqual([[`ingress[tcp 5432 ${app}]`, 'authorize']]);
    expect(fields('security-group.app')).toEqual([[`ingress[tcp 22 ${db}]`, 'revoke']]);
    await apply(BOTH);
    expect(changed((await plan(BOTH)).plan)).toEqual({});
  });

  it('a group pruned from the spec goes, although the kept group named it until now', async () => {
    const alone = specYaml('sgrefs', VPC + APP_ALONE);
    const { plan: p } = await apply(alone, { prune: true });
    expect(changed(p)).toEqual({ 'security-group.app': 'update', 'security-group.db': 'delete' });
    const all = await groups();
    expect([...all.keys()]).toEqual(['app']);
    expect(groupRules(all.get('app'), all, 'egress')).toEqual([]);
    expect(changed((await plan(alone, { prune: true })).plan)).toEqual({});
  });

  it('a group added back: the existing group authorizes its rule once the new one exists', async () => {
    const { plan: p } = await plan(BOTH);
    expect(changed(p)).toEqual({ 'security-group.app': 'update', 'security-group.db': 'create' });
    expect(renderText(p, { color: false })).toContain('# made once security-group.db exists (egress[0].securityGroup names it)');
    await apply(BOTH);
    const all = await groups();
    expect(groupRules(all.get('app'), all, 'egress')).toEqual(['tcp 5432 db']);
    expect(changed((await plan(BOTH)).plan)).toEqual({});
  });

  it('a group replaced: the rules naming it are revoked with the old one and authorized to the new one', async () => {
    const replaced = BOTH.replace('  db:\n    kind: security-group\n', '  db:\n    kind: security-group\n    description: the database tier\n');
    const { plan: p } = await apply(replaced);
    expect(changed(p)).toEqual({ 'security-group.app': 'update', 'security-group.db': 'replace' });
    const all = await groups();
    expect(groupRules(all.get('app'), all, 'egress')).toEqual(['tcp 5432 db']);
    expect(groupRules(all.get('db'), all, 'ingress').sort()).toEqual(['tcp 5432 app', 'tcp 5432 db']);
    expect(changed((await plan(replaced)).plan)).toEqual({});
  });

  it('destroy revokes the rules naming each group before deleting it, and leaves nothing', async () => {
    const { plan: p } = await apply(BOTH, { destroy: true });
    expect(changed(p)).toEqual({ 'vpc.main': 'delete', 'security-group.app': 'delete', 'security-group.db': 'delete' });
    expect((await groups()).size).toBe(0);
    expect(changed((await plan(BOTH, { destroy: true })).plan)).toEqual({});
  });
});
