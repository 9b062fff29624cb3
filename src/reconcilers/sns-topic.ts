// sns-topic: a topic and its subscriptions (email, https, sqs, ...).
//
// observe: the stack's topics come from the tag index (tag-index.ts: one GetResources for every
// indexed kind of the plan, tags included). Only when a topic the spec names (topicName, the default
// <stack>-<name>, or `adopt:`) is not among them: ListTopics (ARNs only, 100 a page) to find it, and
// ListTagsForResource for it. Owned and adopted topics then take GetTopicAttributes each (SNS has no
// bulk read of it) and their subscriptions come from one of two reads (accountSubscriptions):
// - ListSubscriptionsByTopic per topic (100 a page): one call per topic;
// - ListSubscriptions, the account's subscriptions of every topic, 100 a page, read page after page.
//   Used when the plan reads 2 or more topics, and only while it takes at most ceil(topics / 10)
//   pages -- as many as the per-topic reads take rounds at 10 at a time: an account with more
//   subscriptions than that stops after those pages and reads by topic (the waste is bounded by a
//   tenth of the topics and one round trip). AWS lists only the requester's own subscriptions there,
//   not those another account made on our topic (ListSubscriptionsByTopic shows them): a topic whose
//   attributes count more subscriptions (SubscriptionsConfirmed + SubscriptionsPending) than the
//   listing holds for it is read by topic too, so such a subscription is still seen and removed.
// A converged stack of N >= 2 topics in an account of up to 100 N / 10 subscriptions: N + ceil(N / 10)
// reads at most (N + 1 up to 10 topics); otherwise 2N, as before.
// In place: displayName (SetTopicAttributes), subscriptions (Subscribe / Unsubscribe, one by one),
// tags. Replace: topicName.
// A subscription waiting for its confirmation (email: until the recipient clicks the link) is shown
// as info, kept (never re-subscribed, which would send the mail again) and, as AWS cannot remove a
// pending subscription, never listed for removal: AWS drops it after 3 days.
import {
  CreateTopicCommand,
  DeleteTopicCommand,
  GetTopicAttributesCommand,
  ListSubscriptionsByTopicCommand,
  ListSubscriptionsCommand,
  ListTagsForResourceCommand,
  ListTopicsCommand,
  SetTopicAttributesCommand,
  SubscribeCommand,
  TagResourceCommand,
  UnsubscribeCommand,
  UntagResourceCommand,
} from '../aws/sdk/sns.js';
import { isAccessDenied } from '../aws/errors.js';
import { indexedOf } from './tag-index.js';
import { TAG_ID, TAG_STACK, tagUpdates, tagsFromList, tagsToList } from '../aws/tags.js';
import { field } from '../engine/diffutil.js';
import { holdersByName } from '../engine/ownership.js';
import type { Ctx, Desired, FieldChange, Observed, Reconciler } from '../engine/types.js';
import {
  adoptions,
  allPages,
  defaultAwsName,
  identify,
  ignoreNotFound,
  isError,
  mapLimit,
  readOrAbsent,
} from './services-shared.js';
import type { Subscription } from '../aws/sdk/sns.js';

export type SubscriptionLive = {
  protocol: string;
  endpoint: string;
  /** The subscription's ARN (absent while it waits for its confirmation). */
  arn?: string;
  pending?: true;
};

export type TopicLive = {
  topicName: string;
  displayName: string;
  subscriptions: SubscriptionLive[];
};

const topicNameOfArn = (arn: string) => arn.slice(arn.lastIndexOf(':') + 1);

export function topicName(d: Desired<'sns-topic'>, live?: Observed<TopicLive>): string {
  if (d.spec.topicName) return d.spec.topicName;
  if (d.spec.adopt && live) return live.live.topicName;
  return defaultAwsName(d.stack, d.name);
}

const subKey = (s: { protocol: string; endpoint: string }) => `${s.protocol} ${s.endpoint}`;

/** Subscriptions by topic ARN, from the account-wide listing (see the header). */
export type SubscriptionListing = Map<string, Subscription[]>;

/**
 * ListSubscriptions, page after page, for at most `maxPages` pages: the account's subscriptions by
 * topic ARN, or undefined when there are more than those pages hold (or the caller may not list them).
 */
export async function accountSubscriptions(ctx: Ctx, maxPages: number): Promise<SubscriptionListing | undefined> {
  const sns = await ctx.aws.sns();
  const out: SubscriptionListing = new Map();
  let NextToken: string | undefined;
  for (let page = 0; page < maxPages; page++) {
    let r;
    try {
      r = await sns.send(new ListSubscriptionsCommand({ NextToken }));
    } catch (e) {
      // A policy made before this read existed lacks sns:ListSubscriptions: read by topic, as it allows.
      if (isAccessDenied(e)) return undefined;
      throw e;
    }
    for (const s of r.Subscriptions ?? []) if (s.TopicArn) out.set(s.TopicArn, [...(out.get(s.TopicArn) ?? []), s]);
    NextToken = r.NextToken || undefined;
    if (!NextToken) return out;
  }
  return undefined;
}

/** Pages of the account-wide listing a plan reading `topics` topics may spend: none below 2 topics, else one per 10 topics. */
export const listingBudget = (topics: number): number => (topics >= 2 ? Math.ceil(topics / 10) : 0);

/**
 * A topic's subscriptions from the account-wide listing, or undefined when the listing cannot be
 * trusted for it: it holds fewer of the topic's subscriptions than the topic's own counts say exist
 * (another account's subscription to this topic, which ListSubscriptions leaves out). Deleted
 * subscriptions on their way out count in neither.
 */
export function listedSubscriptions(listing: SubscriptionListing | undefined, arn: string, attributes: Record<string, string> | undefined): Subscription[] | undefined {
  if (!listing) return undefined;
  const listed = (listing.get(arn) ?? []).filter((s) => s.SubscriptionArn !== 'Deleted');
  const counted = Number(attributes?.SubscriptionsConfirmed ?? 0) + Number(attributes?.SubscriptionsPending ?? 0);
  return counted > listed.length ? undefined : listed;
}

async function subscriptionsByTopic(ctx: Ctx, arn: string): Promise<Subscription[] | undefined> {
  const sns = await ctx.aws.sns();
  return readOrAbsent(() =>
    allPages(async (NextToken) => {
      const r = await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: arn, NextToken }));
      return { items: r.Subscriptions, next: r.NextToken };
    }),
  );
}

/**
 * A topic: GetTopicAttributes, and its subscriptions from `listing` (the account-wide listing, in
 * flight) where it can be trusted for this topic, else ListSubscriptionsByTopic.
 */
async function readTopic(
  ctx: Ctx,
  arn: string,
  tags: Record<string, string>,
  who: { name: string; management: Observed['management'] },
  listing?: Promise<SubscriptionListing | undefined>,
): Promise<Observed<TopicLive> | undefined> {
  const sns = await ctx.aws.sns();
  const attributes = readOrAbsent(() => sns.send(new GetTopicAttributesCommand({ TopicArn: arn })));
  const [attrs, subs] = await Promise.all([
    attributes,
    listing
      ? Promise.all([attributes, listing]).then(([a, l]) => (a ? listedSubscriptions(l, arn, a.Attributes) ?? subscriptionsByTopic(ctx, arn) : undefined))
      : subscriptionsByTopic(ctx, arn),
  ]);
  if (!attrs || !subs) return undefined;
  const subscriptions: SubscriptionLive[] = [];
  for (const s of subs) {
    if (!s.Protocol || !s.Endpoint || s.SubscriptionArn === 'Deleted') continue;
    const pending = !s.SubscriptionArn?.startsWith('arn:');
    subscriptions.push({ protocol: s.Protocol, endpoint: s.Endpoint, ...(pending ? { pending: true as const } : { arn: s.SubscriptionArn }) });
  }
  return {
    id: arn,
    name: who.name,
    management: who.management,
    live: { topicName: topicNameOfArn(arn), displayName: attrs.Attributes?.DisplayName ?? '', subscriptions },
    tags,
    outputs: { id: arn, arn, name: topicNameOfArn(arn) },
  };
}

function showPending(ctx: Ctx, address: string, live: TopicLive): void {
  for (const s of live.subscriptions)
    if (s.pending)
      ctx.emit({ type: 'info', address, message: `subscriptions[${subKey(s)}] waits for its confirmation (AWS sent a confirmation message to ${s.endpoint})` });
}

async function subscribe(ctx: Ctx, address: string, arn: string, s: { protocol: string; endpoint: string }): Promise<void> {
  const sns = await ctx.aws.sns();
  const r = await sns.send(new SubscribeCommand({ TopicArn: arn, Protocol: s.protocol, Endpoint: s.endpoint }));
  if (!r.SubscriptionArn?.startsWith('arn:'))
    ctx.emit({ type: 'info', address, message: `subscriptions[${subKey(s)}]: confirmation pending: AWS sent a confirmation message to ${s.endpoint}; nothing is delivered until it is confirmed` });
}

const reconciler: Reconciler<'sns-topic', TopicLive> = {
  kind: 'sns-topic',

  async observe(ctx, desired) {
    const sns = await ctx.aws.sns();
    const adopted = adoptions(desired);
    const index = await indexedOf(ctx, 'sns');
    const indexedNames = new Set([...index.keys()].map(topicNameOfArn));
    const names = new Set(desired.map((d) => topicName(d)));
    const wanted = [...names, ...adopted.keys()].filter((n) => !index.has(n) && !indexedNames.has(n));
    // A topic the spec names that the index does not list: find it by name.
    const listed = wanted.length
      ? (
          await allPages(async (NextToken) => {
            const r = await sns.send(new ListTopicsCommand({ NextToken }));
            return { items: r.Topics, next: r.NextToken };
          })
        )
          .map((t) => t.TopicArn!)
          .filter((arn) => arn && !index.has(arn))
          .filter((arn) => {
            const n = topicNameOfArn(arn);
            return names.has(n) || adopted.has(arn) || adopted.has(n);
          })
      : [];
    const byName = new Map(desired.map((d) => [d.name, d]));
    const owned = (
      await mapLimit([...index.keys(), ...listed], async (arn) => {
        let tags = index.get(arn);
        if (!tags) {
          const r = await readOrAbsent(() => sns.send(new ListTagsForResourceCommand({ ResourceArn: arn })));
          if (!r) return undefined;
          tags = tagsFromList(r.Tags);
        }
        const who = identify(tags, ctx.stack, adopted, [arn, topicNameOfArn(arn)]);
        return who && { arn, tags, who };
      })
    ).filter((t) => t !== undefined);
    // The account-wide listing runs alongside the topics' attribute reads (see the header).
    const budget = listingBudget(owned.length);
    const listing = budget ? accountSubscriptions(ctx, budget) : undefined;
    listing?.catch(() => {}); // its failure is reported where a topic awaits it
    const found = await mapLimit(owned, async ({ arn, tags, who }) => {
      const o = await readTopic(ctx, arn, tags, who, listing);
      const d = byName.get(who.name);
      if (o && d) showPending(ctx, d.address, o.live);
      return o;
    });
    return found.filter((o): o is Observed<TopicLive> => o !== undefined);
  },

  // Topics of the region with the names these would be created with: ListTopics (ARNs, 100 a page),
  // then ListTagsForResource for each that matches.
  async nameHolders(ctx, desired) {
    const sns = await ctx.aws.sns();
    const names = new Set(desired.map((d) => topicName(d)));
    const arns = (
      await allPages(async (NextToken) => {
        const r = await sns.send(new ListTopicsCommand({ NextToken }));
        return { items: r.Topics, next: r.NextToken };
      })
    )
      .map((t) => t.TopicArn)
      .filter((arn): arn is string => !!arn && names.has(topicNameOfArn(arn)));
    const found = await mapLimit(arns, async (arn) => {
      const r = await readOrAbsent(() => sns.send(new ListTagsForResourceCommand({ ResourceArn: arn })));
      return r ? [{ awsName: topicNameOfArn(arn), adoptId: arn, tags: tagsFromList(r.Tags) }] : [];
    });
    return holdersByName(desired, (d) => topicName(d), 'topicName', found.flat());
  },

  diff(d, o) {
    const live = o.live;
    const out: FieldChange[] = [
      ...field('topicName', live.topicName, topicName(d, o), true),
      ...field('displayName', live.displayName, d.spec.displayName ?? ''),
    ];
    const want = new Map(d.spec.subscriptions.map((s) => [subKey(s), s]));
    const have = new Map(live.subscriptions.map((s) => [subKey(s), s]));
    for (const [k, s] of want) if (!have.has(k)) out.push({ path: `subscriptions[${k}]`, before: undefined, after: { protocol: s.protocol, endpoint: s.endpoint }, forcesReplace: false });
    for (const [k, s] of have)
      if (!want.has(k) && !s.pending) out.push({ path: `subscriptions[${k}]`, before: { protocol: s.protocol, endpoint: s.endpoint }, after: undefined, forcesReplace: false });
    return out;
  },

  async create(ctx, d) {
    const sns = await ctx.aws.sns();
    const name = topicName(d);
    let arn: string;
    try {
      // Idempotent by name: a repeated create returns the same topic.
      const r = await sns.send(
        new CreateTopicCommand({ Name: name, Tags: tagsToList(d.tags), ...(d.spec.displayName ? { Attributes: { DisplayName: d.spec.displayName } } : {}) }),
      );
      arn = r.TopicArn!;
    } catch (e) {
      if (isError(e, 'InvalidParameter', 'InvalidParameterException') && /already exists/i.test((e as Error).message))
        throw new Error(`a topic named ${name} already exists and is not ${d.address} of this stack: set adopt: <its ARN> to take it over, or choose another topicName`);
      throw e;
    }
    const tags = tagsFromList((await sns.send(new ListTagsForResourceCommand({ ResourceArn: arn }))).Tags);
    if (tags[TAG_STACK] !== ctx.stack || tags[TAG_ID] !== d.name)
      throw new Error(`a topic named ${name} already exists and is not ${d.address} of this stack: set adopt: ${arn} to take it over, or choose another topicName`);
    const existing = await readTopic(ctx, arn, tags, { name: d.name, management: 'owned' });
    const have = new Set(existing?.live.subscriptions.map(subKey));
    for (const s of d.spec.subscriptions) if (!have.has(subKey(s))) await subscribe(ctx, d.address, arn, s);
    const o = await readTopic(ctx, arn, tags, { name: d.name, management: 'owned' });
    if (!o) throw new Error(`topic ${arn} disappeared right after its create`);
    return o;
  },

  async update(ctx, d, o, changes) {
    const sns = await ctx.aws.sns();
    const live = o.live;
    if (changes.some((c) => c.path === 'displayName'))
      await sns.send(new SetTopicAttributesCommand({ TopicArn: o.id, AttributeName: 'DisplayName', AttributeValue: d.spec.displayName ?? '' }));
    const have = new Map(live.subscriptions.map((s) => [subKey(s), s]));
    for (const c of changes) {
      const key = /^subscriptions\[(.*)\]$/.exec(c.path)?.[1];
      if (key === undefined) continue;
      if (c.after !== undefined) await subscribe(ctx, d.address, o.id, c.after as { protocol: string; endpoint: string });
      else {
        const s = have.get(key);
        if (s?.arn) await ignoreNotFound(() => sns.send(new UnsubscribeCommand({ SubscriptionArn: s.arn })));
        else if (s) ctx.emit({ type: 'warning', address: d.address, message: `subscriptions[${key}] waits for its confirmation and cannot be removed: AWS drops it after 3 days` });
      }
    }
    const { set, remove } = tagUpdates(changes);
    if (Object.keys(set).length) await sns.send(new TagResourceCommand({ ResourceArn: o.id, Tags: tagsToList(set) }));
    if (remove.length) await sns.send(new UntagResourceCommand({ ResourceArn: o.id, TagKeys: remove }));
    const tags = tagsFromList((await sns.send(new ListTagsForResourceCommand({ ResourceArn: o.id }))).Tags);
    const after = await readTopic(ctx, o.id, tags, { name: d.name, management: 'owned' });
    if (!after) throw new Error(`topic ${o.id} is gone`);
    return after;
  },

  async delete(ctx, o) {
    const sns = await ctx.aws.sns();
    // Deleting a topic deletes its subscriptions.
    await ignoreNotFound(() => sns.send(new DeleteTopicCommand({ TopicArn: o.id })));
  },

  permissions: {
    observe: ['tag:GetResources', 'sns:ListTopics', 'sns:ListTagsForResource', 'sns:GetTopicAttributes', 'sns:ListSubscriptions', 'sns:ListSubscriptionsByTopic'],
    create: ['sns:CreateTopic', 'sns:TagResource', 'sns:ListTagsForResource', 'sns:GetTopicAttributes', 'sns:ListSubscriptionsByTopic', 'sns:Subscribe'],
    update: [
      'sns:SetTopicAttributes',
      'sns:Subscribe',
      'sns:Unsubscribe',
      'sns:TagResource',
      'sns:UntagResource',
      'sns:ListTagsForResource',
      'sns:GetTopicAttributes',
      'sns:ListSubscriptionsByTopic',
    ],
    delete: ['sns:DeleteTopic'],
  },
};

export default reconciler;
