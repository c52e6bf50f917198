import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importDirectory } from '../../src/ingest/import.ts';
import { silentLogger } from '../../src/logger.ts';
import type { MetricContext, ScoreWeights } from '../../src/metrics/common.ts';
import { managerEfficiency, managerTools } from '../../src/metrics/managers.ts';
import { ADMIN, type Caller, type ToolInput } from '../../src/metrics/types.ts';
import { createTestDb, drivers, type TestDb } from '../helpers/db.ts';

/*
 * Fixture test/fixtures/metrics-team, asked on Friday 2026-04-10 12:00 Moscow; default period
 * April 2026. Working days elapsed in April by today (today counts): 1–3 and 6–10 = 8.
 *
 * Activities completed in April (weights meeting 5, email 3, case 2, anything else 1):
 *   M1: A1 meeting 5, A2 email 3, A3 case 2, A4 comment 1 = 11; A5 meeting never completed = 0
 *   M3: A6 meeting created in March, completed 01.04 = 5; A7 task completed 31.03 23:00 MSK → March
 *   M2: A8 other 1
 *   no manager: A9 email 3
 * Calls in April (4 points when the manager made it — outgoing, any status — or answered it):
 *   M1: C1 out answered 120 s, C2 out no_answer, C3 out failed, C4 in answered 60 s → 4 calls score 16;
 *       C5 in missed → 0. Calls 5, connected 1 (C1), talk 180 s.
 *   M3: C6 out answered 300 s → 4; C7 in busy → 0. Calls 2, connected 1, talk 300.
 *   M2: C8 in answered 30 s → 4. Calls 1, connected 0, talk 30.
 *   M4: C12 out answered 90 s → 4. Calls 1, connected 1, talk 90.
 *   no manager: C9 in missed → 0, C10 in answered 45 s → 4. Calls 2, talk 45.
 *   C11 (M1, out answered at 31.03 23:59 MSK) is March.
 * Scores April: M1 11 + 16 = 27; M2 1 + 4 = 5; M3 5 + 4 = 9; M4 4; no manager 3 + 4 = 7.
 * Company 27 + 5 + 9 + 4 + 7 = 52.
 * Leads created in April: M1 L1, L2 = 2; M3 L3 = 1; no manager L4 = 1 (L5 is 30 March).
 * Deals created in April: M1 DA6, DO1 = 2; M3 DA2, DA3 = 2; M4 DA5 = 1.
 * Deals closed in April: M1 won DA0, DA1, lost DA6 → win rate 2/3; M2 won DA4 → 1; M3 won DA2, DA3 → 1;
 * M4 won DA5 → 1. M5 is inactive and has no records → not listed.
 */
const fixture = path.resolve('test/fixtures/metrics-team');
const NOW = new Date('2026-04-10T12:00:00+03:00');
const M1: Caller = { role: 'manager', managerId: 'M1' };
const HEAD_MOSCOW: Caller = { role: 'head', managerId: 'M2' };

describe.each(drivers)('manager_efficiency (%s)', (driver) => {
  let db: TestDb;
  beforeAll(async () => {
    db = await createTestDb(driver);
    const report = await importDirectory(db, {
      dir: fixture,
      logger: silentLogger,
      rejectsFile: path.join(os.tmpdir(), `voronka-managers-rejects-${process.pid}.jsonl`),
    });
    expect(report.rejected).toBe(0);
  });
  afterAll(async () => {
    await db?.dispose();
  });

  const run = (input: ToolInput, caller: Caller = ADMIN, extra: Partial<MetricContext> = {}) =>
    managerEfficiency({ db, caller, tz: 'Europe/Moscow', now: NOW, ...extra }, input);

  it('scores every manager and sorts by score', async () => {
    const r = await run({});
    expect(r.period).toEqual({ from: '2026-04-01', to: '2026-04-30' });
    expect(r.groups?.map((g) => [g.key, g.label, g.figures.score])).toEqual([
      ['M1', 'Алексей Чуркин', 27],
      ['M3', 'Игорь Петров', 9],
      ['none', 'Без менеджера', 7],
      ['M2', 'Марина Соколова', 5],
      ['M4', 'Ольга Смирнова', 4],
    ]);
    // Admin without filters: the filtered set is the whole company.
    expect(r.figures).toMatchObject({ score: 52, company_score: 52, efficiency: 1 });
    // Calls 5 + 2 + 1 + 1 + 2 = 11; connected C1, C6, C12 = 3; talk 120+60+300+30+90+45 = 645.
    expect(r.figures).toMatchObject({ calls: 11, connected: 3, talk_time_total: 645, calls_norm: 60 });
    // Calls per working day per manager: (5 + 2 + 1 + 1) / 8 days / 4 managers = 0.28125.
    expect(r.figures.calls_per_day).toBeCloseTo(0.28125, 10);
    // Leads 2 + 1 + 1 = 4; deals 2 + 2 + 1 = 5; win rate 6 won / 7 closed.
    expect(r.figures).toMatchObject({ leads: 4, deals: 5 });
    expect(r.figures.win_rate).toBeCloseTo(6 / 7, 10);
  });

  it('gives the per-manager figures', async () => {
    const r = await run({});
    const m1 = r.groups?.find((g) => g.key === 'M1');
    // 5 calls / 8 working days = 0.625 against the norm 60.
    expect(m1?.figures).toMatchObject({
      score: 27,
      calls: 5,
      connected: 1,
      talk_time_total: 180,
      calls_per_day: 0.625,
      calls_norm: 60,
      leads: 2,
      deals: 2,
    });
    expect(m1?.figures.efficiency).toBeCloseTo(27 / 52, 10);
    expect(m1?.figures.win_rate).toBeCloseTo(2 / 3, 10);
    const m2 = r.groups?.find((g) => g.key === 'M2');
    // M2 created no leads or deals in April but won DA4 (created in March): win rate 1/1.
    expect(m2?.figures).toMatchObject({ score: 5, calls: 1, connected: 0, leads: 0, deals: 0, win_rate: 1 });
    expect(r.groups?.some((g) => g.key === 'M5')).toBe(false);
  });

  it('keeps the company total as the denominator under a manager filter', async () => {
    const r = await run({ filters: { managers: ['алексей чуркин'] } });
    expect(r.groups?.map((g) => g.key)).toEqual(['M1']);
    // Score 27 of the company's 52, although only M1 is asked about.
    expect(r.figures).toMatchObject({ score: 27, company_score: 52 });
    expect(r.figures.efficiency).toBeCloseTo(27 / 52, 10);
    expect(r.figures.calls_per_day).toBeCloseTo(0.625, 10);
    expect(r.filters).toEqual({ managers: ['Алексей Чуркин'] });
  });

  it('gives a manager, a head and an admin their own view of the same question', async () => {
    const own = await run({}, M1);
    expect(own.groups?.map((g) => g.key)).toEqual(['M1']);
    expect(own.figures).toMatchObject({ score: 27, company_score: 52, calls: 5 });

    // Head of D1 sees M1 and M2 (M5 is inactive and silent): 27 + 5 = 32 of 52.
    const head = await run({}, HEAD_MOSCOW);
    expect(head.groups?.map((g) => [g.key, g.figures.score])).toEqual([
      ['M1', 27],
      ['M2', 5],
    ]);
    expect(head.figures).toMatchObject({ score: 32, company_score: 52, calls: 6 });
    expect(head.figures.efficiency).toBeCloseTo(32 / 52, 10);

    const admin = await run({});
    expect(admin.figures).toMatchObject({ score: 52, company_score: 52 });
  });

  it('groups by department', async () => {
    const r = await run({ group_by: 'department' });
    // D1 = M1 27 + M2 5 = 32 (calls 6 → 6 / 8 / 2 managers = 0.375); D2 = M3 9 + M4 4 = 13
    // (calls 3 → 3 / 8 / 2 = 0.1875); records without a manager 7.
    expect(r.groups?.map((g) => [g.label, g.figures.score])).toEqual([
      ['Отдел продаж Москва', 32],
      ['Отдел продаж Регионы', 13],
      ['Без менеджера', 7],
    ]);
    expect(r.groups?.[0]?.figures.calls_per_day).toBeCloseTo(0.375, 10);
    expect(r.groups?.[1]?.figures.calls_per_day).toBeCloseTo(0.1875, 10);
    expect(r.groups?.[1]?.figures.efficiency).toBeCloseTo(0.25, 10);
  });

  it('scores a past month by completion and call dates', async () => {
    const r = await run({ period: { name: 'month:2026-03' } });
    // March: C11 (M1, out, 31.03 23:59) 4 points; A7 (M3 task activity, completed 31.03 23:00) 1 point.
    expect(r.figures).toMatchObject({ score: 5, company_score: 5 });
    const m1 = r.groups?.find((g) => g.key === 'M1');
    // A finished month: all 22 working days of March have elapsed → 1 call / 22.
    expect(m1?.figures.score).toBe(4);
    expect(m1?.figures.calls_per_day).toBeCloseTo(1 / 22, 10);
    expect(r.groups?.find((g) => g.key === 'M3')?.figures.score).toBe(1);
  });

  it('takes weights and the calls norm from the context', async () => {
    const weights: ScoreWeights = { meeting: 5, call: 1, email: 3, case: 2, other: 1 };
    const r = await run({ filters: { managers: ['M1'] } }, ADMIN, { weights, callsPerDayNorm: 40 });
    // M1: activities 11 + 4 scoring calls × 1 = 15. Company: M1 15, M2 1 + 1 = 2, M3 5 + 1 = 6,
    // M4 1, no manager 3 + 1 = 4 → 28.
    expect(r.figures).toMatchObject({ score: 15, company_score: 28, calls_norm: 40 });
  });

  it('is registered as a tool', () => {
    expect(managerTools.map((t) => t.name)).toEqual(['manager_efficiency']);
    expect(managerTools[0]?.groupBy).toEqual(['manager', 'department']);
  });
});
