import type { Job, PgBoss } from 'pg-boss';
import type { Reply } from '../bot/core.ts';
import type { Db } from '../db/client.ts';
import type { Logger } from '../logger.ts';
import { type DigestBuilder, digestReplies } from './content.ts';
import {
  claimDelivery,
  DEFAULT_QUEUE,
  DELIVERY_QUEUE,
  type DeliveryRow,
  markDelivery,
  markPartSent,
} from './outbox.ts';
import { type DigestSenders, SendError } from './senders.ts';
import { type AlertSettings, alertSettingsSchema } from './subscriptions.ts';

export interface DeliveryWorkerDeps {
  db: Db;
  boss: PgBoss;
  now: () => Date;
  logger: Logger;
  senders: DigestSenders;
  builder: DigestBuilder;
  /** A `sending` row untouched this long belongs to a dead process and may be taken over. */
  leaseMs?: number;
  /** Attempts before a delivery is given up as failed (the queue's retries + 1). */
  maxAttempts?: number;
  /** Jobs fetched at once by each polling loop, all handled together. */
  batchSize?: number;
  /** Polling loops of this process. */
  concurrency?: number;
  /** Seconds between polls of the job queue. */
  pollingIntervalSeconds?: number;
}

export type DeliveryOutcome = 'sent' | 'failed' | 'skipped' | 'retry' | 'taken';

export const DEFAULT_LEASE_MS = 10 * 60_000;

interface Target {
  userId: number;
  role: 'admin' | 'head' | 'manager';
  managerId: string | null;
  chatId: string;
  alerts: AlertSettings | null;
}

/**
 * The delivery worker: pg-boss jobs name outbox rows; each is claimed, built
 * (a digest's content is computed as of its slot), sent message by message
 * and marked. A send error is retried by the queue with exponential backoff;
 * a permanent one, or the last attempt, leaves the row `failed` with its error.
 */
export function createDeliveryWorker(deps: DeliveryWorkerDeps) {
  const leaseMs = deps.leaseMs ?? DEFAULT_LEASE_MS;
  const maxAttempts = deps.maxAttempts ?? DEFAULT_QUEUE.retryLimit + 1;

  async function targetOf(row: DeliveryRow): Promise<Target | 'gone' | 'no_chat'> {
    const [t] = await deps.db.query<{
      user_id: number;
      role: Target['role'];
      manager_id: string | null;
      revoked: boolean;
      active: boolean;
      alerts: AlertSettings | null;
      chat_id: string | null;
    }>(
      `SELECT u.id AS user_id, u.role, u.manager_id, u.revoked_at IS NOT NULL AS revoked, s.active, s.alerts,
              (SELECT i.chat_id FROM messenger_identities i WHERE i.user_id = u.id AND i.channel = s.channel
                ORDER BY i.id DESC LIMIT 1) AS chat_id
         FROM subscriptions s JOIN bot_users u ON u.id = s.user_id
        WHERE s.id = $1`,
      [row.subscription_id],
    );
    if (!t || t.revoked || !t.active) return 'gone';
    if (!t.chat_id) return 'no_chat';
    return {
      userId: t.user_id,
      role: t.role,
      managerId: t.manager_id,
      chatId: t.chat_id,
      alerts: t.alerts ? alertSettingsSchema.parse(t.alerts) : null,
    };
  }

  async function repliesOf(row: DeliveryRow, target: Target): Promise<Reply[]> {
    const p = row.payload;
    if (p.type === 'alert') return [{ text: p.text, html: p.html }];
    const slot = new Date(p.slot);
    const content = await deps.builder.build({
      kind: p.kind,
      caller: { role: target.role, managerId: target.managerId },
      slot,
      timeZone: p.timeZone,
    });
    return digestReplies(content, row.late ? { dueAt: slot, timeZone: p.timeZone } : null);
  }

  /** Delivers one outbox row; the outcome says what became of it. */
  async function deliver(id: number): Promise<DeliveryOutcome> {
    const row = await claimDelivery(deps.db, id, deps.now(), leaseMs);
    if (!row) return 'taken';
    const log = deps.logger.child({ delivery: row.id, key: row.key });
    try {
      const target = await targetOf(row);
      if (target === 'gone') {
        await markDelivery(
          deps.db,
          row.id,
          'skipped',
          deps.now(),
          'подписка выключена или пользователь отозван',
        );
        return 'skipped';
      }
      if (target === 'no_chat') throw new SendError(`у пользователя нет чата в канале ${row.channel}`, true);
      const p = row.payload;
      if (p.type === 'alert' && target.alerts && !target.alerts[p.alert as keyof AlertSettings]) {
        await markDelivery(deps.db, row.id, 'skipped', deps.now(), 'оповещение выключено подписчиком');
        return 'skipped';
      }
      const send = deps.senders[row.channel];
      if (!send) throw new SendError(`канал ${row.channel} не подключён`, true);
      const replies = await repliesOf(row, target);
      for (let i = row.parts_sent; i < replies.length; i++) {
        const { externalId } = await send(target.userId, row.channel, target.chatId, replies[i]!);
        await markPartSent(deps.db, row.id, i + 1, externalId, deps.now());
      }
      await markDelivery(deps.db, row.id, 'sent', deps.now());
      log.info({ parts: replies.length, late: row.late }, 'delivered');
      return 'sent';
    } catch (err) {
      const message = (err as Error).message;
      const permanent = err instanceof SendError && err.permanent;
      if (permanent || row.attempts >= maxAttempts) {
        await markDelivery(deps.db, row.id, 'failed', deps.now(), message);
        log.error({ err: message, attempts: row.attempts }, 'delivery failed for good');
        return 'failed';
      }
      await markDelivery(deps.db, row.id, 'pending', deps.now(), message);
      log.warn({ err: message, attempts: row.attempts }, 'delivery failed; will retry');
      return 'retry';
    }
  }

  return {
    deliver,
    /**
     * Starts taking delivery jobs from the queue: `batchSize` jobs per fetch,
     * handled at once, fetching again straight away while batches come back
     * full (a digest whose figures are already known takes milliseconds, and
     * a poll pause per job would dominate).
     */
    async start(): Promise<void> {
      const pglite = deps.db.kind === 'pglite';
      await deps.boss.work(
        DELIVERY_QUEUE,
        {
          batchSize: deps.batchSize ?? (pglite ? 1 : 8),
          localConcurrency: deps.concurrency ?? (pglite ? 1 : 2),
          pollingIntervalSeconds: deps.pollingIntervalSeconds ?? 2,
          burstWhenBatchFull: true,
          perJobResults: true,
        },
        (jobs: Job<{ deliveryId: number }>[]) =>
          Promise.all(
            jobs.map(async (job) => {
              const outcome = await deliver(job.data.deliveryId).catch((err: Error) => {
                deps.logger.error({ err: err.message, delivery: job.data.deliveryId }, 'delivery crashed');
                return 'retry' as const;
              });
              // A failed job goes back to the queue, which retries it after a growing delay.
              return {
                id: job.id,
                status: outcome === 'retry' ? ('failed' as const) : ('completed' as const),
              };
            }),
          ),
      );
    },
    async stop(): Promise<void> {
      await deps.boss.offWork(DELIVERY_QUEUE);
    },
  };
}

export type DeliveryWorker = ReturnType<typeof createDeliveryWorker>;
