import type { Queryable } from './client.ts';

/**
 * Stores each lead's first response moment for "Скорость ответа на заявку"
 * (METRICS.md): the earliest outgoing call linked to the lead or to a phone of
 * its contact, or activity linked to it, at or after the lead's creation. It
 * is not capped at now: the earliest moment is at most now exactly when some
 * moment is, so readers compare it with their now. Every lead, or only `ids`
 * (the leads a write touched, the same ones whose last activity may change).
 */
export async function refreshFirstResponse(db: Queryable, ids?: string[]): Promise<void> {
  if (ids && ids.length === 0) return;
  await db.query(ids ? FEW_SQL : ALL_SQL, ids ? [ids] : []);
}

/** A few leads: index probes per lead. */
const FEW_SQL = `UPDATE leads SET first_response_at = v.fr
  FROM (
    SELECT l.id, LEAST(
        (SELECT min(c.started_at) FROM calls c
          WHERE c.entity = 'lead' AND c.entity_id = l.id AND c.direction = 'out' AND c.started_at >= l.created_at),
        (SELECT min(z.started_at) FROM contact_phones cp
           CROSS JOIN LATERAL (SELECT c.started_at FROM calls c
              WHERE c.client_phone = cp.phone AND c.direction = 'out' AND c.started_at >= l.created_at
              ORDER BY c.started_at LIMIT 1) z
          WHERE cp.contact_id = l.contact_id),
        (SELECT min(a.created_at) FROM activities a
          WHERE a.entity = 'lead' AND a.entity_id = l.id AND a.created_at >= l.created_at)
      ) AS fr
    FROM leads l WHERE l.id = ANY($1::text[])
  ) v
 WHERE leads.id = v.id AND leads.first_response_at IS DISTINCT FROM v.fr`;

/** Every lead: joins and one grouping instead of millions of probes (bulk loads, migrations). */
const ALL_SQL_TEXT = `UPDATE leads SET first_response_at = v.fr
  FROM (
    SELECT l.id, r.fr FROM leads l
      LEFT JOIN (
        SELECT id, min(t) AS fr FROM (
          SELECT l.id, c.started_at AS t FROM leads l
            JOIN calls c ON c.entity = 'lead' AND c.entity_id = l.id
           WHERE c.direction = 'out' AND c.started_at >= l.created_at
          UNION ALL
          SELECT l.id, c.started_at FROM leads l
            JOIN contact_phones cp ON cp.contact_id = l.contact_id
            JOIN calls c ON c.client_phone = cp.phone
           WHERE c.direction = 'out' AND c.started_at >= l.created_at
          UNION ALL
          SELECT l.id, a.created_at FROM leads l
            JOIN activities a ON a.entity = 'lead' AND a.entity_id = l.id
           WHERE a.created_at >= l.created_at
        ) x GROUP BY id
      ) r ON r.id = l.id
  ) v
 WHERE leads.id = v.id AND leads.first_response_at IS DISTINCT FROM v.fr`;

const ALL_SQL = ALL_SQL_TEXT;
