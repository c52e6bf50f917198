import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importDirectory } from '../../src/ingest/import.ts';
import { silentLogger } from '../../src/logger.ts';
import { taskDiscipline, taskTools } from '../../src/metrics/tasks.ts';
import { ADMIN, type Caller, type ToolInput } from '../../src/metrics/types.ts';
import { createTestDb, drivers, type TestDb } from '../helpers/db.ts';

/*
 * Fixture test/fixtures/metrics-team tasks, asked on Friday 2026-04-10 12:00 Moscow (all times MSK).
 *
 *   id   resp  start_plan   started      deadline      closed       April: started ok / finished ok
 *   T1   M1    02.04 10:00  02.04 09:00  03.04 18:00   03.04 17:00  yes / yes
 *   T2   M1    02.04 10:00  02.04 11:00  06.04 18:00   07.04 10:00  no (late) / no (late)
 *   T3   M1    —            05.04 10:00  08.04 18:00   —            yes (no plan: started before deadline) / no
 *   T4   M1    —            —            09.04 18:00   09.04 17:00  no (never started) / yes
 *   T5   M1    —            —            20.04 18:00   —            left out: due later, not closed
 *   T6   M1    08.04 12:00  08.04 11:00  25.04 18:00   09.04 12:00  due later but closed → in: yes / yes
 *   T7   M3 (task department D1)
 *              01.04 09:00  01.04 09:00  07.04 18:00   07.04 18:00  yes (equal) / yes (equal)
 *   T8   M3    —            —            20.03 18:00   —            March
 *   T9   M3    20.03 10:00  21.03 10:00  25.03 18:00   07.04 12:00  March
 *   T10  M2    —            —            02.04 18:00   —            no / no
 *   T11  M4    —            10.04 09:00  10.04 11:00   —            yes / no
 *   T12  M3    —            —            10.04 13:00   —            left out: due at 13:00, after now
 *   T13  M1    —            —            15.01 18:00   05.03 10:00  January
 *
 * April tasks: T1, T2, T3, T4, T6, T7, T10, T11 = 8; started on time T1, T3, T6, T7, T11 = 5 → 0.625;
 * finished on time T1, T4, T6, T7 = 4 → 0.5; coefficient 0.625 × 0.5 = 0.3125.
 * Overdue at R = now: deadline before now and not closed by now: T3, T8, T10, T11 = 4
 * (T2 and T9 were closed on 07.04, T13 on 05.03).
 */
const fixture = path.resolve('test/fixtures/metrics-team');
const NOW = new Date('2026-04-10T12:00:00+03:00');
const M1: Caller = { role: 'manager', managerId: 'M1' };
const HEAD_MOSCOW: Caller = { role: 'head', managerId: 'M2' };

describe.each(drivers)('task_discipline (%s)', (driver) => {
  let db: TestDb;
  beforeAll(async () => {
    db = await createTestDb(driver);
    const report = await importDirectory(db, {
      dir: fixture,
      logger: silentLogger,
      rejectsFile: path.join(os.tmpdir(), `voronka-tasks-rejects-${process.pid}.jsonl`),
    });
    expect(report.rejected).toBe(0);
  });
  afterAll(async () => {
    await db?.dispose();
  });

  const run = (input: ToolInput, caller: Caller = ADMIN) =>
    taskDiscipline({ db, caller, tz: 'Europe/Moscow', now: NOW }, input);

  it('counts the period tasks that are due or closed', async () => {
    const r = await run({});
    expect(r.period).toEqual({ from: '2026-04-01', to: '2026-04-30' });
    expect(r.figures).toEqual({
      tasks: 8,
      started_on_time: 0.625,
      finished_on_time: 0.5,
      execution_coefficient: 0.3125,
      norm: 0.64,
      overdue: 4,
    });
  });

  it('accumulates overdue tasks week by week up to now', async () => {
    const r = await run({});
    // Week 1 of April is 1–5 April (Mon 30.03 clipped to the period), counted at 06.04 00:00:
    // T10 (02.04), T8 (20.03) and T9 (25.03, closed only on 07.04) → 3.
    // Week 2 (6–12 April) is counted at now: T3, T8, T10, T11 → 4. Later weeks have not begun.
    expect(r.series?.overdue_by_week).toEqual([
      { key: '2026-04-01', label: '01.04–05.04', figures: { overdue: 3 } },
      { key: '2026-04-06', label: '06.04–12.04', figures: { overdue: 4 } },
    ]);
  });

  it('takes overdue at the end of a past period, whatever the creation date', async () => {
    const r = await run({ period: { name: 'month:2026-03' } });
    // March tasks: T8 (never started, not closed) and T9 (started 21.03 after the plan 20.03,
    // closed 07.04 after the deadline) → 2 tasks, 0 started on time, 0 finished on time.
    expect(r.figures).toMatchObject({
      tasks: 2,
      started_on_time: 0,
      finished_on_time: 0,
      execution_coefficient: 0,
    });
    // R = 01.04 00:00: T8 open, T9 not closed until 07.04 → 2; T13 (deadline January) closed 05.03 → no.
    expect(r.figures.overdue).toBe(2);
    // March 2026 starts on Sunday. Weeks counted at Mon 02.03 00:00: T13 (closed only on 05.03) → 1;
    // 09.03 and 16.03: 0; 23.03: T8 → 1; 30.03: T8, T9 → 2; 01.04 00:00: T8, T9 → 2.
    expect(r.series?.overdue_by_week?.map((w) => [w.label, w.figures.overdue])).toEqual([
      ['01.03–01.03', 1],
      ['02.03–08.03', 0],
      ['09.03–15.03', 0],
      ['16.03–22.03', 1],
      ['23.03–29.03', 2],
      ['30.03–31.03', 2],
    ]);
  });

  it('returns null shares for a period without tasks and still counts overdue ones', async () => {
    const r = await run({ period: { name: 'month:2026-02' } });
    // No deadline in February: shares and the coefficient are undefined, not 0.
    // R = 01.03 00:00: T13 (deadline 15.01, closed 05.03) was still open → 1.
    expect(r.figures).toEqual({
      tasks: 0,
      started_on_time: null,
      finished_on_time: null,
      execution_coefficient: null,
      norm: 0.64,
      overdue: 1,
    });
  });

  it('groups by responsible manager', async () => {
    const r = await run({ group_by: 'manager' });
    // M1: T1, T2, T3, T4, T6 → started T1, T3, T6 = 3/5, finished T1, T4, T6 = 3/5, 0.36; overdue T3.
    // M2: T10 → 0, 0, 0; overdue T10. M3: T7 → 1, 1, 1; overdue T8. M4: T11 → 1, 0, 0; overdue T11.
    // Sorted by coefficient, best first; M2 and M4 tie at 0 and go by name.
    expect(r.groups?.map((g) => [g.label, g.figures.tasks, g.figures.overdue])).toEqual([
      ['Игорь Петров', 1, 1],
      ['Алексей Чуркин', 5, 1],
      ['Марина Соколова', 1, 1],
      ['Ольга Смирнова', 1, 1],
    ]);
    const m1 = r.groups?.find((g) => g.key === 'M1');
    expect(m1?.figures.started_on_time).toBeCloseTo(0.6, 10);
    expect(m1?.figures.finished_on_time).toBeCloseTo(0.6, 10);
    expect(m1?.figures.execution_coefficient).toBeCloseTo(0.36, 10);
    expect(r.groups?.find((g) => g.key === 'M4')?.figures).toMatchObject({
      started_on_time: 1,
      finished_on_time: 0,
    });
  });

  it("groups by the task's department, else the responsible's", async () => {
    const r = await run({ group_by: 'department' });
    // D1: M1's five, M2's T10 and T7 (M3's task filed under D1) = 7; started T1, T3, T6, T7 = 4/7;
    // finished T1, T4, T6, T7 = 4/7; coefficient 16/49; overdue T3, T10 = 2.
    // D2: T11 = 1 (started on time, not finished); overdue T8 (M3, no task department → D2) and T11 = 2.
    expect(r.groups?.map((g) => [g.key, g.label, g.figures.tasks, g.figures.overdue])).toEqual([
      ['D1', 'Отдел продаж Москва', 7, 2],
      ['D2', 'Отдел продаж Регионы', 1, 2],
    ]);
    expect(r.groups?.[0]?.figures.execution_coefficient).toBeCloseTo(16 / 49, 10);
  });

  it('gives a manager, a head and an admin their own view of the same question', async () => {
    const own = await run({}, M1);
    // M1: 5 tasks, 3/5 and 3/5 → 0.36; overdue T3.
    expect(own.figures.tasks).toBe(5);
    expect(own.figures.execution_coefficient).toBeCloseTo(0.36, 10);
    expect(own.figures.overdue).toBe(1);

    // Head of D1: tasks of M1 and M2 (T7 is M3's, whatever its department): 6 tasks,
    // started T1, T3, T6 = 0.5, finished T1, T4, T6 = 0.5 → 0.25; overdue T3, T10 = 2.
    const head = await run({}, HEAD_MOSCOW);
    expect(head.figures).toEqual({
      tasks: 6,
      started_on_time: 0.5,
      finished_on_time: 0.5,
      execution_coefficient: 0.25,
      norm: 0.64,
      overdue: 2,
    });

    const admin = await run({});
    expect(admin.figures.tasks).toBe(8);
    expect(admin.figures.overdue).toBe(4);
  });

  it('lists the overdue tasks when a list is asked for', async () => {
    const r = await run({ limit: 2 });
    // Overdue at now, oldest deadline first: T8 (20.03 18:00 → 20 days 18 h ago), T10 (02.04 18:00 → 7 days 18 h).
    expect(r.items?.map((i) => [i.id, i.manager, i.days_overdue])).toEqual([
      ['T8', 'Игорь Петров', 20],
      ['T10', 'Марина Соколова', 7],
    ]);
    expect(r.figures.overdue).toBe(4);
    expect((await run({})).items).toBeUndefined();
  });

  it('is registered as a tool', () => {
    expect(taskTools.map((t) => t.name)).toEqual(['task_discipline']);
    expect(taskTools[0]?.defaultPeriod).toBe('this_month');
  });
});
