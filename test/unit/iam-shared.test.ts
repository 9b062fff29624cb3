// iam-shared's parsePolicy: policy documents as AWS returns them (URL-encoded JSON) and as moto
// returns some of them (plain JSON) compare equal, so a role's policies never show as perpetual drift.
import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../src/reconcilers/iam-shared.js';

const doc = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }] };

describe('parsePolicy', () => {
  it.each([
    ['plain JSON (moto trust policies)', JSON.stringify(doc), doc],
    ['URL-encoded JSON (AWS)', encodeURIComponent(JSON.stringify(doc)), doc],
    ['plain JSON after whitespace', `\n  ${JSON.stringify(doc)}`, doc],
    ['nothing', undefined, undefined],
    ['empty', '', undefined],
    ['not JSON: kept as text, so a diff shows it', 'not%20json', 'not json'],
  ])('%s', (_name, input, expected) => {
    expect(parsePolicy(input)).toEqual(expected);
  });
});
