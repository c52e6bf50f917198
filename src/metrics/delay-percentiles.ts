import type { Queryable } from '../db/client.ts';
import { DELAY_SOURCES, type DelayKind } from '../db/rollups/delays.ts';
import { num, Params } from './common.ts';
import { type ResolvedPeriod, startOfLocalDay } from './period.ts';

/*
 * Exact percentile_cont of callback delays, first responses and sales cycles
 * without sorting a period's values. The running monthly counts of delay_months (plus
 * the values of the odd days at the period's ends, minus those not yet
 * arrived at `now`) give each group's count per delay bucket; that locates the
 * bucket and the offset of the k-th value, and one index range read of that
 * bucket's values (calls_callback_bucket_idx / lead_responses_bucket_idx /
 * deal_facts_cycle_bucket_idx)
 * yields the value itself. Interpolated exactly as PostgreSQL does.
 */

export interface DelayQuestion {
  kind: DelayKind;
  /** Values whose moment (call start / lead creation) is in [start, end). */
  period: ResolvedPeriod;
  tz: string;
  /** Values that arrived after now (callback / response moment) do not count. */
  now: Date;
  managerIds: string[] | null;
  groupBy?: 'manager' | 'department';
  /** The fractions asked, e.g. [0.5, 0.9]. */
  fractions: number[];
}

/** Per group key (null = everything in scope), the percentiles in the order asked; groups without values are absent. */
export type DelayPercentiles = Map<string | null, Array<number | null>>;

const DAY_MS = 86_400_000;

function isoToMs(day: string): number {
  return Date.parse(`${day}T00:00:00Z`);
}

function monthStart(day: string): string {
  return `${day.slice(0, 7)}-01`;
}

function nextMonthStart(day: string): string {
  const d = new Date(isoToMs(monthStart(day)));
  d.setUTCMonth(d.getUTCMonth() + 1);
  return d.toISOString().slice(0, 10);
}

function dayAfter(day: string): string {
  return new Date(isoToMs(day) + DAY_MS).toISOString().slice(0, 10);
}

/** The month start nearest to a local day: the rollup row to start from, and the days to correct by. */
function nearestMonth(day: string): string {
  const floor = monthStart(day);
  const ceil = nextMonthStart(day);
  return isoToMs(day) - isoToMs(floor) <= isoToMs(ceil) - isoToMs(day) ? floor : ceil;
}

export async function delayPercentiles(db: Queryable, q: DelayQuestion): Promise<DelayPercentiles> {
  const s = DELAY_SOURCES[q.kind];
  const everyone = q.managerIds === null && q.groupBy === undefined;
  const p = new Params();
  // Added on first use: a parameter no statement part refers to is an error.
  let scopeSql: string | undefined;
  const scope = () => {
    scopeSql ??= q.managerIds === null ? '' : ` AND ${s.manager} = ANY(${p.add(q.managerIds)}::text[])`;
    return scopeSql;
  };
  const instant = (day: string) => `${p.add(startOfLocalDay(day, q.tz).toISOString())}::timestamptz`;
  const parts: string[] = [];
  /** Counts of the months [fromMonth, toMonth): the later running count less the earlier, pair by pair. */
  const monthRows = (fromMonth: string, toMonth: string) => {
    const kind = `${p.add(q.kind)}::text`;
    const clamp = (month: string) =>
      `least(${p.add(month)}::date, (SELECT max(x.month) FROM ${s.months} x WHERE x.kind = ${kind}))`;
    // Every pair with a row at the earlier month has one at the later (rows run on to the last month).
    parts.push(
      `SELECT r.manager_id, r.bucket, r.before - coalesce(e.before, 0) AS n FROM ${s.months} r
         LEFT JOIN ${s.months} e ON e.kind = r.kind AND e.month = ${clamp(fromMonth)}
                                 AND e.manager_id = r.manager_id AND e.bucket = r.bucket
        WHERE r.kind = ${kind} AND r.month = ${clamp(toMonth)}
          AND r.manager_id ${everyone ? `= '*'` : `<> '*'`}${q.managerIds === null ? '' : ` AND r.manager_id = ANY(${p.add(q.managerIds)}::text[])`}`,
    );
  };
  const rawRange = (from: string, toExcl: string, sign: 1 | -1) => {
    if (from >= toExcl) return;
    parts.push(
      `SELECT ${everyone ? `'*'` : s.manager} AS manager_id, ${s.bucket} AS bucket, ${sign} * count(*) AS n
         FROM ${s.from} WHERE ${s.has} AND ${s.at} >= ${instant(from)} AND ${s.at} < ${instant(toExcl)}${scope()}
        GROUP BY 1, 2`,
    );
  };
  // Count(period) = C(end) - C(start), C(d) = values before local day d: the rollup row of the nearest month
  // start, corrected by the raw values between it and d — unless the period itself is shorter than the corrections.
  const from = q.period.from;
  const toExcl = dayAfter(q.period.to);
  const mFrom = nearestMonth(from);
  const mTo = nearestMonth(toExcl);
  const daysBetween = (a: string, b: string) => Math.abs(isoToMs(a) - isoToMs(b)) / DAY_MS;
  if (mFrom === mTo || daysBetween(from, toExcl) <= daysBetween(from, mFrom) + daysBetween(toExcl, mTo)) {
    rawRange(from, toExcl, 1);
  } else {
    monthRows(mFrom, mTo);
    rawRange(mTo, toExcl, 1);
    rawRange(toExcl, mTo, -1);
    rawRange(mFrom, from, -1);
    rawRange(from, mFrom, 1);
  }
  // Values still ahead of now.
  if (s.ahead) {
    const start = `${p.add(q.period.start.toISOString())}::timestamptz`;
    const end = `${p.add(q.period.end.toISOString())}::timestamptz`;
    parts.push(
      `SELECT ${everyone ? `'*'` : s.manager} AS manager_id, ${s.bucket} AS bucket, -count(*) AS n
         FROM ${s.from} WHERE ${s.has} AND ${s.at} >= ${start} AND ${s.at} < ${end}
          AND ${s.ahead(`${p.add(q.now.toISOString())}::timestamptz`)}${scope()}
        GROUP BY 1, 2`,
    );
  }

  const gkey =
    q.groupBy === 'manager'
      ? 'v.manager_id'
      : q.groupBy === 'department'
        ? `coalesce(gm.department_id, '')`
        : 'NULL::text';
  // Per group, its counts per bucket (in bucket order); the ranks are located here, in the few arrays.
  const hist = await db.query<{ gkey: string | null; buckets: number[]; ns: number[] }>(
    `WITH parts AS (${parts.join('\n UNION ALL\n')})
     SELECT gkey, array_agg(bucket ORDER BY bucket) AS buckets, array_agg(n ORDER BY bucket) AS ns
       FROM (SELECT ${gkey} AS gkey, v.bucket, sum(v.n)::int4 AS n FROM parts v
             ${q.groupBy === 'department' ? 'LEFT JOIN managers gm ON gm.id = v.manager_id' : ''}
             GROUP BY 1, 2) x
      WHERE n > 0 GROUP BY gkey`,
    p.values,
  );
  const counts = new Map<string | null, Map<number, number>>();
  const add = (key: string | null, bucket: number, n: number) => {
    let m = counts.get(key);
    if (!m) {
      m = new Map();
      counts.set(key, m);
    }
    m.set(bucket, (m.get(bucket) ?? 0) + n);
  };
  for (const h of hist) {
    h.buckets.forEach((b, k) => {
      const bucket = Number(b);
      const n = Number(h.ns[k]);
      if (q.groupBy !== undefined) add(String(h.gkey), bucket, n);
      // The groups split the scope: their sum is the total.
      add(null, bucket, n);
    });
  }
  /** Per group: its count, and where each needed rank sits (bucket, offset within the bucket). */
  const located = new Map<
    string | null,
    { total: number; at: Map<number, { bucket: number; off: number }> }
  >();
  for (const [key, byBucket] of counts) {
    const buckets = [...byBucket.entries()].sort((a, b) => a[0] - b[0]);
    const total = buckets.reduce((sum, [, n]) => sum + n, 0);
    const ranks = new Set<number>();
    for (const f of q.fractions) {
      const pos = f * (total - 1);
      ranks.add(Math.floor(pos));
      ranks.add(Math.ceil(pos));
    }
    const at = new Map<number, { bucket: number; off: number }>();
    let below = 0;
    for (const [bucket, n] of buckets) {
      for (const r of ranks) if (r >= below && r < below + n) at.set(r, { bucket, off: r - below });
      below += n;
    }
    located.set(key, { total, at });
  }

  // The values at those ranks: one bounded read of a bucket per rank.
  const wanted = new Map<string, { gkey: string | null; bucket: number; off: number }>();
  const idOf = (gkey: string | null, bucket: number, off: number) => `${gkey}\u0000${bucket}\u0000${off}`;
  for (const [gkey, g] of located) {
    for (const { bucket, off } of g.at.values()) wanted.set(idOf(gkey, bucket, off), { gkey, bucket, off });
  }
  const values = new Map<string, number>();
  if (wanted.size > 0) {
    const fp = new Params();
    const fstart = `${fp.add(q.period.start.toISOString())}::timestamptz`;
    const fend = `${fp.add(q.period.end.toISOString())}::timestamptz`;
    const arrived = s.arrived ? ` AND ${s.arrived(`${fp.add(q.now.toISOString())}::timestamptz`)}` : '';
    const fscope = q.managerIds === null ? '' : ` AND ${s.manager} = ANY(${fp.add(q.managerIds)}::text[])`;
    const list = [...wanted.values()];
    const read = (rows: typeof list, groupCond: string) => {
      const keys = fp.add(rows.map((w) => w.gkey ?? ''));
      const buckets = fp.add(rows.map((w) => w.bucket));
      const offs = fp.add(rows.map((w) => w.off));
      return `SELECT t.gkey, t.bucket, t.off, v.delay
        FROM unnest(${keys}::text[], ${buckets}::int[], ${offs}::int8[]) t(gkey, bucket, off)
        CROSS JOIN LATERAL (
          SELECT ${s.delay} AS delay FROM ${s.from}
           WHERE ${s.bucket} = t.bucket AND ${s.has} AND ${s.at} >= ${fstart} AND ${s.at} < ${fend}
             ${arrived}${fscope}${groupCond}
           ORDER BY 1 OFFSET t.off LIMIT 1) v`;
    };
    const totals = list.filter((w) => w.gkey === null);
    const groups = list.filter((w) => w.gkey !== null);
    const selects: string[] = [];
    if (totals.length > 0) selects.push(read(totals, ''));
    if (groups.length > 0) {
      selects.push(
        read(
          groups,
          q.groupBy === 'manager'
            ? ` AND ${s.manager} = t.gkey`
            : ` AND coalesce((SELECT gm.department_id FROM managers gm WHERE gm.id = c.manager_id), '') = t.gkey`,
        ),
      );
    }
    // Totals and groups are told apart by the order of the selects: keep them apart in the ids too.
    const rows = await db.query<{ gkey: string; bucket: number; off: number; delay: number; part: number }>(
      selects.map((sql, i) => `SELECT ${i} AS part, * FROM (${sql}) s${i}`).join(' UNION ALL '),
      fp.values,
    );
    for (const r of rows) {
      const isTotal = totals.length > 0 && num(r.part) === 0;
      values.set(idOf(isTotal ? null : String(r.gkey), num(r.bucket) ?? 0, num(r.off) ?? 0), Number(r.delay));
    }
  }

  const out: DelayPercentiles = new Map();
  for (const [gkey, g] of located) {
    out.set(
      gkey,
      q.fractions.map((f) => {
        // percentile_cont: the values at floor and ceil of f·(n−1), linearly interpolated (PostgreSQL's float8_lerp).
        const pos = f * (g.total - 1);
        const lo = Math.floor(pos);
        const hi = Math.ceil(pos);
        const a = atRank(gkey, g, lo);
        const b = atRank(gkey, g, hi);
        if (a === undefined || b === undefined) return null;
        return hi > lo ? a + (pos - lo) * (b - a) : a;
      }),
    );
  }
  return out;

  function atRank(
    gkey: string | null,
    g: { at: Map<number, { bucket: number; off: number }> },
    rank: number,
  ): number | undefined {
    const where = g.at.get(rank);
    return where && values.get(idOf(gkey, where.bucket, where.off));
  }
}
