import type { Db, Queryable } from '../client.ts';

/*
 * Lead rollups (perf, issue #3): lead_cohort_rollup, lead_sale_rollup and
 * lead_reach_rollup (schema.ts) hold the lead cohorts of METRICS.md "Лиды" by
 * company-local day of creation. Statement triggers (drizzle/0004_*.sql) mark
 * the UTC days of creation a write may change in lead_rollup_dirty; the
 * refresh below recomputes the local days those UTC days overlap, or
 * everything on '*' or when the company zone changed.
 */

type RollupDb = Queryable & Partial<Pick<Db, 'transaction'>>;

const DAY_MS = 86_400_000;
const FULL_REBUILD_DAYS = 120;

/** Local days a UTC day overlaps: any zone is within ±14 h of UTC. */
function localDaysOf(utcDays: string[]): string[] {
  const out = new Set<string>();
  for (const d of utcDays) {
    const ms = Date.parse(`${d}T00:00:00Z`);
    if (Number.isNaN(ms)) continue;
    for (const k of [-1, 0, 1]) out.add(new Date(ms + k * DAY_MS).toISOString().slice(0, 10));
  }
  return [...out].sort();
}

/**
 * The leads of the days being rebuilt (null = all), with everything the three
 * rollups key by, and their linked deals, as temporary tables of the
 * refresh's transaction: analyzed, so the few-days case probes indexes and the
 * rebuild-all case hashes.
 */
async function stageCohort(q: Queryable, tz: string, days: string[] | null): Promise<void> {
  await q.query('DROP TABLE IF EXISTS lead_rollup_c, lead_rollup_linked');
  const city = (l: string) =>
    days === null
      ? `coalesce(nullif(btrim(${l}.city), ''), nullif(btrim(ct.city), ''))`
      : `coalesce(nullif(btrim(${l}.city), ''), (SELECT nullif(btrim(ct.city), '') FROM contacts ct WHERE ct.id = ${l}.contact_id))`;
  const cols = (l: string) => `${l}.id, (${l}.created_at AT TIME ZONE $1::text)::date AS day, ${l}.manager_id,
      ${l}.source_id, ${l}.pipeline_id, ${l}.stage_id, ${l}.utm_campaign, ${city(l)} AS city,
      ${l}.created_at, ${l}.closed_at, ${l}.deal_id`;
  if (days === null) {
    await q.query(
      `CREATE TEMP TABLE lead_rollup_c ON COMMIT DROP AS
       SELECT ${cols('l')} FROM leads l LEFT JOIN contacts ct ON ct.id = l.contact_id`,
      [tz],
    );
  } else {
    await q.query(
      `CREATE TEMP TABLE lead_rollup_c ON COMMIT DROP AS
       SELECT ${cols('l')}
         FROM unnest($2::date[]) AS dd(day)
         CROSS JOIN LATERAL (
           SELECT * FROM leads x
            WHERE x.created_at >= (dd.day::timestamp AT TIME ZONE $1::text)
              AND x.created_at < ((dd.day + 1)::timestamp AT TIME ZONE $1::text)
         ) l`,
      [tz, days],
    );
  }
  await q.query('ANALYZE lead_rollup_c');
  await q.query(
    `CREATE TEMP TABLE lead_rollup_linked ON COMMIT DROP AS
     SELECT c.id AS lead_id, d.id AS deal_id, d.stage_id, d.amount FROM lead_rollup_c c JOIN deals d ON d.id = c.deal_id
     UNION
     SELECT c.id, d.id, d.stage_id, d.amount FROM lead_rollup_c c JOIN deals d ON d.lead_id = c.id`,
  );
  await q.query('ANALYZE lead_rollup_linked');
}

interface RollupSpec {
  table: string;
  dims: string[];
  /**
   * Dimensions kept by cube m (the others are NULL there); cube a keeps all
   * but manager_id; cube n only the pipeline and the stages.
   */
  managerCube: string[];
  measures: string[];
}

const SPECS: RollupSpec[] = [
  {
    table: 'lead_cohort_rollup',
    dims: ['manager_id', 'source_id', 'pipeline_id', 'stage_id', 'utm_campaign', 'city', 'deal_stages'],
    managerCube: ['manager_id', 'pipeline_id', 'stage_id', 'deal_stages'],
    measures: ['leads', 'closed_leads', 'closed_seconds'],
  },
  {
    table: 'lead_sale_rollup',
    dims: ['manager_id', 'source_id', 'pipeline_id', 'utm_campaign', 'city', 'stage_id', 'deal_stage_id'],
    managerCube: ['manager_id', 'pipeline_id', 'stage_id', 'deal_stage_id'],
    measures: ['amount'],
  },
  {
    table: 'lead_reach_rollup',
    dims: ['manager_id', 'source_id', 'pipeline_id', 'utm_campaign', 'stage_id'],
    managerCube: ['manager_id', 'pipeline_id', 'stage_id'],
    measures: ['leads'],
  },
];

/** Day rows of cube f straight from the base tables. */
async function insertFineDays(q: Queryable, tz: string, days: string[] | null): Promise<void> {
  await stageCohort(q, tz, days);
  await q.query(
    `WITH c AS (SELECT * FROM lead_rollup_c), linked AS (SELECT * FROM lead_rollup_linked),
     deal_stages AS (
       SELECT lead_id, array_agg(DISTINCT stage_id ORDER BY stage_id) AS stages FROM linked GROUP BY lead_id
     )
     INSERT INTO lead_cohort_rollup (level, day, manager_id, source_id, pipeline_id, stage_id, utm_campaign, city,
                                     deal_stages, leads, closed_leads, closed_seconds)
     SELECT 'fd', c.day, c.manager_id, c.source_id, c.pipeline_id, c.stage_id, c.utm_campaign, c.city,
            coalesce(ds.stages, '{}'::text[]), count(*), count(c.closed_at),
            coalesce(sum(extract(epoch FROM c.closed_at - c.created_at)), 0)
       FROM c LEFT JOIN deal_stages ds ON ds.lead_id = c.id
      GROUP BY 2, 3, 4, 5, 6, 7, 8, 9`,
  );
  await q.query(
    `WITH c AS (SELECT * FROM lead_rollup_c), linked AS (SELECT * FROM lead_rollup_linked)
     INSERT INTO lead_sale_rollup (level, day, manager_id, source_id, pipeline_id, utm_campaign, city, stage_id,
                                   deal_stage_id, amount)
     SELECT 'fd', c.day, c.manager_id, c.source_id, c.pipeline_id, c.utm_campaign, c.city, c.stage_id, k.stage_id,
            sum(k.amount)
       FROM c JOIN linked k ON k.lead_id = c.id
      GROUP BY 2, 3, 4, 5, 6, 7, 8, 9`,
  );
  await q.query(
    `WITH c AS (SELECT * FROM lead_rollup_c),
     reach AS (
       SELECT c.id, c.stage_id FROM c
       UNION
       SELECT h.entity_id, h.stage_id FROM stage_history h JOIN c ON h.entity = 'lead' AND h.entity_id = c.id
     )
     INSERT INTO lead_reach_rollup (level, day, manager_id, source_id, pipeline_id, utm_campaign, stage_id, leads)
     SELECT 'fd', c.day, c.manager_id, c.source_id, c.pipeline_id, c.utm_campaign, r.stage_id, count(*)
       FROM reach r JOIN c ON c.id = r.id
      GROUP BY 2, 3, 4, 5, 6, 7`,
  );
  await q.query('DROP TABLE lead_rollup_c, lead_rollup_linked');
}

/**
 * Rows of `level` summed from the f-d rows: `cube` m or a drops dimensions,
 * grain m buckets days into their month. `days`: the f-d days to read (null = all).
 */
async function insertDerived(
  q: Queryable,
  spec: RollupSpec,
  level: string,
  days: string[] | null,
): Promise<void> {
  const cube = level[0];
  const kept = spec.dims.filter((d) =>
    cube === 'f'
      ? true
      : cube === 'm'
        ? spec.managerCube.includes(d)
        : cube === 'n'
          ? spec.managerCube.includes(d) && d !== 'manager_id'
          : d !== 'manager_id',
  );
  const day = level[1] === 'm' ? `date_trunc('month', day)::date` : 'day';
  const cols = spec.dims.map((d) => (kept.includes(d) ? d : 'NULL'));
  const where = days === null ? '' : 'AND day = ANY($1::date[])';
  await q.query(
    `INSERT INTO ${spec.table} (level, day, ${spec.dims.join(', ')}, ${spec.measures.join(', ')})
     SELECT '${level}', ${day} AS d, ${cols.join(', ')}, ${spec.measures.map((m) => `sum(${m})`).join(', ')}
       FROM ${spec.table} WHERE level = 'fd' ${where}
      GROUP BY d${kept.map((k) => `, ${k}`).join('')}`,
    days === null ? [] : [days],
  );
}

/** The days of the months that contain `days`. */
function monthDays(days: string[]): { months: string[]; all: string[] } {
  const months = [...new Set(days.map((d) => `${d.slice(0, 7)}-01`))].sort();
  const all: string[] = [];
  for (const m of months) {
    const start = Date.parse(`${m}T00:00:00Z`);
    for (let ms = start; new Date(ms).toISOString().slice(0, 7) === m.slice(0, 7); ms += DAY_MS)
      all.push(new Date(ms).toISOString().slice(0, 10));
  }
  return { months, all };
}

async function rebuild(q: Queryable, tz: string, days: string[] | null): Promise<void> {
  for (const spec of SPECS) {
    if (days === null) await q.query(`DELETE FROM ${spec.table}`);
    else {
      await q.query(
        `DELETE FROM ${spec.table} WHERE level IN ('fd', 'md', 'ad', 'nd') AND day = ANY($1::date[])`,
        [days],
      );
      await q.query(
        `DELETE FROM ${spec.table} WHERE level IN ('fm', 'mm', 'am', 'nm') AND day = ANY($1::date[])`,
        [monthDays(days).months],
      );
    }
  }
  await insertFineDays(q, tz, days);
  for (const spec of SPECS) {
    for (const level of ['md', 'ad', 'nd']) await insertDerived(q, spec, level, days);
    for (const level of ['fm', 'mm', 'am', 'nm'])
      await insertDerived(q, spec, level, days && monthDays(days).all);
    if (days === null) await q.query(`ANALYZE ${spec.table}`);
  }
}

async function refreshIn(q: Queryable, tz: string): Promise<void> {
  // Refreshes run one at a time; a second one waits and then finds little or nothing to do.
  await q.query(`SELECT pg_advisory_xact_lock(hashtext('voronka:lead_rollups'))`);
  const keys = (await q.query<{ key: string }>('DELETE FROM lead_rollup_dirty RETURNING key')).map(
    (r) => r.key,
  );
  const state = await q.query<{ tz: string }>('SELECT tz FROM lead_rollup_state WHERE id = 1');
  const days = localDaysOf([...new Set(keys)]);
  // Day-by-day recomputation pays an index probe per lead: past a few months of days, one pass over everything is faster.
  if (keys.includes('*') || state[0]?.tz !== tz || days.length > FULL_REBUILD_DAYS) {
    await rebuild(q, tz, null);
    await q.query(
      'INSERT INTO lead_rollup_state (id, tz) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET tz = excluded.tz',
      [tz],
    );
    return;
  }
  if (days.length === 0) return;
  await rebuild(q, tz, days);
}

/**
 * Brings the lead rollups up to date with the base tables for the company
 * zone `tz`: call at the end of every import and before the lead metrics read
 * them. `db` is a Db (the refresh opens its own transaction, so readers see
 * either the old or the new rows of a day) or a transaction handle: the
 * refresh keeps temporary tables, which need one connection.
 */
export async function refreshLeadRollups(db: RollupDb, tz: string): Promise<void> {
  if (db.transaction) await db.transaction((tx) => refreshIn(tx, tz));
  else await refreshIn(db, tz);
}

/** Refreshes only when something is dirty or the zone differs: a cheap check before each read. */
export async function ensureLeadRollups(db: RollupDb, tz: string): Promise<void> {
  const rows = await db.query<{ dirty: boolean; tz: string | null }>(
    `SELECT EXISTS (SELECT 1 FROM lead_rollup_dirty) AS dirty, (SELECT tz FROM lead_rollup_state WHERE id = 1) AS tz`,
  );
  if (rows[0]?.dirty || rows[0]?.tz !== tz) await refreshLeadRollups(db, tz);
}
