// Spec texts the tests write: the header every spec starts with, and the resources the watch tests
// use again and again.

/** A spec file's text: apiVersion, `stack`, the region, `head` (more top-level lines), then `resources` (YAML, indented by two). */
export const specYaml = (stack: string, resources: string, head = ''): string =>
  `apiVersion: reconcile/v1
stack: ${stack}
region: us-east-1
${head}resources:
${resources}`;

/** The default VPC and a security group "web" opening 443 to the world: the smallest spec watch can find drifted, and heal. */
export const WEB_SG = `  default-vpc: { kind: vpc, lookup: default }
  web:
    kind: security-group
    vpc: default-vpc
    ingress: [{ port: 443, cidr: 0.0.0.0/0 }]
`;
