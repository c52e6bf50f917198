import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  crmWebhookRoutes,
  startSyncScheduler,
  syncSource,
  syncStatus,
  syncStatusText,
} from '../../src/ingest/sync.ts';
import { silentLogger } from '../../src/logger.ts';
import { FakePortal } from '../fixtures/bitrix24/fake-portal.ts';
import { countRows, virtualClock } from '../fixtures/bitrix24/sync-helpers.ts';
import { buildBitrixWorld } from '../fixtures/bitrix24/world.ts';
import { createTestDb, drivers, type TestDb } from '../helpers/db.ts';

// Whole syncs against a real database: generous for loaded CI machines.
vi.setConfig({ testTimeout: 180_000 });

describe.each(drivers)('sync state and scheduling on %s', (driver) => {
  const clock = virtualClock();
  const world = buildBitrixWorld(19, 0.05);
  const portal = new FakePortal(world.data, clock.ms);
  let db: TestDb;
  let cfg: { webhookUrl: string; appToken: string | undefined };

  beforeAll(async () => {
    db = await createTestDb(driver);
    cfg = { webhookUrl: await portal.start(), appToken: undefined };
  });
  afterAll(async () => {
    await portal.stop();
    await db?.dispose();
  });

  it('nothing configured, nothing synced: an empty status and no webhook routes', async () => {
    expect(await syncStatus(db)).toEqual([]);
    expect(syncStatusText([], 'Europe/Moscow')).toBe(
      'Синхронизация с CRM не настроена или ещё не запускалась.',
    );
    expect(
      crmWebhookRoutes({
        db,
        logger: silentLogger,
        now: clock.now,
        config: { bitrix24: undefined, amocrm: undefined },
      }),
    ).toEqual([]);
    const routes = crmWebhookRoutes({
      db,
      logger: silentLogger,
      now: clock.now,
      config: { bitrix24: cfg, amocrm: { baseUrl: 'http://127.0.0.1:9', token: 't', webhookSecret: 's' } },
    });
    expect(routes.map((r) => `${r.method} ${r.path}`)).toEqual([
      'POST /hooks/bitrix24',
      'POST /hooks/amocrm/:secret',
    ]);
  });

  it('a second sync of the same source waits for the first one; a stale lease is taken over', async () => {
    const deps = { db, logger: silentLogger, now: clock.now, sleep: clock.sleep };
    await db.query(`INSERT INTO sync_state (source, status, updated_at) VALUES ('bitrix24', 'running', $1)`, [
      clock.now(),
    ]);
    await expect(syncSource(deps, 'bitrix24', cfg)).rejects.toThrow(/already running/);
    expect(portal.httpRequests).toBe(0);
    // The process holding the lease died: after ten minutes without a heartbeat the sync goes ahead.
    clock.advance(11 * 60_000);
    const report = await syncSource(deps, 'bitrix24', cfg);
    expect(report.mode).toBe('full');
    expect(await countRows(db, 'deals')).toBe(world.data.deals.length);
    const [status] = await syncStatus(db);
    expect(status).toMatchObject({
      source: 'bitrix24',
      status: 'ok',
      lastError: null,
      pending: null,
      lastRun: { mode: 'full', rejected: 0 },
    });
    expect(status!.lastSuccessAt).toEqual(clock.now());
    // 09:11 UTC is 12:11 in Moscow.
    expect(syncStatusText(await syncStatus(db), 'Europe/Moscow')).toBe(
      `Битрикс24: в порядке; последняя успешная — 10.03, 12:11; полная, записей: ${report.fetched ? Object.values(report.fetched).reduce((a, b) => a + b, 0) : 0}`,
    );
  });

  it('the scheduler runs an incremental sync of each configured source every interval until stopped', async () => {
    const before = portal.httpRequests;
    const scheduler = startSyncScheduler({
      db,
      logger: silentLogger,
      now: clock.now,
      sleep: clock.sleep,
      config: { bitrix24: cfg, amocrm: undefined, syncIntervalMs: 20 },
    });
    const lastSuccess = async () => (await syncStatus(db))[0]!.lastSuccessAt?.getTime();
    // Each run is stamped with the (virtual) time it finished; the clock moves on between polls.
    const seen = new Set([await lastSuccess()]);
    for (let i = 0; i < 400 && seen.size < 3; i++) {
      clock.advance(1000);
      await new Promise((r) => setTimeout(r, 10));
      seen.add(await lastSuccess());
    }
    await scheduler.stop();
    expect(seen.size).toBeGreaterThanOrEqual(3);
    const [status] = await syncStatus(db);
    expect(status!.lastRun?.mode).toBe('incremental');
    const after = portal.httpRequests;
    expect(after).toBeGreaterThan(before);
    await new Promise((r) => setTimeout(r, 100));
    expect(portal.httpRequests).toBe(after);
  });
});
