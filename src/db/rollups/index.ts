import type { Db, Queryable } from '../client.ts';
import { refreshActivityRollups } from './activities.ts';
import { refreshCallRollups } from './calls.ts';
import { refreshDealRollups } from './deals.ts';
import { refreshDelayRollups } from './delays.ts';
import { GAPS_FAMILY, refreshRecordGaps } from './gaps.ts';
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
  { state: 'calls', marks: ['call_phones', 'call_days'] },
  { state: 'activities', marks: ['activity_days'] },
  { state: 'delays', marks: ['delays'] },
  { state: GAPS_FAMILY, marks: [GAPS_FAMILY] },
] as const;

type Refresh = (q: Queryable, tz: string) => Promise<unknown>;

/**
 * The refreshes, in chains: one after another within a chain, chains side by
 * side (they share no rows). Delays follow calls: the calls refresh sets the
 * callback moments the delays are made of. The lead cohorts and the deal
 * rollups keep their own marks and zone (lead_rollup_dirty / lead_rollup_state,
 * deal_rollup_dirty / deal_rollup_state).
 */
const CHAINS: Refresh[][] = [
  [refreshCallRollups, refreshDelayRollups],
  [refreshActivityRollups],
  [refreshLeadRollups],
  [refreshRecordGaps],
  [refreshDealRollups],
];

const inFlight = new WeakMap<object, Promise<void>>();

function canTransact(db: Queryable): db is Db {
  return typeof (db as Partial<Db>).transaction === 'function';
}

/**
 * Recomputes everything writes changed, each family in one transaction when
 * the handle can open one: its marks disappear together with its new rows, so
 * no reader sees the marks gone and the rows stale. `tz` defaults to the zone the
 * rollups were built in. Concurrent calls on one handle share the work.
 */
export async function refreshRollups(db: Queryable, tz?: string): Promise<void> {
  const running = inFlight.get(db);
  if (running) await running;
  const run = (async () => {
    const zone = tz ?? (await storedZone(db)) ?? DEFAULT_TZ;
    const runChain = async (q: Queryable, chain: Refresh[]) => {
      // Full rebuilds group and sort every call: room enough to do it in memory (this transaction only).
      await q.query(`SELECT set_config('work_mem', '256MB', true)`);
      for (const refresh of chain) await refresh(q, zone);
    };
    if (canTransact(db) && db.kind === 'postgres') {
      // Each chain in a transaction of its own, side by side on the pool's connections.
      await Promise.all(CHAINS.map((chain) => db.transaction((q) => runChain(q, chain))));
    } else {
      const all = (q: Queryable) => runChain(q, CHAINS.flat());
      if (canTransact(db)) await db.transaction(all);
      else await all(db);
    }
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
 * Marks every rollup for a full rebuild at the next refresh. A bulk load calls
 * it before writing: the marking triggers then skip their per-statement work
 * (drizzle/0008), which a table without its keys makes slow.
 */
export async function markFullRebuild(db: Queryable): Promise<void> {
  await db.query(
    `INSERT INTO rollup_dirty (family, key) SELECT unnest($1::text[]), '*' ON CONFLICT DO NOTHING`,
    [FAMILIES.flatMap((f) => f.marks)],
  );
  for (const table of ['lead_rollup_dirty', 'deal_rollup_dirty'])
    await db.query(
      `INSERT INTO ${table} (key) SELECT '*' WHERE NOT EXISTS (SELECT 1 FROM ${table} WHERE key = '*')`,
    );
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
