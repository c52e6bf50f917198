import type { PgBoss } from 'pg-boss';
import { coreMetricTools, ToolRegistry } from '../../src/agent/registry.ts';
import type { Channel } from '../../src/bot/access.ts';
import type { ChartRenderer } from '../../src/charts/index.ts';
import type { Db, Queryable } from '../../src/db/client.ts';
import { createAlertDetector } from '../../src/digests/alerts.ts';
import { createDigestBuilder } from '../../src/digests/content.ts';
import { createToolMemo } from '../../src/digests/memo.ts';
import { DEFAULT_QUEUE, ensureDeliveryQueue, type QueueSettings } from '../../src/digests/outbox.ts';
import { createDigestScheduler } from '../../src/digests/scheduler.ts';
import type { DigestSenders } from '../../src/digests/senders.ts';
import { createDeliveryWorker } from '../../src/digests/worker.ts';
import { startBoss } from '../../src/jobs/boss.ts';
import { silentLogger } from '../../src/logger.ts';

export const MSK = 'Europe/Moscow';
export const YEKT = 'Asia/Yekaterinburg';

/** A clock the test moves by hand. */
export function testClock(start: string) {
  let t = new Date(start).getTime();
  return {
    now: () => new Date(t),
    set(iso: string) {
      t = new Date(iso).getTime();
    },
    advance(ms: number) {
      t += ms;
    },
  };
}
export type TestClock = ReturnType<typeof testClock>;

/** Polls until `check` returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(
  check: () => Promise<T | undefined | false>,
  timeoutMs = 20_000,
  what = 'condition',
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A bot user bound to a manager record, with a chat on a channel. */
export async function addUser(
  db: Queryable,
  u: {
    name: string;
    role: 'admin' | 'head' | 'manager';
    managerId: string | null;
    chatId: string;
    channel?: Channel;
  },
): Promise<number> {
  const [row] = await db.query<{ id: number }>(
    `INSERT INTO bot_users (name, role, manager_id, preferred_channel) VALUES ($1, $2, $3, $4) RETURNING id`,
    [u.name, u.role, u.managerId, u.channel ?? 'telegram'],
  );
  await db.query(
    `INSERT INTO messenger_identities (user_id, channel, external_id, chat_id) VALUES ($1, $2, $3, $3)`,
    [row!.id, u.channel ?? 'telegram', u.chatId],
  );
  return row!.id;
}

/** Quick retries so backoff tests run in seconds. */
export const FAST_QUEUE: QueueSettings = {
  retryLimit: 2,
  retryDelay: 1,
  retryDelayMax: 8,
  expireInSeconds: 60,
};

export interface Instance {
  boss: PgBoss;
  scheduler: ReturnType<typeof createDigestScheduler>;
  worker: ReturnType<typeof createDeliveryWorker>;
  stop(): Promise<void>;
}

/** One running process: its own pg-boss, scheduler and worker on `db`, deciding by `clock`. */
export async function startInstance(
  db: Db,
  opts: {
    clock: TestClock;
    senders: DigestSenders;
    registry?: ToolRegistry;
    queue?: QueueSettings;
    alerts?: boolean;
    leaseMs?: number;
    companyTz?: string;
    renderer?: ChartRenderer;
  },
): Promise<Instance> {
  const boss = await startBoss(db, silentLogger, { supervise: false, schedule: false });
  const queue = opts.queue ?? FAST_QUEUE;
  await ensureDeliveryQueue(boss, queue);
  const registry = opts.registry ?? new ToolRegistry(coreMetricTools);
  const companyTz = opts.companyTz ?? MSK;
  const builder = createDigestBuilder({
    db,
    registry,
    companyTz,
    logger: silentLogger,
    memo: createToolMemo(),
    renderer: opts.renderer,
  });
  const worker = createDeliveryWorker({
    db,
    boss,
    now: opts.clock.now,
    logger: silentLogger,
    senders: opts.senders,
    builder,
    maxAttempts: queue.retryLimit + 1,
    pollingIntervalSeconds: 0.5,
    ...(opts.leaseMs ? { leaseMs: opts.leaseMs } : {}),
  });
  const scheduler = createDigestScheduler({
    db,
    boss,
    now: opts.clock.now,
    logger: silentLogger,
    alerts: opts.alerts ? createAlertDetector({ db, registry, companyTz, logger: silentLogger }) : undefined,
    ...(opts.leaseMs ? { leaseMs: opts.leaseMs } : {}),
  });
  await worker.start();
  return {
    boss,
    scheduler,
    worker,
    async stop() {
      await scheduler.stop();
      await boss.stop({ graceful: false, close: true, timeout: 2_000 });
    },
  };
}

export { DEFAULT_QUEUE };
