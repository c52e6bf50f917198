import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callTools } from '../../src/metrics/calls.ts';
import type { Caller, Envelope, ToolInput } from '../../src/metrics/types.ts';
import { createTestDb, drivers, type TestDb } from '../helpers/db.ts';
import { DEMO_NOW, loadDemo } from '../helpers/demo.ts';

/*
 * The calls tools read settled days from rollups and recent ones from the
 * calls. On the small demo company, every month of the year and the last 7
 * days (which straddle the two) must give what a plain query over the calls
 * says, written here from METRICS.md without the rollups or stored flags.
 */

const TZ = 'Europe/Moscow';
const ADMIN: Caller = { role: 'admin', managerId: null };

const PERIODS: Array<{ from: string; to: string }> = [
  ...Array.from({ length: 11 }, (_, i) => {
    const m = String(i + 1).padStart(2, '0');
    const last = new Date(Date.UTC(2026, i + 1, 0)).getUTCDate();
    return { from: `2026-${m}-01`, to: `2026-${m}-${last}` };
  }),
  { from: '2026-11-17', to: '2026-11-23' },
];

/** Calls of [from, to] (local dates) with the missed-call facts of METRICS.md, straight from the table. */
function directSql(): string {
  return `WITH base AS (
      SELECT c.* FROM calls c
       WHERE c.started_at >= ($1::date::timestamp AT TIME ZONE '${TZ}')
         AND c.started_at < (($2::date + 1)::timestamp AT TIME ZONE '${TZ}')
    ), facts AS (
      SELECT b.*,
             b.direction = 'in' AND b.status <> 'answered' AS missed,
             NOT EXISTS (SELECT 1 FROM calls e WHERE e.client_phone = b.client_phone
                           AND (e.started_at < b.started_at OR (e.started_at = b.started_at AND e.id < b.id)))
               AND NOT EXISTS (SELECT 1 FROM contacts k WHERE k.created_at < b.started_at
                                 AND EXISTS (SELECT 1 FROM contact_phones p WHERE p.contact_id = k.id AND p.phone = b.client_phone))
               AS new_number,
             (SELECT min(o.started_at) FROM calls o WHERE o.client_phone = b.client_phone AND o.direction = 'out'
                AND o.started_at > b.started_at AND o.started_at <= LEAST(b.started_at + interval '24 hours', $3::timestamptz))
               AS callback,
             EXISTS (SELECT 1 FROM calls a WHERE a.client_phone = b.client_phone AND a.status = 'answered'
                AND a.started_at > b.started_at AND a.started_at <= LEAST(b.started_at + interval '24 hours', $3::timestamptz))
               AS talked_after
        FROM base b
    )
    SELECT count(*) AS calls,
           count(*) FILTER (WHERE direction = 'in' AND status = 'answered') AS answered,
           count(*) FILTER (WHERE missed) AS missed,
           count(*) FILTER (WHERE direction = 'out' AND status = 'answered') AS connected,
           coalesce(sum(duration_sec), 0) AS talk_time_total,
           count(*) FILTER (WHERE new_number) AS new_number_calls,
           count(*) FILTER (WHERE missed AND callback IS NOT NULL) AS called_back,
           count(*) FILTER (WHERE missed AND NOT talked_after) AS lost_missed,
           count(*) FILTER (WHERE missed AND new_number AND NOT talked_after) AS lost_new_clients,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM callback - started_at))
             FILTER (WHERE missed AND callback IS NOT NULL) AS callback_delay_median
      FROM facts`;
}

describe.each(drivers)('calls tools agree with the calls themselves on the demo company (%s)', (driver) => {
  let db: TestDb;
  const run = (name: string, input: ToolInput): Promise<Envelope> =>
    callTools.find((t) => t.name === name)!.run({ db, caller: ADMIN, tz: TZ, now: DEMO_NOW }, input);

  beforeAll(async () => {
    db = await createTestDb(driver);
    await loadDemo(db);
  }, 120_000);

  afterAll(async () => {
    await db?.dispose();
  });

  it.each(PERIODS)('$from – $to', async (period) => {
    const [want] = await db.query<Record<string, number | null>>(directSql(), [
      period.from,
      period.to,
      DEMO_NOW.toISOString(),
    ]);
    expect(want?.calls).toBeGreaterThan(0);
    const stats = await run('calls_stats', { period, group_by: 'manager' });
    expect(stats.figures).toMatchObject({
      calls: want?.calls,
      answered: want?.answered,
      missed: want?.missed,
      connected: want?.connected,
      talk_time_total: want?.talk_time_total,
      new_number_calls: want?.new_number_calls,
    });
    expect(stats.groups?.reduce((s, g) => s + (g.figures.calls ?? 0), 0)).toBe(want?.calls);
    const missed = await run('missed_calls', { period });
    expect(missed.figures).toMatchObject({
      missed: want?.missed,
      called_back: want?.called_back,
      lost_missed: want?.lost_missed,
      lost_new_clients: want?.lost_new_clients,
      callback_delay_median: want?.callback_delay_median,
    });
  });
});
