import type { Db, Queryable } from '../client.ts';
import { refreshActivityRollups } from './activities.ts';
import { refreshCallRollups } from './calls.ts';
import { refreshDealRollups } from './deals.ts';
import { refreshLeadRollups } from './leads.ts';

/*
 * Pre-aggregated tables for the metric tools on large data (schema.ts,
 * "rollups"). Triggers mark what each write changed; refreshRollups recomputes
 * it at the end of every import, and ensureRollups lets a metric read only a
 * rollup that is current for its time zone.
 */

/** The zone rollups are built in when nobody said otherwise (config's COMPANY_TZ default). */
const DEFAULT_TZ = 'Europe/Moscow';

/** Each family, the rollup_state name it records its zone under, and the marks it takes. */
const FAMILIES = [
  { state: 'calls', marks: ['call_phones', 'call_days'], refresh: refreshCallRollups },
  { state: 'activities', marks: ['activity_days'], refresh: refreshActivityRollups },
] as const;

const inFlight = new WeakMap<object, Promise<void>>();

function canTransact(db: Queryable): db is Db {
  return typeof (db as Partial<Db>).transaction === 'function';
}

/**
 * Recomputes everything writes changed, in one transaction when the handle
 * can open one: the marks disappear together with the new rows, so no reader
 * sees the marks gone and the rows stale. `tz` defaults to the zone the
 * rollups were built in. Concurrent calls on one handle share the work.
 */
export async function refreshRollups(db: Queryable, tz?: string): Promise<void> {
  const running = inFlight.get(db);
  if (running) await running;
  const run = (async () => {
    const zone = tz ?? (await storedZone(db)) ?? DEFAULT_TZ;
    const all = async (q: Queryable) => {
      // Full rebuilds group and sort every call: room enough to do it in memory (this transaction only).
      await q.query(`SELECT set_config('work_mem', '256MB', true)`);
      for (const f of FAMILIES) await f.refresh(q, zone);
      // The lead cohorts keep their own marks and zone (lead_rollup_dirty / lead_rollup_state).
      await refreshLeadRollups(q, zone);
      // So do the deal rollups (deal_rollup_dirty / deal_rollup_state).
      await refreshDealRollups(q, zone);
    };
    if (canTransact(db)) await db.transaction(all);
    else await all(db);
  })();
  inFlight.set(db, run);
  try {
    await run;
  } finally {
    if (inFlight.get(db) === run) inFlight.delete(db);
  }
}

async function storedZone(db: Queryable): Promise<string | undefined> {
  const [row] = await db.query<{ tz: string }>(
    `SELECT tz FROM rollup_state ORDER BY refreshed_at DESC LIMIT 1`,
  );
  return row?.tz;
}

/**
 * Makes the rollups readable for `tz` before a metric reads them: one cheap
 * check, and a refresh only when a write left marks behind (or the company
 * zone changed).
 */
export async function ensureRollups(db: Queryable, tz: string): Promise<void> {
  const [row] = await db.query<{ ready: boolean }>(
    `SELECT (SELECT count(*) FROM rollup_state WHERE tz = $1 AND family = ANY($2::text[])) = $3
        AND NOT EXISTS (SELECT 1 FROM rollup_dirty) AS ready`,
    [tz, FAMILIES.map((f) => f.state), FAMILIES.length],
  );
  if (!row?.ready) await refreshRollups(db, tz);
}
