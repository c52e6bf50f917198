import type { Queryable } from '../client.ts';
import {
  CALLBACK_BUCKET,
  CALLBACK_DELAY,
  CYCLE_BUCKET,
  CYCLE_DAYS,
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
 * rebuilt from the month of its earliest change on, since a change in one
 * month moves the counts of every later one. The sales cycles of won deals
 * (kind 'cycle', in deal_cycle_months) follow deal_facts: the deal rollup
 * refresh rebuilds them (src/db/rollups/deals.ts).
 */

export type DelayKind = 'callback' | 'response' | 'cycle';

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
    /** The histogram table. */
    months: 'delay_months' | 'deal_cycle_months';
    /** Values in the period that have not arrived at `now` (a SQL timestamptz), and those that have; null: all have. */
    ahead: ((now: string) => string) | null;
    arrived: ((now: string) => string) | null;
  }
> = {
  callback: {
    from: 'calls c',
    at: 'c.started_at',
    has: 'c.callback_at IS NOT NULL',
    delay: CALLBACK_DELAY('c'),
    bucket: CALLBACK_BUCKET('c'),
    manager: MANAGER_KEY('c'),
    months: 'delay_months',
    // A callback comes within 24 h of its call: only the last day's calls can have one still ahead.
    ahead: (now) => `c.callback_at > ${now} AND c.started_at > ${now} - interval '24 hours'`,
    arrived: (now) => `c.callback_at <= ${now}`,
  },
  response: {
    from: 'lead_responses c',
    at: 'c.created_at',
    has: 'true',
    delay: RESPONSE_DELAY('c'),
    bucket: RESPONSE_BUCKET('c'),
    manager: MANAGER_KEY('c'),
    months: 'delay_months',
    ahead: (now) => `c.first_response_at > ${now}`,
    arrived: (now) => `c.first_response_at <= ${now}`,
  },
  // A cycle is known once the deal is won, at its closing moment: the moment of the period itself.
  cycle: {
    from: 'deal_facts c',
    at: 'c.closed_at',
    has: 'c.won',
    delay: CYCLE_DAYS('c'),
    bucket: CYCLE_BUCKET('c'),
    manager: MANAGER_KEY('c'),
    months: 'deal_cycle_months',
    ahead: null,
    arrived: null,
  },
};

/** The kinds the delay refresh keeps; 'cycle' follows the deal rollups. */
const KINDS: DelayKind[] = ['callback', 'response'];

const DAY_MS = 86_400_000;

/**
 * Recomputes the rows of one kind for the months after `from` (a local month start), or all of them
 * (null). Rows up to and including `from` count only earlier values, so they stay; every later row is
 * the pair's row at `from` (or at the table's last month, when that is earlier) plus the values since.
 */
export async function rebuildDelayHistogram(
  db: Queryable,
  kind: DelayKind,
  tz: string,
  from: string | null,
): Promise<void> {
  const s = DELAY_SOURCES[kind];
  const t = s.months;
  await db.query(
    `DELETE FROM ${t} WHERE kind = $1${from === null ? '' : ' AND month > $2::date'}`,
    from === null ? [kind] : [kind, from],
  );
  // Rows run through the month after the last value: past that they are to be filled from their last month on.
  let since = from;
  if (from !== null) {
    const [last] = await db.query<{ month: string | null }>(
      `SELECT to_char(least($2::date, max(month)), 'YYYY-MM-DD') AS month FROM ${t} WHERE kind = $1`,
      [kind, from],
    );
    since = last?.month ?? null;
    if (since === null) await db.query(`DELETE FROM ${t} WHERE kind = $1`, [kind]);
  }
  const fromSince = since === null ? '' : ` AND ${s.at} >= ($3::date::timestamp AT TIME ZONE $2::text)`;
  // Every (manager, bucket) gets a row for each month from its first value on through the month after the last
  // value anywhere, so a lookup by month needs no search; '*' sums all managers for unfiltered questions.
  await db.query(
    `WITH m AS (
       SELECT date_trunc('month', ${s.at} AT TIME ZONE $2::text)::date AS month, ${s.manager} AS manager_id,
              ${s.bucket} AS bucket, count(*) AS n
         FROM ${s.from} WHERE ${s.has}${fromSince} GROUP BY 1, 2, 3
     ), g AS (
       SELECT month, manager_id, bucket, n FROM m
       UNION ALL SELECT month, '*', bucket, sum(n) FROM m GROUP BY month, bucket
     ), base AS (
       SELECT manager_id, bucket, before FROM ${t}
        WHERE kind = $1 ${since === null ? 'AND false' : 'AND month = $3::date'}
     ), months AS (
       SELECT generate_series(${since === null ? '(SELECT min(month) FROM m)' : '$3::date'}::timestamp,
                              (SELECT date_trunc('month', max(${s.at}) AT TIME ZONE $2::text) FROM ${s.from} WHERE ${s.has})
                                + interval '1 month',
                              interval '1 month')::date AS month
     ), pairs AS (
       SELECT manager_id, bucket FROM g UNION SELECT manager_id, bucket FROM base
     ), dense AS (
       SELECT p.manager_id, p.bucket, mo.month,
              coalesce(b.before, 0) + coalesce(sum(coalesce(g.n, 0)) OVER (PARTITION BY p.manager_id, p.bucket
                ORDER BY mo.month ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before
         FROM pairs p CROSS JOIN months mo
         LEFT JOIN base b ON b.manager_id = p.manager_id AND b.bucket = p.bucket
         LEFT JOIN g ON g.manager_id = p.manager_id AND g.bucket = p.bucket AND g.month = mo.month
     )
     INSERT INTO ${t} (kind, month, manager_id, bucket, before)
     SELECT $1, month, manager_id, bucket, before FROM dense
      WHERE before > 0${since === null ? '' : ' AND month > $3::date'}`,
    since === null ? [kind, tz] : [kind, tz, since],
  );
}

/** The local month start from which a write at UTC date `day` can change delays: a day earlier for a zone ahead of UTC, one more for a callback window reaching back 24 h. */
function sinceMonth(day: string): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) - 2 * DAY_MS).toISOString().slice(0, 8).concat('01');
}

/**
 * Brings delay_months up to date with the writes marked since the last refresh: each kind from the month of
 * its earliest marked moment on, or whole (a bare mark, or the company zone changed: months are local).
 */
export async function refreshDelayRollups(db: Queryable, tz: string): Promise<void> {
  const marked = await takeMarks(db, 'delays');
  const [state] = await db.query<{ tz: string }>(`SELECT tz FROM rollup_state WHERE family = 'delays'`);
  let rebuilt = false;
  for (const kind of KINDS) {
    const days =
      marked === 'all'
        ? []
        : marked.filter((k) => k.startsWith(`${kind}:`)).map((k) => k.slice(kind.length + 1));
    if (marked === 'all' || state?.tz !== tz || marked.includes(kind)) {
      await rebuildDelayHistogram(db, kind, tz, null);
      rebuilt = true;
    } else if (days.length > 0)
      await rebuildDelayHistogram(db, kind, tz, sinceMonth(days.sort()[0] as string));
  }
  // Planner statistics for the new rows right away (PGlite has no autovacuum).
  if (rebuilt) await db.query('ANALYZE delay_months');
  await db.query(
    `INSERT INTO rollup_state (family, tz, refreshed_at) VALUES ('delays', $1, now())
     ON CONFLICT (family) DO UPDATE SET tz = excluded.tz, refreshed_at = excluded.refreshed_at`,
    [tz],
  );
}
