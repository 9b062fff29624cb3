// A spec's roleArn: the session name, the options every client of the stack gets, and the rate
// budget it draws from (one per account and region, shared by the stacks of that account).
import { describe, expect, it } from 'vitest';
import { accountOfRole, roleOptions, sessionNameFor } from '../../src/aws/assume-role.js';
import { Aws } from '../../src/aws/clients.js';

describe('roleArn', () => {
  it('names the session after reconcile and the stack, within what STS accepts', () => {
    expect(sessionNameFor('shop-prod')).toBe('reconcile-shop-prod');
    expect(sessionNameFor('a'.repeat(70))).toMatch(/^reconcile-a{54}$/);
    expect(sessionNameFor('x')).toMatch(/^[\w+=,.@-]{2,64}$/);
  });

  it('gives the stack its role, or nothing without one', () => {
    expect(roleOptions({ stack: 'shop', roleArn: 'arn:aws:iam::111111111111:role/reconcile' })).toEqual({ roleArn: 'arn:aws:iam::111111111111:role/reconcile', roleSessionName: 'reconcile-shop' });
    expect(roleOptions({ stack: 'shop' })).toEqual({});
  });

  it('draws on the budget of the role account and region: shared by stacks of one account, apart for another', () => {
    expect(accountOfRole('arn:aws-us-gov:iam::222222222222:role/path/reconcile')).toBe('222222222222');
    const a = new Aws({ region: 'eu-west-1', ...roleOptions({ stack: 'a', roleArn: 'arn:aws:iam::111111111111:role/r' }) });
    const b = new Aws({ region: 'eu-west-1', ...roleOptions({ stack: 'b', roleArn: 'arn:aws:iam::111111111111:role/other' }) });
    const c = new Aws({ region: 'eu-west-1', ...roleOptions({ stack: 'c', roleArn: 'arn:aws:iam::222222222222:role/r' }) });
    const d = new Aws({ region: 'us-east-1', ...roleOptions({ stack: 'd', roleArn: 'arn:aws:iam::111111111111:role/r' }) });
    expect(a.budgetKey).toBe(b.budgetKey);
    expect(new Set([a.budgetKey, c.budgetKey, d.budgetKey]).size).toBe(3);
  });
});
