import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { managerTools } from '../../src/metrics/managers.ts';
import type { Caller } from '../../src/metrics/types.ts';
import { createTestDb, drivers, type TestDb } from '../helpers/db.ts';
import { DEMO_NOW, loadDemo } from '../helpers/demo.ts';

/*
 * manager_efficiency reads leads per manager from the lead cohort rollup and
 * deals from the deal rollup: on the demo company, every manager's leads,
 * deals, win rate, calls and activity score must be what plain counts over
 * the tables give (METRICS.md: created in the period and assigned to the
 * manager; win rate = won / (won + lost) among deals closed in the period;
 * score = completed activities by weight + 4 per outgoing or answered call).
 */

const TZ = 'Europe/Moscow';
const ADMIN: Caller = { role: 'admin', managerId: null };

const PERIODS: Array<{ from: string; to: string }> = [
  { from: '2026-03-01', to: '2026-03-31' },
  { from: '2026-01-01', to: '2026-12-31' },
  { from: '2026-02-17', to: '2026-06-09' },
  { from: '2026-11-01', to: '2026-11-30' },
];

const DIRECT_SQL = `WITH p AS (SELECT ($1::date::timestamp AT TIME ZONE '${TZ}') AS s,
                                  (($2::date + 1)::timestamp AT TIME ZONE '${TZ}') AS e),
  l AS (SELECT manager_id, count(*) AS leads FROM leads, p WHERE created_at >= p.s AND created_at < p.e GROUP BY 1),
  d AS (SELECT manager_id, count(*) AS deals FROM deals, p WHERE created_at >= p.s AND created_at < p.e GROUP BY 1),
  a AS (SELECT manager_id, sum(CASE type WHEN 'meeting' THEN 5 WHEN 'email' THEN 3 WHEN 'case' THEN 2 ELSE 1 END) AS pts
          FROM activities, p WHERE completed_at >= p.s AND completed_at < p.e GROUP BY 1),
  c AS (SELECT manager_id, 4 * count(*) FILTER (WHERE direction = 'out' OR status = 'answered') AS pts,
               count(*) AS calls
          FROM calls, p WHERE started_at >= p.s AND started_at < p.e GROUP BY 1),
  w AS (SELECT d.manager_id, count(*) FILTER (WHERE st.semantic = 'won') AS won,
               count(*) FILTER (WHERE st.semantic = 'lost') AS lost
          FROM deals d JOIN stages st ON st.id = d.stage_id, p
         WHERE d.closed_at >= p.s AND d.closed_at < p.e GROUP BY 1)
  SELECT m.id, coalesce(l.leads, 0) AS leads, coalesce(d.deals, 0) AS deals,
         coalesce(w.won, 0) AS won, coalesce(w.lost, 0) AS lost,
         coalesce(a.pts, 0) + coalesce(c.pts, 0) AS score, coalesce(c.calls, 0) AS calls
    FROM managers m LEFT JOIN l ON l.manager_id = m.id LEFT JOIN d ON d.manager_id = m.id
    LEFT JOIN w ON w.manager_id = m.id LEFT JOIN a ON a.manager_id = m.id LEFT JOIN c ON c.manager_id = m.id`;

describe.each(drivers)('manager_efficiency agrees with plain counts on the demo company (%s)', (driver) => {
  let db: TestDb;

  beforeAll(async () => {
    db = await createTestDb(driver);
    await loadDemo(db);
  }, 180_000);

  afterAll(async () => {
    await db?.dispose();
  });

  it.each(PERIODS)('$from – $to', async (period) => {
    const want = await db.query<{
      id: string;
      leads: unknown;
      deals: unknown;
      won: unknown;
      lost: unknown;
      score: unknown;
      calls: unknown;
    }>(DIRECT_SQL, [period.from, period.to]);
    const env = await managerTools[0]!.run({ db, caller: ADMIN, tz: TZ, now: DEMO_NOW }, { period });
    let checked = 0;
    for (const r of want) {
      const got = env.groups?.find((g) => g.key === r.id)?.figures;
      if (!got) continue;
      const won = Number(r.won);
      const lost = Number(r.lost);
      expect({
        id: r.id,
        score: got.score,
        calls: got.calls,
        leads: got.leads,
        deals: got.deals,
        win_rate: got.win_rate,
      }).toEqual({
        id: r.id,
        score: Number(r.score),
        calls: Number(r.calls),
        leads: Number(r.leads),
        deals: Number(r.deals),
        win_rate: won + lost > 0 ? won / (won + lost) : null,
      });
      checked++;
    }
    expect(checked).toBeGreaterThan(1);
    const [all] = await db.query<{ leads: unknown }>(
      `SELECT count(*) AS leads FROM leads
        WHERE created_at >= ($1::date::timestamp AT TIME ZONE '${TZ}') AND created_at < (($2::date + 1)::timestamp AT TIME ZONE '${TZ}')`,
      [period.from, period.to],
    );
    expect(env.figures.leads).toBe(Number(all?.leads));
  });
});
