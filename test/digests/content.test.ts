import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatFigure } from '../../src/agent/answer.ts';
import { coreMetricTools, ToolRegistry } from '../../src/agent/registry.ts';
import { createChartRenderer } from '../../src/charts/index.ts';
import {
  createDigestBuilder,
  type DigestContent,
  digestReplies,
  digestText,
} from '../../src/digests/content.ts';
import { silentLogger } from '../../src/logger.ts';
import { qualityTools } from '../../src/metrics/quality.ts';
import type { Caller, Envelope, ToolInput } from '../../src/metrics/types.ts';
import { createTestDb, drivers, type TestDb } from '../helpers/db.ts';
import { loadDemo } from '../helpers/demo.ts';
import { MSK } from './helpers.ts';

const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Friday 20 November 2026, 09:00 in Moscow: the daily digest covers Thursday the 19th, the weekly 9–15 November. */
const SLOT = new Date('2026-11-20T06:00:00Z');

describe.each(drivers)('digest content on %s', (driver) => {
  let db: TestDb;
  // The core tools without call_quality, and with it: the digest must work either way.
  const registry = new ToolRegistry(coreMetricTools.filter((t) => t.name !== 'call_quality'));
  const withQuality = new ToolRegistry([
    ...coreMetricTools.filter((t) => !qualityTools.some((q) => q.name === t.name)),
    ...qualityTools,
  ]);
  const renderer = createChartRenderer({ logger: silentLogger });
  let head: Caller;
  let manager: Caller;
  let managerName: string;
  const admin: Caller = { role: 'admin', managerId: null };

  /** The tool's own answer for the same caller, period and instant: what the bot would say. */
  const tool = (name: string, caller: Caller, input: ToolInput, now = SLOT): Promise<Envelope> =>
    registry.get(name)!.run({ db, caller, tz: MSK, now }, input);

  beforeAll(async () => {
    db = await createTestDb(driver);
    await loadDemo(db);
    const [h] = await db.query<{ id: string }>(
      `SELECT m.id FROM managers m WHERE m.role = 'head'
        AND EXISTS (SELECT 1 FROM managers x WHERE x.department_id = m.department_id AND x.role = 'manager')
        ORDER BY m.id LIMIT 1`,
    );
    const [m] = await db.query<{ id: string; name: string }>(
      `SELECT x.id, x.name FROM managers x JOIN managers h ON h.department_id = x.department_id
        WHERE h.id = $1 AND x.role = 'manager'
        ORDER BY (SELECT count(*) FROM deals d WHERE d.manager_id = x.id) DESC, x.id LIMIT 1`,
      [h!.id],
    );
    head = { role: 'head', managerId: h!.id };
    manager = { role: 'manager', managerId: m!.id };
    managerName = m!.name;
  }, 180_000);
  afterAll(async () => {
    renderer.close();
    await db?.dispose();
  });

  const build = (kind: 'daily' | 'weekly', caller: Caller, reg = registry) =>
    createDigestBuilder({ db, registry: reg, renderer, companyTz: MSK, logger: silentLogger }).build({
      kind,
      caller,
      slot: SLOT,
      timeZone: MSK,
    });

  async function expectToolFigures(
    content: DigestContent,
    caller: Caller,
    period: { from: string; to: string },
  ) {
    const expected: Record<string, number | null> = {};
    const take = (env: Envelope, codes: string[]) => {
      for (const c of codes) expected[`${env.metric}.${c}`] = env.figures[c] ?? null;
    };
    take(await tool('calls_stats', caller, { period }), ['incoming', 'outgoing', 'missed']);
    take(await tool('missed_calls', caller, { period }), ['not_called_back', 'callback_delay_median']);
    take(await tool('lead_stats', caller, { period }), ['received', 'conv_to_deal']);
    take(await tool('deal_stats', caller, { period }), ['won', 'won_amount']);
    const plan = await tool('plan_progress', caller, { period: { name: `month:${period.to.slice(0, 7)}` } });
    take(plan, plan.figures.plan === null ? ['fact'] : ['completion', 'forecast_completion', 'fact', 'plan']);
    take(await tool('forgotten_deals', caller, {}), ['forgotten_deals', 'forgotten_amount']);
    take(await tool('forgotten_leads', caller, {}), ['forgotten_leads']);
    expect(content.figures).toEqual(expected);
    // And the text says each of them the way the bot formats it.
    const text = digestText(content);
    for (const code of [
      'incoming',
      'outgoing',
      'missed',
      'not_called_back',
      'received',
      'won',
      'won_amount',
    ]) {
      const key = Object.keys(expected).find((k) => k.endsWith(`.${code}`))!;
      expect(text).toContain(formatFigure(code, expected[key]));
    }
  }

  it.each([
    ['daily', { from: '2026-11-19', to: '2026-11-19' }],
    ['weekly', { from: '2026-11-09', to: '2026-11-15' }],
  ] as const)(
    '%s figures equal the tools’ answers for the same period, for admin, head and manager',
    async (kind, period) => {
      for (const caller of [admin, head, manager]) {
        const content = await build(kind, caller);
        expect(content.period).toMatchObject(period);
        await expectToolFigures(content, caller, period);
      }
    },
  );

  it('scopes every figure to the subscriber: a manager sees only their own records', async () => {
    const [a, h, m] = await Promise.all([
      build('weekly', admin),
      build('weekly', head),
      build('weekly', manager),
    ]);
    expect(a.audience).toBe('Вся компания');
    expect(h.audience).toMatch(/^Отдел: /);
    expect(m.audience).toBe(`Менеджер: ${managerName}`);
    const calls = (c: DigestContent) =>
      (c.figures['calls_stats.incoming'] ?? 0) + (c.figures['calls_stats.outgoing'] ?? 0);
    expect(calls(a)).toBeGreaterThan(calls(h));
    expect(calls(h)).toBeGreaterThan(calls(m));
    expect(m.forgotten.deals.length).toBeGreaterThan(0);
    for (const item of [...m.forgotten.deals, ...m.forgotten.leads]) expect(item.manager).toBe(managerName);
  });

  it('lists the top 5 forgotten deals with manager and days idle, oldest first', async () => {
    const content = await build('daily', admin);
    const env = await tool('forgotten_deals', admin, { limit: 5 });
    expect(content.forgotten.deals.map((d) => d.id)).toEqual(env.items!.map((d) => d.id));
    const text = digestText(content);
    const first = env.items![0]!;
    expect(text).toContain(`1. ${first.title} · ${first.manager} · ${first.days_idle} дн. без активности`);
    expect(text).toContain(`… ещё ${(env.figures.forgotten_deals ?? 0) - 5}`);
  });

  it('comes with 1–3 chart images and as messenger replies: text first, then each chart', async () => {
    const content = await build('weekly', head);
    expect(content.charts.length).toBeGreaterThanOrEqual(1);
    expect(content.charts.length).toBeLessThanOrEqual(3);
    expect(content.charts.map((c) => c.name)).toContain('calls_by_day');
    for (const c of content.charts) expect(c.png.subarray(0, 8)).toEqual(PNG);
    const replies = digestReplies(content);
    expect(replies).toHaveLength(1 + content.charts.length);
    expect(replies[0]!.text).toContain('Еженедельная сводка — прошлая неделя (9–15 ноября 2026)');
    expect(replies[0]!.html).toContain('<b>📞 Звонки</b>');
    expect(replies.slice(1).map((r) => r.chart?.png)).toEqual(content.charts.map((c) => c.png));
    expect(replies[0]!.text).toMatch(
      /📈 Что изменилось \(по сравнению с 2–8 ноября 2026\)\n(• .+|Заметных изменений нет\.)/,
    );
  });

  it('says when it is late', () => {
    const content: DigestContent = {
      kind: 'daily',
      period: { from: '2026-11-19', to: '2026-11-19', label: 'вчера, 19 ноября 2026' },
      comparison: { from: '2026-11-12', to: '2026-11-12', label: '12 ноября 2026' },
      audience: 'Вся компания',
      sections: [],
      figures: {},
      moves: [],
      forgotten: { deals: [], leads: [] },
      charts: [],
    };
    const [late] = digestReplies(content, { dueAt: SLOT, timeZone: 'Asia/Yekaterinburg' });
    expect(late!.text).toBe(
      '📊 Ежедневная сводка — вчера, 19 ноября 2026\nВся компания\n⏰ С опозданием: сводка должна была прийти 20 ноября в 11:00.',
    );
  });

  describe('call quality section', () => {
    beforeAll(async () => {
      // Three analyzed calls of the weekly period (9–15 November) in the manager's scope:
      // objections price, price + think, none; one high churn risk.
      const calls = await db.query<{ id: string }>(
        `SELECT id FROM calls WHERE manager_id = $1 AND status = 'answered'
           AND started_at >= '2026-11-09T00:00:00+03:00' AND started_at < '2026-11-16T00:00:00+03:00'
         ORDER BY started_at LIMIT 3`,
        [manager.managerId],
      );
      expect(calls).toHaveLength(3);
      const breakdown = (objections: string[], risk: string) =>
        JSON.stringify({
          summary: 'Клиент сравнивает цены.',
          readiness: 40,
          churn_risk: risk,
          objections: objections.map((type) => ({ type, quote: '…', handled: false })),
          next_step: 'Перезвонить с расчётом',
        });
      const rows: Array<[string, string]> = [
        [breakdown(['price'], 'high'), 'high'],
        [breakdown(['price', 'think'], 'low'), 'low'],
        [breakdown([], 'low'), 'low'],
      ];
      for (const [i, [b, risk]] of rows.entries()) {
        await db.query(
          `INSERT INTO call_analyses (call_id, analyzer, breakdown, readiness, churn_risk, created_at)
           VALUES ($1, 'test@1', $2::jsonb, 40, $3, '2026-11-16T00:00:00Z')`,
          [calls[i]!.id, b, risk],
        );
      }
    });

    it('shows top objections and high-risk calls when the call_quality tool is registered', async () => {
      const content = await build('weekly', manager, withQuality);
      const text = digestText(content);
      expect(text).toContain('🗣 Качество звонков');
      // price in 2 calls, think in 1.
      expect(text).toContain('Частые возражения: «Дорого» — 2, «Подумаю» — 1');
      expect(text).toContain('Звонки с высоким риском потери клиента: 1');
      expect(content.figures['call_quality.high_risk']).toBe(1);
    });

    it('is left out when the tool is not available', async () => {
      const content = await build('weekly', manager);
      expect(digestText(content)).not.toContain('Качество звонков');
    });
  });
});
