import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { coreMetricTools, ToolRegistry } from '../../src/agent/registry.ts';
import type { Channel } from '../../src/bot/access.ts';
import { createChartRenderer } from '../../src/charts/index.ts';
import { type Db, openDb } from '../../src/db/client.ts';
import { startDigestService } from '../../src/digests/index.ts';
import { deliveryStatus, formatDeliveryStatus } from '../../src/digests/outbox.ts';
import { createTelegramSender, type DigestSender } from '../../src/digests/senders.ts';
import { subscribe } from '../../src/digests/subscriptions.ts';
import { silentLogger } from '../../src/logger.ts';
import { createTestDb, drivers, type TestDb } from '../helpers/db.ts';
import { startFakeTelegram } from '../helpers/fake-telegram.ts';
import {
  addUser,
  FAST_QUEUE,
  type Instance,
  MSK,
  startInstance,
  testClock,
  waitFor,
  YEKT,
} from './helpers.ts';

interface Row {
  id: number;
  key: string;
  user_id: number;
  status: string;
  late: boolean;
  attempts: number;
  parts_sent: number;
  scheduled_at: Date;
  last_error: string | null;
}

describe.each(drivers)('digest delivery on %s', (driver) => {
  let db: TestDb;
  let fake: Awaited<ReturnType<typeof startFakeTelegram>>;
  let telegram: DigestSender;
  const renderer = createChartRenderer({ logger: silentLogger });
  const running: Instance[] = [];
  const extraDbs: Db[] = [];

  const rows = () => db.query<Row>('SELECT * FROM deliveries ORDER BY id');
  /** What one chat received: texts and photo captions, in order. */
  const received = (chatId: string) =>
    fake.calls
      .filter((c) => String(c.params.chat_id) === chatId && ['sendMessage', 'sendPhoto'].includes(c.method))
      .map((c) => ({ method: c.method, text: String(c.params.text ?? c.params.caption ?? '') }));
  const sentAll = () =>
    waitFor(
      async () => (await rows()).every((r) => r.status === 'sent') && (await rows()).length > 0,
      30_000,
      'all sent',
    );
  const start = async (...args: Parameters<typeof startInstance>) => {
    const i = await startInstance(...args);
    running.push(i);
    return i;
  };
  const subscribeDaily = (
    userId: number,
    timeZone: string,
    clock: { now: () => Date },
    channel: Channel = 'telegram',
  ) => subscribe(db, { userId, kind: 'daily', channel, timeZone }, { now: clock.now(), companyTz: MSK });

  beforeAll(async () => {
    db = await createTestDb(driver);
    fake = await startFakeTelegram();
    telegram = createTelegramSender({ token: fake.token, apiRoot: fake.apiRoot });
  }, 120_000);
  afterAll(async () => {
    for (const i of running) await i.stop().catch(() => {});
    for (const d of extraDbs) await d.close();
    await fake?.close();
    renderer.close();
    await db?.dispose();
  });
  beforeEach(async () => {
    while (running.length) await running.pop()!.stop();
    await db.exec(
      'DELETE FROM deliveries; DELETE FROM subscriptions; DELETE FROM messenger_identities; DELETE FROM bot_users',
    );
    fake.clear();
  });

  it('a Moscow and a Yekaterinburg subscriber get their 09:00 digests at the right UTC instants', async () => {
    const clock = testClock('2026-11-22T12:00:00Z');
    const msk = await addUser(db, { name: 'Москва', role: 'admin', managerId: null, chatId: '5001' });
    const yekt = await addUser(db, { name: 'Екатеринбург', role: 'admin', managerId: null, chatId: '5002' });
    await subscribeDaily(msk, MSK, clock);
    await subscribeDaily(yekt, YEKT, clock);
    const i = await start(db, { clock, senders: { telegram } });

    const firstSeen = new Map<number, string>();
    clock.set('2026-11-23T03:58:00Z');
    while (clock.now() <= new Date('2026-11-23T06:02:00Z')) {
      await i.scheduler.tick();
      for (const r of await rows())
        if (!firstSeen.has(r.user_id)) firstSeen.set(r.user_id, clock.now().toISOString());
      clock.advance(60_000);
    }
    // 09:00 in Yekaterinburg (UTC+5) is 04:00 UTC; in Moscow (UTC+3) 06:00 UTC.
    expect(firstSeen.get(yekt)).toBe('2026-11-23T04:00:00.000Z');
    expect(firstSeen.get(msk)).toBe('2026-11-23T06:00:00.000Z');
    const byUser = new Map((await rows()).map((r) => [r.user_id, r]));
    expect(byUser.get(yekt)).toMatchObject({ late: false, scheduled_at: new Date('2026-11-23T04:00:00Z') });
    expect(byUser.get(msk)).toMatchObject({ late: false, scheduled_at: new Date('2026-11-23T06:00:00Z') });
    await sentAll();
    for (const chat of ['5001', '5002']) {
      const texts = received(chat).map((m) => m.text);
      expect(texts).toHaveLength(1);
      expect(texts[0]).toContain('Ежедневная сводка — вчера, 22 ноября 2026');
    }
  });

  it('after downtime a missed digest is sent once, marked late — not once per missed tick', async () => {
    const clock = testClock('2026-11-18T12:00:00Z');
    const user = await addUser(db, { name: 'Руководитель', role: 'admin', managerId: null, chatId: '5101' });
    await subscribeDaily(user, MSK, clock);
    clock.set('2026-11-21T06:00:30Z');
    const before = await start(db, { clock, senders: { telegram } });
    await before.scheduler.tick();
    await sentAll();
    await before.stop();
    running.pop();

    // Down from the 21st until 11:00 UTC on the 23rd: the 09:00 slots of the 22nd and 23rd were missed.
    clock.set('2026-11-23T11:00:00Z');
    const after = await start(db, { clock, senders: { telegram } });
    await after.scheduler.start();
    for (let k = 0; k < 5; k++) {
      clock.advance(60_000);
      await after.scheduler.tick();
    }
    const restarted = await start(db, { clock, senders: { telegram } });
    await restarted.scheduler.start();
    await sentAll();

    const all = await rows();
    expect(all.map((r) => [r.key.replace(/^digest:\d+:/, ''), r.late])).toEqual([
      ['2026-11-20', false],
      ['2026-11-22', true],
    ]);
    const texts = received('5101').map((m) => m.text);
    expect(texts).toHaveLength(2);
    expect(texts[1]).toContain('Ежедневная сводка — вчера, 22 ноября 2026');
    expect(texts[1]).toContain('⏰ С опозданием: сводка должна была прийти 23 ноября в 09:00.');
  });

  it('a restart during sending resumes where it stopped and repeats nothing', async () => {
    const clock = testClock('2026-11-22T12:00:00Z');
    const user = await addUser(db, { name: 'Админ', role: 'admin', managerId: null, chatId: '5201' });
    await subscribeDaily(user, MSK, clock);
    clock.set('2026-11-23T06:00:10Z');
    let calls = 0;
    let secondStarted = false;
    // The first process sends the text, then dies while sending the chart.
    const dying: DigestSender = async (...args) => {
      calls++;
      if (calls === 1) return telegram(...args);
      secondStarted = true;
      return new Promise(() => {});
    };
    const first = await start(db, { clock, senders: { telegram: dying }, renderer, leaseMs: 5 * 60_000 });
    await first.scheduler.tick();
    await waitFor(async () => secondStarted, 30_000, 'the chart send to start');
    expect(await rows()).toMatchObject([{ status: 'sending', parts_sent: 1, attempts: 1 }]);
    await first.stop();
    running.splice(running.indexOf(first), 1);

    // The next process finds the abandoned row once the lease has run out.
    clock.advance(6 * 60_000);
    const second = await start(db, { clock, senders: { telegram }, renderer, leaseMs: 5 * 60_000 });
    await second.scheduler.tick();
    await sentAll();
    expect(await rows()).toMatchObject([{ status: 'sent', parts_sent: 2, attempts: 2 }]);
    expect(received('5201').map((m) => m.method)).toEqual(['sendMessage', 'sendPhoto']);
  });

  it('startDigestService catches up at start, sends, and stops cleanly', async () => {
    const clock = testClock('2026-11-22T12:00:00Z');
    const user = await addUser(db, { name: 'Сервис', role: 'admin', managerId: null, chatId: '5501' });
    await subscribe(
      db,
      { userId: user, kind: 'weekly', channel: 'telegram', timeZone: YEKT },
      { now: clock.now(), companyTz: MSK },
    );
    clock.set('2026-11-23T05:00:00Z'); // Monday 10:00 in Yekaterinburg: an hour after the weekly slot
    const service = await startDigestService({
      db,
      logger: silentLogger,
      now: clock.now,
      companyTz: MSK,
      registry: new ToolRegistry(coreMetricTools),
      senders: { telegram },
      queue: FAST_QUEUE,
      pollingIntervalSeconds: 0.5,
    });
    try {
      await sentAll();
      expect(await rows()).toMatchObject([{ late: true, scheduled_at: new Date('2026-11-23T04:00:00Z') }]);
      expect(received('5501').map((m) => m.text)).toEqual([
        expect.stringContaining('Еженедельная сводка — прошлая неделя (16–22 ноября 2026)'),
      ]);
    } finally {
      await service.stop();
    }
  });

  it('two scheduler processes racing on one database send each digest once', async () => {
    const clock = testClock('2026-11-22T12:00:00Z');
    const chats = ['5301', '5302', '5303'];
    for (const chat of chats) {
      const u = await addUser(db, { name: `Админ ${chat}`, role: 'admin', managerId: null, chatId: chat });
      await subscribeDaily(u, MSK, clock);
    }
    clock.set('2026-11-23T06:00:05Z');
    // A second process has its own connections when the database is a server.
    const otherDb = db.kind === 'postgres' ? await openDb({ databaseUrl: db.url }) : db;
    if (otherDb !== db) extraDbs.push(otherDb);
    const a = await start(db, { clock, senders: { telegram } });
    const b = await start(otherDb, { clock, senders: { telegram } });
    for (let k = 0; k < 3; k++) {
      await Promise.all([a.scheduler.tick(), b.scheduler.tick(), a.scheduler.tick(), b.scheduler.tick()]);
      clock.advance(20_000);
    }
    await sentAll();
    expect((await rows()).map((r) => r.status)).toEqual(['sent', 'sent', 'sent']);
    for (const chat of chats)
      expect(received(chat).filter((m) => m.method === 'sendMessage')).toHaveLength(1);
  });

  it('retries failed sends with growing delays; permanent failures stay visible in digest status', async () => {
    const clock = testClock('2026-11-22T12:00:00Z');
    const blocked = await addUser(db, {
      name: 'Заблокировал бота',
      role: 'admin',
      managerId: null,
      chatId: '5401',
    });
    await subscribeDaily(blocked, MSK, clock);
    clock.set('2026-11-23T06:00:05Z');
    const attemptsAt: number[] = [];
    const timed: DigestSender = async (...args) => {
      attemptsAt.push(Date.now());
      return telegram(...args);
    };
    const i = await start(db, { clock, senders: { telegram: timed } });

    fake.failNext('sendMessage', { status: 403 });
    await i.scheduler.tick();
    await waitFor(async () => (await rows())[0]?.status === 'failed', 20_000, 'the permanent failure');
    expect(await rows()).toMatchObject([{ status: 'failed', attempts: 1 }]);
    const report = await deliveryStatus(db, { now: clock.now() });
    const text = formatDeliveryStatus(report, { tz: MSK });
    expect(text).toContain('Ежедневные сводки:\n  не доставлены: 1');
    expect(text).toMatch(
      new RegExp(
        `#\\d+ digest:\\d+:2026-11-22 → пользователь ${blocked}, telegram; попыток 1; .*Telegram 403`,
      ),
    );

    // A flaky server: two 500s, then it works.
    const flaky = await addUser(db, { name: 'Флаки', role: 'admin', managerId: null, chatId: '5402' });
    await subscribeDaily(flaky, MSK, testClock('2026-11-22T12:00:00Z'));
    attemptsAt.length = 0;
    fake.failNext('sendMessage', { status: 500 }, { status: 500 });
    await i.scheduler.tick();
    await waitFor(
      async () => (await rows()).find((r) => r.user_id === flaky)?.status === 'sent',
      40_000,
      'the retried send',
    );
    expect((await rows()).find((r) => r.user_id === flaky)).toMatchObject({ attempts: 3, status: 'sent' });
    expect(attemptsAt).toHaveLength(3);
    const [g1, g2] = [attemptsAt[1]! - attemptsAt[0]!, attemptsAt[2]! - attemptsAt[1]!];
    // retryDelay 1 s with exponential backoff (pg-boss: delay × (2ⁿ/2 + 2ⁿ/2 × random) for the n-th retry):
    // the first wait is 1–2 s, the second 2–4 s.
    expect(g1).toBeGreaterThanOrEqual(950);
    expect(g2).toBeGreaterThanOrEqual(1950);
    expect(received('5402').filter((m) => m.method === 'sendMessage')).toHaveLength(3);
  }, 60_000);
});
