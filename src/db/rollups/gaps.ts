import type { Queryable } from '../client.ts';
import { takeMarks } from './marks.ts';

/*
 * Inactivity gaps of leads and deals (record_gaps, schema.ts) for "забытые"
 * as of a past moment. A record's moments are those of its last activity
 * (METRICS.md "Precise readings", the same sources as lastActivitySql in
 * src/db/last-activity.ts) from its creation on; a gap is a pair of
 * consecutive moments more than 24 h apart. Triggers (drizzle/0009_*.sql)
 * mark records, numbers and contacts; the refresh recomputes the gaps of the
 * records they reach, or all of them on '*' or when that is most of them.
 */

export const GAPS_FAMILY = 'record_gaps';

/** The smallest threshold of "забытые" the gaps serve (days is a positive integer). */
export const MIN_GAP_DAYS = 1;

/** Above this many records a rebuild reads each source table once instead of probing per record. */
const FULL_REBUILD_RECORDS = 100_000;

/**
 * Gap rows of the records `targets` selects (kind, id, created_at, contact_id):
 * every moment at or after creation, ordered, each with the next one. No
 * temporary tables: the refresh may run outside a transaction, on a pool.
 */
function gapsSql(targets: string): string {
  const linked = (table: string, cols: string[]) =>
    cols
      .map(
        (c) =>
          `SELECT t.kind, t.id, t.created_at, s.${c} AS at FROM t JOIN ${table} s ON s.entity = t.kind AND s.entity_id = t.id`,
      )
      .join('\n UNION ALL ');
  return `WITH t AS MATERIALIZED (${targets})
    SELECT kind, id, at, next_at FROM (
      SELECT kind, id, at, lead(at) OVER (PARTITION BY kind, id ORDER BY at) AS next_at FROM (
        SELECT t.kind, t.id, t.created_at, t.created_at AS at FROM t
        UNION ALL ${linked('stage_history', ['at'])}
        UNION ALL ${linked('activities', ['created_at', 'completed_at'])}
        UNION ALL ${linked('tasks', ['created_at', 'started_at', 'closed_at'])}
        UNION ALL ${linked('calls', ['started_at'])}
        UNION ALL SELECT t.kind, t.id, t.created_at, c.started_at FROM t
          JOIN contact_phones cp ON cp.contact_id = t.contact_id JOIN calls c ON c.client_phone = cp.phone
      ) m WHERE at >= created_at
    ) g WHERE next_at > at + interval '24 hours'`;
}

/** The records marks reach: $1 lead ids, $2 deal ids, $3 contact ids, $4 phone numbers. */
const MARKED_TARGETS = `SELECT 'lead'::text AS kind, x.id, x.created_at, x.contact_id FROM leads x WHERE x.id = ANY($1::text[])
       UNION SELECT 'lead', x.id, x.created_at, x.contact_id FROM leads x WHERE x.contact_id = ANY($3::text[])
          OR x.contact_id IN (SELECT cp.contact_id FROM contact_phones cp WHERE cp.phone = ANY($4::text[]))
       UNION SELECT 'deal', x.id, x.created_at, x.contact_id FROM deals x WHERE x.id = ANY($2::text[])
       UNION SELECT 'deal', x.id, x.created_at, x.contact_id FROM deals x WHERE x.contact_id = ANY($3::text[])
          OR x.contact_id IN (SELECT cp.contact_id FROM contact_phones cp WHERE cp.phone = ANY($4::text[]))`;

const ALL_TARGETS = `SELECT 'lead'::text AS kind, id, created_at, contact_id FROM leads
       UNION ALL SELECT 'deal', id, created_at, contact_id FROM deals`;

export async function refreshRecordGaps(q: Queryable, tz: string): Promise<void> {
  const marks = await takeMarks(q, GAPS_FAMILY);
  if (marks === 'all') {
    await rebuildAll(q);
  } else if (marks.length > 0) {
    const of = (prefix: string) =>
      marks.filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
    const params = [of('lead:'), of('deal:'), of('contact:'), of('phone:')];
    const [{ n } = { n: 0 }] = await q.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM (${MARKED_TARGETS}) t`,
      params,
    );
    if (n > FULL_REBUILD_RECORDS) {
      await rebuildAll(q);
    } else {
      // Marked ids of deleted records are no longer among the targets: their gaps go too.
      await q.query(
        `DELETE FROM record_gaps g
          WHERE (g.kind = 'lead' AND g.entity_id = ANY($1::text[])) OR (g.kind = 'deal' AND g.entity_id = ANY($2::text[]))
             OR (g.kind, g.entity_id) IN (SELECT kind, id FROM (${MARKED_TARGETS}) t)`,
        params,
      );
      await q.query(
        `INSERT INTO record_gaps (kind, entity_id, from_at, to_at) ${gapsSql(MARKED_TARGETS)}`,
        params,
      );
    }
  }
  await q.query(
    `INSERT INTO rollup_state (family, tz, refreshed_at) VALUES ($1, $2, now())
     ON CONFLICT (family) DO UPDATE SET tz = EXCLUDED.tz, refreshed_at = EXCLUDED.refreshed_at`,
    [GAPS_FAMILY, tz],
  );
}

async function rebuildAll(q: Queryable): Promise<void> {
  await q.query('DELETE FROM record_gaps');
  await q.query(`INSERT INTO record_gaps (kind, entity_id, from_at, to_at) ${gapsSql(ALL_TARGETS)}`);
  await q.query('ANALYZE record_gaps');
}
