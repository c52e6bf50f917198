import { getTableConfig } from 'drizzle-orm/pg-core';
import type { Queryable } from '../client.ts';
import { calls } from '../schema.ts';
import { localDaysOf, takeMarks } from './marks.ts';

/*
 * Derived call data for the calls family of METRICS.md on large databases:
 * per-call flags ("Новый номер", callback and answered-after moments of a
 * missed call) and the day rollups call_days / call_line_days. The triggers of
 * drizzle/0004 mark the numbers and UTC days a write changed; this recomputes
 * exactly those, or everything when the marks say '*'.
 */

/** Past this many marked numbers, one set-based pass over all calls is cheaper than probing each. */
const FULL_FLAGS_ABOVE = 50_000;
/** Past this many marked days, the rollups are rebuilt whole. */
const FULL_DAYS_ABOVE = 120;

const HOURS = Array.from({ length: 24 }, (_, h) => h);
const hourName = (direction: 'in' | 'out', h: number) => `${direction}_h${String(h).padStart(2, '0')}`;

/** The figure columns both rollups share, as aggregates over `calls c` with its stored flags. */
const FIGURES = `count(*) AS calls,
  count(*) FILTER (WHERE c.direction = 'in') AS incoming,
  count(*) FILTER (WHERE c.direction = 'out') AS outgoing,
  count(*) FILTER (WHERE c.direction = 'in' AND c.status = 'answered') AS answered,
  count(*) FILTER (WHERE c.direction = 'in' AND c.status <> 'answered') AS missed,
  count(*) FILTER (WHERE c.direction = 'out' AND c.status = 'answered') AS connected,
  count(*) FILTER (WHERE c.direction = 'out' AND c.status <> 'answered') AS not_connected,
  coalesce(sum(c.duration_sec), 0) AS talk_time_total,
  coalesce(sum(c.duration_sec) FILTER (WHERE c.status = 'answered'), 0) AS talk_answered,
  count(*) FILTER (WHERE c.is_new) AS new_number_calls,
  count(*) FILTER (WHERE c.direction = 'in' AND c.status <> 'answered' AND c.callback_at IS NOT NULL) AS called_back,
  count(*) FILTER (WHERE c.direction = 'in' AND c.status <> 'answered' AND c.answered_after_at IS NULL) AS lost_missed,
  count(*) FILTER (WHERE c.direction = 'in' AND c.status <> 'answered' AND c.is_new
                     AND c.answered_after_at IS NULL) AS lost_new_clients`;

/** The figure columns of call_days and call_line_days (the metrics read them by these names). */
export const FIGURE_COLUMNS = [
  'calls',
  'incoming',
  'outgoing',
  'answered',
  'missed',
  'connected',
  'not_connected',
  'talk_time_total',
  'talk_answered',
  'new_number_calls',
  'called_back',
  'lost_missed',
  'lost_new_clients',
];

const HOUR_COLUMNS = [...HOURS.map((h) => hourName('in', h)), ...HOURS.map((h) => hourName('out', h))];

/**
 * Rows of both rollups for the calls of `from` (a FROM clause over `calls c`;
 * $1 = tz, others from $2 on), in one statement and one pass over the calls:
 * figures per (day, manager, line, direction, hour), summed into
 * call_line_days and, with the hours pivoted, into call_days.
 */
async function insertDays(db: Queryable, from: string, params: unknown[]): Promise<void> {
  const sums = FIGURE_COLUMNS.map((c) => `sum(${c}) AS ${c}`).join(', ');
  const hours = (['in', 'out'] as const)
    .flatMap((d) =>
      HOURS.map(
        (h) =>
          `coalesce(sum(calls) FILTER (WHERE direction = '${d}' AND hour = ${h}), 0) AS ${hourName(d, h)}`,
      ),
    )
    .join(',\n  ');
  await db.query(
    `WITH g AS MATERIALIZED (
       SELECT (c.started_at AT TIME ZONE $1::text)::date AS day, coalesce(c.manager_id, '') AS manager_id,
              coalesce(c.line_number, '') AS line_number, c.direction,
              extract(hour FROM c.started_at AT TIME ZONE $1::text)::int AS hour, ${FIGURES}
         FROM ${from} GROUP BY 1, 2, 3, 4, 5
     ), by_line AS (
       INSERT INTO call_line_days (day, manager_id, line_number, direction, ${FIGURE_COLUMNS.join(', ')})
       SELECT day, manager_id, line_number, direction, ${sums} FROM g GROUP BY 1, 2, 3, 4
     )
     INSERT INTO call_days (day, manager_id, ${FIGURE_COLUMNS.join(', ')}, ${HOUR_COLUMNS.join(', ')})
     SELECT day, manager_id, ${sums}, ${hours} FROM g GROUP BY 1, 2`,
    params,
  );
}

/** The stored flags of a call, recomputed from the calls of its number (see `flagged`). */
const FLAG_COLUMNS = ['is_new', 'callback_at', 'answered_after_at'] as const;

/**
 * The calls of `from` (a query over calls; all calls of each number it has)
 * with the flags they should have — new_want, cb_want, aa_want — in one pass
 * over each number's calls in time order. Ties on started_at are broken by
 * id, so exactly one call of a number is its first.
 */
function flagged(from: string): string {
  return `w AS (
       SELECT *, direction = 'in' AND status <> 'answered' AS missed,
              row_number() OVER (PARTITION BY client_phone ORDER BY started_at, id) = 1 AS first_call,
              min(started_at) FILTER (WHERE direction = 'out') OVER next_day AS next_out,
              min(started_at) FILTER (WHERE status = 'answered') OVER next_day AS next_answered
         FROM (${from}) c
       WINDOW next_day AS (PARTITION BY client_phone ORDER BY started_at
                           RANGE BETWEEN interval '1 microsecond' FOLLOWING AND interval '24 hours' FOLLOWING)
     ), v AS (
       SELECT *,
              first_call AND NOT EXISTS (SELECT 1 FROM contact_phones cp
                                          WHERE cp.phone = w.client_phone AND cp.contact_created_at < w.started_at) AS new_want,
              CASE WHEN missed THEN next_out END AS cb_want,
              CASE WHEN missed THEN next_answered END AS aa_want
         FROM w
     )`;
}

/**
 * Recomputes is_new / callback_at / answered_after_at of the calls of the
 * given numbers (or of all calls) and returns the UTC dates of the calls
 * whose flags changed.
 */
async function refreshFlags(db: Queryable, phones: string[] | 'all'): Promise<string[]> {
  const all = phones === 'all';
  const rows = await db.query<{ day: string }>(
    `WITH ${flagged(
      `SELECT id, client_phone, started_at, direction, status, ${FLAG_COLUMNS.join(', ')} FROM calls
       ${all ? '' : 'WHERE client_phone = ANY($1::text[])'}`,
    )}
     UPDATE calls c SET is_new = v.new_want, callback_at = v.cb_want, answered_after_at = v.aa_want
       FROM v
      WHERE c.id = v.id
        AND (v.first_call OR v.is_new OR v.missed OR v.callback_at IS NOT NULL OR v.answered_after_at IS NOT NULL)
        AND (v.is_new, v.callback_at, v.answered_after_at) IS DISTINCT FROM (v.new_want, v.cb_want, v.aa_want)
     RETURNING to_char(v.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day`,
    all ? [] : [phones],
  );
  return [...new Set(rows.map((r) => r.day))];
}

/** Recomputes call_months from call_days: the months holding `days`, or all (null). */
async function refreshMonths(db: Queryable, days: string[] | null): Promise<void> {
  const sums = FIGURE_COLUMNS.map((c) => `sum(d.${c})`).join(', ');
  const months = days && [...new Set(days.map((d) => `${d.slice(0, 7)}-01`))];
  // Month by month through the day key, so a few months read only their own days.
  const from = months
    ? `unnest($1::date[]) m(month) JOIN call_days d ON d.day >= m.month AND d.day < m.month + interval '1 month'`
    : 'call_days d';
  await db.query(
    `DELETE FROM call_months${months ? ' WHERE month = ANY($1::date[])' : ''}`,
    months ? [months] : [],
  );
  await db.query(
    `INSERT INTO call_months (month, manager_id, ${FIGURE_COLUMNS.join(', ')})
     SELECT date_trunc('month', d.day)::date, d.manager_id, ${sums} FROM ${from} GROUP BY 1, 2`,
    months ? [months] : [],
  );
}

/**
 * Writes every call again with its flags, in time order, instead of updating
 * them: for a calls table that a bulk load has just filled (one transaction,
 * no indexes yet, nothing else in it), rewriting costs a fraction of updating
 * a third of the rows, leaves no dead rows, and lays the calls out by time
 * for the period scans. The flags are then current: their marks go.
 */
export async function rewriteCallsWithFlags(db: Queryable): Promise<void> {
  const columns = getTableConfig(calls)
    .columns.map((c) => c.name)
    .filter((c) => !(FLAG_COLUMNS as readonly string[]).includes(c));
  // Sorting every call by number and time: in memory where it fits (for the rest of the load's transaction).
  await db.query(`SELECT set_config('work_mem', '256MB', true)`);
  await db.query(
    `CREATE TEMP TABLE calls_flagged ON COMMIT DROP AS
     WITH ${flagged('SELECT * FROM calls')}
     SELECT ${columns.join(', ')}, new_want, cb_want, aa_want FROM v`,
  );
  await db.query('TRUNCATE calls');
  await db.query(
    `INSERT INTO calls (${columns.join(', ')}, ${FLAG_COLUMNS.join(', ')})
     SELECT * FROM calls_flagged ORDER BY started_at`,
  );
  await db.query('DROP TABLE calls_flagged');
  await db.query(`DELETE FROM rollup_dirty WHERE family = 'call_phones'`);
}

/**
 * Brings the call flags and day rollups up to date with every write since the
 * last refresh, in the time zone `tz` (a different zone than the stored one
 * rebuilds the rollups). Run inside one transaction so readers never see marks
 * gone but rows not yet recomputed.
 */
export async function refreshCallRollups(db: Queryable, tz: string): Promise<{ rebuilt: boolean }> {
  await db.query(`SELECT set_config('voronka.rollup_refresh', 'on', true)`);
  const phones = await takeMarks(db, 'call_phones');
  const marked = await takeMarks(db, 'call_days');
  const [state] = await db.query<{ tz: string }>(`SELECT tz FROM rollup_state WHERE family = 'calls'`);
  const fullFlags = phones === 'all' || phones.length > FULL_FLAGS_ABOVE;
  const flagDays =
    phones === 'all' || phones.length > 0 ? await refreshFlags(db, fullFlags ? 'all' : phones) : [];
  // Every call's flags were set anew (an import that was not a bulk load): the planner's statistics of
  // callback_at, and of the partial indexes on it, were taken before.
  if (fullFlags) await db.query('ANALYZE calls');
  const rebuild = marked === 'all' || state?.tz !== tz || fullFlags;
  const days = rebuild ? [] : localDaysOf([...marked, ...flagDays]);
  if (rebuild || days.length > FULL_DAYS_ABOVE) {
    await db.query('DELETE FROM call_days');
    await db.query('DELETE FROM call_line_days');
    await insertDays(db, 'calls c', [tz]);
    await refreshMonths(db, null);
    await db.query('ANALYZE call_months');
  } else if (days.length > 0) {
    await db.query('DELETE FROM call_days WHERE day = ANY($1::date[])', [days]);
    await db.query('DELETE FROM call_line_days WHERE day = ANY($1::date[])', [days]);
    await insertDays(
      db,
      `unnest($2::date[]) d(day) JOIN calls c
         ON c.started_at >= (d.day::timestamp AT TIME ZONE $1::text)
        AND c.started_at < ((d.day + 1)::timestamp AT TIME ZONE $1::text)`,
      [tz, days],
    );
    await refreshMonths(db, days);
  }
  await db.query(
    `INSERT INTO rollup_state (family, tz, refreshed_at) VALUES ('calls', $1, now())
     ON CONFLICT (family) DO UPDATE SET tz = excluded.tz, refreshed_at = excluded.refreshed_at`,
    [tz],
  );
  await db.query(`SELECT set_config('voronka.rollup_refresh', 'off', true)`);
  return { rebuilt: rebuild };
}
