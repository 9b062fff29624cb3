// Spec texts the tests write: the header every spec starts with, and the resources the watch tests
// use again and again.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A spec file's text: apiVersion, `stack`, the region, `head` (more top-level lines), then `resources` (YAML, indented by two). */
export const specYaml = (stack: string, resources: string, head = ''): string =>
  `apiVersion: reconcile/v1
stack: ${stack}
region: us-east-1
${head}resources:
${resources}`;

/** The default VPC and a security group "web" opening `port` to the world: the smallest spec watch can find drifted, and heal. */
export const webSg = (port = 443): string => `  default-vpc: { kind: vpc, lookup: default }
  web:
    kind: security-group
    vpc: default-vpc
    ingress: [{ port: ${port}, cidr: 0.0.0.0/0 }]
`;

export const WEB_SG = webSg();

/**
 * A VPC "main" (10.NET.0.0/16), a subnet per name in `subnets` (10.NET.1.0/24, 10.NET.2.0/24, ...),
 * and a security group "web" in it opening 443 to the world, with the lines of `web` added (e.g.
 * `    protect: true\n`): the small stack the CLI tests create, lock and interrupt.
 */
export const vpcWithWeb = (o: { net?: number; subnets?: string[]; web?: string } = {}): string => {
  const net = o.net ?? 7;
  const subnets = (o.subnets ?? []).map((name, i) => `  ${name}:\n    kind: subnet\n    vpc: main\n    cidr: 10.${net}.${i + 1}.0/24\n`).join('');
  return `  main:
    kind: vpc
    cidr: 10.${net}.0.0/16
${subnets}  web:
    kind: security-group
    vpc: main
${o.web ?? ''}    ingress:
      - { port: 443, cidr: 0.0.0.0/0 }
`;
};

/** Writes `text` to `dir`/`name` and returns its path. */
export function writeSpec(dir: string, name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}
