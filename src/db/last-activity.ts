import type { Queryable } from './client.ts';

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
 * Recomputes the stored `last_activity_at` of every lead and deal. Called on
 * every write path (import, sync, webhooks) so "забытые" lists are instant.
 */
export async function refreshLastActivity(
  db: Queryable,
  only?: { leads?: string[]; deals?: string[] },
): Promise<void> {
  for (const [kind, table] of [
    ['lead', 'leads'],
    ['deal', 'deals'],
  ] as const) {
    const ids = only ? (kind === 'lead' ? only.leads : only.deals) : undefined;
    if (only && (!ids || ids.length === 0)) continue;
    const filter = ids ? `WHERE x.id = ANY($1::text[])` : '';
    await db.query(
      `UPDATE ${table} SET last_activity_at = m.la
       FROM (SELECT x.id, ${lastActivitySql(kind, 'x')} AS la FROM ${table} x ${filter}) m
       WHERE ${table}.id = m.id AND ${table}.last_activity_at IS DISTINCT FROM m.la`,
      ids ? [ids] : [],
    );
  }
}
