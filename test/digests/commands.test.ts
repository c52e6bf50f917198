import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coreMetricTools, ToolRegistry } from '../../src/agent/registry.ts';
import type { BotUserRow, Identity } from '../../src/bot/access.ts';
import { createChartRenderer } from '../../src/charts/index.ts';
import { buildDigestCommand, type DigestCliApp, handleDigestCommand } from '../../src/digests/commands.ts';
import { createDigestBuilder } from '../../src/digests/content.ts';
import { listSubscriptions } from '../../src/digests/subscriptions.ts';
import { silentLogger } from '../../src/logger.ts';
import { createTestDb, drivers, type TestDb } from '../helpers/db.ts';
import { addUser, MSK } from './helpers.ts';

const NOW = new Date('2026-11-23T09:00:00Z');
const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

describe.each(drivers)('digest commands on %s', (driver) => {
  let db: TestDb;
  let user: BotUserRow;
  const identity: Identity = { channel: 'telegram', externalId: '7001', chatId: '7001' };
  const registry = new ToolRegistry(coreMetricTools);
  const renderer = createChartRenderer({ logger: silentLogger });
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'voronka-digest-cli-'));

  beforeAll(async () => {
    db = await createTestDb(driver);
    await db.query(`INSERT INTO departments (id, name) VALUES ('D1', 'Отдел продаж')`);
    await db.query(
      `INSERT INTO managers (id, name, department_id, role) VALUES ('H1', 'Анна Руководитель', 'D1', 'head'), ('M1', 'Пётр Менеджер', 'D1', 'manager')`,
    );
    const id = await addUser(db, { name: 'Анна', role: 'head', managerId: 'H1', chatId: '7001' });
    user = {
      id,
      name: 'Анна',
      role: 'head',
      manager_id: 'H1',
      time_zone: null,
      preferred_channel: 'telegram',
    };
  }, 120_000);
  afterAll(async () => {
    renderer.close();
    await db?.dispose();
    fs.rmSync(home, { recursive: true, force: true });
  });

  const bot = async (line: string) => {
    const builder = createDigestBuilder({ db, registry, renderer, companyTz: MSK, logger: silentLogger });
    const replies = await handleDigestCommand(
      { db, companyTz: MSK, now: () => NOW, builder },
      user,
      identity,
      line.split(' ').slice(1),
    );
    return replies;
  };
  const say = async (line: string) => (await bot(line)).map((r) => r.text).join('\n');

  it('/digest manages the chat’s subscriptions in Russian', async () => {
    expect(await say('/digest')).toMatch(/^Подписок пока нет\.\n\nСводки и оповещения:/);
    expect(await say('/digest daily 08:30')).toBe(
      'Готово: Ежедневная сводка в 08:30 (Europe/Moscow), Telegram.',
    );
    expect(await say('/digest еженедельно пт 18:00')).toBe(
      'Готово: Еженедельная сводка: пт, 18:00 (Europe/Moscow), Telegram.',
    );
    expect(await say('/digest alerts on')).toBe(
      'Готово. Оповещения (Telegram, тихие часы 21:00–09:00, Europe/Moscow): сделка стала забытой; звонок с высоким риском потери клиента; пропущенный с нового номера без перезвона 30 минут; прогноз выполнения плана ниже порога; сделка дольше обычного на этапе.',
    );
    expect(await say('/digest alerts off план застрявшие')).toContain(
      ': сделка стала забытой; звонок с высоким риском потери клиента; пропущенный с нового номера без перезвона 30 минут.',
    );
    await say('/digest alerts on план 85%');
    await say('/digest quiet 22:00-08:00');
    expect(await say('/digest tz Asia/Yekaterinburg')).toBe(
      'Часовой пояс: Asia/Yekaterinburg. Сводки придут по этому времени.',
    );
    expect(await say('/digest off weekly')).toBe('Отписал.');

    const subs = await listSubscriptions(db, { userId: user.id, includeStopped: true });
    const byKind = Object.fromEntries(subs.map((s) => [s.kind, s]));
    expect(byKind.daily).toMatchObject({
      active: true,
      time_of_day: '08:30',
      time_zone: 'Asia/Yekaterinburg',
    });
    expect(byKind.weekly).toMatchObject({ active: false, weekday: 5, time_of_day: '18:00' });
    expect(byKind.alerts).toMatchObject({ active: true, quiet_from: '22:00', quiet_to: '08:00' });
    expect(byKind.alerts!.alerts).toMatchObject({ plan_pace: true, plan_threshold: 0.85, stuck_deal: false });
    expect(await say('/digest')).toMatch(
      /^Ваши подписки:\n• Ежедневная сводка в 08:30 \(Asia\/Yekaterinburg\), Telegram\n• Оповещения/,
    );
  });

  it('explains mistakes instead of failing', async () => {
    expect(await say('/digest daily 25:00')).toBe('Время «25:00» не понял: нужно ЧЧ:ММ, например 09:00.');
    expect(await say('/digest tz Mars/Olympus')).toBe(
      'Часовой пояс «Mars/Olympus» не знаю. Пример: Europe/Moscow, Asia/Yekaterinburg.',
    );
    expect(await say('/digest alerts on план 500%')).toMatch(/^Порог плана — от 10 % до 200 %/);
    expect(await say('/digest weekly завтра')).toMatch(/^Не понял «завтра»\./);
  });

  it('/digest preview shows the digest the user would get, with its charts', async () => {
    const replies = await bot('/digest preview weekly');
    expect(replies[0]!.text).toMatch(
      /^📊 Еженедельная сводка — прошлая неделя \(16–22 ноября 2026\)\nОтдел: Отдел продаж\n/,
    );
    for (const r of replies.slice(1)) expect(r.chart?.png.subarray(0, 8)).toEqual(PNG);
  });

  describe('voronka digest', () => {
    const lines: string[] = [];
    const app = (now?: Date): DigestCliApp => ({
      db,
      logger: silentLogger,
      now: () => now ?? NOW,
      config: { companyTz: MSK, home, callsPerDayNorm: 60 },
    });
    const run = async (...argv: string[]) => {
      lines.length = 0;
      const cmd = buildDigestCommand({
        withApp: (fn, opts) => fn(app(opts?.now)),
        services: async () => ({ registry, renderer }),
        out: (s) => lines.push(s),
      });
      cmd.exitOverride();
      await cmd.parseAsync(argv, { from: 'user' });
      return lines.join('\n');
    };

    it('subscribe, list and unsubscribe', async () => {
      const other = await addUser(db, { name: 'Пётр', role: 'manager', managerId: 'M1', chatId: '7002' });
      expect(
        await run(
          'subscribe',
          '--user',
          String(other),
          '--kind',
          'daily',
          '--time',
          '7:30',
          '--tz',
          'Asia/Yekaterinburg',
        ),
      ).toMatch(/^subscription \d+: Ежедневная сводка в 07:30 \(Asia\/Yekaterinburg\), Telegram$/);
      expect(
        await run(
          'subscribe',
          '--user',
          String(other),
          '--kind',
          'alerts',
          '--off',
          'plan_pace,stuck_deal',
          '--quiet',
          'off',
        ),
      ).toMatch(
        /Оповещения \(Telegram, без тихих часов, .*\): сделка стала забытой; звонок с высоким риском потери клиента; пропущенный с нового номера без перезвона 30 минут$/,
      );
      expect(await run('list', '--user', String(other))).toMatch(
        new RegExp(
          `user ${other} Пётр \\(manager\\): Ежедневная сводка в 07:30 .*\\n.*user ${other} Пётр \\(manager\\): Оповещения`,
        ),
      );
      expect(await run('unsubscribe', '--user', String(other), '--kind', 'daily')).toBe(
        '1 subscription(s) stopped',
      );
      expect(await run('list', '--user', String(other))).not.toContain('Ежедневная');
    });

    it('status lists failures with their errors', async () => {
      await db.query(
        `INSERT INTO deliveries (key, user_id, subscription_id, channel, kind, payload, status, attempts, last_error, late, scheduled_at, updated_at)
         VALUES ('digest:99:2026-11-22', $1, 99, 'telegram', 'digest_daily', '{}', 'failed', 6, 'Telegram 403: Forbidden: bot was blocked by the user', true, $2, $2),
                ('digest:98:2026-11-22', $1, 98, 'telegram', 'digest_daily', '{}', 'sent', 1, NULL, false, $2, $2)`,
        [user.id, new Date('2026-11-23T06:00:00Z')],
      );
      const out = await run('status');
      expect(out).toContain('Ежедневные сводки:\n  не доставлены: 1 (с опозданием: 1)\n  отправлены: 1');
      expect(out).toMatch(
        new RegExp(
          `digest:99:2026-11-22 → пользователь ${user.id}, telegram; попыток 6; 23\\.11\\.2026, 09:00: Telegram 403: Forbidden: bot was blocked by the user`,
        ),
      );
    });

    it('preview --as prints the text and saves the charts', async () => {
      const dir = path.join(home, 'preview');
      const out = await run(
        'preview',
        '--as',
        String(user.id),
        '--kind',
        'daily',
        '--now',
        '2026-11-23T09:00:00+05:00',
        '--out',
        dir,
      );
      // The user's zone is Asia/Yekaterinburg now (set by /digest tz): yesterday there is 22 November.
      expect(out).toMatch(/^📊 Ежедневная сводка — вчера, 22 ноября 2026\nОтдел: Отдел продаж\n/);
      const files = [...out.matchAll(/^📊 .+: (.+\.png)$/gm)].map((m) => m[1]!);
      expect(files.length).toBeGreaterThan(0);
      for (const f of files) expect(fs.readFileSync(f).subarray(0, 8)).toEqual(PNG);
      expect(
        await run(
          'preview',
          '--as',
          'M1',
          '--kind',
          'weekly',
          '--now',
          '2026-11-23T09:00:00+03:00',
          '--out',
          dir,
        ),
      ).toMatch(/^📊 Еженедельная сводка — прошлая неделя \(16–22 ноября 2026\)\nМенеджер: Пётр Менеджер\n/);
    });
  });
});
