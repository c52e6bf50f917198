import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importDirectory } from '../../src/ingest/import.ts';
import { silentLogger } from '../../src/logger.ts';
import { callTools } from '../../src/metrics/calls.ts';
import { dealTools } from '../../src/metrics/deals.ts';
import type { Caller, Envelope, ToolInput } from '../../src/metrics/types.ts';
import { createTestDb, drivers, type TestDb } from '../helpers/db.ts';
import { DEMO_NOW, loadDemo } from '../helpers/demo.ts';

/*
 * Callback delays, first responses and sales cycles are exact percentiles
 * read through the delay histograms (delay_months, deal_cycle_months) and one
 * bucket of values. Checked two ways:
 * by hand on test/fixtures/metrics-calls as writes move the median, and
 * against plain percentile_cont over the raw tables on the demo company.
 */

const TZ = 'Europe/Moscow';
const ADMIN: Caller = { role: 'admin', managerId: null };

function tool(name: string) {
  const t = [...callTools, ...dealTools].find((x) => x.name === name);
  if (!t) throw new Error(`no tool ${name}`);
  return t;
}

describe.each(drivers)('exact delay percentiles follow writes (%s)', (driver) => {
  const fixtureDir = fileURLToPath(new URL('../fixtures/metrics-calls', import.meta.url));
  // Fri 2026-04-10 12:00 MSK, as in test/metrics/calls.test.ts (the fixture's table of calls is there).
  const NOW = new Date('2026-04-10T12:00:00+03:00');
  const MARCH = { from: '2026-03-01', to: '2026-03-31' };
  let db: TestDb;
  const run = (name: string, input: ToolInput): Promise<Envelope> =>
    tool(name).run({ db, caller: ADMIN, tz: TZ, now: NOW }, input);
  const groupFigures = (env: Envelope, key: string) => env.groups?.find((g) => g.key === key)?.figures;

  beforeAll(async () => {
    db = await createTestDb(driver);
    const report = await importDirectory(db, { dir: fixtureDir, logger: silentLogger });
    expect(report.rejected).toBe(0);
  });

  afterAll(async () => {
    await db?.dispose();
  });

  it('moves the callback median and p90 when a new callback arrives', async () => {
    // March called-back misses: C03 → C04 600 s, C13 → C14 39600 s (11 h), C09 → C10 86400 s (exactly 24 h).
    // Median 39600; p90 at rank 0.9·2 = 1.8: 39600 + 0.8·(86400 − 39600) = 77040.
    const before = await run('missed_calls', { period: MARCH, group_by: 'manager' });
    expect(before.figures).toMatchObject({ callback_delay_median: 39600, callback_delay_p90: 77040 });
    // Feb 15 – Apr 10 adds C20 (9 Apr 20:00), whose callback C21 at 13:00 is still ahead of now: not counted.
    const span = await run('missed_calls', { period: { from: '2026-02-15', to: '2026-04-10' } });
    expect(span.figures).toMatchObject({ callback_delay_median: 39600, callback_delay_p90: 77040 });

    // C24: Алексей calls P06 back at 14:05 on 10 March, 5 min after the missed C11.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'voronka-delay-callback-'));
    fs.writeFileSync(
      path.join(dir, 'calls.jsonl'),
      `${JSON.stringify({
        id: 'C24',
        direction: 'out',
        started_at: '2026-03-10T14:05:00+03:00',
        duration_sec: 40,
        status: 'answered',
        manager_id: 'M1',
        client_phone: '79250000006',
      })}\n`,
    );
    expect((await importDirectory(db, { dir, logger: silentLogger })).rejected).toBe(0);

    // Delays 300, 600, 39600, 86400: median (600 + 39600) / 2 = 20100; p90 at 2.7: 39600 + 0.7·46800 = 72360.
    const after = await run('missed_calls', { period: MARCH, group_by: 'manager' });
    expect(after.figures).toMatchObject({
      called_back: 4,
      callback_delay_median: 20100,
      callback_delay_p90: 72360,
    });
    // M1: C11 300 s alone; M2: C03 600 and C13 39600 → median 20100, p90 600 + 0.9·39000 = 35700; none: C09.
    expect(groupFigures(after, 'M1')).toMatchObject({ callback_delay_median: 300, callback_delay_p90: 300 });
    expect(groupFigures(after, 'M2')).toMatchObject({
      callback_delay_median: 20100,
      callback_delay_p90: 35700,
    });
    expect(groupFigures(after, 'none')).toMatchObject({ callback_delay_median: 86400 });
    const spanAfter = await run('missed_calls', { period: { from: '2026-02-15', to: '2026-04-10' } });
    expect(spanAfter.figures).toMatchObject({ callback_delay_median: 20100, callback_delay_p90: 72360 });
    // By department: D2 (M1, M2) holds 300, 600, 39600 → median 600; C09 has no manager, so no department.
    const byDept = await run('missed_calls', { period: MARCH, group_by: 'department' });
    expect(groupFigures(byDept, 'D2')).toMatchObject({ callback_delay_median: 600 });
    expect(groupFigures(byDept, 'none')).toMatchObject({ callback_delay_median: 86400 });

    // Months later, after a gap with no calls: C25 missed on 3 August 10:00, C26 calls back at 10:30 (1800 s).
    const later = fs.mkdtempSync(path.join(os.tmpdir(), 'voronka-delay-later-'));
    const call = (id: string, direction: string, at: string, status: string) =>
      JSON.stringify({
        id,
        direction,
        started_at: at,
        duration_sec: status === 'answered' ? 60 : 0,
        status,
        manager_id: 'M3',
        client_phone: '79250000013',
      });
    fs.writeFileSync(
      path.join(later, 'calls.jsonl'),
      `${call('C25', 'in', '2026-08-03T10:00:00+03:00', 'missed')}\n${call('C26', 'out', '2026-08-03T10:30:00+03:00', 'answered')}\n`,
    );
    expect((await importDirectory(db, { dir: later, logger: silentLogger })).rejected).toBe(0);
    // Asked on 1 September about March – August: 300, 600, 1800 (C25), 39600, 61200 (C20 → C21, 17 h), 86400.
    // Median (1800 + 39600) / 2 = 20700; p90 at 0.9·5 = 4.5: 61200 + 0.5·25200 = 73800.
    const autumn = await tool('missed_calls').run(
      { db, caller: ADMIN, tz: TZ, now: new Date('2026-09-01T12:00:00+03:00') },
      { period: { from: '2026-03-01', to: '2026-08-31' } },
    );
    expect(autumn.figures).toMatchObject({
      called_back: 6,
      callback_delay_median: 20700,
      callback_delay_p90: 73800,
    });
    expect((await run('missed_calls', { period: MARCH })).figures.callback_delay_median).toBe(20100);
  });

  it('moves the first-response median when a new lead gets a response', async () => {
    // March leads: L1 1800 s, L2 3600 s, L3 1200 s (L4 never answered): median 1800.
    expect((await run('calls_stats', { period: MARCH })).figures.first_response_median).toBe(1800);

    // L9: created 20 March 10:00 for Ольга, a comment on it at 10:05 — a 300 s response.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'voronka-delay-response-'));
    fs.writeFileSync(
      path.join(dir, 'leads.jsonl'),
      `${JSON.stringify({
        id: 'L9',
        title: 'Лоджия',
        pipeline_id: 'PL',
        stage_id: 'LS_NEW',
        source_id: 'S1',
        manager_id: 'M2',
        created_at: '2026-03-20T10:00:00+03:00',
      })}\n`,
    );
    fs.writeFileSync(
      path.join(dir, 'activities.jsonl'),
      `${JSON.stringify({
        id: 'A9',
        type: 'comment',
        entity: 'lead',
        entity_id: 'L9',
        manager_id: 'M2',
        created_at: '2026-03-20T10:05:00+03:00',
      })}\n`,
    );
    expect((await importDirectory(db, { dir, logger: silentLogger })).rejected).toBe(0);

    // 300, 1200, 1800, 3600: median (1200 + 1800) / 2 = 1500.
    expect((await run('calls_stats', { period: MARCH })).figures.first_response_median).toBe(1500);
    // Ольга's own: L2 3600 and L9 300 → 1950.
    const olga: Caller = { role: 'manager', managerId: 'M2' };
    const own = await tool('calls_stats').run({ db, caller: olga, tz: TZ, now: NOW }, { period: MARCH });
    expect(own.figures.first_response_median).toBe(1950);
    // Asked at 20 March 10:02, L9's response is still ahead: the March-so-far leads L1, L2, L3 give 1800.
    const early = await tool('calls_stats').run(
      { db, caller: ADMIN, tz: TZ, now: new Date('2026-03-20T10:02:00+03:00') },
      { period: MARCH },
    );
    expect(early.figures.first_response_median).toBe(1800);
  });

  it('keeps after those writes exactly the histograms a rebuild from scratch gives', async () => {
    const snapshot = () =>
      db.query<Record<string, unknown>>(
        `SELECT kind, to_char(month, 'YYYY-MM-DD') AS month, manager_id, bucket, before::int8 AS before
           FROM delay_months ORDER BY 1, 2, 3, 4`,
      );
    const incremental = await snapshot();
    expect(incremental.length).toBeGreaterThan(0);
    await db.query(
      `INSERT INTO rollup_dirty (family, key) VALUES ('delays', 'callback'), ('delays', 'response')`,
    );
    await run('missed_calls', { period: MARCH });
    expect(await snapshot()).toEqual(incremental);
  });
});

/** Months of the demo year, a whole year, a span across months with odd ends, and the last 7 days. */
const PERIODS: Array<{ from: string; to: string }> = [
  ...Array.from({ length: 11 }, (_, i) => {
    const m = String(i + 1).padStart(2, '0');
    const last = new Date(Date.UTC(2026, i + 1, 0)).getUTCDate();
    return { from: `2026-${m}-01`, to: `2026-${m}-${last}` };
  }),
  { from: '2026-01-01', to: '2026-12-31' },
  { from: '2026-02-17', to: '2026-06-09' },
  { from: '2026-11-17', to: '2026-11-23' },
];

/**
 * Callback delays per manager ('' = none) from the calls alone (METRICS.md: the first outgoing call to the
 * number within (start, start + 24 h], not after now), with percentile_cont; $4 = managers in scope or null.
 */
const CALLBACK_SQL = `WITH missed AS (
    SELECT c.id, coalesce(c.manager_id, '') AS manager_id, c.started_at,
           (SELECT min(o.started_at) FROM calls o WHERE o.client_phone = c.client_phone AND o.direction = 'out'
              AND o.started_at > c.started_at
              AND o.started_at <= LEAST(c.started_at + interval '24 hours', $3::timestamptz)) AS callback
      FROM calls c
     WHERE c.direction = 'in' AND c.status <> 'answered'
       AND c.started_at >= ($1::date::timestamp AT TIME ZONE '${TZ}')
       AND c.started_at < (($2::date + 1)::timestamp AT TIME ZONE '${TZ}')
       AND ($4::text[] IS NULL OR c.manager_id = ANY($4::text[]))
  )
  SELECT manager_id, GROUPING(manager_id) AS is_total,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM callback - started_at)) AS median,
         percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM callback - started_at)) AS p90
    FROM missed WHERE callback IS NOT NULL GROUP BY GROUPING SETS ((manager_id), ())`;

/**
 * First responses of the leads created in [$1, $2] from the raw tables (METRICS.md: the first outgoing call
 * linked to the lead or to a phone of its contact, or linked activity, at or after creation and not after now).
 */
const RESPONSE_SQL = `WITH r AS (
    SELECT l.id, l.created_at, LEAST(
             (SELECT min(c.started_at) FROM calls c WHERE c.entity = 'lead' AND c.entity_id = l.id
                AND c.direction = 'out' AND c.started_at >= l.created_at AND c.started_at <= $3::timestamptz),
             (SELECT min(c.started_at) FROM contact_phones cp JOIN calls c ON c.client_phone = cp.phone
               WHERE cp.contact_id = l.contact_id AND c.direction = 'out'
                 AND c.started_at >= l.created_at AND c.started_at <= $3::timestamptz),
             (SELECT min(a.created_at) FROM activities a WHERE a.entity = 'lead' AND a.entity_id = l.id
                AND a.created_at >= l.created_at AND a.created_at <= $3::timestamptz)) AS first
      FROM leads l
     WHERE l.created_at >= ($1::date::timestamp AT TIME ZONE '${TZ}')
       AND l.created_at < (($2::date + 1)::timestamp AT TIME ZONE '${TZ}')
       AND ($4::text[] IS NULL OR l.manager_id = ANY($4::text[]))
  )
  SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM first - created_at)) AS median
    FROM r WHERE first IS NOT NULL`;

/**
 * Median cycle in days of the deals won in [$1, $2] (a won stage now, closed in the period), by manager ('' =
 * none) and department ('' = none), from the deals table; $3 = managers in scope or null.
 */
const CYCLE_SQL = `WITH won AS (
    SELECT coalesce(d.manager_id, '') AS manager_id, coalesce(m.department_id, '') AS department_id,
           extract(epoch FROM d.closed_at - d.created_at)::float8 / 86400 AS cycle
      FROM deals d JOIN stages s ON s.id = d.stage_id AND s.semantic = 'won'
      LEFT JOIN managers m ON m.id = d.manager_id
     WHERE d.closed_at >= ($1::date::timestamp AT TIME ZONE '${TZ}')
       AND d.closed_at < (($2::date + 1)::timestamp AT TIME ZONE '${TZ}')
       AND ($3::text[] IS NULL OR d.manager_id = ANY($3::text[]))
  )
  SELECT manager_id, department_id, GROUPING(manager_id, department_id) AS grouping,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY cycle) AS median
    FROM won GROUP BY GROUPING SETS ((manager_id), (department_id), ())`;

/** Median cycle of the won deals of [$1, $2] per time group (`key`: the group key over local time `t`). */
const cycleByTimeSql = (
  key: (t: string) => string,
) => `SELECT ${key(`(d.closed_at AT TIME ZONE '${TZ}')`)} AS gkey,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM d.closed_at - d.created_at)::float8 / 86400) AS median
    FROM deals d JOIN stages s ON s.id = d.stage_id AND s.semantic = 'won'
   WHERE d.closed_at >= ($1::date::timestamp AT TIME ZONE '${TZ}')
     AND d.closed_at < (($2::date + 1)::timestamp AT TIME ZONE '${TZ}')
     AND ($3::text[] IS NULL OR d.manager_id = ANY($3::text[]))
   GROUP BY 1`;

const CYCLE_TIME_KEYS = {
  day: (t: string) => `to_char(${t}, 'YYYY-MM-DD')`,
  week: (t: string) => `to_char(date_trunc('week', ${t}), 'YYYY-MM-DD')`,
  month: (t: string) => `to_char(${t}, 'YYYY-MM')`,
  quarter: (t: string) => `to_char(${t}, 'YYYY-"Q"Q')`,
} as const;

describe.each(drivers)(
  'exact delay percentiles equal percentile_cont over the demo company (%s)',
  (driver) => {
    let db: TestDb;
    let head: Caller;
    /** The head's managers: their department and every department below it. */
    let headScope: string[];

    beforeAll(async () => {
      db = await createTestDb(driver);
      await loadDemo(db);
      const [row] = await db.query<{ id: string; department_id: string }>(
        `SELECT m.id, m.department_id FROM managers m JOIN departments d ON d.id = m.department_id
        WHERE m.role = 'head' ORDER BY (d.parent_id IS NULL), m.id LIMIT 1`,
      );
      if (!row) throw new Error('the demo has no head');
      head = { role: 'head', managerId: row.id };
      const scope = await db.query<{ id: string }>(
        `WITH RECURSIVE d AS (SELECT id FROM departments WHERE id = $1
                            UNION SELECT x.id FROM departments x JOIN d ON x.parent_id = d.id)
       SELECT m.id FROM managers m JOIN d ON d.id = m.department_id ORDER BY m.id`,
        [row.department_id],
      );
      headScope = scope.map((r) => r.id);
    }, 180_000);

    afterAll(async () => {
      await db?.dispose();
    });

    const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));

    it.each(PERIODS)('$from – $to', async (period) => {
      for (const [caller, scope] of [
        [ADMIN, null],
        [head, headScope],
      ] as const) {
        const ctx = { db, caller, tz: TZ, now: DEMO_NOW };
        const want = await db.query<{
          manager_id: string | null;
          is_total: number;
          median: unknown;
          p90: unknown;
        }>(CALLBACK_SQL, [period.from, period.to, DEMO_NOW.toISOString(), scope]);
        const total = want.find((r) => Number(r.is_total) === 1);
        const byManager = await tool('missed_calls').run(ctx, { period, group_by: 'manager' });
        expect(byManager.figures.callback_delay_median).toBe(num(total?.median));
        expect(byManager.figures.callback_delay_p90).toBe(num(total?.p90));
        const groups = want.filter((r) => Number(r.is_total) !== 1);
        if (caller === ADMIN && period.to.endsWith('-31')) expect(groups.length).toBeGreaterThan(1);
        for (const r of groups) {
          const key = r.manager_id === '' ? 'none' : r.manager_id;
          const got = byManager.groups?.find((g) => g.key === key)?.figures;
          expect({ key, median: got?.callback_delay_median, p90: got?.callback_delay_p90 }).toEqual({
            key,
            median: num(r.median),
            p90: num(r.p90),
          });
        }
        const plain = await tool('missed_calls').run(ctx, { period });
        expect(plain.figures.callback_delay_median).toBe(num(total?.median));

        const [resp] = await db.query<{ median: unknown }>(RESPONSE_SQL, [
          period.from,
          period.to,
          DEMO_NOW.toISOString(),
          scope,
        ]);
        const stats = await tool('calls_stats').run(ctx, { period });
        expect(stats.figures.first_response_median).toBe(num(resp?.median));

        // GROUPING: 1 = by manager, 2 = by department, 3 = everything.
        const cycles = await db.query<{
          manager_id: string;
          department_id: string;
          grouping: number;
          median: unknown;
        }>(CYCLE_SQL, [period.from, period.to, scope]);
        const cycleTotal = cycles.find((r) => Number(r.grouping) === 3);
        expect(cycleTotal?.median).not.toBeNull();
        const deals = await tool('deal_stats').run(ctx, { period });
        expect(deals.figures.cycle_days_median).toBe(num(cycleTotal?.median));
        for (const [groupBy, grouping, keyOf] of [
          ['manager', 1, (r: { manager_id: string }) => r.manager_id],
          ['department', 2, (r: { department_id: string }) => r.department_id],
        ] as const) {
          const env = await tool('deal_stats').run(ctx, { period, group_by: groupBy });
          expect(env.figures.cycle_days_median).toBe(num(cycleTotal?.median));
          const want = cycles.filter((r) => Number(r.grouping) === grouping);
          expect(want.length).toBeGreaterThan(0);
          for (const r of want) {
            const key = keyOf(r) === '' ? 'none' : keyOf(r);
            const got = env.groups?.find((g) => g.key === key)?.figures.cycle_days_median;
            expect({ groupBy, key, median: got }).toEqual({ groupBy, key, median: num(r.median) });
          }
        }
        // Time groups: each the median of its own part of the period (a year by week sorts the year instead).
        for (const unit of ['day', 'week', 'month', 'quarter'] as const) {
          const env = await tool('deal_stats').run(ctx, { period, group_by: unit });
          const want = await db.query<{ gkey: string; median: unknown }>(
            cycleByTimeSql(CYCLE_TIME_KEYS[unit]),
            [period.from, period.to, scope],
          );
          expect(want.length).toBeGreaterThan(0);
          for (const r of want) {
            const got = env.groups?.find((g) => g.key === r.gkey)?.figures.cycle_days_median;
            expect({ unit, key: r.gkey, median: got }).toEqual({ unit, key: r.gkey, median: num(r.median) });
          }
        }
      }
    });
  },
);
