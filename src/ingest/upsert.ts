import type { Queryable } from '../db/client.ts';
import type { Column, EntitySpec } from './entities.ts';

const statements = new Map<string, string>();

/** Every value travels as text and is cast in SQL: one array type for both drivers, no per-driver serializers. */
function toText(type: Column['type'], value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (type === 'jsonb' || type === 'text[]') return JSON.stringify(value);
  return String(value);
}

function selectExpr(c: Column, i: number): string {
  const ref = `u.c${i}`;
  if (c.type === 'text') return ref;
  if (c.type === 'text[]') {
    return `coalesce((SELECT array_agg(e ORDER BY n) FROM jsonb_array_elements_text(${ref}::jsonb) WITH ORDINALITY AS a(e, n)), '{}'::text[])`;
  }
  return `${ref}::${c.type}`;
}

/**
 * The bulk upsert of one entity: `unnest` of text arrays (no ORM insert
 * builder, see STACK.md), rows unchanged by the update are skipped, and
 * `xmax = 0` tells inserted rows from updated ones.
 */
function upsertSql(spec: EntitySpec): string {
  const cached = statements.get(spec.name);
  if (cached) return cached;
  const cols = spec.columns;
  const params = cols.map((_, i) => `$${i + 1}::text[]`).join(', ');
  const aliases = cols.map((_, i) => `c${i}`).join(', ');
  const updatable = cols.filter((c) => !spec.keyColumns.includes(c.name));
  const set = updatable.map((c) => `${c.name} = ${spec.onConflict?.[c.name] ?? `excluded.${c.name}`}`).join(', ');
  const current = updatable.map((c) => `${spec.table}.${c.name}`).join(', ');
  const incoming = updatable.map((c) => spec.onConflict?.[c.name] ?? `excluded.${c.name}`).join(', ');
  const sql = `INSERT INTO ${spec.table} (${cols.map((c) => c.name).join(', ')})
SELECT ${cols.map(selectExpr).join(', ')} FROM unnest(${params}) AS u(${aliases})
ON CONFLICT (${spec.keyColumns.join(', ')}) DO UPDATE SET ${set}
WHERE (${current}) IS DISTINCT FROM (${incoming})
RETURNING (xmax = 0) AS inserted`;
  statements.set(spec.name, sql);
  return sql;
}

export async function writeRows(
  db: Queryable,
  spec: EntitySpec,
  rows: Record<string, unknown>[],
): Promise<{ inserted: number; updated: number }> {
  const arrays = spec.columns.map((c) => rows.map((r) => toText(c.type, c.value(r))));
  const result = await db.query<{ inserted: boolean }>(upsertSql(spec), arrays);
  let inserted = 0;
  for (const r of result) if (r.inserted) inserted++;
  if (spec.name === 'contacts') await refreshContactPhones(db, rows.map((r) => r.id as string));
  return { inserted, updated: result.length - inserted };
}

/** Keeps the phone → contact lookup (new numbers, calls of a deal's contact) in step with `contacts.phones`. */
async function refreshContactPhones(db: Queryable, contactIds: string[]): Promise<void> {
  await db.query(`DELETE FROM contact_phones WHERE contact_id = ANY($1::text[])`, [contactIds]);
  await db.query(
    `INSERT INTO contact_phones (phone, contact_id, contact_created_at)
     SELECT DISTINCT p, c.id, c.created_at FROM contacts c, unnest(c.phones) AS p
     WHERE c.id = ANY($1::text[]) AND p <> ''
     ON CONFLICT DO NOTHING`,
    [contactIds],
  );
}
