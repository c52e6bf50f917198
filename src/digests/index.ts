import type { PgBoss } from 'pg-boss';
import type { ToolRegistry } from '../agent/registry.ts';
import type { ChartRenderer } from '../charts/index.ts';
import type { Db } from '../db/client.ts';
import { startBoss } from '../jobs/boss.ts';
import type { Logger } from '../logger.ts';
import { type AlertDetector, createAlertDetector } from './alerts.ts';
import { createDigestBuilder, type DigestBuilder } from './content.ts';
import { createToolMemo } from './memo.ts';
import { DEFAULT_QUEUE, ensureDeliveryQueue, type QueueSettings } from './outbox.ts';
import { createDigestScheduler, type DigestScheduler } from './scheduler.ts';
import type { DigestSenders } from './senders.ts';
import { createDeliveryWorker, type DeliveryWorker } from './worker.ts';

export { createAlertDetector } from './alerts.ts';
export { buildDigestCommand, DIGEST_HELP, handleDigestCommand, previewCaller } from './commands.ts';
export { createDigestBuilder, digestReplies, digestText } from './content.ts';
export { deliveryStatus, formatDeliveryStatus } from './outbox.ts';
export { createDigestScheduler } from './scheduler.ts';
export {
  createConsoleSender,
  createTelegramSender,
  type DigestSender,
  type DigestSenders,
  SendError,
  senderFromRouter,
} from './senders.ts';
export { listSubscriptions, subscribe, unsubscribe } from './subscriptions.ts';
export { createDeliveryWorker } from './worker.ts';

export interface DigestServiceDeps {
  db: Db;
  logger: Logger;
  now: () => Date;
  companyTz: string;
  registry: ToolRegistry;
  renderer?: ChartRenderer | undefined;
  chartSize?: { width: number; height: number } | undefined;
  callsPerDayNorm?: number | undefined;
  senders: DigestSenders;
  /** The process's pg-boss; started here (and stopped with the service) when not given. */
  boss?: PgBoss | undefined;
  /** Run the scheduler (enqueue due digests, check alerts); default true. */
  scheduler?: boolean;
  /** Run the delivery worker; default true. */
  worker?: boolean;
  alerts?: boolean;
  queue?: Partial<QueueSettings>;
  /** Delivery jobs fetched and handled together by each polling loop (default 8 on PostgreSQL). */
  batchSize?: number;
  /** Polling loops of the worker (default 2 on PostgreSQL). */
  concurrency?: number;
  pollingIntervalSeconds?: number;
  lateAfterMs?: number;
  leaseMs?: number;
}

export interface DigestService {
  boss: PgBoss;
  builder: DigestBuilder;
  scheduler: DigestScheduler | null;
  worker: DeliveryWorker | null;
  alerts: AlertDetector | null;
  stop(): Promise<void>;
}

/**
 * Digests and alerts in one process: the delivery queue, the worker that
 * sends, and the scheduler that enqueues (catching up on a missed slot at
 * once). Any number of processes may run it on one database.
 */
export async function startDigestService(deps: DigestServiceDeps): Promise<DigestService> {
  const ownBoss = !deps.boss;
  const boss = deps.boss ?? (await startBoss(deps.db, deps.logger));
  const queue = { ...DEFAULT_QUEUE, ...deps.queue };
  await ensureDeliveryQueue(boss, queue);
  const builder = createDigestBuilder({
    db: deps.db,
    registry: deps.registry,
    renderer: deps.renderer,
    chartSize: deps.chartSize,
    companyTz: deps.companyTz,
    callsPerDayNorm: deps.callsPerDayNorm,
    logger: deps.logger.child({ part: 'digests' }),
    memo: createToolMemo(),
  });
  const worker =
    deps.worker === false
      ? null
      : createDeliveryWorker({
          db: deps.db,
          boss,
          now: deps.now,
          logger: deps.logger.child({ part: 'digest-worker' }),
          senders: deps.senders,
          builder,
          maxAttempts: queue.retryLimit + 1,
          ...(deps.leaseMs ? { leaseMs: deps.leaseMs } : {}),
          ...(deps.batchSize ? { batchSize: deps.batchSize } : {}),
          ...(deps.concurrency ? { concurrency: deps.concurrency } : {}),
          ...(deps.pollingIntervalSeconds ? { pollingIntervalSeconds: deps.pollingIntervalSeconds } : {}),
        });
  const alerts =
    deps.alerts === false || deps.scheduler === false
      ? null
      : createAlertDetector({
          db: deps.db,
          registry: deps.registry,
          companyTz: deps.companyTz,
          logger: deps.logger.child({ part: 'alerts' }),
        });
  const scheduler =
    deps.scheduler === false
      ? null
      : createDigestScheduler({
          db: deps.db,
          boss,
          now: deps.now,
          logger: deps.logger.child({ part: 'digest-scheduler' }),
          alerts: alerts ?? undefined,
          ...(deps.lateAfterMs ? { lateAfterMs: deps.lateAfterMs } : {}),
          ...(deps.leaseMs ? { leaseMs: deps.leaseMs } : {}),
        });
  await worker?.start();
  await scheduler?.start();
  return {
    boss,
    builder,
    scheduler,
    worker,
    alerts,
    async stop() {
      await scheduler?.stop();
      await worker?.stop();
      if (ownBoss) await boss.stop({ graceful: true, close: true, timeout: 5_000 });
    },
  };
}
