// schemas/reconcile-v1.json through a real JSON Schema validator (ajv, draft 2020-12), as editors use it:
// every example validates (with its ${env:...} references as written), and the invalid examples whose
// error is one of shape (a field, a type, a pattern, an enum) are rejected by the schema too. The rest
// (references, cycles, files, environment, YAML itself) only `reconcile validate` can see.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse } from 'yaml';

const schema = JSON.parse(readFileSync('schemas/reconcile-v1.json', 'utf8'));
const validate = new Ajv2020({ allErrors: true, strict: false }).compile(schema);
const errors = () => JSON.stringify(validate.errors?.slice(0, 5), null, 1);

const yamlFiles = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.yaml')).map((f) => join(dir, f));

/** Invalid examples the schema must reject; the others are beyond a schema and listed why. */
const REJECTED_BY_SCHEMA = ['bad-cidr', 'bad-enum', 'missing-required-field', 'misspelt-key', 'unknown-kind'];
const BEYOND_A_SCHEMA: Record<string, string> = {
  'invalid-bucket-name': "S3's naming rules, a custom check of validate",
  'missing-parameter': 'the values a run gives (--set, --values)',
  'unknown-parameter': 'which parameters the spec declares',
  'duplicate-key': 'YAML: a parser keeps one of the two keys',
  'main-route-table-with-subnets': 'a rule across two fields',
  'min-above-max': 'a rule across two fields',
  'missing-local-file': 'the file system',
  'reference-cycle': 'references',
  'unknown-reference': 'references',
  'unset-env-var': 'the environment',
  'wrong-kind-reference': 'references',
  'yaml-syntax-error': 'not YAML: nothing to validate',
};

describe('schemas/reconcile-v1.json with ajv', () => {
  it.each(yamlFiles('examples'))('%s is valid', (file) => {
    expect(validate(parse(readFileSync(file, 'utf8'))), errors()).toBe(true);
  });

  it('lists every invalid example as rejected by the schema or beyond one', () => {
    const names = yamlFiles('examples/invalid').map((f) => f.replace(/^.*\/|\.yaml$/g, ''));
    expect([...REJECTED_BY_SCHEMA, ...Object.keys(BEYOND_A_SCHEMA)].sort()).toEqual(names.sort());
  });

  it.each(REJECTED_BY_SCHEMA)('examples/invalid/%s.yaml is rejected', (name) => {
    expect(validate(parse(readFileSync(`examples/invalid/${name}.yaml`, 'utf8')))).toBe(false);
  });

  it.each(Object.keys(BEYOND_A_SCHEMA).filter((n) => n !== 'yaml-syntax-error'))('examples/invalid/%s.yaml parses; the schema cannot tell', (name) => {
    expect(validate(parse(readFileSync(`examples/invalid/${name}.yaml`, 'utf8'), { uniqueKeys: false })), errors()).toBe(true);
  });

  const base = { apiVersion: 'reconcile/v1', stack: 's', region: 'us-east-1' };
  it('accepts ${env:...} and ${param:...} where a pattern, an enum, a number or a boolean is expected', () => {
    const spec = {
      ...base,
      resources: {
        v: { kind: 'vpc', cidr: '${env:VPC_CIDR:-10.0.0.0/16}' },
        w: { kind: 'vpc', cidr: '10.${param:octet}.0.0/16' },
        sg: { kind: 'security-group', vpc: 'v', ingress: [{ port: '${env:PORT}', protocol: '${env:PROTO:-tcp}', cidr: '${env:ADMIN_CIDR}' }] },
      },
    };
    expect(validate(spec), errors()).toBe(true);
  });

  it('still rejects a misspelt field, a bad CIDR, a kind given by ${env:...} and a malformed reference', () => {
    expect(validate({ ...base, resources: { v: { kind: 'vpc', cidr: '10.0.0.0/16', cidrr: '10.0.0.0/16' } } })).toBe(false);
    expect(validate({ ...base, resources: { v: { kind: 'vpc', cidr: '10.0.0.0/33' } } })).toBe(false);
    expect(validate({ ...base, resources: { v: { kind: '${env:KIND}', cidr: '10.0.0.0/16' } } })).toBe(false);
    expect(validate({ ...base, resources: { v: { kind: 'vpc', cidr: '${ADMIN_CIDR}' } } })).toBe(false);
  });
});
