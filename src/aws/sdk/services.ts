// The AWS services the tool talks to, by the name the rest of the code uses for them (a kind's
// `service`, a client of src/aws/clients.ts, the module ./<service>.ts of this folder): the SDK
// package of each, its client class, and what loading the package costs. Names only, no SDK
// import: the tables derived from it at start-up load nothing.
//
// loadCost: the size in KB of the CommonJS bundle Node compiles on require()
// (@aws-sdk/client-<service>/dist-cjs/index.js, SDK 3.11xx). client-ec2 is 2 MB, about 120 ms to
// load; every other one is under 300 KB, about 6-20 ms once the first has loaded the modules they
// share (about 35 ms). Only the order matters (observeWaves in src/engine/order.ts); services no
// kind talks to have none.
//
// iam: the service prefix of its IAM actions (`<prefix>:<Operation>`) and of its ARNs.
export const SERVICES = {
  ec2: { package: '@aws-sdk/client-ec2', client: 'EC2Client', iam: 'ec2', loadCost: 2096 },
  autoscaling: { package: '@aws-sdk/client-auto-scaling', client: 'AutoScalingClient', iam: 'autoscaling', loadCost: 132 },
  elbv2: { package: '@aws-sdk/client-elastic-load-balancing-v2', client: 'ElasticLoadBalancingV2Client', iam: 'elasticloadbalancing', loadCost: 145 },
  cloudwatch: { package: '@aws-sdk/client-cloudwatch', client: 'CloudWatchClient', iam: 'cloudwatch', loadCost: 108 },
  sns: { package: '@aws-sdk/client-sns', client: 'SNSClient', iam: 'sns', loadCost: 84 },
  s3: { package: '@aws-sdk/client-s3', client: 'S3Client', iam: 's3', loadCost: 269 },
  iam: { package: '@aws-sdk/client-iam', client: 'IAMClient', iam: 'iam', loadCost: 232 },
  sts: { package: '@aws-sdk/client-sts', client: 'STSClient', iam: 'sts' },
  tagging: { package: '@aws-sdk/client-resource-groups-tagging-api', client: 'ResourceGroupsTaggingAPIClient', iam: 'tag' },
} as const satisfies Record<string, { package: string; client: string; iam: string; loadCost?: number }>;

export type AwsService = keyof typeof SERVICES;
