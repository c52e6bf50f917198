import type { Queryable } from '../db/client.ts';

/** What is in the database: counts per entity and the time span of calls, leads and deals. */
export interface DataSummary {
  counts: Record<string, number>;
  callsFrom: Date | null;
  callsTo: Date | null;
  leadsFrom: Date | null;
  dealsFrom: Date | null;
}

const counted = [
  'departments',
  'managers',
  'sources',
  'contacts',
  'companies',
  'leads',
  'deals',
  'activities',
  'tasks',
  'calls',
  'plans',
  'call_analyses',
] as const;

export async function dataSummary(db: Queryable): Promise<DataSummary> {
  const countSql = counted.map((t) => `(SELECT count(*) FROM ${t}) AS ${t}`).join(', ');
  const [c] = await db.query<Record<string, number>>(`SELECT ${countSql}`);
  const [span] = await db.query<{
    calls_from: Date | null;
    calls_to: Date | null;
    leads_from: Date | null;
    deals_from: Date | null;
  }>(
    `SELECT (SELECT min(started_at) FROM calls) AS calls_from, (SELECT max(started_at) FROM calls) AS calls_to,
            (SELECT min(created_at) FROM leads) AS leads_from, (SELECT min(created_at) FROM deals) AS deals_from`,
  );
  return {
    counts: Object.fromEntries(counted.map((t) => [t, Number(c?.[t] ?? 0)])),
    callsFrom: span?.calls_from ?? null,
    callsTo: span?.calls_to ?? null,
    leadsFrom: span?.leads_from ?? null,
    dealsFrom: span?.deals_from ?? null,
  };
}
