// `reconcile policy` grants iam:PassRole only where the spec names an instance profile, only on
// that profile's role, and only to EC2 (issue 12 item 9). Offline: no AWS.
import { describe, expect, it } from 'vitest';
import { specYaml } from '../helpers/specs.js';
import { specPolicy, type PolicyDocument } from '../../src/commands/policy.js';
import { loadSpecText } from '../../src/spec/load.js';

const HEAD = specYaml('pr', `  net:
    kind: vpc
    cidr: 10.3.0.0/16
  sub:
    kind: subnet
    vpc: net
    cidr: 10.3.1.0/24
`);

async function policyOf(extra: string): Promise<{ doc: PolicyDocument; notes: string[] }> {
  const r = loadSpecText(HEAD + extra, 'spec.yaml');
  if (!r.ok) throw new Error(JSON.stringify(r.diagnostics));
  const p = await specPolicy(r.loaded);
  return { doc: p.document, notes: p.notes };
}
const withPassRole = (d: PolicyDocument) => d.Statement.filter((s) => s.Action.includes('iam:PassRole'));

describe('iam:PassRole in reconcile policy', () => {
  it('a spec that names no instance profile gets no iam:PassRole at all (it was granted on "*")', async () => {
    const { doc } = await policyOf(`  web:
    kind: instance
    subnet: sub
    ami: ami-12345678
    instanceType: t3.micro
`);
    expect(withPassRole(doc)).toEqual([]);
    expect(JSON.stringify(doc)).not.toContain('PassRole');
  });

  it('an instance naming a profile: PassRole on that role only, passed to EC2 only', async () => {
    const { doc, notes } = await policyOf(`  web:
    kind: instance
    subnet: sub
    ami: ami-12345678
    instanceType: t3.micro
    iamInstanceProfile: app-profile
`);
    expect(withPassRole(doc)).toEqual([
      {
        Sid: 'PassRole',
        Effect: 'Allow',
        Action: ['iam:PassRole'],
        Resource: 'arn:aws:iam::*:role/app-profile',
        Condition: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
      },
    ]);
    expect(notes.join('\n')).toContain("taken to have the profile's name");
  });

  it('a launch template naming a profile by ARN (with a path): the role in that account and path; two profiles, two roles', async () => {
    const { doc } = await policyOf(`  lt:
    kind: launch-template
    ami: ami-12345678
    instanceType: t3.micro
    iamInstanceProfile: arn:aws:iam::123456789012:instance-profile/apps/clock
  web:
    kind: instance
    subnet: sub
    ami: ami-12345678
    instanceType: t3.micro
    iamInstanceProfile: other
`);
    const [s] = withPassRole(doc);
    expect(withPassRole(doc)).toHaveLength(1);
    expect(s.Resource).toEqual(['arn:aws:iam::*:role/other', 'arn:aws:iam::123456789012:role/apps/clock']);
  });
});
