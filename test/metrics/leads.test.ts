import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importDirectory } from '../../src/ingest/import.ts';
import { silentLogger } from '../../src/logger.ts';
import type { MetricContext } from '../../src/metrics/common.ts';
import { leadTools } from '../../src/metrics/leads.ts';
import type { Caller, ToolInput } from '../../src/metrics/types.ts';
import { createTestDb, drivers, type TestDb } from '../helpers/db.ts';

/*
 * Dataset: test/fixtures/metrics-sales (shared with deals.test.ts).
 * now = 2026-04-10 12:00 Moscow (UTC+3, no DST); default period = April 2026.
 *
 * Scope: head H1 leads department D1 = {H1, M1 Алексей Чуркин, M2 Ольга Кузнецова};
 * M3 Игорь Петров is in D2; a manager M1 sees only M1's records; admin sees all,
 * including records without a manager.
 *
 * Lead pipeline PL, stages listed in the file in this order:
 *   L_A "Новый" sort 20 open, L_B "Входящий" sort 10 open, L_WON sort 90 won,
 *   L_MEET "Встреча назначена" sort 30 open, L_JUNK sort 100 lost.
 * So the "new" stage (lowest sort among open stages) is L_B "Входящий", not the
 * stage named "Новый" and not the first line of the file.
 *
 * April cohort (created 2026-04-01 00:00 … 2026-05-01 00:00 Moscow):
 *   LD1 M1 Авито  L_B   created 04-01 01:00 (= 03-31 22:00 UTC: April only in Moscow time)
 *   LD2 M1 Авито  L_A   created 04-02 10:00
 *   LD3 M2 Сайт   L_WON created 04-02 09:00 closed 04-04 09:00 (2 d); deal DA (won, 100 000) via leads.deal_id only
 *   LD4 M2 Авито  L_WON created 04-03 12:00 closed 04-04 00:00 (0.5 d); deal DB (open) via deals.lead_id only
 *   LD5 M3 Сайт   L_JUNK created 04-05 10:00 closed 04-06 10:00 (1 d)
 *   LD6 —  Авито  L_WON created 04-06 01:00 closed 04-09 01:00 (3 d); deal DC (won, 50 000) linked both ways
 *   LD7 M3 —      L_MEET created 04-07 12:00
 * Not in the cohort: LD8 (03-31 23:59 Moscow), LD9 (03-20), LD10 (03-10), LD11 (02-01).
 */

const fixtureDir = fileURLToPath(new URL('../fixtures/metrics-sales', import.meta.url));
const NOW = new Date('2026-04-10T12:00:00+03:00');
const TZ = 'Europe/Moscow';
const ADMIN: Caller = { role: 'admin', managerId: null };
const HEAD: Caller = { role: 'head', managerId: 'H1' };
const MANAGER: Caller = { role: 'manager', managerId: 'M1' };
const MARCH = { from: '2026-03-01', to: '2026-03-31' };

const tool = (name: string) => {
  const t = leadTools.find((x) => x.name === name);
  if (!t) throw new Error(`no tool ${name}`);
  return t;
};

describe.each(drivers)('lead metrics on %s', (driver) => {
  let db: TestDb;
  const run = (name: string, input: ToolInput, caller: Caller = ADMIN) => {
    const ctx: MetricContext = { db, caller, tz: TZ, now: NOW };
    return tool(name).run(ctx, input);
  };

  beforeAll(async () => {
    db = await createTestDb(driver);
    const report = await importDirectory(db, { dir: fixtureDir, logger: silentLogger });
    expect(report.firstRejects).toEqual([]);
    expect(report.rejected).toBe(0);
  });
  afterAll(async () => {
    await db?.dispose();
  });

  it('exports the three lead tools', () => {
    expect(leadTools.map((t) => t.name)).toEqual(['lead_stats', 'lead_stage_reach', 'forgotten_leads']);
    for (const t of leadTools) {
      expect(t.description.length).toBeGreaterThan(40);
      expect(t.explain.length).toBeGreaterThan(40);
    }
  });

  describe('lead_stats', () => {
    it('counts the April cohort for an admin', async () => {
      const env = await run('lead_stats', {});
      expect(env.period).toEqual({ from: '2026-04-01', to: '2026-04-30' });
      // received: LD1..LD7 = 7 (LD8 at 03-31 23:59 Moscow is March).
      // new: only LD1 is in L_B, the lowest-sort open stage → 1.
      // in_work: LD2 (in "Новый", sort 20 — not the first open stage) and LD7 (L_MEET) → 2.
      // qualified (won stage): LD3, LD4, LD6 → 3; junk (lost stage): LD5 → 1.
      // conv_to_deal: LD3 (deal_id), LD4 (deals.lead_id), LD6 (both) → 3/7.
      // conv_to_sale: LD3 (DA won), LD6 (DC won); LD4's deal DB is open → 2/7.
      // sales_amount: 100 000 + 50 000 = 150 000 — DC counted once although linked both ways.
      // revenue_per_lead: 150 000 / 7.
      // avg_processing_days over closed LD3 2, LD4 0.5, LD5 1, LD6 3 → 6.5 / 4 = 1.625.
      expect(env.figures.received).toBe(7);
      expect(env.figures.new).toBe(1);
      expect(env.figures.in_work).toBe(2);
      expect(env.figures.qualified).toBe(3);
      expect(env.figures.junk).toBe(1);
      expect(env.figures.conv_to_deal).toBeCloseTo(3 / 7, 10);
      expect(env.figures.conv_to_sale).toBeCloseTo(2 / 7, 10);
      expect(env.figures.sales_amount).toBe(150000);
      expect(env.figures.revenue_per_lead).toBeCloseTo(150000 / 7, 6);
      expect(env.figures.avg_processing_days).toBeCloseTo(1.625, 10);
      expect(env.notes?.join(' ')).toMatch(/текущий месяц/);
    });

    it('gives the same question different answers for manager, head and admin', async () => {
      // Manager M1: LD1 (new), LD2 (in work). No deals → conversions 0/2 = 0,
      // sales 0, revenue 0/2 = 0; no closed lead → avg_processing_days null.
      const m = await run('lead_stats', {}, MANAGER);
      expect(m.figures).toEqual({
        received: 2,
        new: 1,
        in_work: 1,
        qualified: 0,
        junk: 0,
        conv_to_deal: 0,
        conv_to_sale: 0,
        sales_amount: 0,
        revenue_per_lead: 0,
        avg_processing_days: null,
      });
      // Head H1 (M1 + M2): LD1, LD2, LD3, LD4. Deals: LD3→DA (won), LD4→DB (open) → 2/4;
      // sale only LD3 → 1/4, 100 000, 25 000 per lead; processing (2 + 0.5) / 2 = 1.25.
      const h = await run('lead_stats', {}, HEAD);
      expect(h.figures).toEqual({
        received: 4,
        new: 1,
        in_work: 1,
        qualified: 2,
        junk: 0,
        conv_to_deal: 0.5,
        conv_to_sale: 0.25,
        sales_amount: 100000,
        revenue_per_lead: 25000,
        avg_processing_days: 1.25,
      });
      const a = await run('lead_stats', {}, ADMIN);
      expect(a.figures.received).toBe(7);
    });

    it('refuses a manager asking for a colleague, lets a head filter to a team member', async () => {
      await expect(
        run('lead_stats', { filters: { managers: ['Ольга Кузнецова'] } }, MANAGER),
      ).rejects.toMatchObject({
        code: 'out_of_scope',
      });
      // Head filtered to "Алексей Чуркин" = the manager's own numbers above.
      const h = await run('lead_stats', { filters: { managers: ['Алексей Чуркин'] } }, HEAD);
      expect(h.figures.received).toBe(2);
      expect(h.filters).toEqual({ managers: ['Алексей Чуркин'] });
    });

    it('returns null for ratios of an empty cohort', async () => {
      // January 2026: no leads created → received 0, every share and mean null, sums 0.
      const env = await run('lead_stats', { period: { from: '2026-01-01', to: '2026-01-31' } });
      expect(env.figures).toEqual({
        received: 0,
        new: 0,
        in_work: 0,
        qualified: 0,
        junk: 0,
        conv_to_deal: null,
        conv_to_sale: null,
        sales_amount: 0,
        revenue_per_lead: null,
        avg_processing_days: null,
      });
    });

    it('groups by source, biggest first, the leads without a source last', async () => {
      // Авито: LD1, LD2, LD4, LD6 → 4; deals LD4 (DB), LD6 (DC) → 0.5; sale LD6 → 0.25, 50 000;
      //   processing LD4 0.5, LD6 3 → 1.75.
      // Сайт: LD3, LD5 → 2; deal LD3 → 0.5; sale 100 000; processing (2 + 1) / 2 = 1.5.
      // Без источника: LD7 → 1, no deal, nothing closed → processing null.
      const env = await run('lead_stats', { group_by: 'source' });
      expect(env.groups?.map((g) => [g.key, g.label, g.figures.received])).toEqual([
        ['S1', 'Авито', 4],
        ['S2', 'Сайт', 2],
        ['none', 'Без источника', 1],
      ]);
      const [avito, site, none] = env.groups!;
      expect(avito!.figures).toMatchObject({ conv_to_deal: 0.5, conv_to_sale: 0.25, sales_amount: 50000 });
      expect(avito!.figures.avg_processing_days).toBeCloseTo(1.75, 10);
      expect(site!.figures).toMatchObject({
        conv_to_deal: 0.5,
        sales_amount: 100000,
        revenue_per_lead: 50000,
      });
      expect(site!.figures.avg_processing_days).toBeCloseTo(1.5, 10);
      expect(none!.figures.avg_processing_days).toBeNull();
    });

    it('groups weeks in Moscow time and fills the elapsed weeks', async () => {
      // Week of Mon 03-30 (clipped to the period: 04-01 – 04-05): LD1..LD5 = 5.
      // Week of Mon 04-06: LD6 (04-06 01:00 Moscow, still Sunday 04-05 in UTC) and LD7 = 2.
      const env = await run('lead_stats', { group_by: 'week' });
      expect(env.groups?.map((g) => [g.key, g.label, g.figures.received])).toEqual([
        ['2026-03-30', '2026-04-01 – 2026-04-05', 5],
        ['2026-04-06', '2026-04-06 – 2026-04-12', 2],
      ]);
    });

    it('groups by city from the lead, else from its contact', async () => {
      // Москва: LD1, LD5 (lead city); Казань: LD3 through contact K1; the other 4 have none.
      const env = await run('lead_stats', { group_by: 'city' });
      expect(env.groups?.map((g) => [g.label, g.figures.received])).toEqual([
        ['Город не указан', 4],
        ['Москва', 2],
        ['Казань', 1],
      ]);
    });

    it('filters by UTM campaign case-insensitively', async () => {
      // utm.campaign "spring": LD1, LD2.
      const env = await run('lead_stats', { filters: { campaigns: ['Spring'] } });
      expect(env.figures.received).toBe(2);
      const grouped = await run('lead_stats', { group_by: 'campaign' });
      expect(grouped.groups?.map((g) => [g.key, g.figures.received])).toEqual([
        ['none', 5],
        ['spring', 2],
      ]);
    });

    it('rejects a grouping the tool does not have', async () => {
      await expect(run('lead_stats', { group_by: 'channel' })).rejects.toMatchObject({
        code: 'unsupported_group_by',
      });
    });
  });

  describe('lead_stage_reach', () => {
    it('counts stages from history plus the current stage, without back-filling', async () => {
      // Stages ever entered by the April cohort (history ∪ current stage):
      //   LD1 {B}; LD2 {B, A} (B and A entered twice, counted once); LD3 {B, A, MEET, WON};
      //   LD4 {B, WON} (skipped A and MEET — not back-filled); LD5 {B, JUNK};
      //   LD6 {WON} (no history: current stage only); LD7 {A, MEET} (never in B).
      // Funnel order by sort: Входящий 5, Новый 3, Встреча назначена 2, Качественный 3, Некачественный 1;
      // shares over 7 sum to 14/7 = 2 (more than 100 %).
      const env = await run('lead_stage_reach', {});
      expect(env.figures).toEqual({ received: 7 });
      expect(env.groups?.map((g) => [g.key, g.label, g.figures.reached])).toEqual([
        ['L_B', 'Входящий', 5],
        ['L_A', 'Новый', 3],
        ['L_MEET', 'Встреча назначена', 2],
        ['L_WON', 'Качественный', 3],
        ['L_JUNK', 'Некачественный', 1],
      ]);
      const shares = env.groups!.map((g) => g.figures.stage_reach as number);
      expect(shares[0]).toBeCloseTo(5 / 7, 10);
      expect(shares[3]).toBeCloseTo(3 / 7, 10);
      expect(shares.reduce((s, x) => s + x, 0)).toBeCloseTo(2, 10);
    });

    it('applies scope and gives null shares for an empty cohort', async () => {
      // Manager M1: LD1 {B}, LD2 {B, A} → Входящий 2 (share 1), Новый 1 (0.5), others 0.
      const m = await run('lead_stage_reach', {}, MANAGER);
      expect(m.figures.received).toBe(2);
      expect(m.groups?.map((g) => [g.figures.reached, g.figures.stage_reach])).toEqual([
        [2, 1],
        [1, 0.5],
        [0, 0],
        [0, 0],
        [0, 0],
      ]);
      // January: nobody → 0 reached, share null.
      const jan = await run('lead_stage_reach', { period: { from: '2026-01-01', to: '2026-01-31' } });
      expect(jan.groups?.every((g) => g.figures.reached === 0 && g.figures.stage_reach === null)).toBe(true);
    });
  });

  describe('forgotten_leads', () => {
    /*
     * Open leads now: LD1, LD2, LD7, LD8, LD9, LD11 (LD3..LD6 and LD10 are closed).
     * R = now = 04-10 12:00; threshold 3 days → forgotten when last activity < 04-07 12:00.
     *   LD11 created 02-01 10:00, nothing since                      → forgotten, 68 d 2 h idle → 68
     *   LD1  last = call CL1 linked to it, 04-01 01:10                → 9 d 10 h 50 m → 9
     *   LD2  last = history 04-02 13:00; the meeting on its contact K2
     *        on 04-09 does not count                                   → 7 d 23 h → 7
     *   LD9  last = its meeting completed 04-07 11:59 (3 days + 1 min)  → forgotten, 3
     *   LD7  created and moved exactly at 04-07 12:00 (exactly 3 days)  → not forgotten
     *   LD8  outgoing call to its contact's phone on 04-09             → not forgotten
     */
    it('lists open leads idle longer than 3 days now, oldest first', async () => {
      const env = await run('forgotten_leads', {});
      expect(env.figures).toEqual({ forgotten_leads: 4 });
      expect(env.items?.map((i) => [i.id, i.days_idle, i.manager])).toEqual([
        ['LD11', 68, 'Игорь Петров'],
        ['LD1', 9, 'Алексей Чуркин'],
        ['LD2', 7, 'Алексей Чуркин'],
        ['LD9', 3, 'Ольга Кузнецова'],
      ]);
      expect(env.items?.[1]?.last_activity_at).toBe(new Date('2026-04-01T01:10:00+03:00').toISOString());
      expect(env.notes?.[0]).toMatch(/3 дня/);
    });

    it('uses the end of a past period as the reference moment', async () => {
      // March: R = 04-01 00:00, threshold → last activity < 03-29 00:00; open at R = open now
      // or closed after R; created by R.
      //   LD11 02-01 10:00                             → 58 d 14 h → 58
      //   LD10 junk since 04-03 (after R) so open at R; last by R = creation 03-10 10:00 → 21
      //   LD9  last by R = its meeting created 03-20 10:30; the completion on 04-07 is after R and
      //        ignored → 11 d 13.5 h → 11
      //   LD8  created 03-31 23:59 → not idle; LD1, LD2, LD7 were created after R.
      const env = await run('forgotten_leads', { period: MARCH });
      expect(env.period).toEqual({ from: '2026-03-01', to: '2026-03-31' });
      expect(env.items?.map((i) => [i.id, i.days_idle])).toEqual([
        ['LD11', 58],
        ['LD10', 21],
        ['LD9', 11],
      ]);
      // At R LD10 was still in "Входящий" (its move to junk came on 04-03).
      expect(env.items?.[1]?.stage).toBe('Входящий');
      expect(env.notes?.[0]).toMatch(/на конец периода/);
    });

    it('honours the threshold in days', async () => {
      // 8 days → last activity < 04-02 12:00: LD11 (02-01), LD1 (04-01 01:10); LD2 (04-02 13:00) is not.
      const env = await run('forgotten_leads', { days: 8 });
      expect(env.items?.map((i) => i.id)).toEqual(['LD11', 'LD1']);
    });

    it('scopes and groups by manager', async () => {
      // Manager M1: LD1, LD2. Head (M1 + M2): LD1, LD2, LD9. Admin adds M3's LD11.
      expect((await run('forgotten_leads', {}, MANAGER)).figures.forgotten_leads).toBe(2);
      const h = await run('forgotten_leads', {}, HEAD);
      expect(h.items?.map((i) => i.id)).toEqual(['LD1', 'LD2', 'LD9']);
      // By manager: M1 2, then the two with 1 by name: Игорь Петров, Ольга Кузнецова.
      const g = await run('forgotten_leads', { group_by: 'manager' });
      expect(g.groups?.map((x) => [x.label, x.figures.forgotten_leads])).toEqual([
        ['Алексей Чуркин', 2],
        ['Игорь Петров', 1],
        ['Ольга Кузнецова', 1],
      ]);
    });

    it('caps the list but keeps the full count', async () => {
      const env = await run('forgotten_leads', { limit: 2 });
      expect(env.figures.forgotten_leads).toBe(4);
      expect(env.items?.map((i) => i.id)).toEqual(['LD11', 'LD1']);
    });
  });
});
