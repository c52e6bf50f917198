import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.ts';
import { importDirectory } from '../../src/ingest/import.ts';
import { silentLogger } from '../../src/logger.ts';
import type { MetricContext } from '../../src/metrics/common.ts';
import { planProgress, planTools } from '../../src/metrics/plan.ts';
import { ADMIN, type Caller, type ToolInput } from '../../src/metrics/types.ts';
import { createTestDb, drivers, type TestDb } from '../helpers/db.ts';

/*
 * Fixture test/fixtures/metrics-team, asked on Friday 2026-04-10 12:00 Moscow.
 *
 * Departments: D0 «Коммерческий департамент» ⊃ D1 «Отдел продаж Москва» (M1 Алексей Чуркин,
 * M2 Марина Соколова — head, M5 inactive) and D2 «Отдел продаж Регионы» (M3 Игорь Петров,
 * M4 Ольга Смирнова — head).
 *
 * Won deals by local close month (amount, manager, pipeline; lost deals never count):
 *   2026-01: DJ1 200 000 M1 PD
 *   2026-02: DF1 700 000 M3 PD
 *   2026-03: DM1 300 000 M1, DM2 250 000 M3, DM3 100 000 no manager,
 *            DM5 50 000 M3 (closed 31.03 23:30 MSK = 20:30 UTC: still March)      → 700 000, 4 deals
 *            (DM4 999 999 M1 is lost)
 *   2026-04: DA0 100 000 M1 (closed 01.04 00:30 MSK = 31.03 21:30 UTC: April locally),
 *            DA1 150 000 M1 (history says M3 once; the current manager M1 owns it),
 *            DA2 40 000 M3 pipeline PS «Сервис», DA3 120 000 M3, DA4 60 000 M2, DA5 30 000 M4
 *            → 500 000, 6 deals; by manager M1 250 000 (2), M2 60 000 (1), M3 160 000 (2), M4 30 000 (1)
 *            (DA6 80 000 M1 is lost)
 *
 * Plans (amount unless said): company 01: 500 000, 02: 600 000, 03: 1 000 000, 04: 1 200 000,
 * 05: 1 300 000; company 04 pipeline PS: 100 000; M1 03: 400 000, M3 03: 300 000;
 * M1 04: 500 000, M2 04: 200 000, M3 04: 400 000, M3 04 pipeline PS: 50 000; D2 04: 800 000;
 * count: company 03: 10; M1 04: 3; M3 04: 2.
 *
 * Working days (Mon–Fri): April 2026 starts on Wednesday: 1–3, 6–10, 13–17, 20–24, 27–30
 * = 3 + 5 + 5 + 5 + 4 = 22; elapsed by Friday 10 April (today counts) = 1–3 + 6–10 = 8.
 * May 2026 starts on Friday: 1, 4–8, 11–15, 18–22, 25–29 = 21.
 */
const fixture = path.resolve('test/fixtures/metrics-team');
const NOW = new Date('2026-04-10T12:00:00+03:00');
const M1: Caller = { role: 'manager', managerId: 'M1' };
const HEAD_MOSCOW: Caller = { role: 'head', managerId: 'M2' };
const HEAD_REGIONS: Caller = { role: 'head', managerId: 'M4' };

describe.each(drivers)('plan_progress (%s)', (driver) => {
  let db: TestDb;
  beforeAll(async () => {
    db = await createTestDb(driver);
    const report = await importDirectory(db, {
      dir: fixture,
      logger: silentLogger,
      rejectsFile: path.join(os.tmpdir(), `voronka-plan-rejects-${process.pid}.jsonl`),
    });
    expect(report.rejected).toBe(0);
  });
  afterAll(async () => {
    await db?.dispose();
  });

  const run = (input: ToolInput, caller: Caller = ADMIN) => {
    const ctx: MetricContext = { db, caller, tz: 'Europe/Moscow', now: NOW };
    return planProgress(ctx, input);
  };

  it('uses the company row of the current month and forecasts at the run rate', async () => {
    const r = await run({});
    // Default period: this month = April 2026.
    expect(r.metric).toBe('plan_progress');
    expect(r.period).toEqual({ from: '2026-04-01', to: '2026-04-30' });
    // Company rows of April exist: the overall 1 200 000 (the PS row 100 000 is a pipeline plan
    // of the same holder and is not added to the overall one).
    expect(r.figures.plan).toBe(1_200_000);
    // All won deals closed in April, with or without a manager: 500 000.
    expect(r.figures.fact).toBe(500_000);
    expect(r.figures.completion).toBeCloseTo(500_000 / 1_200_000, 10);
    // 500 000 / 8 elapsed working days × 22 = 1 375 000; / 1 200 000 = 1.1458…
    expect(r.figures.forecast).toBeCloseTo(1_375_000, 6);
    expect(r.figures.forecast_completion).toBeCloseTo(1_375_000 / 1_200_000, 10);
    expect(r.notes?.some((n) => n.includes('План компании'))).toBe(true);
  });

  it('falls back to the sum of manager rows when the metric has no company row, never mixing amount and count', async () => {
    const r = await run({ metric: 'count' });
    // April count plans: no company row (the company rows of April are amount rows) → M1 3 + M3 2 = 5,
    // not 1 200 005 or anything with amounts.
    expect(r.figures.plan).toBe(5);
    // Facts of those rows: won deals of M1 in April (DA0, DA1) = 2, of M3 (DA2, DA3) = 2 → 4.
    expect(r.figures.fact).toBe(4);
    expect(r.figures.completion).toBeCloseTo(0.8, 10);
    // 4 / 8 × 22 = 11; 11 / 5 = 2.2.
    expect(r.figures.forecast).toBeCloseTo(11, 10);
    expect(r.figures.forecast_completion).toBeCloseTo(2.2, 10);
    expect(r.notes?.some((n) => n.includes('сумма планов менеджеров'))).toBe(true);
  });

  it('reads a finished month: forecast equals fact; count and amount plans stay apart', async () => {
    const amount = await run({ period: { name: 'month:2026-03' } });
    // Company row 1 000 000 (the M1/M3 rows are not added); fact 700 000 incl. the deal without a
    // manager and DM5 closed at 23:30 on 31 March.
    expect(amount.figures).toMatchObject({ plan: 1_000_000, fact: 700_000, forecast: 700_000 });
    expect(amount.figures.completion).toBeCloseTo(0.7, 10);
    expect(amount.figures.forecast_completion).toBeCloseTo(0.7, 10);

    const count = await run({ period: { name: 'month:2026-03' }, metric: 'count' });
    // Company count row 10; won deals in March: DM1, DM2, DM3, DM5 = 4; finished → forecast 4.
    expect(count.figures).toMatchObject({ plan: 10, fact: 4, forecast: 4 });
    expect(count.figures.completion).toBeCloseTo(0.4, 10);
  });

  it('counts every month that the period touches as a whole month', async () => {
    const r = await run({ period: { from: '2026-03-10', to: '2026-03-15' } });
    // 10–15 March touches March: the whole of March is used, and the envelope says so.
    expect(r.period).toEqual({ from: '2026-03-01', to: '2026-03-31' });
    expect(r.figures).toMatchObject({ plan: 1_000_000, fact: 700_000, forecast: 700_000 });
    expect(r.notes?.some((n) => n.startsWith('Месяцы считаются целиком'))).toBe(true);
  });

  it('sums the months of a quarter', async () => {
    const r = await run({ period: { name: 'quarter:2026-1' } });
    // Plan 500 000 + 600 000 + 1 000 000 = 2 100 000; fact 200 000 + 700 000 + 700 000 = 1 600 000.
    // All three months are finished, so the forecast is the fact.
    expect(r.period).toEqual({ from: '2026-01-01', to: '2026-03-31' });
    expect(r.figures).toMatchObject({ plan: 2_100_000, fact: 1_600_000, forecast: 1_600_000 });
    expect(r.figures.completion).toBeCloseTo(1_600_000 / 2_100_000, 10);

    const byMonth = await run({ period: { name: 'quarter:2026-1' }, group_by: 'month' });
    expect(byMonth.groups?.map((g) => [g.label, g.figures.plan, g.figures.fact])).toEqual([
      ['2026-01', 500_000, 200_000],
      ['2026-02', 600_000, 700_000],
      ['2026-03', 1_000_000, 700_000],
    ]);
  });

  it('projects a month not begun yet at the pace of the elapsed part and leaves unplanned months out', async () => {
    const r = await run({ period: { name: 'this_quarter' } });
    // Q2: April company row 1 200 000, May company row 1 300 000, June has no plan rows at all.
    expect(r.period).toEqual({ from: '2026-04-01', to: '2026-06-30' });
    expect(r.figures.plan).toBe(2_500_000);
    // Fact: April 500 000, May 0 (June is out: no plan).
    expect(r.figures.fact).toBe(500_000);
    // April: 500 000 / 8 × 22 = 1 375 000. May: pace so far 500 000 / 8 = 62 500 a working day
    // × 21 = 1 312 500. Sum 2 687 500; / 2 500 000 = 1.075.
    expect(r.figures.forecast).toBeCloseTo(2_687_500, 6);
    expect(r.figures.forecast_completion).toBeCloseTo(1.075, 10);
    expect(r.notes?.some((n) => n.includes('2026-06'))).toBe(true);
  });

  it('counts only the pipeline of a pipeline plan', async () => {
    const r = await run({ filters: { pipelines: ['Сервис'] } });
    // Company row for pipeline PS in April: 100 000; fact only PS deals: DA2 40 000.
    expect(r.figures.plan).toBe(100_000);
    expect(r.figures.fact).toBe(40_000);
    expect(r.figures.completion).toBeCloseTo(0.4, 10);
    // 40 000 / 8 × 22 = 110 000.
    expect(r.figures.forecast).toBeCloseTo(110_000, 6);
    expect(r.filters).toEqual({ pipelines: ['Сервис'] });

    const m3 = await run({ filters: { pipelines: ['PS'], managers: ['Игорь Петров'] } });
    // M3's PS row 50 000 (not his overall 400 000); fact: his PS deals = DA2 40 000.
    expect(m3.figures).toMatchObject({ plan: 50_000, fact: 40_000 });
  });

  it('groups by manager, managers with a plan row only, worst completion first', async () => {
    const r = await run({ group_by: 'manager' });
    // April manager rows: M1 500 000 (fact 250 000 → 0.5), M2 200 000 (60 000 → 0.3),
    // M3 400 000 — overall row preferred over his PS row — (160 000 from all pipelines → 0.4).
    // M4 has no manager row → not listed. Forecasts: fact / 8 × 22.
    expect(r.groups?.map((g) => g.label)).toEqual(['Марина Соколова', 'Игорь Петров', 'Алексей Чуркин']);
    const [m2, m3, m1] = r.groups ?? [];
    expect(m2?.figures).toMatchObject({ plan: 200_000, fact: 60_000 });
    expect(m2?.figures.completion).toBeCloseTo(0.3, 10);
    expect(m2?.figures.forecast_completion).toBeCloseTo(165_000 / 200_000, 10);
    expect(m3?.figures).toMatchObject({ plan: 400_000, fact: 160_000 });
    expect(m3?.figures.forecast_completion).toBeCloseTo(440_000 / 400_000, 10);
    expect(m1?.key).toBe('M1');
    expect(m1?.figures).toMatchObject({ plan: 500_000, fact: 250_000, completion: 0.5 });
    expect(m1?.figures.forecast).toBeCloseTo(687_500, 6);
    // The headline still reads the company row.
    expect(r.figures.plan).toBe(1_200_000);
  });

  it('uses a department row for a department filter, else the sum of its managers', async () => {
    const regions = await run({ filters: { departments: ['отдел продаж регионы'] } });
    // D2 has its own April row 800 000; fact = deals of M3 and M4: 160 000 + 30 000 = 190 000.
    expect(regions.figures).toMatchObject({ plan: 800_000, fact: 190_000 });
    expect(regions.filters).toEqual({ departments: ['Отдел продаж Регионы'] });

    const moscow = await run({ filters: { departments: ['D1'] } });
    // D1 has no row: M1 500 000 + M2 200 000 = 700 000; fact 250 000 + 60 000 = 310 000.
    expect(moscow.figures).toMatchObject({ plan: 700_000, fact: 310_000 });
  });

  it('gives a manager, a head and an admin their own view of the same question', async () => {
    const admin = await run({});
    expect(admin.figures).toMatchObject({ plan: 1_200_000, fact: 500_000 });

    // Manager M1 sees only their own plan: 500 000, fact 250 000, forecast 250 000 / 8 × 22 = 687 500.
    const own = await run({}, M1);
    expect(own.figures).toMatchObject({ plan: 500_000, fact: 250_000, completion: 0.5 });
    expect(own.figures.forecast).toBeCloseTo(687_500, 6);
    const ownGroups = await run({ group_by: 'manager' }, M1);
    expect(ownGroups.groups?.map((g) => g.key)).toEqual(['M1']);

    // Head of D1 (no department row): their managers' rows M1 500 000 + M2 200 000; fact 310 000.
    const moscow = await run({}, HEAD_MOSCOW);
    expect(moscow.figures).toMatchObject({ plan: 700_000, fact: 310_000 });
    expect(moscow.figures.completion).toBeCloseTo(310_000 / 700_000, 10);

    // Head of D2: their department's row 800 000; fact M3 + M4 = 190 000.
    const regions = await run({}, HEAD_REGIONS);
    expect(regions.figures).toMatchObject({ plan: 800_000, fact: 190_000 });
    expect(regions.figures.completion).toBeCloseTo(0.2375, 10);
  });

  it('refuses plans outside the caller scope', async () => {
    await expect(run({ filters: { managers: ['Игорь Петров'] } }, M1)).rejects.toBeInstanceOf(AppError);
    await expect(
      run({ filters: { departments: ['Отдел продаж Регионы'] } }, HEAD_MOSCOW),
    ).rejects.toMatchObject({
      code: 'out_of_scope',
    });
  });

  it('shows the fact without a plan when no plan row matches', async () => {
    const r = await run({ filters: { pipelines: ['Продажи'] } });
    // No April row carries pipeline PD; fact of PD deals in April: 100 + 150 + 120 + 60 + 30 = 460 000.
    expect(r.figures).toMatchObject({
      plan: null,
      fact: 460_000,
      completion: null,
      forecast_completion: null,
    });
  });

  it('is registered as a tool', () => {
    expect(planTools.map((t) => t.name)).toEqual(['plan_progress']);
    expect(planTools[0]?.defaultPeriod).toBe('this_month');
    expect(planTools[0]?.options).toContain('metric');
  });
});
