import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { coreMetricTools, ToolRegistry } from '../../src/agent/registry.ts';
import { createAlertDetector, FORGOTTEN_DEAL_DAYS } from '../../src/digests/alerts.ts';
import { releaseDue } from '../../src/digests/outbox.ts';
import { createTelegramSender } from '../../src/digests/senders.ts';
import { subscribe } from '../../src/digests/subscriptions.ts';
import { silentLogger } from '../../src/logger.ts';
import { ADMIN } from '../../src/metrics/types.ts';
import { createTestDb, drivers, type TestDb } from '../helpers/db.ts';
import { loadDemo } from '../helpers/demo.ts';
import { startFakeTelegram } from '../helpers/fake-telegram.ts';
import { addUser, MSK, startInstance, testClock, waitFor } from './helpers.ts';

const DAY = 86_400_000;
/** Monday 23 November 2026, 12:00 in Moscow: a working day, outside the default quiet hours 21:00–09:00. */
const NOON = new Date('2026-11-23T09:00:00Z');

interface AlertRow {
  key: string;
  user_id: number;
  scheduled_at: Date;
  status: string;
  payload: { alert: string; entity: string; text: string };
}

describe.each(drivers)('alerts on %s', (driver) => {
  let db: TestDb;
  const registry = new ToolRegistry(coreMetricTools);
  const users = { admin: 0, head: 0, manager: 0, other: 0 };
  const subs = { admin: 0, head: 0, manager: 0, other: 0 };
  let managerId = '';
  let callSeq = 0;

  const detector = () => createAlertDetector({ db, registry, companyTz: MSK, logger: silentLogger });
  const alertRows = (alert: string, entity?: string) =>
    db.query<AlertRow>(
      `SELECT key, user_id, scheduled_at, status, payload FROM deliveries
        WHERE kind = 'alert' AND payload->>'alert' = $1 AND ($2::text IS NULL OR payload->>'entity' = $2)
        ORDER BY user_id, key`,
      [alert, entity ?? null],
    );
  const recipients = async (alert: string, entity?: string) =>
    (await alertRows(alert, entity)).map((r) => r.user_id);

  async function missedCall(phone: string, at: Date, manager = managerId): Promise<string> {
    const id = `T-MISSED-${++callSeq}`;
    await db.query(
      `INSERT INTO calls (id, direction, started_at, duration_sec, status, manager_id, client_phone, line_number)
       VALUES ($1, 'in', $2, 0, 'missed', $3, $4, '74951234501')`,
      [id, at, manager, phone],
    );
    return id;
  }

  beforeAll(async () => {
    db = await createTestDb(driver);
    await loadDemo(db);
    // A head, a manager of their department, and a manager of another department.
    const [pair] = await db.query<{ head: string; manager: string; other: string }>(
      `SELECT h.id AS head, m.id AS manager,
              (SELECT o.id FROM managers o WHERE o.role = 'manager' AND o.department_id <> h.department_id ORDER BY o.id LIMIT 1) AS other
         FROM managers h JOIN managers m ON m.department_id = h.department_id AND m.role = 'manager'
        WHERE h.role = 'head' ORDER BY h.id, m.id LIMIT 1`,
    );
    managerId = pair!.manager;
    users.admin = await addUser(db, { name: 'Админ', role: 'admin', managerId: null, chatId: '6001' });
    users.head = await addUser(db, {
      name: 'Руководитель',
      role: 'head',
      managerId: pair!.head,
      chatId: '6002',
    });
    users.manager = await addUser(db, {
      name: 'Менеджер',
      role: 'manager',
      managerId: pair!.manager,
      chatId: '6003',
    });
    users.other = await addUser(db, {
      name: 'Другой отдел',
      role: 'manager',
      managerId: pair!.other,
      chatId: '6004',
    });
    for (const k of Object.keys(users) as Array<keyof typeof users>) {
      const s = await subscribe(
        db,
        { userId: users[k], kind: 'alerts', channel: 'telegram' },
        { now: NOON, companyTz: MSK },
      );
      subs[k] = s.id;
    }
  }, 180_000);
  afterAll(async () => {
    await db?.dispose();
  });
  beforeEach(async () => {
    await db.exec("DELETE FROM deliveries WHERE kind = 'alert'");
  });

  it('a missed call from a new number not called back in 30 minutes alerts whoever sees that manager, once a day', async () => {
    const late = await missedCall('79990000001', new Date(NOON.getTime() - 40 * 60_000));
    const calledBack = await missedCall('79990000002', new Date(NOON.getTime() - 40 * 60_000));
    await db.query(
      `INSERT INTO calls (id, direction, started_at, duration_sec, status, manager_id, client_phone)
       VALUES ('T-CALLBACK-1', 'out', $1, 60, 'answered', $2, '79990000002')`,
      [new Date(NOON.getTime() - 35 * 60_000), managerId],
    );
    const fresh = await missedCall('79990000003', new Date(NOON.getTime() - 20 * 60_000));
    const d = detector();
    await d.check(NOON);
    // Admin sees everything, the head their department, the manager their own calls; the other department nothing.
    expect(await recipients('missed_new_number', late)).toEqual([users.admin, users.head, users.manager]);
    expect(await recipients('missed_new_number', calledBack)).toEqual([]);
    expect(await recipients('missed_new_number', fresh)).toEqual([]);
    const [row] = await alertRows('missed_new_number', late);
    expect(row!.key).toBe(`alert:${subs.admin}:missed_new_number:${late}:2026-11-23`);
    expect(row!.payload.text).toContain('+7 999 000-00-01');
    // Later checks the same day find the same event: nothing new; the 20-minute-old call is due 10 minutes later.
    await d.check(new Date(NOON.getTime() + 60_000));
    await d.check(new Date(NOON.getTime() + 11 * 60_000));
    expect(await recipients('missed_new_number', late)).toEqual([users.admin, users.head, users.manager]);
    expect(await recipients('missed_new_number', fresh)).toEqual([users.admin, users.head, users.manager]);
  });

  it('respects quiet hours: an alert at night is held until 09:00 and then delivered', async () => {
    const fake = await startFakeTelegram();
    const clock = testClock('2026-11-23T20:00:00Z'); // 23:00 in Moscow
    // The admin wants alerts at any hour; the manager keeps the default quiet hours 21:00–09:00.
    await subscribe(
      db,
      { userId: users.admin, kind: 'alerts', channel: 'telegram', quiet: null },
      { now: clock.now(), companyTz: MSK },
    );
    const instance = await startInstance(db, {
      clock,
      senders: { telegram: createTelegramSender({ token: fake.token, apiRoot: fake.apiRoot }) },
      alerts: true,
    });
    try {
      const call = await missedCall('79990000011', new Date(clock.now().getTime() - 40 * 60_000));
      await instance.scheduler.tick();
      const rows = await alertRows('missed_new_number', call);
      const at = new Map(rows.map((r) => [r.user_id, r.scheduled_at.toISOString()]));
      expect(at.get(users.admin)).toBe('2026-11-23T20:00:00.000Z');
      expect(at.get(users.manager)).toBe('2026-11-24T06:00:00.000Z');
      const texts = (chat: string) =>
        fake
          .of('sendMessage')
          .filter((c) => String(c.params.chat_id) === chat)
          .map((c) => String(c.params.text));
      const aboutCall = (chat: string) => texts(chat).filter((t) => t.includes('+7 999 000-00-11'));
      await waitFor(async () => aboutCall('6001').length === 1, 20_000, 'the admin’s alert');
      expect(aboutCall('6001')[0]).toContain('Пропущенный с нового номера без перезвона');
      // Through the night no alert at all reaches the manager.
      for (const t of ['2026-11-23T22:00:00Z', '2026-11-24T03:00:00Z', '2026-11-24T05:59:00Z']) {
        clock.set(t);
        await instance.scheduler.tick();
      }
      await new Promise((r) => setTimeout(r, 1500));
      expect(texts('6003')).toEqual([]);
      clock.set('2026-11-24T06:00:00Z');
      await instance.scheduler.tick();
      await waitFor(async () => aboutCall('6003').length === 1, 20_000, 'the manager’s alert at 09:00');
      expect(aboutCall('6001')).toHaveLength(1);
    } finally {
      await instance.stop();
      await fake.close();
      await subscribe(
        db,
        { userId: users.admin, kind: 'alerts', channel: 'telegram', quiet: { from: '21:00', to: '09:00' } },
        { now: NOON, companyTz: MSK },
      );
    }
  });

  it('a deal that became forgotten in the last day alerts once; long-forgotten deals do not', async () => {
    const [deal] = await db.query<{ id: string }>(
      `SELECT d.id FROM deals d JOIN stages s ON s.id = d.stage_id AND s.semantic = 'open'
        WHERE d.manager_id = $1 AND d.created_at < $2 ORDER BY d.id LIMIT 1`,
      [managerId, new Date(NOON.getTime() - 30 * DAY)],
    );
    // Its last activity: 14 days and 2 hours before noon — it crossed the 14-day line at 10:00 today.
    const la = new Date(NOON.getTime() - FORGOTTEN_DEAL_DAYS * DAY - 2 * 3_600_000);
    await db.query('UPDATE deals SET last_activity_at = $2 WHERE id = $1', [deal!.id, la]);
    const tool = await registry
      .get('forgotten_deals')!
      .run({ db, caller: ADMIN, tz: MSK, now: NOON }, { limit: 1000 });
    expect(tool.items!.map((i) => i.id)).toContain(deal!.id);

    const d = detector();
    await d.check(NOON, { all: true });
    expect(await recipients('forgotten_deal', deal!.id)).toEqual([users.admin, users.head, users.manager]);
    const [row] = await alertRows('forgotten_deal', deal!.id);
    expect(row!.key).toBe(`alert:${subs.admin}:forgotten_deal:${deal!.id}:2026-11-23`);
    // Still forgotten tomorrow and the day after: no second alert.
    await d.check(new Date(NOON.getTime() + 3 * 3_600_000), { all: true });
    await d.check(new Date(NOON.getTime() + DAY), { all: true });
    expect(await recipients('forgotten_deal', deal!.id)).toEqual([users.admin, users.head, users.manager]);
    // Deals forgotten for months are in the digest, not in alerts.
    const forgottenLong = tool
      .items!.filter((i) => (i.days_idle as number) > FORGOTTEN_DEAL_DAYS + 1)
      .map((i) => i.id);
    expect(forgottenLong.length).toBeGreaterThan(0);
    const alerted = (await alertRows('forgotten_deal')).map((r) => r.payload.entity);
    expect(alerted.filter((id) => forgottenLong.includes(id))).toEqual([]);
  });

  it('a high-risk call alerts its manager and heads once, unless the breakdown already reached them', async () => {
    const [call] = await db.query<{ id: string }>(
      `SELECT id FROM calls WHERE manager_id = $1 AND status = 'answered' ORDER BY started_at DESC LIMIT 1`,
      [managerId],
    );
    await db.query(
      `INSERT INTO call_analyses (call_id, analyzer, breakdown, readiness, churn_risk, created_at)
       VALUES ($1, 'test@1', $2::jsonb, 20, 'high', $3)`,
      [
        call!.id,
        JSON.stringify({ summary: 'Клиент уходит к конкуренту.', next_step: 'Предложить скидку' }),
        new Date(NOON.getTime() - 3_600_000),
      ],
    );
    // The breakdown notifier has already told the head about this call.
    await db.query(
      `INSERT INTO deliveries (key, user_id, channel, kind, payload, status) VALUES ($1, $2, 'telegram', 'high_risk', '{}', 'sent')`,
      [`risk:${call!.id}:test@1:${users.head}`, users.head],
    );
    const d = detector();
    await d.check(NOON);
    await d.check(new Date(NOON.getTime() + 5 * 60_000));
    expect(await recipients('high_risk_call', call!.id)).toEqual([users.admin, users.manager]);
    const [row] = await alertRows('high_risk_call', call!.id);
    expect(row!.payload.text).toContain('Клиент уходит к конкуренту.');
    expect(row!.payload.text).toContain('Следующий шаг: Предложить скидку');
    await db.query(`DELETE FROM deliveries WHERE kind = 'high_risk'`);
  });

  it('plan pace below the threshold alerts once per working day, never at weekends or at night', async () => {
    // The highest threshold allowed, 200 %: the company's forecast is below it (checked below).
    await subscribe(
      db,
      { userId: users.admin, kind: 'alerts', channel: 'telegram', alerts: { plan_threshold: 2 } },
      { now: NOON, companyTz: MSK },
    );
    try {
      const d = detector();
      await d.check(NOON, { all: true });
      await d.check(new Date(NOON.getTime() + 2 * 3_600_000), { all: true });
      const plan = await registry
        .get('plan_progress')!
        .run({ db, caller: ADMIN, tz: MSK, now: NOON }, { period: { name: 'this_month' } });
      expect(plan.figures.plan).not.toBeNull();
      expect(plan.figures.forecast_completion).toBeLessThan(2);
      let rows = await alertRows('plan_pace');
      expect(rows.filter((r) => r.user_id === users.admin).map((r) => r.key)).toEqual([
        `alert:${subs.admin}:plan_pace:plan:2026-11:2026-11-23`,
      ]);
      expect(rows.find((r) => r.user_id === users.admin)!.payload.text).toContain('(порог 200,0 %)');
      // Tuesday: again; Saturday: no; Tuesday 23:00 (quiet hours): no.
      await d.check(new Date(NOON.getTime() + DAY), { all: true });
      await d.check(new Date('2026-11-28T09:00:00Z'), { all: true });
      await d.check(new Date('2026-11-24T20:00:00Z'), { all: true });
      rows = await alertRows('plan_pace');
      expect(rows.filter((r) => r.user_id === users.admin).map((r) => r.key.slice(-10))).toEqual([
        '2026-11-23',
        '2026-11-24',
      ]);
    } finally {
      await subscribe(
        db,
        { userId: users.admin, kind: 'alerts', channel: 'telegram', alerts: { plan_threshold: 0.9 } },
        { now: NOON, companyTz: MSK },
      );
    }
  });

  it('a deal stuck in its stage twice as long as usual alerts once for that stay', async () => {
    const meanDays = async () => {
      const env = await registry
        .get('deal_stats')!
        .run({ db, caller: ADMIN, tz: MSK, now: NOON }, { period: { name: 'last_90_days' } });
      return new Map((env.series?.by_stage ?? []).map((g) => [g.key, g.figures.stage_time as number]));
    };
    const [deal] = await db.query<{ id: string; stage_id: string }>(
      `SELECT d.id, d.stage_id FROM deals d JOIN stages s ON s.id = d.stage_id AND s.semantic = 'open'
        WHERE d.manager_id = $1 ORDER BY d.created_at LIMIT 1`,
      [managerId],
    );
    // Enter the stage so that 2 × its mean stay ran out 12 hours ago; the deal's own stay moves the mean a
    // little, so set it twice.
    let entered = NOON;
    for (let k = 0; k < 3; k++) {
      const mean = (await meanDays()).get(deal!.stage_id)!;
      entered = new Date(NOON.getTime() - 2 * mean * DAY - 12 * 3_600_000);
      await db.query(`DELETE FROM stage_history WHERE entity = 'deal' AND entity_id = $1 AND stage_id = $2`, [
        deal!.id,
        deal!.stage_id,
      ]);
      await db.query(
        `INSERT INTO stage_history (entity, entity_id, stage_id, at) VALUES ('deal', $1, $2, $3)`,
        [deal!.id, deal!.stage_id, entered],
      );
    }
    const mean = (await meanDays()).get(deal!.stage_id)!;
    const crossed = entered.getTime() + 2 * mean * DAY;
    expect(crossed).toBeLessThan(NOON.getTime());
    expect(crossed).toBeGreaterThan(NOON.getTime() - DAY);

    const d = detector();
    await d.check(NOON, { all: true });
    await d.check(new Date(NOON.getTime() + 6 * 3_600_000), { all: true });
    const rows = (await alertRows('stuck_deal')).filter((r) => r.payload.entity.startsWith(`${deal!.id}@`));
    expect(rows.map((r) => r.user_id)).toEqual([users.admin, users.head, users.manager]);
    expect(rows[0]!.payload.text).toContain('обычно');
  });

  it('alerts switched off are neither queued nor, if already queued, sent', async () => {
    await subscribe(
      db,
      { userId: users.manager, kind: 'alerts', channel: 'telegram', alerts: { missed_new_number: false } },
      { now: NOON, companyTz: MSK },
    );
    const call = await missedCall('79990000021', new Date(NOON.getTime() - 45 * 60_000));
    await detector().check(NOON);
    expect(await recipients('missed_new_number', call)).toEqual([users.admin, users.head]);
    await subscribe(
      db,
      { userId: users.manager, kind: 'alerts', channel: 'telegram', alerts: { missed_new_number: true } },
      { now: NOON, companyTz: MSK },
    );

    // Queued for the morning during quiet hours, then switched off before it was sent: skipped.
    const night = new Date('2026-11-23T20:30:00Z');
    const late = await missedCall('79990000022', new Date(night.getTime() - 45 * 60_000));
    await detector().check(night);
    expect(await recipients('missed_new_number', late)).toContain(users.manager);
    await subscribe(
      db,
      { userId: users.manager, kind: 'alerts', channel: 'telegram', alerts: { missed_new_number: false } },
      { now: night, companyTz: MSK },
    );
    const fake = await startFakeTelegram();
    const clock = testClock('2026-11-24T06:00:00Z');
    const instance = await startInstance(db, {
      clock,
      senders: { telegram: createTelegramSender({ token: fake.token, apiRoot: fake.apiRoot }) },
    });
    try {
      await releaseDue(db, instance.boss, clock.now());
      const mine = async () =>
        (await alertRows('missed_new_number', late)).find((r) => r.user_id === users.manager);
      await waitFor(async () => (await mine())?.status === 'skipped', 20_000, 'the skipped alert');
      const toManager = fake.of('sendMessage').filter((c) => String(c.params.chat_id) === '6003');
      expect(toManager.filter((c) => String(c.params.text).includes('+7 999 000-00-22'))).toEqual([]);
    } finally {
      await instance.stop();
      await fake.close();
    }
  });
});
