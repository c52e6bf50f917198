import type { Queryable } from './client.ts';
import { refreshFirstResponse } from './first-response.ts';

/**
 * SQL for "последняя активность" of a lead or deal (METRICS.md "Precise
 * readings"): the latest of its creation, stage-history entries, linked
 * activities (created, completed), linked tasks (created, started, closed),
 * linked calls, and calls with a phone of its contact. With `ref` (an SQL
 * expression for a timestamptz), moments after it do not count.
 */
export function lastActivitySql(kind: 'lead' | 'deal', alias: string, ref?: string): string {
  const upTo = (col: string) => (ref ? ` AND ${col} <= ${ref}` : '');
  const id = `${alias}.id`;
  const parts = [
    ref ? `CASE WHEN ${alias}.created_at <= ${ref} THEN ${alias}.created_at END` : `${alias}.created_at`,
    `(SELECT max(h.at) FROM stage_history h WHERE h.entity = '${kind}' AND h.entity_id = ${id}${upTo('h.at')})`,
    `(SELECT max(a.created_at) FROM activities a WHERE a.entity = '${kind}' AND a.entity_id = ${id}${upTo('a.created_at')})`,
    `(SELECT max(a.completed_at) FROM activities a WHERE a.entity = '${kind}' AND a.entity_id = ${id}${upTo('a.completed_at')})`,
    `(SELECT max(t.created_at) FROM tasks t WHERE t.entity = '${kind}' AND t.entity_id = ${id}${upTo('t.created_at')})`,
    `(SELECT max(t.started_at) FROM tasks t WHERE t.entity = '${kind}' AND t.entity_id = ${id}${upTo('t.started_at')})`,
    `(SELECT max(t.closed_at) FROM tasks t WHERE t.entity = '${kind}' AND t.entity_id = ${id}${upTo('t.closed_at')})`,
    `(SELECT max(c.started_at) FROM calls c WHERE c.entity = '${kind}' AND c.entity_id = ${id}${upTo('c.started_at')})`,
    `(SELECT max(c.started_at) FROM contact_phones cp JOIN calls c ON c.client_phone = cp.phone
       WHERE cp.contact_id = ${alias}.contact_id${upTo('c.started_at')})`,
  ];
  return `GREATEST(${parts.join(',\n ')})`;
}

/**
 * The latest linked moment per lead or deal id from each source table, in one
 * pass per table (GROUP BY) rather than a correlated lookup per record: the
 * shape for refreshing every record after a bulk load.
 */
function linkedMomentsSql(kind: 'lead' | 'deal'): string {
  return `SELECT id, max(t) AS t FROM (
    SELECT entity_id AS id, max(at) AS t FROM stage_history WHERE entity = '${kind}' GROUP BY entity_id
    UNION ALL SELECT entity_id, GREATEST(max(created_at), max(completed_at)) FROM activities
      WHERE entity = '${kind}' AND entity_id IS NOT NULL GROUP BY entity_id
    UNION ALL SELECT entity_id, GREATEST(max(created_at), max(started_at), max(closed_at)) FROM tasks
      WHERE entity = '${kind}' AND entity_id IS NOT NULL GROUP BY entity_id
    UNION ALL SELECT entity_id, max(started_at) FROM calls WHERE entity = '${kind}' AND entity_id IS NOT NULL GROUP BY entity_id
  ) s GROUP BY id`;
}

/**
 * Recomputes the stored `last_activity_at` of leads and deals: every one of
 * them (set-based, for bulk loads), or only the given ids (per record, for
 * the small writes of syncs and webhooks), and with them each lead's first
 * response. Called on every write path so "забытые" lists are instant.
 */
export async function refreshLastActivity(
  db: Queryable,
  only?: { leads?: string[]; deals?: string[] },
): Promise<void> {
  if (!only) {
    await refreshAll(db);
    await refreshFirstResponse(db);
    return;
  }
  // The first response of a lead changes with the same writes as its last activity.
  await refreshFirstResponse(db, only.leads ?? []);
  for (const [kind, table] of [
    ['lead', 'leads'],
    ['deal', 'deals'],
  ] as const) {
    const ids = kind === 'lead' ? only.leads : only.deals;
    if (!ids || ids.length === 0) continue;
    await db.query(
      `UPDATE ${table} SET last_activity_at = m.la
       FROM (SELECT x.id, ${lastActivitySql(kind, 'x')} AS la FROM ${table} x WHERE x.id = ANY($1::text[])) m
       WHERE ${table}.id = m.id AND ${table}.last_activity_at IS DISTINCT FROM m.la`,
      [ids],
    );
  }
}

async function refreshAll(db: Queryable): Promise<void> {
  // One statement for leads and deals, so the calls-by-contact-phone part is
  // computed once: the latest call per number (an index-ordered scan), then
  // per contact.
  const update = (kind: 'lead' | 'deal', table: string) => `UPDATE ${table} SET last_activity_at = v.la
       FROM (
         SELECT x.id, GREATEST(x.created_at, l.t, p.t) AS la
         FROM ${table} x
         LEFT JOIN linked_${kind} l ON l.id = x.id
         LEFT JOIN by_phone p ON p.contact_id = x.contact_id
       ) v
       WHERE ${table}.id = v.id AND ${table}.last_activity_at IS DISTINCT FROM v.la
       RETURNING 1`;
  await db.query(
    `WITH by_phone AS MATERIALIZED (
       SELECT cp.contact_id, max(pm.t) AS t
       FROM contact_phones cp
       JOIN (SELECT client_phone, max(started_at) AS t FROM calls GROUP BY client_phone) pm ON pm.client_phone = cp.phone
       GROUP BY cp.contact_id
     ),
     linked_lead AS (${linkedMomentsSql('lead')}),
     linked_deal AS (${linkedMomentsSql('deal')}),
     leads_done AS (${update('lead', 'leads')}),
     deals_done AS (${update('deal', 'deals')})
     SELECT (SELECT count(*) FROM leads_done) AS leads, (SELECT count(*) FROM deals_done) AS deals`,
  );
}
