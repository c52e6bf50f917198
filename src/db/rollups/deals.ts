import type { Db, Queryable } from '../client.ts';
import { rebuildDelayHistogram } from './delays.ts';

/*
 * Deal rollups (perf, issue #3) for deal_stats and stage_funnel: deal_facts
 * and deal_stays hold per deal and per stage-history entry what the figures
 * need (repeat flag, last open stage before closing, the fixed end of each
 * stay); deal_rollup and deal_stay_rollup sum them by company-local day
 * (schema.ts). Triggers (drizzle/0009_*.sql) put the ids of changed deals in
 * deal_rollup_dirty; the refresh recomputes those deals' facts and stays and
 * every rollup day they touched before or after the change, and the cycle
 * histograms (deal_cycle_months, src/db/rollups/delays.ts) from the earliest
 * closing month touched.
 */

type RollupDb = Queryable & Partial<Pick<Db, 'transaction'>>;

/** Past this many changed deals, one pass over everything is faster than probing deal by deal. */
const FULL_REBUILD_DEALS = 100_000;

const FACTS_SELECT = `SELECT d.id, d.manager_id, d.source_id, d.pipeline_id, d.stage_id, d.amount, d.created_at, d.closed_at,
         (d.contact_id IS NOT NULL AND EXISTS (SELECT 1 FROM deals o
            WHERE o.contact_id = d.contact_id AND o.created_at < d.created_at))
         OR (d.company_id IS NOT NULL AND EXISTS (SELECT 1 FROM deals o
            WHERE o.company_id = d.company_id AND o.created_at < d.created_at)),
         CASE WHEN d.closed_at IS NOT NULL THEN (
           SELECT h.stage_id FROM stage_history h JOIN stages hs ON hs.id = h.stage_id AND hs.semantic = 'open'
            WHERE h.entity = 'deal' AND h.entity_id = d.id AND h.at <= d.closed_at
            ORDER BY h.at DESC, h.stage_id DESC LIMIT 1) END,
         coalesce((SELECT s.semantic = 'won' FROM stages s WHERE s.id = d.stage_id), false)
    FROM deals d`;

// A stay ends at the next entry or at the closing moment when that comes later than its start; ties of
// `at` are ordered by stage id, as stage_time always did.
const STAYS_SELECT = `SELECT h.entity_id, h.stage_id, h.at,
         least(lead(h.at) OVER w, CASE WHEN d.closed_at > h.at THEN d.closed_at END),
         d.manager_id, d.source_id, d.pipeline_id, d.created_at, d.closed_at,
         CASE WHEN s.semantic = 'open' THEN d.created_at <= h.at AND (d.closed_at IS NULL OR d.closed_at > h.at) END
    FROM stage_history h JOIN deals d ON d.id = h.entity_id LEFT JOIN stages s ON s.id = h.stage_id`;

async function rebuildFacts(q: Queryable, ids: string[] | null): Promise<void> {
  if (ids === null) {
    // Emptied without dead rows or per-row index maintenance; readers wait for the rebuild to commit.
    await q.query('TRUNCATE deal_facts, deal_stays');
    // Everything at once: the same facts by windows and hash joins instead of probes per deal. A deal
    // has an earlier one of its contact exactly when the contact's first deal was created before it.
    await q.query(
      `INSERT INTO deal_facts
       SELECT d.id, d.manager_id, d.source_id, d.pipeline_id, d.stage_id, d.amount, d.created_at, d.closed_at,
              coalesce(d.first_of_contact < d.created_at, false) OR coalesce(d.first_of_company < d.created_at, false),
              ls.stage_id, coalesce(s.semantic = 'won', false)
         FROM (SELECT x.*,
                      CASE WHEN x.contact_id IS NOT NULL THEN min(x.created_at) OVER (PARTITION BY x.contact_id) END
                        AS first_of_contact,
                      CASE WHEN x.company_id IS NOT NULL THEN min(x.created_at) OVER (PARTITION BY x.company_id) END
                        AS first_of_company
                 FROM deals x) d
         LEFT JOIN stages s ON s.id = d.stage_id
         LEFT JOIN (
           SELECT DISTINCT ON (h.entity_id) h.entity_id, h.stage_id
             FROM stage_history h JOIN deals c ON c.id = h.entity_id AND h.at <= c.closed_at
             JOIN stages hs ON hs.id = h.stage_id AND hs.semantic = 'open'
            WHERE h.entity = 'deal'
            ORDER BY h.entity_id, h.at DESC, h.stage_id DESC
         ) ls ON ls.entity_id = d.id AND d.closed_at IS NOT NULL`,
    );
    await q.query(
      `INSERT INTO deal_stays ${STAYS_SELECT} WHERE h.entity = 'deal'
       WINDOW w AS (PARTITION BY h.entity_id ORDER BY h.at, h.stage_id)`,
    );
    await q.query('ANALYZE deal_facts');
    await q.query('ANALYZE deal_stays');
    return;
  }
  await q.query('DELETE FROM deal_facts WHERE id = ANY($1::text[])', [ids]);
  await q.query('DELETE FROM deal_stays WHERE deal_id = ANY($1::text[])', [ids]);
  await q.query(`INSERT INTO deal_facts ${FACTS_SELECT} WHERE d.id = ANY($1::text[])`, [ids]);
  await q.query(
    `INSERT INTO deal_stays ${STAYS_SELECT} WHERE h.entity = 'deal' AND h.entity_id = ANY($1::text[])
     WINDOW w AS (PARTITION BY h.entity_id ORDER BY h.at, h.stage_id)`,
    [ids],
  );
}

interface Touched {
  created: string[];
  closed: string[];
  ended: string[];
  stages: string[];
}

/** The local days and stages the facts and stays of `ids` fall on now. */
async function touchedBy(q: Queryable, tz: string, ids: string[]): Promise<Touched> {
  const [row] = await q.query<{ created: string[]; closed: string[]; ended: string[]; stages: string[] }>(
    `SELECT (SELECT coalesce(array_agg(DISTINCT to_char(created_at AT TIME ZONE $1::text, 'YYYY-MM-DD')), '{}')
               FROM deal_facts WHERE id = ANY($2::text[])) AS created,
            (SELECT coalesce(array_agg(DISTINCT to_char(closed_at AT TIME ZONE $1::text, 'YYYY-MM-DD')), '{}')
               FROM deal_facts WHERE id = ANY($2::text[]) AND closed_at IS NOT NULL) AS closed,
            (SELECT coalesce(array_agg(DISTINCT to_char(ended_at AT TIME ZONE $1::text, 'YYYY-MM-DD')), '{}')
               FROM deal_stays WHERE deal_id = ANY($2::text[]) AND ended_at IS NOT NULL) AS ended,
            (SELECT coalesce(array_agg(DISTINCT stage_id), '{}') FROM deal_facts WHERE id = ANY($2::text[])) AS stages`,
    [tz, ids],
  );
  return {
    created: row?.created ?? [],
    closed: row?.closed ?? [],
    ended: row?.ended ?? [],
    stages: row?.stages ?? [],
  };
}

/** Rows of `alias` whose `col` falls on one of the local days `$2` in zone `$1` (index probes per day). */
function onDays(table: string, col: string): string {
  return `unnest($2::date[]) AS dd(day)
     CROSS JOIN LATERAL (
       SELECT * FROM ${table} x
        WHERE x.${col} >= (dd.day::timestamp AT TIME ZONE $1::text)
          AND x.${col} < ((dd.day + 1)::timestamp AT TIME ZONE $1::text)
     ) x`;
}

const CREATED_COLS = `(x.created_at AT TIME ZONE $1::text)::date, x.manager_id, x.source_id, x.pipeline_id`;

const DEAL_DIMS = ['kind', 'manager_id', 'source_id', 'pipeline_id', 'stage_id', 'lost_stage_id'];
const DEAL_MEASURES = ['deals', 'amount', 'cycle_seconds', 'repeats'];
const STAY_DIMS = ['stage_id', 'manager_id', 'source_id', 'pipeline_id'];
const STAY_MEASURES = ['stays', 'seconds'];

/** The first days of the months that contain `days`. */
function monthsOf(days: string[]): string[] {
  return [...new Set(days.map((d) => `${d.slice(0, 7)}-01`))].sort();
}

/** The first day of the month after the month starting on `month`. */
function nextMonth(month: string): string {
  const d = new Date(`${month}T00:00:00Z`);
  d.setUTCMonth(d.getUTCMonth() + 1);
  return d.toISOString().slice(0, 10);
}

/**
 * Rows of `level` (md, nd, fm, mm, nm) summed from the f-d rows of `table` (of
 * `kinds` only, for deal_rollup); `days`: for d grain the f-d days to read,
 * for m grain the first days of the months (null = all).
 */
async function insertDerived(
  q: Queryable,
  table: 'deal_rollup' | 'deal_stay_rollup',
  level: string,
  days: string[] | null,
  kinds: string[],
): Promise<void> {
  const [dims, measures] = table === 'deal_rollup' ? [DEAL_DIMS, DEAL_MEASURES] : [STAY_DIMS, STAY_MEASURES];
  const dropped = level[0] === 'f' ? [] : level[0] === 'm' ? ['source_id'] : ['source_id', 'manager_id'];
  const kept = dims.map((d) => (dropped.includes(d) ? 'NULL' : d));
  const month = level[1] === 'm';
  const params: unknown[] = [];
  const cond: string[] = [`level = 'fd'`];
  if (table === 'deal_rollup') {
    params.push(kinds);
    cond.push(`kind = ANY($${params.length}::text[])`);
  }
  if (days !== null && month) {
    params.push(days, days[0], nextMonth(days[days.length - 1] ?? ''));
    const n = params.length;
    // The range lets the day index narrow the read; the list keeps only the months asked.
    cond.push(
      `day >= $${n - 1}::date AND day < $${n}::date AND date_trunc('month', day)::date = ANY($${n - 2}::date[])`,
    );
  } else if (days !== null) {
    params.push(days);
    cond.push(`day = ANY($${params.length}::date[])`);
  }
  const day = month ? `date_trunc('month', day)::date` : 'day';
  await q.query(
    `INSERT INTO ${table} (level, day, ${dims.join(', ')}, ${measures.join(', ')})
     SELECT '${level}', ${day} AS d, ${kept.join(', ')}, ${measures.map((m) => `sum(${m})`).join(', ')}
       FROM ${table} WHERE ${cond.join(' AND ')}
      GROUP BY d${kept
        .filter((k) => k !== 'NULL')
        .map((k) => `, ${k}`)
        .join('')}`,
    params,
  );
}

/**
 * Rebuilds the rollup rows of the given days and stages (null = all) from
 * deal_facts and deal_stays.
 */
async function rebuildRollups(q: Queryable, tz: string, t: Touched | null): Promise<void> {
  const all = t === null;
  if (all) {
    await q.query('TRUNCATE deal_rollup, deal_stay_rollup');
  } else {
    const drop = async (table: string, kinds: string, days: string[]) => {
      await q.query(
        `DELETE FROM ${table} WHERE level IN ('fd', 'md', 'nd') ${kinds} AND day = ANY($1::date[])`,
        [days],
      );
      await q.query(
        `DELETE FROM ${table} WHERE level IN ('fm', 'mm', 'nm') ${kinds} AND day = ANY($1::date[])`,
        [monthsOf(days)],
      );
    };
    await drop('deal_rollup', `AND kind IN ('c', 'r')`, t.created);
    await drop('deal_rollup', `AND kind IN ('x', 'w')`, t.closed);
    await q.query(`DELETE FROM deal_rollup WHERE kind = 'o' AND stage_id = ANY($1::text[])`, [t.stages]);
    await drop('deal_stay_rollup', '', t.ended);
  }
  const from = (table: string, col: string) => (all ? `${table} x` : onDays(table, col));
  const args = (days: string[] | undefined) => (all ? [tz] : [tz, days]);
  const cols = `level, kind, day, manager_id, source_id, pipeline_id, stage_id, lost_stage_id, deals, amount,
                cycle_seconds, repeats`;
  await q.query(
    `INSERT INTO deal_rollup (${cols})
     SELECT 'fd', 'c', ${CREATED_COLS}, CASE WHEN s.id IS NULL THEN x.stage_id END, NULL, count(*), sum(x.amount), 0, 0
       FROM ${from('deal_facts', 'created_at')} LEFT JOIN stages s ON s.id = x.stage_id
      GROUP BY 3, 4, 5, 6, 7`,
    args(t?.created),
  );
  // Everything at once: one union of current and history stages; a few days: probes per deal.
  const reached = all
    ? `deal_facts x JOIN (SELECT id AS deal_id, stage_id FROM deal_facts UNION SELECT deal_id, stage_id FROM deal_stays) r
         ON r.deal_id = x.id`
    : `${from('deal_facts', 'created_at')}
       CROSS JOIN LATERAL (
         SELECT x.stage_id UNION SELECT s.stage_id FROM deal_stays s WHERE s.deal_id = x.id
       ) r`;
  await q.query(
    `INSERT INTO deal_rollup (${cols})
     SELECT 'fd', 'r', ${CREATED_COLS}, r.stage_id, NULL, count(*), 0, 0, 0
       FROM ${reached}
      GROUP BY 3, 4, 5, 6, 7`,
    args(t?.created),
  );
  await q.query(
    `INSERT INTO deal_rollup (${cols})
     SELECT 'fd', 'x', (x.closed_at AT TIME ZONE $1::text)::date, x.manager_id, x.source_id, x.pipeline_id, x.stage_id,
            x.lost_stage_id, count(*), sum(x.amount), sum(extract(epoch FROM x.closed_at - x.created_at)),
            count(*) FILTER (WHERE x.repeat)
       FROM ${from('deal_facts', 'closed_at')}
      WHERE x.closed_at IS NOT NULL
      GROUP BY 3, 4, 5, 6, 7, 8`,
    args(t?.closed),
  );
  // Kind w: kind x without the lost stage, fewer rows for the totals of deal_stats.
  await q.query(
    `INSERT INTO deal_rollup (${cols})
     SELECT 'fd', 'w', day, manager_id, source_id, pipeline_id, stage_id, NULL, sum(deals), sum(amount),
            sum(cycle_seconds), sum(repeats)
       FROM deal_rollup WHERE level = 'fd' AND kind = 'x' ${all ? '' : 'AND day = ANY($1::date[])'}
      GROUP BY 3, 4, 5, 6, 7`,
    all ? [] : [t.closed],
  );
  // Kind o has no day: its cubes are built from the facts directly, at grain d.
  for (const [level, manager, source] of [
    ['fd', 'x.manager_id', 'x.source_id'],
    ['md', 'x.manager_id', 'NULL'],
    ['nd', 'NULL', 'NULL'],
  ]) {
    await q.query(
      `INSERT INTO deal_rollup (${cols})
       SELECT '${level}', 'o', NULL, ${manager}, ${source}, x.pipeline_id, x.stage_id, NULL, count(*), sum(x.amount), 0, 0
         FROM deal_facts x ${all ? '' : 'WHERE x.stage_id = ANY($1::text[])'}
        GROUP BY 4, 5, 6, 7`,
      all ? [] : [t.stages],
    );
  }
  await q.query(
    `INSERT INTO deal_stay_rollup (level, day, stage_id, manager_id, source_id, pipeline_id, stays, seconds)
     SELECT 'fd', (x.ended_at AT TIME ZONE $1::text)::date, x.stage_id, x.manager_id, x.source_id, x.pipeline_id,
            count(*), sum(extract(epoch FROM x.ended_at - x.at))
       FROM ${from('deal_stays', 'ended_at')}
      WHERE x.ended_at IS NOT NULL AND x.regular
      GROUP BY 2, 3, 4, 5, 6`,
    args(t?.ended),
  );
  const derive = async (
    table: 'deal_rollup' | 'deal_stay_rollup',
    days: string[] | null,
    kinds: string[],
  ) => {
    if (days !== null && days.length === 0) return;
    for (const level of ['md', 'nd']) await insertDerived(q, table, level, days, kinds);
    for (const level of ['fm', 'mm', 'nm'])
      await insertDerived(q, table, level, days && monthsOf(days), kinds);
  };
  // Kinds c and r share their days, x and w theirs.
  if (all) {
    await derive('deal_rollup', null, ['c', 'r', 'x', 'w']);
    await derive('deal_stay_rollup', null, []);
    await q.query('ANALYZE deal_rollup');
    await q.query('ANALYZE deal_stay_rollup');
    return;
  }
  await derive('deal_rollup', t.created, ['c', 'r']);
  await derive('deal_rollup', t.closed, ['x', 'w']);
  await derive('deal_stay_rollup', t.ended, []);
}

function union(a: Touched, b: Touched): Touched {
  const u = (x: string[], y: string[]) => [...new Set([...x, ...y])].sort();
  return {
    created: u(a.created, b.created),
    closed: u(a.closed, b.closed),
    ended: u(a.ended, b.ended),
    stages: u(a.stages, b.stages),
  };
}

async function refreshIn(q: Queryable, tz: string): Promise<void> {
  // Refreshes run one at a time; a second one waits and then finds little or nothing to do.
  await q.query(`SELECT pg_advisory_xact_lock(hashtext('voronka:deal_rollups'))`);
  const keys = [
    ...new Set(
      (await q.query<{ key: string }>('DELETE FROM deal_rollup_dirty RETURNING key')).map((r) => r.key),
    ),
  ];
  const state = await q.query<{ tz: string }>('SELECT tz FROM deal_rollup_state WHERE id = 1');
  const everything = keys.includes('*') || keys.length > FULL_REBUILD_DEALS;
  if (everything || state[0]?.tz !== tz) {
    // A rebuild sorts every stage-history entry of the deals: room to do it in memory (this transaction only).
    await q.query(`SELECT set_config('work_mem', '256MB', true)`);
    if (everything) await rebuildFacts(q, null);
    else if (keys.length > 0) await rebuildFacts(q, keys);
    await rebuildRollups(q, tz, null);
    await rebuildDelayHistogram(q, 'cycle', tz, null);
    await q.query('ANALYZE deal_cycle_months');
    await q.query(
      'INSERT INTO deal_rollup_state (id, tz) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET tz = excluded.tz',
      [tz],
    );
    return;
  }
  if (keys.length === 0) return;
  const before = await touchedBy(q, tz, keys);
  await rebuildFacts(q, keys);
  const after = await touchedBy(q, tz, keys);
  const touched = union(before, after);
  await rebuildRollups(q, tz, touched);
  // The cycle histograms from the month of the earliest closing day touched (a local day, in sorted order).
  const earliest = touched.closed[0];
  if (earliest !== undefined) await rebuildDelayHistogram(q, 'cycle', tz, `${earliest.slice(0, 7)}-01`);
}

/**
 * Brings the deal rollups up to date with the base tables for the company
 * zone `tz`: call at the end of every import and before the deal metrics read
 * them. `db` is a Db (the refresh opens its own transaction) or a transaction handle.
 */
export async function refreshDealRollups(db: RollupDb, tz: string): Promise<void> {
  if (db.transaction) await db.transaction((tx) => refreshIn(tx, tz));
  else await refreshIn(db, tz);
}

/** Refreshes only when something is dirty or the zone differs: a cheap check before each read. */
export async function ensureDealRollups(db: RollupDb, tz: string): Promise<void> {
  const rows = await db.query<{ dirty: boolean; tz: string | null }>(
    `SELECT EXISTS (SELECT 1 FROM deal_rollup_dirty) AS dirty, (SELECT tz FROM deal_rollup_state WHERE id = 1) AS tz`,
  );
  if (rows[0]?.dirty || rows[0]?.tz !== tz) await refreshDealRollups(db, tz);
}
