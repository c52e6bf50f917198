import type { Queryable } from '../client.ts';
import {
  CALLBACK_BUCKET,
  CALLBACK_DELAY,
  MANAGER_KEY,
  RESPONSE_BUCKET,
  RESPONSE_DELAY,
} from '../delay-buckets.ts';
import { takeMarks } from './marks.ts';

/*
 * delay_months (schema.ts): running counts of callback delays and first
 * responses per local month, manager and delay bucket, so an exact percentile
 * finds the bucket of its k-th value from a few rows and then reads only that
 * bucket's values (src/metrics/delay-percentiles.ts). The triggers of
 * drizzle/0009 mark a kind after any write it depends on; a marked kind is
 * rebuilt whole, since a change in one month moves the counts of every later one.
 */

export type DelayKind = 'callback' | 'response';

/** Where each kind's values live: one row per value, with its moment, manager and bucket. */
export const DELAY_SOURCES: Record<
  DelayKind,
  {
    from: string;
    /** The moment that places a value in a period (and a month). */
    at: string;
    /** Rows that hold a value at all. */
    has: string;
    delay: string;
    bucket: string;
    manager: string;
  }
> = {
  callback: {
    from: 'calls c',
    at: 'c.started_at',
    has: 'c.callback_at IS NOT NULL',
    delay: CALLBACK_DELAY('c'),
    bucket: CALLBACK_BUCKET('c'),
    manager: MANAGER_KEY('c'),
  },
  response: {
    from: 'lead_responses c',
    at: 'c.created_at',
    has: 'true',
    delay: RESPONSE_DELAY('c'),
    bucket: RESPONSE_BUCKET('c'),
    manager: MANAGER_KEY('c'),
  },
};

const KINDS: DelayKind[] = ['callback', 'response'];

async function rebuild(db: Queryable, kind: DelayKind, tz: string): Promise<void> {
  const s = DELAY_SOURCES[kind];
  await db.query('DELETE FROM delay_months WHERE kind = $1', [kind]);
  // Every (manager, bucket) gets a row for each month from its first value on through the month after the last
  // value anywhere, so a lookup by month needs no search; '*' sums all managers for unfiltered questions.
  await db.query(
    `WITH m AS (
       SELECT date_trunc('month', ${s.at} AT TIME ZONE $2::text)::date AS month, ${s.manager} AS manager_id,
              ${s.bucket} AS bucket, count(*) AS n
         FROM ${s.from} WHERE ${s.has} GROUP BY 1, 2, 3
     ), g AS (
       SELECT month, manager_id, bucket, n FROM m
       UNION ALL SELECT month, '*', bucket, sum(n) FROM m GROUP BY month, bucket
     ), months AS (
       SELECT generate_series(min(month)::timestamp, max(month) + interval '1 month', interval '1 month')::date AS month FROM m
     ), pairs AS (
       SELECT manager_id, bucket, min(month) AS first FROM g GROUP BY 1, 2
     ), dense AS (
       SELECT p.manager_id, p.bucket, mo.month,
              sum(coalesce(g.n, 0)) OVER (PARTITION BY p.manager_id, p.bucket ORDER BY mo.month
                                          ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before
         FROM pairs p JOIN months mo ON mo.month >= p.first
         LEFT JOIN g ON g.manager_id = p.manager_id AND g.bucket = p.bucket AND g.month = mo.month
     )
     INSERT INTO delay_months (kind, month, manager_id, bucket, before)
     SELECT $1, month, manager_id, bucket, before FROM dense WHERE before > 0`,
    [kind, tz],
  );
}

/** Rebuilds the kinds writes marked, or both when the company zone changed (months are local). */
export async function refreshDelayRollups(db: Queryable, tz: string): Promise<void> {
  const marked = await takeMarks(db, 'delays');
  const [state] = await db.query<{ tz: string }>(`SELECT tz FROM rollup_state WHERE family = 'delays'`);
  const kinds = marked === 'all' || state?.tz !== tz ? KINDS : KINDS.filter((k) => marked.includes(k));
  for (const kind of kinds) await rebuild(db, kind, tz);
  await db.query(
    `INSERT INTO rollup_state (family, tz, refreshed_at) VALUES ('delays', $1, now())
     ON CONFLICT (family) DO UPDATE SET tz = excluded.tz, refreshed_at = excluded.refreshed_at`,
    [tz],
  );
}
