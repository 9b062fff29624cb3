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
export const SERVICES = {
  ec2: { package: '@aws-sdk/client-ec2', client: 'EC2Client', loadCost: 2096 },
  autoscaling: { package: '@aws-sdk/client-auto-scaling', client: 'AutoScalingClient', loadCost: 132 },
  elbv2: { package: '@aws-sdk/client-elastic-load-balancing-v2', client: 'ElasticLoadBalancingV2Client', loadCost: 145 },
  cloudwatch: { package: '@aws-sdk/client-cloudwatch', client: 'CloudWatchClient', loadCost: 108 },
  sns: { package: '@aws-sdk/client-sns', client: 'SNSClient', loadCost: 84 },
  s3: { package: '@aws-sdk/client-s3', client: 'S3Client', loadCost: 269 },
  iam: { package: '@aws-sdk/client-iam', client: 'IAMClient', loadCost: 232 },
  sts: { package: '@aws-sdk/client-sts', client: 'STSClient' },
  tagging: { package: '@aws-sdk/client-resource-groups-tagging-api', client: 'ResourceGroupsTaggingAPIClient' },
} as const satisfies Record<string, { package: string; client: string; loadCost?: number }>;

export type AwsService = keyof typeof SERVICES;
