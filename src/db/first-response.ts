import type { Queryable } from './client.ts';

/*
 * lead_responses: each lead's first response for "Скорость ответа на заявку"
 * (METRICS.md) — the earliest outgoing call linked to the lead or to a phone
 * of its contact, or activity linked to it, at or after the lead's creation.
 * It is not capped at now: the earliest moment is at most now exactly when
 * some moment is, so readers compare it with their now. A narrow table of its
 * own, so a bulk refresh inserts rows instead of rewriting every lead.
 */

/** Every lead's responses, as joins and one grouping instead of millions of probes. */
const ALL_SQL = `INSERT INTO lead_responses (lead_id, created_at, manager_id, source_id, first_response_at)
  SELECT l.id, l.created_at, l.manager_id, l.source_id, r.fr
    FROM leads l
    JOIN (
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
    ) r ON r.id = l.id`;

/** A few leads: index probes per lead. */
const FEW_SQL = `INSERT INTO lead_responses (lead_id, created_at, manager_id, source_id, first_response_at)
  SELECT * FROM (
    SELECT l.id, l.created_at, l.manager_id, l.source_id, LEAST(
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
  ) v WHERE v.fr IS NOT NULL`;

/**
 * Recomputes the first response of every lead, or only of `ids` (the leads a
 * write touched — the same ones whose last activity may change; deleted ones
 * lose their row).
 */
export async function refreshFirstResponse(db: Queryable, ids?: string[]): Promise<void> {
  if (!ids) {
    await db.query('DELETE FROM lead_responses');
    await db.query(ALL_SQL);
    return;
  }
  if (ids.length === 0) return;
  await db.query('DELETE FROM lead_responses WHERE lead_id = ANY($1::text[])', [ids]);
  await db.query(FEW_SQL, [ids]);
}
