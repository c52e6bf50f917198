import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importDirectory } from '../../src/ingest/import.ts';
import { silentLogger } from '../../src/logger.ts';
import type { MetricContext } from '../../src/metrics/common.ts';
import { dealTools } from '../../src/metrics/deals.ts';
import type { Caller, ToolInput } from '../../src/metrics/types.ts';
import { createTestDb, drivers, type TestDb } from '../helpers/db.ts';

/*
 * Dataset: test/fixtures/metrics-sales (shared with leads.test.ts).
 * now = 2026-04-10 12:00 Moscow (UTC+3, no DST); default period = April 2026.
 * Scope: head H1 → {H1, M1 Алексей Чуркин, M2 Ольга Кузнецова}; M3 Игорь Петров elsewhere;
 * manager M1 → own deals only; admin → all, incl. DC without a manager.
 *
 * Pipeline PD "Продажи" (file order shuffled), open stages by sort:
 *   D_NEW "Новая" 10 (probability 0.2), D_MEET "Встреча" 20 (none), D_KP "КП отправлено" 30 (none),
 *   D_CONTRACT "Договор" 40 (probability 0.8); D_WON "Оплачено" 90 won; D_LOST "Отказ" 100 lost.
 *   Default probability by position among the 4 open stages: 0.1 + 0.8 × (rank − 1) / 3 →
 *   Встреча 0.1 + 0.8/3 = 0.36667, КП 0.1 + 1.6/3 = 0.63333.
 * Pipeline PD2 "Сервис": S_OPEN "Заявка" 1 open (only open stage → 0.5), S_DONE won.
 *
 * Deals (amount; manager; created → closed):
 *   DA 100 000 M2 won   03-05 10:00 → 04-04 10:00 (30 d; opened in March, won in April); contact K1, company C1
 *   DB  30 000 M2 Встреча 04-03 12:00 (lead LD4)
 *   DC  50 000 —  won   04-06 09:00 → 04-08 09:00 (2 d); company C1 → repeat (DA created earlier)
 *   DD  20 000 M1 won   04-01 10:00 → 04-09 10:00 (8 d); contact K2 → repeat (DOLD, 2025-12-01)
 *   DE  80 000 M1 won   04-02 10:00 → 04-05 10:00 (3 d); contact K6 — its other deal DF is later → new
 *   DF  40 000 M1 lost  04-06 10:00 → 04-08 10:00; history Новая → КП → Отказ
 *   DG  10 000 M3 lost  03-20 10:00 → 04-02 10:00; history Новая → Встреча → Отказ
 *   DH   5 000 M2 lost  04-03 10:00 → 04-04 10:00; no history
 *   DI  50 000 M1 Новая   02-10 12:00; DJ 30 000 M3 КП 03-01 10:00; DK 100 000 M2 Договор 04-08 12:00
 *   DM  60 000 M1 won   03-02 10:00 → 03-28 10:00; DN 30 000 M2 КП 03-01 10:00; DP 15 000 M2 Встреча 03-10 10:00
 *   DOLD 7 000 M1 lost  2025-12-01 → 2025-12-20; DS1 10 000 M1 (PD2) Заявка 04-05 10:00
 * Open now: DB, DI, DJ, DK, DN, DP, DS1.
 */

const fixtureDir = fileURLToPath(new URL('../fixtures/metrics-sales', import.meta.url));
const NOW = new Date('2026-04-10T12:00:00+03:00');
const TZ = 'Europe/Moscow';
const ADMIN: Caller = { role: 'admin', managerId: null };
const HEAD: Caller = { role: 'head', managerId: 'H1' };
const MANAGER: Caller = { role: 'manager', managerId: 'M1' };
const MARCH = { from: '2026-03-01', to: '2026-03-31' };

const tool = (name: string) => {
  const t = dealTools.find((x) => x.name === name);
  if (!t) throw new Error(`no tool ${name}`);
  return t;
};

describe.each(drivers)('deal metrics on %s', (driver) => {
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

  it('exports the deal tools', () => {
    expect(dealTools.map((t) => t.name)).toEqual([
      'deal_stats',
      'stage_funnel',
      'forgotten_deals',
      'deals_without_tasks',
      'list_records',
    ]);
  });

  describe('deal_stats', () => {
    it('counts April for an admin, including a deal opened in March and won in April', async () => {
      // created in April: DB, DC, DD, DE, DF, DH, DK, DS1 = 8.
      // open now (any creation date): DB 30k, DI 50k, DJ 30k, DK 100k, DN 30k, DP 15k, DS1 10k = 7, 265 000.
      // won (closed in April, won stage): DA (created March), DC, DD, DE = 4; 100k+50k+20k+80k = 250 000.
      // lost (closed in April): DF 40k, DG 10k (created March), DH 5k = 3, 55 000.
      // avg_check 250 000 / 4 = 62 500; win_rate 4 / 7.
      // cycle of won: 30, 2, 8, 3 → mean 43/4 = 10.75; median of [2, 3, 8, 30] = (3 + 8)/2 = 5.5.
      // repeat: DC (company C1 had DA earlier), DD (contact K2 had DOLD) → 2; new: DA, DE → 2.
      // forecast: April contains now → 250 000 + Σ open × probability:
      //   DB 30k × 0.36667 = 11 000; DI 50k × 0.2 (own probability, not the default 0.1) = 10 000;
      //   DJ 30k × 0.63333 = 19 000; DK 100k × 0.8 = 80 000; DN 30k × 0.63333 = 19 000;
      //   DP 15k × 0.36667 = 5 500; DS1 10k × 0.5 (single open stage) = 5 000 → 149 500 → 399 500.
      const env = await run('deal_stats', {});
      const f = env.figures;
      expect(f.created).toBe(8);
      expect(f.open).toBe(7);
      expect(f.open_amount).toBe(265000);
      expect(f.won).toBe(4);
      expect(f.won_amount).toBe(250000);
      expect(f.lost).toBe(3);
      expect(f.lost_amount).toBe(55000);
      expect(f.avg_check).toBe(62500);
      expect(f.win_rate).toBeCloseTo(4 / 7, 10);
      expect(f.cycle_days).toBeCloseTo(10.75, 10);
      expect(f.cycle_days_median).toBeCloseTo(5.5, 10);
      expect(f.won_new).toBe(2);
      expect(f.won_repeat).toBe(2);
      expect(f.forecast_amount).toBeCloseTo(399500, 6);
    });

    it('computes stage time from consecutive history entries', async () => {
      // Stays in open stages under way during April (R = now 04-10 12:00):
      //   DA КП 03-15 10:00 → 04-04 10:00 = 20; DB Новая 2, Встреча 04-05 12:00 → R = 5;
      //   DD Новая 8; DF Новая 1, КП 1; DG Встреча 03-25 → 04-02 = 8; DI Новая 02-10 12:00 → R = 59;
      //   DK Новая 1, Договор 04-09 12:00 → R = 1. (DA/DG's earlier Новая stays ended in March.)
      // Mean 106 / 10 = 10.6 days.
      const env = await run('deal_stats', {});
      expect(env.figures.stage_time).toBeCloseTo(10.6, 10);
    });

    it('gives the same question different answers for manager, head and admin', async () => {
      // M1: created DD, DE, DF, DS1 = 4; open DI 50k, DS1 10k; won DD 20k, DE 80k; lost DF.
      //   avg 50 000; win 2/3; cycle 8, 3 → 5.5 / 5.5; DD repeat, DE new;
      //   forecast 100 000 + 10 000 + 5 000 = 115 000.
      const m = await run('deal_stats', {}, MANAGER);
      expect(m.figures).toMatchObject({
        created: 4,
        open: 2,
        open_amount: 60000,
        won: 2,
        won_amount: 100000,
        lost: 1,
        avg_check: 50000,
        cycle_days: 5.5,
        cycle_days_median: 5.5,
        won_new: 1,
        won_repeat: 1,
      });
      expect(m.figures.win_rate).toBeCloseTo(2 / 3, 10);
      expect(m.figures.forecast_amount).toBeCloseTo(115000, 6);
      // Head (M1 + M2): created + DB, DH, DK = 7; open + DB, DK, DN, DP → 6, 235 000;
      //   won DD, DE, DA = 3, 200 000; lost DF, DH = 2 → win 0.6; cycle 8, 3, 30 → 41/3, median 8;
      //   new DA, DE; repeat DD; forecast 200 000 + 10 000 + 5 000 + 11 000 + 80 000 + 19 000 + 5 500 = 330 500.
      const h = await run('deal_stats', {}, HEAD);
      expect(h.figures).toMatchObject({
        created: 7,
        open: 6,
        open_amount: 235000,
        won: 3,
        won_amount: 200000,
        lost: 2,
        win_rate: 0.6,
        cycle_days_median: 8,
        won_new: 2,
        won_repeat: 1,
      });
      expect(h.figures.avg_check).toBeCloseTo(200000 / 3, 6);
      expect(h.figures.cycle_days).toBeCloseTo(41 / 3, 10);
      expect(h.figures.forecast_amount).toBeCloseTo(330500, 6);
      const a = await run('deal_stats', {}, ADMIN);
      expect(a.figures.won).toBe(4);
    });

    it('returns null for ratios with no closed deals', async () => {
      // January 2026: nothing created or closed; open deals are still the 7 of now.
      // The period is over → forecast = its sales = 0. No deal existed before 02-01 except DOLD,
      // closed in December → no stage stays → stage_time null.
      const env = await run('deal_stats', { period: { from: '2026-01-01', to: '2026-01-31' } });
      expect(env.figures).toMatchObject({
        created: 0,
        won: 0,
        won_amount: 0,
        lost: 0,
        avg_check: null,
        win_rate: null,
        cycle_days: null,
        cycle_days_median: null,
        won_new: 0,
        won_repeat: 0,
        open: 7,
        forecast_amount: 0,
        stage_time: null,
      });
    });

    it('adds no pipeline to a past forecast and gives none for a future period', async () => {
      // March: created DA, DG, DJ, DM, DN, DP = 6; won DM 60 000 (26 days, no contact → new);
      // DG closed on 04-02 so it is not lost in March → win_rate 1/1; forecast = 60 000.
      const march = await run('deal_stats', { period: MARCH });
      expect(march.figures).toMatchObject({
        created: 6,
        won: 1,
        won_amount: 60000,
        lost: 0,
        win_rate: 1,
        avg_check: 60000,
        cycle_days: 26,
        won_new: 1,
        won_repeat: 0,
        forecast_amount: 60000,
      });
      expect(march.notes?.join(' ')).toMatch(/прогноз равен фактическим продажам/);
      const may = await run('deal_stats', { period: { from: '2026-05-01', to: '2026-05-31' } });
      expect(may.figures.forecast_amount).toBeNull();
    });

    it('shows open deals per stage and where lost deals dropped off', async () => {
      // Open now per stage: Новая DI 50k; Встреча DB 30k + DP 15k; КП DJ 30k + DN 30k; Договор DK 100k;
      //   Сервис/Заявка DS1 10k.
      // Lost in April by the last open stage of their history: DF → КП, DG → Встреча;
      //   DH has no history → "Этап не известен".
      // Stage time per stage (stays listed above): Новая (2 + 8 + 1 + 59 + 1)/5 = 14.2; Встреча (5 + 8)/2 = 6.5;
      //   КП (20 + 1)/2 = 10.5; Договор 1; Заявка — no history → null.
      const env = await run('deal_stats', { group_by: 'stage' });
      expect(env.series).toBeUndefined();
      expect(
        env.groups?.map((g) => [g.key, g.label, g.figures.open, g.figures.open_amount, g.figures.lost]),
      ).toEqual([
        ['D_NEW', 'Продажи: Новая', 1, 50000, 0],
        ['D_MEET', 'Продажи: Встреча', 2, 45000, 1],
        ['D_KP', 'Продажи: КП отправлено', 2, 60000, 1],
        ['D_CONTRACT', 'Продажи: Договор', 1, 100000, 0],
        ['S_OPEN', 'Сервис: Заявка', 1, 10000, 0],
        ['unknown', 'Этап не известен', 0, 0, 1],
      ]);
      const times = env.groups?.map((g) => g.figures.stage_time);
      expect(times?.[0]).toBeCloseTo(14.2, 10);
      expect(times?.[1]).toBeCloseTo(6.5, 10);
      expect(times?.[2]).toBeCloseTo(10.5, 10);
      expect(times?.[3]).toBeCloseTo(1, 10);
      expect(times?.[4]).toBeNull();
      // Without group_by the same rows come as series.by_stage.
      const plain = await run('deal_stats', {});
      expect(plain.series?.by_stage?.map((g) => g.key)).toEqual(env.groups?.map((g) => g.key));
    });

    it('groups by manager with the deals without a manager as their own group', async () => {
      // won_amount desc, then created: M1 100 000 (created 4) before M2 100 000 (created 3);
      // "Без менеджера" (DC) 50 000; M3 0 won (only DG lost) → avg_check null.
      const env = await run('deal_stats', { group_by: 'manager' });
      expect(
        env.groups?.map((g) => [g.key, g.label, g.figures.won, g.figures.won_amount, g.figures.created]),
      ).toEqual([
        ['M1', 'Алексей Чуркин', 2, 100000, 4],
        ['M2', 'Ольга Кузнецова', 1, 100000, 3],
        ['none', 'Без менеджера', 1, 50000, 1],
        ['M3', 'Игорь Петров', 0, 0, 0],
      ]);
      const m3 = env.groups?.find((g) => g.key === 'M3');
      expect(m3?.figures).toMatchObject({ open: 1, lost: 1, avg_check: null, win_rate: 0 });
      // M2's open deals DB, DK, DN, DP = 175 000; forecast 100 000 + 11 000 + 80 000 + 19 000 + 5 500.
      const m2 = env.groups?.find((g) => g.key === 'M2');
      expect(m2?.figures.open_amount).toBe(175000);
      expect(m2?.figures.forecast_amount).toBeCloseTo(215500, 6);
      // M1's stays: DD Новая 8, DF Новая 1 + КП 1, DI Новая 59 → 69/4.
      expect(env.groups?.[0]?.figures.stage_time).toBeCloseTo(17.25, 10);
    });
  });

  describe('stage_funnel', () => {
    it('uses the pipeline with most deals and counts reach without back-filling', async () => {
      // April deals: PD has DB, DC, DD, DE, DF, DH, DK = 7; PD2 only DS1 → PD, and a note says so.
      // Stages reached (history ∪ current): DB {Новая, Встреча}; DC {Оплачено}; DD {Новая, Оплачено};
      //   DE {Оплачено}; DF {Новая, КП, Отказ}; DH {Отказ}; DK {Новая, Договор}.
      // Новая 4, Встреча 1, КП 1, Договор 1, Оплачено 3, Отказ 2.
      // Conversion along Новая → Встреча → КП → Договор → Оплачено: 1/4, 1/1, 1/1, 3/1; last and lost: null.
      const env = await run('stage_funnel', {});
      expect(env.figures.created).toBe(7);
      expect(env.notes?.join(' ')).toMatch(/«Продажи».*«Сервис»/);
      expect(env.groups?.map((g) => [g.label, g.figures.reached, g.figures.stage_conversion])).toEqual([
        ['Новая', 4, 0.25],
        ['Встреча', 1, 1],
        ['КП отправлено', 1, 1],
        ['Договор', 1, 3],
        ['Оплачено', 3, null],
        ['Отказ', 2, null],
      ]);
      expect(env.groups?.[0]?.figures.stage_reach).toBeCloseTo(4 / 7, 10);
      expect(env.groups?.[4]?.figures.stage_reach).toBeCloseTo(3 / 7, 10);
      expect(env.notes?.join(' ')).toMatch(/больше 100/);
      // Stage time of the funnel's pipeline: every April stay is in PD → 10.6.
      expect(env.figures.stage_time).toBeCloseTo(10.6, 10);
    });

    it('takes a pipeline from the filter', async () => {
      // Сервис: DS1 in Заявка (current) → reached 1 of 1; Выполнено 0 → conversion 0/1 = 0.
      const env = await run('stage_funnel', { filters: { pipelines: ['сервис'] } });
      expect(env.figures.created).toBe(1);
      expect(env.notes?.join(' ')).not.toMatch(/больше всего/);
      expect(
        env.groups?.map((g) => [
          g.label,
          g.figures.reached,
          g.figures.stage_reach,
          g.figures.stage_conversion,
        ]),
      ).toEqual([
        ['Заявка', 1, 1, 0],
        ['Выполнено', 0, 0, null],
      ]);
    });

    it('is scoped to the caller', async () => {
      // M1's April PD deals: DD {Новая, Оплачено}, DE {Оплачено}, DF {Новая, КП, Отказ}.
      const env = await run('stage_funnel', {}, MANAGER);
      expect(env.figures.created).toBe(3);
      expect(env.groups?.map((g) => g.figures.reached)).toEqual([2, 0, 1, 0, 2, 1]);
    });
  });

  describe('forgotten_deals', () => {
    /*
     * Now: R = 04-10 12:00, 14 days → forgotten when last activity < 03-27 12:00.
     *   DI created 02-10 12:00; the case on its contact K7 (04-09) does not count → 59 days.
     *   DJ last = outgoing call to its contact's phone on 03-27 11:59 (14 days + 1 minute) → 14;
     *      the open task on its contact does not count either.
     *   DN its task created exactly 03-27 12:00 (exactly 14 days) → not forgotten.
     *   DP outgoing call to its contact's phone on 04-08 → not forgotten.
     *   DB, DK, DS1 recent.
     */
    it('lists open deals idle longer than 14 days with their amount', async () => {
      const env = await run('forgotten_deals', {});
      expect(env.figures).toEqual({ forgotten_deals: 2, forgotten_amount: 80000 });
      expect(env.items?.map((i) => [i.id, i.days_idle, i.manager, i.stage, i.amount])).toEqual([
        ['DI', 59, 'Алексей Чуркин', 'Новая', 50000],
        ['DJ', 14, 'Игорь Петров', 'КП отправлено', 30000],
      ]);
      expect(env.notes?.[0]).toMatch(/14 дней/);
    });

    it('uses the end of a past period, ignoring activity after it', async () => {
      // March: R = 04-01 00:00 → last activity < 03-18 00:00; open at R = open now or closed after R.
      //   DI 02-10 12:00 → 49 d 12 h → 49.
      //   DP last by R = its meeting completed 03-12 10:00; the call of 04-08 is after R → 19.
      //   DA won on 04-04, so open at R; last by R = move to КП 03-15 10:00 (calls to K1 came
      //      on 04-01 12:00 and 04-02) → 16; shown in the stage it had at R.
      //   DG (lost 04-02) last moved 03-25; DJ call 03-27; DN task 03-27 → not forgotten.
      const env = await run('forgotten_deals', { period: MARCH });
      expect(env.figures).toEqual({ forgotten_deals: 3, forgotten_amount: 165000 });
      expect(env.items?.map((i) => [i.id, i.days_idle, i.stage])).toEqual([
        ['DI', 49, 'Новая'],
        ['DP', 19, 'Встреча'],
        ['DA', 16, 'КП отправлено'],
      ]);
    });

    it('scopes and groups by manager, most forgotten first', async () => {
      // Manager M1 and head H1 both see only DI (DJ is M3's); admin sees both.
      expect((await run('forgotten_deals', {}, MANAGER)).items?.map((i) => i.id)).toEqual(['DI']);
      expect((await run('forgotten_deals', {}, HEAD)).items?.map((i) => i.id)).toEqual(['DI']);
      // In March (admin): M2 has DP + DA = 2 / 115 000, M1 has DI 1 / 50 000.
      const g = await run('forgotten_deals', { period: MARCH, group_by: 'manager' });
      expect(g.groups?.map((x) => [x.label, x.figures.forgotten_deals, x.figures.forgotten_amount])).toEqual([
        ['Ольга Кузнецова', 2, 115000],
        ['Алексей Чуркин', 1, 50000],
      ]);
    });
  });

  describe('deals_without_tasks', () => {
    /*
     * Open deals: DB, DI, DJ, DK, DN, DP, DS1.
     *   DN has an open task (T1) → has a task.
     *   DK has an activity with a deadline and no completion (AC5) → has a task.
     *   DB's only task is closed (T2) → without tasks.
     *   DP's meeting with a deadline is completed, its comment has no deadline → without tasks.
     *   DJ's open task is on its contact, not on the deal → without tasks.
     *   DI, DS1 nothing → without tasks.
     * → DI 50k, DJ 30k (created 03-01), DB 30k (04-03), DP 15k, DS1 10k: 5 deals, 135 000 of 7 open.
     */
    it('lists open deals without an open task or pending deadline activity', async () => {
      const env = await run('deals_without_tasks', {});
      expect(env.figures).toEqual({ deals_without_tasks: 5, amount: 135000, open: 7 });
      expect(env.items?.map((i) => i.id)).toEqual(['DI', 'DJ', 'DB', 'DP', 'DS1']);
    });

    it('lists the largest deals first when the list is cut, counting them all', async () => {
      // DI 50k, then DJ and DB at 30k — the earlier-created DJ first.
      const env = await run('deals_without_tasks', { limit: 2 });
      expect(env.figures).toEqual({ deals_without_tasks: 5, amount: 135000, open: 7 });
      expect(env.items?.map((i) => i.id)).toEqual(['DI', 'DJ']);
      expect(env.notes).toContain('В списке 2 из 5 — самые крупные по сумме.');
    });

    it('gives manager, head and admin their own share', async () => {
      // M1: DI, DS1 of its 2 open. Head: + DB, DP (M2) of 6 open (DI, DS1, DB, DK, DN, DP).
      expect((await run('deals_without_tasks', {}, MANAGER)).figures).toEqual({
        deals_without_tasks: 2,
        amount: 60000,
        open: 2,
      });
      expect((await run('deals_without_tasks', {}, HEAD)).figures).toEqual({
        deals_without_tasks: 4,
        amount: 105000,
        open: 6,
      });
      // By manager: M1 2 / 60 000, M2 2 / 45 000 (tie on count, more money first), M3 1.
      const g = await run('deals_without_tasks', { group_by: 'manager' });
      expect(g.groups?.map((x) => [x.key, x.figures.deals_without_tasks, x.figures.amount])).toEqual([
        ['M1', 2, 60000],
        ['M2', 2, 45000],
        ['M3', 1, 30000],
      ]);
    });
  });

  describe('list_records', () => {
    it('lists won deals of the period, newest close first', async () => {
      // Won in April: DD (04-09), DC (04-08), DE (04-05), DA (04-04) — 250 000.
      const env = await run('list_records', { which: 'deals', status: 'won' });
      expect(env.figures).toEqual({ total: 4, amount: 250000 });
      expect(env.items?.map((i) => i.id)).toEqual(['DD', 'DC', 'DE', 'DA']);
      expect(env.items?.find((i) => i.id === 'DC')?.manager).toBe('Без менеджера');
      const mine = await run('list_records', { which: 'deals', status: 'won' }, MANAGER);
      expect(mine.items?.map((i) => i.id)).toEqual(['DD', 'DE']);
    });

    it('counts every won deal while listing only the newest closes', async () => {
      // Won in April, newest close first: DD, DC, DE, DA (250 000); a page of 2 keeps the order and the totals.
      const env = await run('list_records', { which: 'deals', status: 'won', limit: 2 });
      expect(env.figures).toEqual({ total: 4, amount: 250000 });
      expect(env.items?.map((i) => i.id)).toEqual(['DD', 'DC']);
      expect(env.notes).toContain('Показаны 2 из 4.');
    });

    it('lists lost deals with their reason', async () => {
      const env = await run('list_records', { which: 'deals', status: 'lost' });
      expect(env.items?.map((i) => [i.id, i.lost_reason])).toEqual([
        ['DF', 'Дорого'],
        ['DH', null],
        ['DG', null],
      ]);
    });

    it('lists open deals of one stage, capped by limit', async () => {
      // Встреча: DB 30 000, DP 15 000 → total 2, 45 000; limit 1 keeps the larger.
      const env = await run('list_records', { which: 'deals', status: 'open', stage: 'встреча', limit: 1 });
      expect(env.figures).toEqual({ total: 2, amount: 45000 });
      expect(env.items?.map((i) => i.id)).toEqual(['DB']);
      expect(env.filters).toEqual({ stages: ['Встреча'] });
    });

    it('lists leads of the period by state', async () => {
      // New (lowest-sort open stage) among April leads: LD1 only; junk: LD5.
      expect((await run('list_records', { which: 'leads', status: 'new' })).items?.map((i) => i.id)).toEqual([
        'LD1',
      ]);
      expect((await run('list_records', { which: 'leads', status: 'junk' })).figures).toEqual({ total: 1 });
    });

    it('rejects a state that does not apply to the record kind', async () => {
      await expect(run('list_records', { which: 'leads', status: 'won' })).rejects.toMatchObject({
        code: 'bad_list',
      });
    });
  });
});
