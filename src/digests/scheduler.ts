import schedule from 'node-schedule';
import type { PgBoss } from 'pg-boss';
import type { Channel } from '../bot/access.ts';
import type { Db } from '../db/client.ts';
import type { Logger } from '../logger.ts';
import type { AlertDetector } from './alerts.ts';
import { existingKeys, insertDeliveries, type NewDelivery, recoverStale, releaseDue } from './outbox.ts';
import { type DigestKind, digestDates, latestSlot, type SlotRule } from './schedule.ts';
import { DEFAULT_LEASE_MS } from './worker.ts';

export interface SchedulerDeps {
  db: Db;
  boss: PgBoss;
  /** The clock every decision is made by; injectable for tests and `--now`. */
  now: () => Date;
  logger: Logger;
  /** Alerts checked on each tick; none without it. */
  alerts?: AlertDetector | undefined;
  /** A digest enqueued this long after its slot is marked late. */
  lateAfterMs?: number;
  leaseMs?: number;
  /** A due row whose job has not moved it for this long is queued again. */
  orphanMs?: number;
}

export interface TickReport {
  digests: number;
  late: number;
  alerts: number;
  released: number;
  recovered: number;
}

export const DEFAULT_LATE_AFTER_MS = 15 * 60_000;

interface DigestSubscription {
  id: number;
  user_id: number;
  kind: DigestKind;
  channel: Channel;
  time_of_day: string;
  weekday: number | null;
  time_zone: string;
  created_at: Date;
}

/**
 * The scheduler only enqueues: on each tick it computes every active digest
 * subscription's latest due slot in the subscriber's zone and inserts its
 * outbox row under the unique key `digest:<subscription>:<first day of the
 * period>` (a no-op when any process did already), checks alerts, and hands
 * due rows to the job queue. Because only the latest slot is considered, a
 * tick after downtime sends a missed digest once, marked late, and skips
 * older missed slots. node-schedule fires the tick each minute.
 */
export function createDigestScheduler(deps: SchedulerDeps) {
  const lateAfterMs = deps.lateAfterMs ?? DEFAULT_LATE_AFTER_MS;
  const leaseMs = deps.leaseMs ?? DEFAULT_LEASE_MS;
  const orphanMs = deps.orphanMs ?? 60 * 60_000;
  let job: schedule.Job | null = null;
  let running: Promise<TickReport> | null = null;

  async function enqueueDigests(now: Date): Promise<{ digests: number; late: number }> {
    const subs = await deps.db.query<DigestSubscription>(
      `SELECT s.id, s.user_id, s.kind, s.channel, s.time_of_day, s.weekday, s.time_zone, s.created_at
         FROM subscriptions s JOIN bot_users u ON u.id = s.user_id
        WHERE s.active AND s.kind IN ('daily', 'weekly') AND u.revoked_at IS NULL`,
    );
    // Subscriptions with the same rule share one slot computation.
    const slots = new Map<string, Date | null>();
    const rows: NewDelivery[] = [];
    for (const s of subs) {
      const rule: SlotRule = {
        kind: s.kind,
        timeOfDay: s.time_of_day,
        weekday: s.weekday,
        timeZone: s.time_zone,
      };
      const ruleKey = `${s.kind}|${s.time_of_day}|${s.weekday}|${s.time_zone}`;
      if (!slots.has(ruleKey)) slots.set(ruleKey, latestSlot(rule, now));
      const slot = slots.get(ruleKey) ?? null;
      if (!slot || slot.getTime() < s.created_at.getTime()) continue;
      const dates = digestDates(s.kind, slot, s.time_zone);
      rows.push({
        key: `digest:${s.id}:${dates.from}`,
        userId: s.user_id,
        subscriptionId: s.id,
        channel: s.channel,
        kind: s.kind === 'daily' ? 'digest_daily' : 'digest_weekly',
        payload: {
          type: 'digest',
          kind: s.kind,
          slot: slot.toISOString(),
          timeZone: s.time_zone,
          from: dates.from,
          to: dates.to,
        },
        late: now.getTime() - slot.getTime() > lateAfterMs,
        scheduledAt: slot,
      });
    }
    const have = await existingKeys(
      deps.db,
      rows.map((r) => r.key),
    );
    const fresh = rows.filter((r) => !have.has(r.key));
    const digests = await insertDeliveries(deps.db, fresh, now);
    return { digests, late: fresh.filter((r) => r.late).length };
  }

  async function runTick(): Promise<TickReport> {
    const now = deps.now();
    const recovered = await recoverStale(deps.db, now, leaseMs, orphanMs);
    const { digests, late } = await enqueueDigests(now);
    let alerts = 0;
    if (deps.alerts) {
      try {
        alerts = await deps.alerts.check(now);
      } catch (err) {
        deps.logger.error({ err: (err as Error).message }, 'alert check failed');
      }
    }
    const released = await releaseDue(deps.db, deps.boss, now);
    if (digests || alerts || released || recovered) {
      deps.logger.info({ digests, late, alerts, released, recovered }, 'digest tick');
    }
    return { digests, late, alerts, released, recovered };
  }

  /** One pass; a tick still running is joined, not doubled. */
  function tick(): Promise<TickReport> {
    running ??= runTick().finally(() => {
      running = null;
    });
    return running;
  }

  return {
    tick,
    /** Catches up at once (the latest missed slot of each subscription, marked late), then ticks every minute. */
    async start(): Promise<TickReport> {
      const first = await tick();
      job = schedule.scheduleJob('1 * * * * *', () => {
        tick().catch((err) => deps.logger.error({ err: (err as Error).message }, 'digest tick failed'));
      });
      return first;
    },
    async stop(): Promise<void> {
      job?.cancel();
      job = null;
      await running?.catch(() => {});
    },
  };
}

export type DigestScheduler = ReturnType<typeof createDigestScheduler>;
