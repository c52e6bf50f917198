import type { Queryable } from '../client.ts';
import { localDaysOf, takeMarks } from './marks.ts';

/** Past this many marked days the rollup is rebuilt whole. */
const FULL_DAYS_ABOVE = 120;

/** Recomputes activity_months from activity_days: the months holding `days`, or all (null). */
async function refreshMonths(db: Queryable, days: string[] | null): Promise<void> {
  const months = days && [...new Set(days.map((d) => `${d.slice(0, 7)}-01`))];
  await db.query(
    `DELETE FROM activity_months${months ? ' WHERE month = ANY($1::date[])' : ''}`,
    months ? [months] : [],
  );
  await db.query(
    `INSERT INTO activity_months (month, manager_id, type, completed)
     SELECT date_trunc('month', d.day)::date, d.manager_id, d.type, sum(d.completed)
       FROM ${months ? `unnest($1::date[]) m(month) JOIN activity_days d ON d.day >= m.month AND d.day < m.month + interval '1 month'` : 'activity_days d'}
      GROUP BY 1, 2, 3`,
    months ? [months] : [],
  );
}

/**
 * Brings activity_days (completed activities per local day, manager and type,
 * which manager_efficiency scores) up to date with the days writes marked.
 */
export async function refreshActivityRollups(db: Queryable, tz: string): Promise<void> {
  const marked = await takeMarks(db, 'activity_days');
  const [state] = await db.query<{ tz: string }>(`SELECT tz FROM rollup_state WHERE family = 'activities'`);
  const days = marked === 'all' || state?.tz !== tz ? 'all' : localDaysOf(marked);
  const select = `SELECT (a.completed_at AT TIME ZONE $1::text)::date, coalesce(a.manager_id, ''), a.type, count(*)`;
  if (days === 'all' || days.length > FULL_DAYS_ABOVE) {
    await db.query('DELETE FROM activity_days');
    await db.query(
      `INSERT INTO activity_days (day, manager_id, type, completed)
       ${select} FROM activities a WHERE a.completed_at IS NOT NULL GROUP BY 1, 2, 3`,
      [tz],
    );
    await refreshMonths(db, null);
    await db.query('ANALYZE activity_months');
  } else if (days.length > 0) {
    await db.query('DELETE FROM activity_days WHERE day = ANY($1::date[])', [days]);
    await db.query(
      `INSERT INTO activity_days (day, manager_id, type, completed)
       ${select} FROM unnest($2::date[]) d(day)
         JOIN activities a ON a.completed_at >= (d.day::timestamp AT TIME ZONE $1::text)
                          AND a.completed_at < ((d.day + 1)::timestamp AT TIME ZONE $1::text)
        GROUP BY 1, 2, 3`,
      [tz, days],
    );
    await refreshMonths(db, days);
  }
  await db.query(
    `INSERT INTO rollup_state (family, tz, refreshed_at) VALUES ('activities', $1, now())
     ON CONFLICT (family) DO UPDATE SET tz = excluded.tz, refreshed_at = excluded.refreshed_at`,
    [tz],
  );
}
