import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refreshRollups } from '../../../src/db/rollups/index.ts';
import { importDirectory } from '../../../src/ingest/import.ts';
import { silentLogger } from '../../../src/logger.ts';
import type { MetricContext } from '../../../src/metrics/common.ts';
import { dealTools } from '../../../src/metrics/deals.ts';
import { wonDealsByMonth } from '../../../src/metrics/plan.ts';
import type { Caller, Envelope, ToolInput } from '../../../src/metrics/types.ts';
import { createTestDb, drivers, type TestDb } from '../../helpers/db.ts';
import { DEMO_NOW, loadDemo } from '../../helpers/demo.ts';

/*
 * The deal rollups follow imports that change a stage, close a deal and
 * delete one: the April figures of deal_stats / stage_funnel after a second
 * import are worked out by hand from test/fixtures/metrics-sales (see
 * test/metrics/deals.test.ts for April before the change). On the small demo,
 * every month's figures equal plain SQL over the deals and stage_history tables.
 */

const fixtureDir = fileURLToPath(new URL('../../fixtures/metrics-sales', import.meta.url));
const TZ = 'Europe/Moscow';
const ADMIN: Caller = { role: 'admin', managerId: null };

const run = (db: TestDb, name: string, input: ToolInput, now: Date): Promise<Envelope> => {
  const tool = dealTools.find((t) => t.name === name);
  if (!tool) throw new Error(`no tool ${name}`);
  const ctx: MetricContext = { db, caller: ADMIN, tz: TZ, now };
  return tool.run(ctx, input);
};

function writeImport(files: Record<string, unknown[]>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'voronka-deal-rollups-'));
  for (const [name, rows] of Object.entries(files))
    fs.writeFileSync(path.join(dir, name), `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`);
  return dir;
}

/** Plain SQL over the base tables: deal_stats figures for [start, end) by manager ('' = all managers). */
async function directDealStats(
  db: TestDb,
  start: Date,
  end: Date,
  now: Date,
  only = '',
): Promise<Map<string, Record<string, number | null>>> {
  const ref = end < now ? end : now;
  const rows = await db.query(
    `WITH won AS (
       SELECT d.* FROM deals d JOIN stages s ON s.id = d.stage_id AND s.semantic = 'won'
        WHERE d.closed_at >= $1 AND d.closed_at < $2 ${only}
     ),
     lost AS (
       SELECT d.* FROM deals d JOIN stages s ON s.id = d.stage_id AND s.semantic = 'lost'
        WHERE d.closed_at >= $1 AND d.closed_at < $2 ${only}
     ),
     created AS (
       SELECT d.* FROM deals d JOIN stages s ON s.id = d.stage_id WHERE d.created_at >= $1 AND d.created_at < $2 ${only}
     ),
     open AS (SELECT d.* FROM deals d JOIN stages s ON s.id = d.stage_id AND s.semantic = 'open' WHERE true ${only}),
     managers AS (SELECT DISTINCT coalesce(manager_id, 'none') AS m FROM deals UNION ALL SELECT '')
     SELECT m.m,
            (SELECT count(*) FROM created x WHERE m.m IN ('', coalesce(x.manager_id, 'none'))) AS created,
            (SELECT count(*) FROM open x WHERE m.m IN ('', coalesce(x.manager_id, 'none'))) AS open,
            (SELECT count(*) FROM won x WHERE m.m IN ('', coalesce(x.manager_id, 'none'))) AS won,
            (SELECT coalesce(sum(amount), 0) FROM won x WHERE m.m IN ('', coalesce(x.manager_id, 'none'))) AS won_amount,
            (SELECT count(*) FROM lost x WHERE m.m IN ('', coalesce(x.manager_id, 'none'))) AS lost,
            (SELECT coalesce(sum(amount), 0) FROM lost x WHERE m.m IN ('', coalesce(x.manager_id, 'none'))) AS lost_amount,
            (SELECT avg(extract(epoch FROM closed_at - created_at)::float8 / 86400) FROM won x
              WHERE m.m IN ('', coalesce(x.manager_id, 'none'))) AS cycle_days,
            (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM closed_at - created_at)::float8 / 86400)
               FROM won x WHERE m.m IN ('', coalesce(x.manager_id, 'none'))) AS cycle_days_median,
            (SELECT count(*) FROM won x WHERE m.m IN ('', coalesce(x.manager_id, 'none'))
                AND EXISTS (SELECT 1 FROM deals o WHERE o.created_at < x.created_at
                              AND (o.contact_id = x.contact_id OR o.company_id = x.company_id))) AS won_repeat
       FROM managers m`,
    [start.toISOString(), end.toISOString()],
  );
  // Stays in open stages: from an entry to the next one, the last until R or the closing moment.
  const times = await db.query(
    `WITH stays AS (
       SELECT coalesce(d.manager_id, 'none') AS m, h.stage_id, h.at,
              least(coalesce(lead(h.at) OVER w, $2::timestamptz), CASE WHEN d.closed_at > h.at THEN d.closed_at END) AS left_at
         FROM deals d JOIN stage_history h ON h.entity = 'deal' AND h.entity_id = d.id AND h.at < $2
        WHERE d.created_at < $2 AND (d.closed_at IS NULL OR d.closed_at >= $1) ${only}
       WINDOW w AS (PARTITION BY h.entity_id ORDER BY h.at, h.stage_id)
     )
     SELECT coalesce(m, '') AS m, avg(extract(epoch FROM left_at - at) / 86400) AS stage_time
       FROM stays JOIN stages s ON s.id = stays.stage_id AND s.semantic = 'open'
      WHERE left_at > $1
      GROUP BY GROUPING SETS ((m), ())`,
    [start.toISOString(), ref.toISOString()],
  );
  const out = new Map<string, Record<string, number | null>>();
  for (const r of rows) {
    const n = (v: unknown) => (v === null || v === undefined ? null : Number(v));
    out.set(String(r.m), {
      created: n(r.created),
      open: n(r.open),
      won: n(r.won),
      won_amount: n(r.won_amount),
      lost: n(r.lost),
      lost_amount: n(r.lost_amount),
      cycle_days: n(r.cycle_days),
      cycle_days_median: n(r.cycle_days_median),
      won_repeat: n(r.won_repeat),
      stage_time: null,
    });
  }
  for (const t of times) {
    const row = out.get(String(t.m));
    if (row) row.stage_time = Number(t.stage_time);
  }
  return out;
}

function expectSame(
  actual: Record<string, unknown> | undefined,
  expected: Record<string, number | null>,
): void {
  for (const [k, v] of Object.entries(expected)) {
    const a = actual?.[k] ?? null;
    if (v === null) expect([k, a]).toEqual([k, null]);
    else expect([k, Number(a)]).toEqual([k, expect.closeTo(v, 9)]);
  }
}

describe.each(drivers)('deal rollups on %s', (driver) => {
  describe('after an import that changes a stage, wins a deal and deletes one', () => {
    let db: TestDb;
    const NOW = new Date('2026-04-10T12:00:00+03:00');
    beforeAll(async () => {
      db = await createTestDb(driver);
      const report = await importDirectory(db, { dir: fixtureDir, logger: silentLogger });
      expect(report.rejected).toBe(0);
    });
    afterAll(async () => {
      await db?.dispose();
    });

    it('the figures move by the hand-worked amounts', async () => {
      const before = await run(db, 'deal_stats', {}, NOW);
      expect(before.figures).toMatchObject({ created: 8, open: 7, won: 4, lost: 3, lost_amount: 55000 });
      expect(before.figures.stage_time).toBeCloseTo(10.6, 10);
      const funnelBefore = await run(db, 'stage_funnel', {}, NOW);
      expect(funnelBefore.figures.created).toBe(7);
      expect(funnelBefore.groups?.find((g) => g.key === 'D_KP')?.figures.reached).toBe(1);

      // DB (M2) moves from Встреча to КП on 04-07 12:00; DK (M2, 100 000, created 04-08 12:00) is won
      // on 04-10 10:00; DH (lost, 5 000, created 04-03, no history) is deleted.
      const db_ = {
        id: 'DB',
        title: 'Балкон Анне',
        pipeline_id: 'PD',
        stage_id: 'D_KP',
        manager_id: 'M2',
        amount: 30000,
        source_id: 'S1',
        lead_id: 'LD4',
        contact_id: 'K4',
        created_at: '2026-04-03T12:00:00+03:00',
      };
      const dk = {
        id: 'DK',
        title: 'Школа №5',
        pipeline_id: 'PD',
        stage_id: 'D_WON',
        manager_id: 'M2',
        amount: 100000,
        created_at: '2026-04-08T12:00:00+03:00',
        closed_at: '2026-04-10T10:00:00+03:00',
      };
      const dir = writeImport({
        'deals.jsonl': [db_, dk, { id: 'DH', deleted: true }],
        'stage_history.jsonl': [
          { entity: 'deal', entity_id: 'DB', stage_id: 'D_KP', at: '2026-04-07T12:00:00+03:00' },
          { entity: 'deal', entity_id: 'DK', stage_id: 'D_WON', at: '2026-04-10T10:00:00+03:00' },
        ],
      });
      const report = await importDirectory(db, { dir, logger: silentLogger });
      expect(report.rejected).toBe(0);

      const after = await run(db, 'deal_stats', {}, NOW);
      // created: DB, DC, DD, DE, DF, DK, DS1 = 7 (DH gone).
      // open: DB 30k, DI 50k, DJ 30k, DN 30k, DP 15k, DS1 10k = 6, 165 000.
      // won: DA, DC, DD, DE 250 000 + DK 100 000 = 5, 350 000; lost: DF 40k, DG 10k = 2, 50 000.
      // cycle: 30, 2, 8, 3 and DK 1 d 22 h = 46/24 → mean (43 + 46/24) / 5; median 3.
      // repeat: DC, DD (DK has neither contact nor company) → 2, new 3.
      expect(after.figures).toMatchObject({
        created: 7,
        open: 6,
        open_amount: 165000,
        won: 5,
        won_amount: 350000,
        lost: 2,
        lost_amount: 50000,
        avg_check: 70000,
        cycle_days_median: 3,
        won_new: 3,
        won_repeat: 2,
      });
      expect(after.figures.win_rate).toBeCloseTo(5 / 7, 10);
      expect(after.figures.cycle_days).toBeCloseTo((43 + 46 / 24) / 5, 10);
      // Stays: as before (106 days over 10 stays) but DB Встреча 04-05 12:00 → 04-07 12:00 = 2 instead of 5,
      // a new DB КП stay 04-07 12:00 → R = 3, and DK Договор 04-09 12:00 → closing 04-10 10:00 = 22 h instead of 1 day.
      // (106 − 5 + 2 + 3 − 1 + 22/24) / 11.
      expect(after.figures.stage_time).toBeCloseTo((105 + 22 / 24) / 11, 10);
      // By stage: DH was the only loss without an open stage in its history → the «unknown» row is gone.
      const byStage = after.series?.by_stage as Array<{ key: string; figures: Record<string, number> }>;
      expect(byStage.find((g) => g.key === 'unknown')).toBeUndefined();
      expect(byStage.find((g) => g.key === 'D_KP')?.figures).toMatchObject({ open: 3, open_amount: 90000 });

      // M2: created DB, DK; won DA (created in March) and DK, 200 000; lost none (DH gone); open DB, DN, DP.
      const m2 = (await run(db, 'deal_stats', { group_by: 'manager' }, NOW)).groups?.find(
        (g) => g.key === 'M2',
      );
      expect(m2?.figures).toMatchObject({ created: 2, won: 2, won_amount: 200000, lost: 0, open: 3 });

      // Funnel of PD, April cohort DB, DC, DD, DE, DF, DK = 6; КП reached by DF (history) and DB (now) = 2;
      // Оплачено by DC, DD, DE and DK = 4.
      const funnel = await run(db, 'stage_funnel', {}, NOW);
      expect(funnel.figures.created).toBe(6);
      expect(funnel.groups?.find((g) => g.key === 'D_KP')?.figures.reached).toBe(2);
      expect(funnel.groups?.find((g) => g.key === 'D_WON')?.figures.reached).toBe(4);
    });

    it('keeps after those writes exactly the cycle histograms a rebuild from scratch gives', async () => {
      const snapshot = () =>
        db.query<Record<string, unknown>>(
          `SELECT to_char(month, 'YYYY-MM-DD') AS month, manager_id, bucket, before::int8 AS before
             FROM deal_cycle_months ORDER BY 1, 2, 3`,
        );
      const incremental = await snapshot();
      // Won deals of the fixture close in March and April: months through May count them.
      expect(incremental.some((r) => r.month === '2026-05-01')).toBe(true);
      await db.query(`INSERT INTO deal_rollup_dirty (key) VALUES ('*')`);
      await run(db, 'deal_stats', {}, NOW);
      expect(await snapshot()).toEqual(incremental);
    });

    it('rebuilds for another company time zone', async () => {
      // The rollups are rebuilt in the zone asked: March in Vladivostok equals plain SQL over its
      // instants, and asking in Moscow again rebuilds them back.
      const tool = dealTools.find((t) => t.name === 'deal_stats')!;
      const vlad: MetricContext = { db, caller: ADMIN, tz: 'Asia/Vladivostok', now: NOW };
      const env = await tool.run(vlad, { period: { from: '2026-03-01', to: '2026-03-31' } });
      const direct = await directDealStats(
        db,
        new Date('2026-03-01T00:00:00+10:00'),
        new Date('2026-04-01T00:00:00+10:00'),
        NOW,
      );
      expectSame(env.figures, direct.get('')!);
      const moscow = await run(db, 'deal_stats', {}, NOW);
      expect(moscow.figures.created).toBe(7);
    });
  });

  describe('on the small demo', () => {
    let db: TestDb;
    beforeAll(async () => {
      db = await createTestDb(driver);
      await loadDemo(db);
      await refreshRollups(db, TZ);
    }, 180_000);
    afterAll(async () => {
      await db?.dispose();
    });

    it("plan_progress's won deals per month, manager and pipeline equal plain SQL", async () => {
      const key = (r: { month: string; manager_id: string | null; pipeline_id: string }) =>
        `${r.month}|${r.manager_id}|${r.pipeline_id}`;
      const norm = (
        rows: Array<{
          month: string;
          manager_id: string | null;
          pipeline_id: string;
          won: number;
          won_amount: number;
        }>,
      ) => rows.map((r) => [key(r), Number(r.won), Number(r.won_amount)]).sort();
      const expected = await db.query<{
        month: string;
        manager_id: string | null;
        pipeline_id: string;
        won: number;
        won_amount: number;
      }>(
        `SELECT to_char(d.closed_at AT TIME ZONE '${TZ}', 'YYYY-MM') AS month, d.manager_id, d.pipeline_id,
                count(*) AS won, coalesce(sum(d.amount), 0) AS won_amount
           FROM deals d JOIN stages s ON s.id = d.stage_id AND s.semantic = 'won'
          WHERE d.closed_at >= '2025-12-01T00:00:00+03:00' AND d.closed_at < '2026-12-01T00:00:00+03:00'
          GROUP BY 1, 2, 3`,
      );
      expect(expected.length).toBeGreaterThan(20);
      const got = await wonDealsByMonth({ db, tz: TZ }, '2025-12', '2026-11');
      expect(norm(got)).toEqual(norm(expected));
    });

    it('deal_stats of every month, in total and by manager, equals plain SQL', async () => {
      const months = await db.query<{ m: string }>(
        `SELECT DISTINCT to_char(created_at AT TIME ZONE '${TZ}', 'YYYY-MM') AS m FROM deals ORDER BY 1`,
      );
      expect(months.length).toBeGreaterThan(3);
      for (const { m } of months) {
        const from = `${m}-01`;
        const last = new Date(Date.UTC(Number(m.slice(0, 4)), Number(m.slice(5, 7)), 0))
          .toISOString()
          .slice(0, 10);
        const env = await run(
          db,
          'deal_stats',
          { period: { from, to: last }, group_by: 'manager' },
          DEMO_NOW,
        );
        const start = new Date(`${from}T00:00:00+03:00`);
        const end = new Date(new Date(`${last}T00:00:00+03:00`).getTime() + 86_400_000);
        const direct = await directDealStats(db, start, end, DEMO_NOW);
        expectSame(env.figures, direct.get('')!);
        // The per-stage rows come along with the grouping by manager: the same as asked without one.
        const plain = await run(db, 'deal_stats', { period: { from, to: last } }, DEMO_NOW);
        expect(env.series?.by_stage).toEqual(plain.series?.by_stage);
        expect((plain.series?.by_stage as unknown[] | undefined)?.length ?? 0).toBeGreaterThan(3);
        for (const g of env.groups ?? []) {
          const d = direct.get(g.key);
          expect(d).toBeDefined();
          expectSame(g.figures, d!);
        }
      }
    });

    it('a head of department and a source filter see the figures of their deals only', async () => {
      const [head] = await db.query<{ id: string; department_id: string }>(
        `SELECT m.id, m.department_id FROM managers m JOIN departments d ON d.id = m.department_id
          WHERE m.role = 'head' AND d.parent_id IS NOT NULL ORDER BY m.id LIMIT 1`,
      );
      expect(head).toBeDefined();
      const team = await db.query<{ id: string }>(
        `WITH RECURSIVE tree AS (
           SELECT id FROM departments WHERE id = $1 UNION SELECT d.id FROM departments d JOIN tree t ON d.parent_id = t.id
         ) SELECT id FROM managers WHERE department_id IN (SELECT id FROM tree) OR id = $2`,
        [head!.department_id, head!.id],
      );
      const [source] = await db.query<{ id: string; name: string }>(
        `SELECT s.id, s.name FROM sources s JOIN deals d ON d.source_id = s.id GROUP BY 1, 2 ORDER BY count(*) DESC LIMIT 1`,
      );
      const period = { from: '2026-03-01', to: '2026-08-31' };
      const start = new Date('2026-03-01T00:00:00+03:00');
      const end = new Date('2026-09-01T00:00:00+03:00');
      const ctx: MetricContext = { db, caller: { role: 'head', managerId: head!.id }, tz: TZ, now: DEMO_NOW };
      const tool = dealTools.find((t) => t.name === 'deal_stats')!;
      const env = await tool.run(ctx, { period, group_by: 'manager' });
      expect(env.groups?.length).toBeGreaterThan(1);
      const ids = team.map((t) => `'${t.id}'`).join(', ');
      const direct = await directDealStats(db, start, end, DEMO_NOW, `AND d.manager_id IN (${ids})`);
      expectSame(env.figures, direct.get('')!);
      for (const g of env.groups ?? []) expectSame(g.figures, direct.get(g.key)!);

      const bySource = await run(
        db,
        'deal_stats',
        { period, filters: { sources: [source!.name] } },
        DEMO_NOW,
      );
      const directSource = await directDealStats(
        db,
        start,
        end,
        DEMO_NOW,
        `AND d.source_id = '${source!.id}'`,
      );
      expectSame(bySource.figures, directSource.get('')!);
    });

    it('stage_funnel of every month equals plain SQL', async () => {
      const months = await db.query<{ m: string }>(
        `SELECT DISTINCT to_char(created_at AT TIME ZONE '${TZ}', 'YYYY-MM') AS m FROM deals ORDER BY 1`,
      );
      for (const { m } of months) {
        const from = `${m}-01`;
        const last = new Date(Date.UTC(Number(m.slice(0, 4)), Number(m.slice(5, 7)), 0))
          .toISOString()
          .slice(0, 10);
        const env = await run(db, 'stage_funnel', { period: { from, to: last } }, DEMO_NOW);
        const start = new Date(`${from}T00:00:00+03:00`).toISOString();
        const end = new Date(new Date(`${last}T00:00:00+03:00`).getTime() + 86_400_000).toISOString();
        const pipeline = await db.query<{ pipeline_id: string }>(
          `SELECT pipeline_id FROM stages WHERE id = $1`,
          [env.groups?.[0]?.key],
        );
        const reach = await db.query<{ id: string; reached: number; cohort: number }>(
          `WITH cohort AS (
             SELECT id, stage_id FROM deals WHERE pipeline_id = $1 AND created_at >= $2 AND created_at < $3
           ),
           reach AS (
             SELECT id, stage_id FROM cohort
             UNION SELECT h.entity_id, h.stage_id FROM stage_history h JOIN cohort c ON h.entity = 'deal' AND h.entity_id = c.id
           )
           SELECT s.id, (SELECT count(*) FROM reach r WHERE r.stage_id = s.id) AS reached,
                  (SELECT count(*) FROM cohort) AS cohort
             FROM stages s WHERE s.pipeline_id = $1`,
          [pipeline[0]?.pipeline_id, start, end],
        );
        expect(env.figures.created).toBe(Number(reach[0]?.cohort));
        const byStage = new Map(env.groups?.map((g) => [g.key, g.figures.reached]));
        for (const r of reach) expect([r.id, byStage.get(r.id)]).toEqual([r.id, Number(r.reached)]);
      }
    });
  });
});
