import type { Queryable } from '../client.ts';

/** Takes the marks of one family from rollup_dirty: the keys, or 'all' when '*' is among them. */
export async function takeMarks(db: Queryable, family: string): Promise<string[] | 'all'> {
  const rows = await db.query<{ key: string }>('DELETE FROM rollup_dirty WHERE family = $1 RETURNING key', [
    family,
  ]);
  return rows.some((r) => r.key === '*') ? 'all' : rows.map((r) => r.key);
}

/** Local dates a UTC date can overlap in any zone (offsets stay within a day either way). */
export function localDaysOf(utcDays: Iterable<string>): string[] {
  const out = new Set<string>();
  for (const d of utcDays) {
    const ms = Date.parse(`${d}T00:00:00Z`);
    if (Number.isNaN(ms)) continue;
    for (const k of [-1, 0, 1]) out.add(new Date(ms + k * 86_400_000).toISOString().slice(0, 10));
  }
  return [...out];
}
