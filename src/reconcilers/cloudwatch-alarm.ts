// cloudwatch-alarm: a metric alarm, its dimensions (which may name spec resources) and actions.
//
// observe: CloudWatch has no tag filter on DescribeAlarms and an account may hold thousands of
// alarms, so the stack's alarms come from the tag index (tag-index.ts: one GetResources for every
// indexed kind of the plan, tags included), then one DescribeAlarms per 100 names for those plus the
// alarmNames / `adopt:` names of the spec. Tags are read one alarm at a time (ListTagsForResource)
// only for a named alarm the index does not list (another owner's, or one tagged a moment ago). A
// converged stack of any number of alarms: ceil(A/100) DescribeAlarms and no tag read.
// In place: every field (PutMetricAlarm is an upsert of the whole alarm), tags (TagResource /
// UntagResource: PutMetricAlarm ignores Tags on an existing alarm). Replace: alarmName.
import {
  DeleteAlarmsCommand,
  DescribeAlarmsCommand,
  ListTagsForResourceCommand,
  PutMetricAlarmCommand,
  TagResourceCommand,
  UntagResourceCommand,
  type ComparisonOperator,
  type MetricAlarm,
  type PutMetricAlarmCommandInput,
  type Statistic,
} from '../aws/sdk/cloudwatch.js';
import { TAG_ID, TAG_STACK, tagUpdates, tagsFromList, tagsToList } from '../aws/tags.js';
import { holdersByName } from '../engine/ownership.js';
import { field, setField } from '../engine/diffutil.js';
import { UNKNOWN, type Ctx, type Desired, type FieldChange, type Observed, type Reconciler } from '../engine/types.js';
import { COMPARISONS } from '../spec/kinds/services.js';
import { indexedOf } from './tag-index.js';
import {
  adoptions,
  allPages,
  assertKnown,
  chunk,
  defaultAwsName,
  identify,
  ignoreNotFound,
  lbDimension,
  mapLimit,
  readOrAbsent,
} from './services-shared.js';

type CloudWatch = Awaited<ReturnType<Ctx['aws']['cloudwatch']>>;

/** DeleteAlarms takes up to 100 names; AWS allows 3 calls a second (src/aws/limiter.ts). */
const DELETE_BATCH = 100;
type Waiter = { name: string; resolve: () => void; reject: (e: unknown) => void };
const deleting = new WeakMap<CloudWatch, Waiter[]>();

/**
 * Deletes an alarm, together with every other alarm whose delete is asked for in the same turn of the
 * event loop: one DeleteAlarms for up to 100 (a destroy of 40 alarms is one call, not 13 seconds of
 * AWS's 3 a second). AWS deletes none of a call's alarms when one name is wrong, so after a batch
 * fails each alarm is sent again on its own, and each delete reports its own outcome (an alarm
 * already gone is success).
 */
function deleteAlarm(cw: CloudWatch, name: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let batch = deleting.get(cw);
    if (!batch || batch.length >= DELETE_BATCH) {
      const waiters: Waiter[] = [];
      batch = waiters;
      deleting.set(cw, waiters);
      setImmediate(() => {
        if (deleting.get(cw) === waiters) deleting.delete(cw);
        const one = (w: Waiter) => ignoreNotFound(() => cw.send(new DeleteAlarmsCommand({ AlarmNames: [w.name] }))).then(w.resolve, w.reject);
        if (waiters.length === 1) return void one(waiters[0]);
        cw.send(new DeleteAlarmsCommand({ AlarmNames: waiters.map((w) => w.name) })).then(
          () => waiters.forEach((w) => w.resolve()),
          () => waiters.forEach(one),
        );
      });
    }
    batch.push({ name, resolve, reject });
  });
}

export type AlarmLive = {
  alarmName: string;
  description: string;
  namespace?: string;
  metric?: string;
  dimensions: Record<string, string>;
  statistic?: string;
  period?: number;
  evaluationPeriods?: number;
  /** DatapointsToAlarm, or evaluationPeriods when AWS has none (the same thing to CloudWatch). */
  datapointsToAlarm?: number;
  threshold?: number;
  /** In the spec's words (>, >=, <, <=), or AWS's operator when it has no such word. */
  comparison?: string;
  missingData: string;
  /** False when someone turned the alarm's actions off (the tool always has them on). */
  actionsEnabled: boolean;
  actions: string[];
  okActions: string[];
};

const WORD_OF: Record<string, string> = Object.fromEntries(Object.entries(COMPARISONS).map(([w, op]) => [op, w]));

export function alarmName(d: Desired<'cloudwatch-alarm'>, live?: Observed<AlarmLive>): string {
  if (d.spec.alarmName) return d.spec.alarmName;
  if (d.spec.adopt && live) return live.live.alarmName;
  return defaultAwsName(d.stack, d.name);
}

/** The region of an alarm, from its ARN (arn:aws:cloudwatch:<region>:<account>:alarm:<name>). */
const regionOfArn = (arn: string | undefined): string | undefined => arn?.split(':')[3] || undefined;

/** The ARN an action names. Each value is UNKNOWN while what it refers to is to be created. */
function actionArn(d: Desired<'cloudwatch-alarm'>, region: string, a: Desired<'cloudwatch-alarm'>['spec']['actions'][number]): string {
  if ('topic' in a) {
    const r = d.ref(a.topic);
    return r.arn ?? r.id;
  }
  if ('ec2' in a) return `arn:aws:automate:${region}:ec2:${a.ec2}`;
  const r = d.ref(a.scaleOut);
  if (r.scalingPolicyArn === undefined)
    throw new Error(`${d.address}: auto-scaling-group ${a.scaleOut} has no scaling policy to act on (scalingPolicyArn): give the group one, or use another action`);
  return r.scalingPolicyArn;
}

/** What the alarm must be, as PutMetricAlarm takes it (without tags). */
export function alarmInput(d: Desired<'cloudwatch-alarm'>, region: string, live?: Observed<AlarmLive>): PutMetricAlarmCommandInput & { Dimensions: { Name: string; Value: string }[] } {
  const s = d.spec;
  const dims: Record<string, string> = { ...s.dimensions };
  if (s.instance) dims.InstanceId = d.ref(s.instance).id;
  if (s.autoScalingGroup) {
    const r = d.ref(s.autoScalingGroup);
    dims.AutoScalingGroupName = r.name ?? r.id;
  }
  if (s.loadBalancer) {
    const r = d.ref(s.loadBalancer);
    dims.LoadBalancer = r.dimension ?? ((r.arn ?? r.id) === UNKNOWN ? UNKNOWN : lbDimension(r.arn ?? r.id));
  }
  return {
    AlarmName: alarmName(d, live),
    AlarmDescription: s.description ?? '',
    Namespace: s.namespace,
    MetricName: s.metric,
    Dimensions: Object.entries(dims)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([Name, Value]) => ({ Name, Value })),
    Statistic: s.statistic as Statistic,
    Period: s.period,
    EvaluationPeriods: s.evaluationPeriods,
    DatapointsToAlarm: s.datapointsToAlarm ?? s.evaluationPeriods,
    Threshold: s.threshold,
    ComparisonOperator: COMPARISONS[s.comparison] as ComparisonOperator,
    TreatMissingData: s.missingData,
    ActionsEnabled: true,
    AlarmActions: s.actions.map((a) => actionArn(d, region, a)),
    OKActions: s.okActions.map((a) => {
      const r = d.ref(a.topic);
      return r.arn ?? r.id;
    }),
  };
}

function toObserved(a: MetricAlarm, tags: Record<string, string>, who: { name: string; management: Observed['management'] }): Observed<AlarmLive> {
  const live: AlarmLive = {
    alarmName: a.AlarmName!,
    description: a.AlarmDescription ?? '',
    namespace: a.Namespace,
    metric: a.MetricName,
    dimensions: Object.fromEntries((a.Dimensions ?? []).map((x) => [x.Name!, x.Value!])),
    statistic: a.Statistic ?? a.ExtendedStatistic,
    period: a.Period,
    evaluationPeriods: a.EvaluationPeriods,
    datapointsToAlarm: a.DatapointsToAlarm ?? a.EvaluationPeriods,
    threshold: a.Threshold,
    comparison: a.ComparisonOperator ? (WORD_OF[a.ComparisonOperator] ?? a.ComparisonOperator) : undefined,
    missingData: a.TreatMissingData ?? 'missing',
    actionsEnabled: a.ActionsEnabled ?? true,
    actions: a.AlarmActions ?? [],
    okActions: a.OKActions ?? [],
  };
  return { id: a.AlarmName!, name: who.name, management: who.management, live, tags, outputs: { id: a.AlarmName!, name: a.AlarmName, arn: a.AlarmArn } };
}

async function describeByName(ctx: Ctx, names: string[]): Promise<MetricAlarm[]> {
  const cw = await ctx.aws.cloudwatch();
  const pages = await Promise.all(
    chunk(names, 100).map((AlarmNames) =>
      allPages(async (NextToken) => {
        const r = await cw.send(new DescribeAlarmsCommand({ AlarmNames, AlarmTypes: ['MetricAlarm'], NextToken }));
        return { items: r.MetricAlarms, next: r.NextToken };
      }),
    ),
  );
  return pages.flat();
}

/** The alarm name in an alarm ARN (`arn:aws:cloudwatch:<region>:<account>:alarm:<name>`). */
const alarmNameOfArn = (arn: string): string | undefined => (arn.startsWith('arn:') ? arn.split(':alarm:')[1] : undefined);

async function alarmTags(ctx: Ctx, arn: string): Promise<Record<string, string> | undefined> {
  const cw = await ctx.aws.cloudwatch();
  const r = await readOrAbsent(() => cw.send(new ListTagsForResourceCommand({ ResourceARN: arn })));
  return r && tagsFromList(r.Tags);
}

async function readOne(ctx: Ctx, name: string, who: { name: string; management: Observed['management'] }): Promise<Observed<AlarmLive>> {
  const [a] = await describeByName(ctx, [name]);
  if (!a) throw new Error(`alarm ${name} is gone`);
  return toObserved(a, (await alarmTags(ctx, a.AlarmArn!)) ?? {}, who);
}

const reconciler: Reconciler<'cloudwatch-alarm', AlarmLive> = {
  kind: 'cloudwatch-alarm',

  async observe(ctx, desired) {
    const adopted = adoptions(desired);
    const index = await indexedOf(ctx, 'cloudwatch');
    const owned = [...index.keys()].map(alarmNameOfArn).filter((n): n is string => !!n);
    const named = [...desired.map((d) => alarmName(d)), ...[...adopted.keys()].map((k) => alarmNameOfArn(k) ?? k)];
    const alarms = await describeByName(ctx, [...new Set([...owned, ...named])]);
    const found = await mapLimit(alarms, async (a) => {
      const tags = index.get(a.AlarmArn!) ?? (await alarmTags(ctx, a.AlarmArn!));
      if (!tags) return undefined;
      const who = identify(tags, ctx.stack, adopted, [a.AlarmName, a.AlarmArn]);
      return who && toObserved(a, tags, who);
    });
    return found.filter((o): o is Observed<AlarmLive> => o !== undefined);
  },

  // One DescribeAlarms for the names (100 a call), ListTagsForResource for each that exists.
  async nameHolders(ctx, desired) {
    const alarms = await describeByName(ctx, [...new Set(desired.map((d) => alarmName(d)))]);
    const found = await mapLimit(alarms, async (a) => ({ awsName: a.AlarmName!, adoptId: a.AlarmName!, tags: (await alarmTags(ctx, a.AlarmArn!)) ?? {} }));
    return holdersByName(desired, (d) => alarmName(d), 'alarmName', found);
  },

  diff(d, o) {
    const live = o.live;
    const want = alarmInput(d, regionOfArn(o.outputs.arn) ?? 'us-east-1', o);
    const dims = Object.fromEntries(want.Dimensions.map((x) => [x.Name, x.Value]));
    const out: FieldChange[] = [
      ...field('alarmName', live.alarmName, want.AlarmName, true),
      ...field('description', live.description, want.AlarmDescription),
      ...field('namespace', live.namespace, want.Namespace),
      ...field('metric', live.metric, want.MetricName),
    ];
    for (const k of [...new Set([...Object.keys(live.dimensions), ...Object.keys(dims)])].sort())
      out.push(...field(`dimensions.${k}`, live.dimensions[k], dims[k]));
    out.push(
      ...field('statistic', live.statistic, want.Statistic),
      ...field('period', live.period, want.Period),
      ...field('evaluationPeriods', live.evaluationPeriods, want.EvaluationPeriods),
      ...field('datapointsToAlarm', live.datapointsToAlarm, want.DatapointsToAlarm),
      ...field('threshold', live.threshold, want.Threshold),
      ...field('comparison', live.comparison, d.spec.comparison),
      ...field('missingData', live.missingData, want.TreatMissingData),
      ...field('actionsEnabled', live.actionsEnabled, true),
      ...setField('actions', live.actions, want.AlarmActions),
      ...setField('okActions', live.okActions, want.OKActions),
    );
    return out;
  },

  async create(ctx, d) {
    const cw = await ctx.aws.cloudwatch();
    const input = alarmInput(d, ctx.region);
    assertKnown(d.address, 'dimensions / actions', input);
    // PutMetricAlarm overwrites an alarm of the same name: only ever one of this stack's.
    const [existing] = await describeByName(ctx, [input.AlarmName!]);
    if (existing) {
      const tags = (await alarmTags(ctx, existing.AlarmArn!)) ?? {};
      if (tags[TAG_STACK] !== ctx.stack || tags[TAG_ID] !== d.name)
        throw new Error(`an alarm named ${input.AlarmName} already exists and is not ${d.address} of this stack: set adopt: ${input.AlarmName} to take it over, or choose another alarmName`);
    }
    await cw.send(new PutMetricAlarmCommand({ ...input, Tags: tagsToList(d.tags) }));
    return readOne(ctx, input.AlarmName!, { name: d.name, management: 'owned' });
  },

  async update(ctx, d, o, changes) {
    const cw = await ctx.aws.cloudwatch();
    if (changes.some((c) => !c.path.startsWith('tags.'))) await cw.send(new PutMetricAlarmCommand(alarmInput(d, ctx.region, o)));
    const { set, remove } = tagUpdates(changes);
    const arn = o.outputs.arn!;
    if (Object.keys(set).length) await cw.send(new TagResourceCommand({ ResourceARN: arn, Tags: tagsToList(set) }));
    if (remove.length) await cw.send(new UntagResourceCommand({ ResourceARN: arn, TagKeys: remove }));
    return readOne(ctx, o.id, { name: d.name, management: 'owned' });
  },

  async delete(ctx, o) {
    await deleteAlarm(await ctx.aws.cloudwatch(), o.id);
  },

  permissions: {
    observe: ['tag:GetResources', 'cloudwatch:DescribeAlarms', 'cloudwatch:ListTagsForResource'],
    create: ['cloudwatch:DescribeAlarms', 'cloudwatch:ListTagsForResource', 'cloudwatch:PutMetricAlarm', 'cloudwatch:TagResource'],
    update: ['cloudwatch:PutMetricAlarm', 'cloudwatch:TagResource', 'cloudwatch:UntagResource', 'cloudwatch:DescribeAlarms', 'cloudwatch:ListTagsForResource'],
    delete: ['cloudwatch:DeleteAlarms'],
  },
};

export default reconciler;
