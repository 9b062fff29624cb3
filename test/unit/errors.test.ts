// AWS errors in plain words, on real SDK error objects: each error below is produced by a real SDK
// client parsing a real answer -- the fault proxy answering in the service's own error shape (EC2
// XML, Query XML, CloudWatch JSON, S3 XML), or the SDK failing for real (no credentials, a closed
// port, a region that does not exist). No moto is needed: the proxy answers without forwarding.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Aws } from '../../src/aws/clients.js';
import { errorCode, explainAwsError, iamActionOf, isAccessDenied, isDependency, isNotFound, isRetryable } from '../../src/aws/errors.js';
import { CreateVpcCommand, DescribeVpcsCommand, AllocateAddressCommand } from '../../src/aws/sdk/ec2.js';
import { CreateAutoScalingGroupCommand } from '../../src/aws/sdk/autoscaling.js';
import { CreateLoadBalancerCommand, CreateTargetGroupCommand } from '../../src/aws/sdk/elbv2.js';
import { PublishCommand, CreateTopicCommand } from '../../src/aws/sdk/sns.js';
import { PutMetricAlarmCommand } from '../../src/aws/sdk/cloudwatch.js';
import { PutObjectCommand, CreateBucketCommand } from '../../src/aws/sdk/s3.js';
import { startFaultProxy, type AwsErrorSpec, type FaultProxy } from '../fault/proxy.js';

let proxy: FaultProxy;
beforeAll(async () => {
  // Nothing listens at the target: every request here is answered by the proxy itself.
  proxy = await startFaultProxy('http://127.0.0.1:9');
});
afterAll(async () => proxy?.stop());

type Svc = 'ec2' | 'autoscaling' | 'elbv2' | 'sns' | 'cloudwatch' | 's3';

/** Sends one command through a real SDK client (one attempt) at the proxy answering `error`; returns what the SDK threw. */
async function failWith(svc: Svc, command: unknown, error: AwsErrorSpec): Promise<unknown> {
  proxy.clearInjections();
  proxy.inject({ match: () => true, times: 1, error });
  const aws = new Aws({ region: 'us-east-1', endpoint: proxy.endpoint, maxAttempts: 1 });
  try {
    const client = (await aws[svc]()) as unknown as { send(c: unknown): Promise<unknown> };
    await client.send(command);
  } catch (e) {
    return e;
  } finally {
    aws.destroy();
    proxy.clearInjections();
  }
  throw new Error('the call did not fail');
}

/** One line each, and a hint: what every explanation must be. */
function expectPlain(x: { message: string; hint?: string }): void {
  expect(x.message).not.toMatch(/\n/);
  expect(x.message.length).toBeLessThan(400);
  expect(x.hint, x.message).toBeTruthy();
  expect(x.hint).not.toMatch(/\n/);
}

const USER = 'arn:aws:iam::123456789012:user/ci';

describe('access denied names the action and the resource refused', () => {
  it.each<[string, Svc, () => unknown, AwsErrorSpec, string, RegExp]>([
    [
      'EC2 UnauthorizedOperation (XML), action and resource in the message',
      'ec2',
      () => new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }),
      {
        code: 'UnauthorizedOperation',
        status: 403,
        message: `You are not authorized to perform this operation. User: ${USER} is not authorized to perform: ec2:CreateVpc on resource: arn:aws:ec2:us-east-1:123456789012:vpc/* because no identity-based policy allows the ec2:CreateVpc action. Encoded authorization failure message: 4kzZ0bX-very-long-blob`,
      },
      'AWS refused ec2:CreateVpc on arn:aws:ec2:us-east-1:123456789012:vpc/* (UnauthorizedOperation)',
      /grant ec2:CreateVpc on arn:aws:ec2:us-east-1:123456789012:vpc\/\* to arn:aws:iam::123456789012:user\/ci.*decode-authorization-message/,
    ],
    [
      'EC2 UnauthorizedOperation (XML), the older message that names nothing: the call made is named',
      'ec2',
      () => new AllocateAddressCommand({ Domain: 'vpc' }),
      { code: 'UnauthorizedOperation', status: 403, message: 'You are not authorized to perform this operation. Encoded authorization failure message: AbCd' },
      'AWS refused ec2:AllocateAddress (UnauthorizedOperation)',
      /grant ec2:AllocateAddress to the identity reconcile runs as; `reconcile policy SPEC`/,
    ],
    [
      'Auto Scaling AccessDenied (Query XML)',
      'autoscaling',
      () => new CreateAutoScalingGroupCommand({ AutoScalingGroupName: 'g', MinSize: 1, MaxSize: 1 }),
      {
        code: 'AccessDenied',
        status: 403,
        message: `User: ${USER} is not authorized to perform: autoscaling:CreateAutoScalingGroup because no identity-based policy allows the autoscaling:CreateAutoScalingGroup action`,
      },
      'AWS refused autoscaling:CreateAutoScalingGroup (AccessDenied)',
      /grant autoscaling:CreateAutoScalingGroup to arn:aws:iam::123456789012:user\/ci/,
    ],
    [
      'SNS AuthorizationError (Query XML), with its upper-case "SNS:" action',
      'sns',
      () => new PublishCommand({ TopicArn: 'arn:aws:sns:us-east-1:123456789012:alerts', Message: 'm' }),
      {
        code: 'AuthorizationError',
        status: 403,
        message: `User: ${USER} is not authorized to perform: SNS:Publish on resource: arn:aws:sns:us-east-1:123456789012:alerts because no identity-based policy allows the SNS:Publish action`,
      },
      'AWS refused sns:Publish on arn:aws:sns:us-east-1:123456789012:alerts (AuthorizationError)',
      /grant sns:Publish on arn:aws:sns:us-east-1:123456789012:alerts/,
    ],
    [
      'CloudWatch AccessDenied (JSON, query-compatible header)',
      'cloudwatch',
      () => new PutMetricAlarmCommand({ AlarmName: 'a', EvaluationPeriods: 1, ComparisonOperator: 'GreaterThanThreshold' }),
      {
        code: 'AccessDenied',
        status: 403,
        message: `User: ${USER} is not authorized to perform: cloudwatch:PutMetricAlarm on resource: arn:aws:cloudwatch:us-east-1:123456789012:alarm:a with an explicit deny in a service control policy`,
      },
      'AWS refused cloudwatch:PutMetricAlarm on arn:aws:cloudwatch:us-east-1:123456789012:alarm:a (AccessDenied) (an explicit deny: a policy, permissions boundary or SCP forbids it)',
      /grant cloudwatch:PutMetricAlarm/,
    ],
    [
      'S3 AccessDenied (REST XML), which says only "Access Denied": the call and its bucket/key are named',
      's3',
      () => new PutObjectCommand({ Bucket: 'images-bucket', Key: 'image.jpg', Body: 'x' }),
      { code: 'AccessDenied', status: 403, message: 'Access Denied' },
      'AWS refused s3:PutObject on arn:aws:s3:::images-bucket/image.jpg (AccessDenied)',
      /grant s3:PutObject on arn:aws:s3:::images-bucket\/image.jpg/,
    ],
  ])('%s', async (_label, svc, command, error, message, hint) => {
    const e = await failWith(svc, command(), error);
    const x = explainAwsError(e);
    expect(x.message).toBe(message);
    expect(x.hint).toMatch(hint);
    expect(x.terminal).toBe(true);
    expect(isRetryable(e)).toBe(false);
    expectPlain(x);
  });
});

describe('expired credentials', () => {
  it.each<[string, Svc, () => unknown, AwsErrorSpec]>([
    ['EC2 ExpiredToken (XML)', 'ec2', () => new DescribeVpcsCommand({}), { code: 'ExpiredToken', status: 400, message: 'The security token included in the request is expired' }],
    ['SNS ExpiredToken (Query XML)', 'sns', () => new CreateTopicCommand({ Name: 't' }), { code: 'ExpiredToken', status: 403, message: 'The security token included in the request is expired' }],
    ['CloudWatch ExpiredTokenException (JSON)', 'cloudwatch', () => new PutMetricAlarmCommand({ AlarmName: 'a', EvaluationPeriods: 1, ComparisonOperator: 'GreaterThanThreshold' }), { code: 'ExpiredTokenException', status: 400, message: 'The security token included in the request is expired' }],
    ['S3 ExpiredToken (REST XML)', 's3', () => new CreateBucketCommand({ Bucket: 'b' }), { code: 'ExpiredToken', status: 400, message: 'The provided token has expired.' }],
  ])('%s', async (_label, svc, command, error) => {
    const e = await failWith(svc, command(), error);
    const x = explainAwsError(e);
    expect(x.message).toMatch(/^the AWS credentials have expired \(ExpiredToken(Exception)?\)$/);
    expect(x.hint).toMatch(/aws sso login/);
    expect(x.terminal).toBe(true);
    expect(isRetryable(e)).toBe(false);
    expectPlain(x);
  });

  it("a clock too far off is said to be the machine's clock", async () => {
    const e = await failWith('ec2', new DescribeVpcsCommand({}), { code: 'RequestExpired', status: 400, message: 'Request has expired.' });
    const x = explainAwsError(e);
    expect(x.message).toMatch(/signing time is too far from AWS's clock \(RequestExpired\)/);
    expect(x.hint).toMatch(/clock/);
    expectPlain(x);
  });
});

describe('quotas and limits say which and how many AWS allows', () => {
  it.each<[string, Svc, () => unknown, AwsErrorSpec, RegExp, RegExp]>([
    ['VpcLimitExceeded (EC2 XML)', 'ec2', () => new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }), { code: 'VpcLimitExceeded', message: 'The maximum number of VPCs has been reached.' }, /^an AWS quota is used up \(ec2:CreateVpc\): VpcLimitExceeded: The maximum number of VPCs has been reached\.$/, /5 VPCs per region/],
    ['AddressLimitExceeded (EC2 XML)', 'ec2', () => new AllocateAddressCommand({ Domain: 'vpc' }), { code: 'AddressLimitExceeded', message: 'The maximum number of addresses has been reached.' }, /AddressLimitExceeded/, /5 Elastic IPs per region/],
    ['LimitExceeded (Auto Scaling, Query XML)', 'autoscaling', () => new CreateAutoScalingGroupCommand({ AutoScalingGroupName: 'g', MinSize: 1, MaxSize: 1 }), { code: 'LimitExceeded', message: 'You have reached the limit for the number of Auto Scaling groups' }, /quota is used up \(autoscaling:CreateAutoScalingGroup\): LimitExceeded/, /Service Quotas/],
    ['TooManyLoadBalancers (ELBv2, Query XML)', 'elbv2', () => new CreateLoadBalancerCommand({ Name: 'lb' }), { code: 'TooManyLoadBalancers', message: 'The quota for the number of load balancers has been reached' }, /TooManyLoadBalancers/, /50 Application Load Balancers/],
  ])('%s', async (_label, svc, command, error, message, hint) => {
    const e = await failWith(svc, command(), error);
    const x = explainAwsError(e);
    expect(x.message).toMatch(message);
    expect(x.hint).toMatch(hint);
    expect(x.terminal).toBe(true);
    expect(isRetryable(e)).toBe(false);
    expectPlain(x);
  });
});

describe('an invalid parameter names the call and what AWS said', () => {
  it.each<[string, Svc, () => unknown, AwsErrorSpec, string]>([
    ['EC2 InvalidParameterValue (XML)', 'ec2', () => new CreateVpcCommand({ CidrBlock: '10.0.0.0/33' }), { code: 'InvalidParameterValue', message: "Value (10.0.0.0/33) for parameter cidrBlock is invalid. This is not a valid CIDR block." }, 'AWS rejected a parameter (ec2:CreateVpc) (InvalidParameterValue): Value (10.0.0.0/33) for parameter cidrBlock is invalid. This is not a valid CIDR block.'],
    ['ELBv2 ValidationError (Query XML)', 'elbv2', () => new CreateTargetGroupCommand({ Name: 'a_b' }), { code: 'ValidationError', message: "Target group name 'a_b' can only contain characters that are alphanumeric characters or hyphens(-)" }, "AWS rejected a parameter (elasticloadbalancing:CreateTargetGroup) (ValidationError): Target group name 'a_b' can only contain characters that are alphanumeric characters or hyphens(-)"],
  ])('%s', async (_label, svc, command, error, message) => {
    const e = await failWith(svc, command(), error);
    const x = explainAwsError(e);
    expect(x.message).toBe(message);
    expect(x.hint).toBe('check the value in the spec');
    expect(x.terminal).toBe(true);
    expect(isRetryable(e)).toBe(false);
  });
});

describe('throttling and server faults are retryable, in every service shape', () => {
  it.each<[Svc, () => unknown, AwsErrorSpec, string]>([
    ['ec2', () => new DescribeVpcsCommand({}), { code: 'RequestLimitExceeded', status: 503, message: 'Request limit exceeded.' }, 'AWS is throttling ec2:DescribeVpcs (RequestLimitExceeded)'],
    ['autoscaling', () => new CreateAutoScalingGroupCommand({ AutoScalingGroupName: 'g', MinSize: 1, MaxSize: 1 }), { code: 'Throttling', message: 'Rate exceeded' }, 'AWS is throttling autoscaling:CreateAutoScalingGroup (Throttling)'],
    ['sns', () => new CreateTopicCommand({ Name: 't' }), { code: 'Throttled', message: 'Rate exceeded' }, 'AWS is throttling sns:CreateTopic (Throttled)'],
    ['cloudwatch', () => new PutMetricAlarmCommand({ AlarmName: 'a', EvaluationPeriods: 1, ComparisonOperator: 'GreaterThanThreshold' }), { code: 'Throttling', message: 'Rate exceeded' }, 'AWS is throttling cloudwatch:PutMetricAlarm (Throttling)'],
    ['s3', () => new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: 'x' }), { code: 'SlowDown', status: 503, message: 'Please reduce your request rate.' }, 'AWS is throttling s3:PutObject (SlowDown)'],
  ])('%s', async (svc, command, error, message) => {
    const e = await failWith(svc, command(), error);
    const x = explainAwsError(e);
    expect(x).toMatchObject({ message, terminal: false });
    expect(isRetryable(e)).toBe(true);
  });

  it('a 500 is an internal error worth a retry', async () => {
    const e = await failWith('ec2', new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }), { code: 'InternalError', status: 500, message: 'We encountered an internal error.' });
    expect(explainAwsError(e)).toMatchObject({ message: 'AWS had an internal error (ec2:CreateVpc) (InternalError, HTTP 500): We encountered an internal error.', terminal: false });
    expect(isRetryable(e)).toBe(true);
  });

  it('a connection dropped mid-call is retryable and said so', async () => {
    proxy.setFaults({ seed: 1, rate: 1, kinds: { drop: 1 }, maxFaults: 1 });
    const aws = new Aws({ region: 'us-east-1', endpoint: proxy.endpoint, maxAttempts: 1 });
    let e: unknown;
    try {
      await (await aws.ec2()).send(new DescribeVpcsCommand({}));
    } catch (x) {
      e = x;
    } finally {
      aws.destroy();
      proxy.setFaults(undefined);
    }
    expect(explainAwsError(e).message).toMatch(/^cannot reach the AWS endpoint .*\(ECONNRESET\)/);
    expect(isRetryable(e)).toBe(true);
  });
});

describe('one vocabulary: the code, "not found" and "a dependency", in every service shape', () => {
  it.each<[Svc, () => unknown, AwsErrorSpec, string, 'not found' | 'dependency']>([
    ['ec2', () => new DescribeVpcsCommand({}), { code: 'InvalidVpcID.NotFound', message: 'The vpc ID does not exist' }, 'InvalidVpcID.NotFound', 'not found'],
    ['ec2', () => new DescribeVpcsCommand({}), { code: 'DependencyViolation', message: 'The vpc has dependencies and cannot be deleted.' }, 'DependencyViolation', 'dependency'],
    ['elbv2', () => new CreateTargetGroupCommand({ Name: 't' }), { code: 'TargetGroupNotFound', status: 400, message: 'One or more target groups not found' }, 'TargetGroupNotFound', 'not found'],
    ['sns', () => new PublishCommand({ TopicArn: 'arn:aws:sns:us-east-1:123456789012:t', Message: 'm' }), { code: 'NotFound', status: 404, message: 'Topic does not exist' }, 'NotFound', 'not found'],
    ['cloudwatch', () => new PutMetricAlarmCommand({ AlarmName: 'a', EvaluationPeriods: 1, ComparisonOperator: 'GreaterThanThreshold' }), { code: 'ResourceNotFound', status: 404, message: 'no alarm' }, 'ResourceNotFound', 'not found'],
    ['s3', () => new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: 'x' }), { code: 'NoSuchBucket', status: 404, message: 'The specified bucket does not exist' }, 'NoSuchBucket', 'not found'],
  ])('%s %s', async (svc, command, error, code, what) => {
    const e = await failWith(svc, command(), error);
    expect(errorCode(e)).toBe(code);
    expect(isNotFound(e)).toBe(what === 'not found');
    expect(isDependency(e)).toBe(what === 'dependency');
  });

  it.each<[Svc, () => unknown, string]>([
    ['sns', () => new PublishCommand({ TopicArn: 'arn:aws:sns:us-east-1:123456789012:t', Message: 'm' }), 'AuthorizationError'],
    ['sns', () => new PublishCommand({ TopicArn: 'arn:aws:sns:us-east-1:123456789012:t', Message: 'm' }), 'KMSAccessDenied'],
    ['ec2', () => new DescribeVpcsCommand({}), 'UnauthorizedOperation'],
    ['s3', () => new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: 'x' }), 'AccessDenied'],
  ])('%s %s is access denied', async (svc, command, code) => {
    const e = await failWith(svc, command(), { code, status: 403, message: 'not allowed' });
    expect(isAccessDenied(e)).toBe(true);
    expect(isNotFound(e)).toBe(false);
  });

  it('a Node network error is known by its code', () => {
    expect(errorCode(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))).toBe('ECONNRESET');
    expect(errorCode(undefined)).toBe('');
    expect(isNotFound(Object.assign(new Error('getaddrinfo ENOTFOUND x'), { code: 'ENOTFOUND' }))).toBe(false);
  });
});

describe('failures to reach AWS at all', () => {
  it('missing credentials', async () => {
    const saved = { ...process.env };
    for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE']) delete process.env[k];
    Object.assign(process.env, { AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials', AWS_CONFIG_FILE: '/nonexistent/config', AWS_EC2_METADATA_DISABLED: 'true' });
    const aws = new Aws({ region: 'us-east-1', endpoint: proxy.endpoint, maxAttempts: 1 });
    let e: unknown;
    try {
      await (await aws.ec2()).send(new DescribeVpcsCommand({}));
    } catch (x) {
      e = x;
    } finally {
      aws.destroy();
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
    expect((e as Error).name).toBe('CredentialsProviderError');
    const x = explainAwsError(e);
    expect(x).toMatchObject({ message: 'no AWS credentials found', terminal: true });
    expect(x.hint).toMatch(/AWS_PROFILE.*--profile.*AWS_ACCESS_KEY_ID/);
  });

  it('an unreachable endpoint names it', async () => {
    const aws = new Aws({ region: 'us-east-1', endpoint: 'http://127.0.0.1:9', maxAttempts: 1 });
    let e: unknown;
    try {
      await (await aws.ec2()).send(new DescribeVpcsCommand({}));
    } catch (x) {
      e = x;
    } finally {
      aws.destroy();
    }
    const x = explainAwsError(e);
    expect(x.message).toBe('cannot reach the AWS endpoint 127.0.0.1:9 (ECONNREFUSED) (ec2:DescribeVpcs)');
    expect(x.hint).toMatch(/--endpoint-url/);
    expect(isRetryable(e)).toBe(true);
    expectPlain(x);
  });

  it('an unknown region is named as such', async () => {
    // No endpoint: the SDK resolves ec2.us-esat-1.amazonaws.com, which does not exist.
    const aws = new Aws({ region: 'us-esat-1', maxAttempts: 1 });
    let e: unknown;
    try {
      await (await aws.ec2()).send(new DescribeVpcsCommand({}));
    } catch (x) {
      e = x;
    } finally {
      aws.destroy();
    }
    const x = explainAwsError(e);
    expect(x.message).toMatch(/^there is no AWS endpoint ec2\.us-esat-1\.amazonaws\.com: is "us-esat-1" a real AWS region\? \((ENOTFOUND|EAI_AGAIN)\)$/);
    expect(x.hint).toMatch(/--region/);
    expectPlain(x);
  });
});

describe('iamActionOf', () => {
  it.each([
    [{ service: 'ec2', operation: 'CreateVpc' }, 'ec2:CreateVpc'],
    [{ service: 'elbv2', operation: 'CreateListener' }, 'elasticloadbalancing:CreateListener'],
    [{ service: 's3', operation: 'HeadObject' }, 's3:GetObject'],
    [{ service: 's3', operation: 'ListObjectsV2' }, 's3:ListBucket'],
    [{ service: 'cloudwatch', operation: 'GetMetricData' }, 'cloudwatch:GetMetricData'],
  ])('%o is %s', (call, action) => expect(iamActionOf(call)).toBe(action));
});
