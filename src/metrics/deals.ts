import type { Row } from '../db/client.ts';
import { ensureDealRollups } from '../db/rollups/deals.ts';
import { AppError } from '../errors.ts';
import {
  envelope,
  type MetricContext,
  NO_MANAGER_LABEL,
  NO_SOURCE_LABEL,
  normalizeName,
  num,
  Params,
  periodOf,
  type ResolvedFilters,
  ratio,
  referenceMoment,
  resolveFilters,
} from './common.ts';
import { delayPercentiles } from './delay-percentiles.ts';
import {
  buildGroups,
  checkGroupBy,
  choosePipeline,
  DEFAULT_LIMIT,
  dropChannelFilter,
  forgottenRecords,
  type GroupSql,
  groupKeySql,
  isoOrNull,
  isTimeGroup,
  NONE_KEY,
  type RecordKind,
  recordFilterSql,
  runGrouped,
  snapshotOf,
  sqlText,
  stageIdsByState,
  stageReach,
} from './leads.ts';
import { localDate, type ResolvedPeriod, splitPeriod, startOfLocalDay } from './period.ts';
import type { MetricTool } from './tool.ts';
import type { Envelope, EnvelopeGroup, EnvelopeItem, Figures, GroupBy, ToolInput } from './types.ts';

/*
 * The deals family of METRICS.md ("Сделки"): deal_stats, stage_funnel,
 * forgotten_deals, deals_without_tasks, and list_records (drill-down lists of
 * deals and leads). Stage meaning comes from stages.semantic / probability
 * (configuration), never from stage names.
 */

const UNKNOWN_STAGE_KEY = 'unknown';
const UNKNOWN_STAGE_LABEL = 'Этап не известен';

// ---------------------------------------------------------------------------
// Время на этапе (stage_time)

/**
 * Mean days of a stay in an open stage: from a stage-history entry to the next
 * one, the last stay lasting until R = min(end of period, now) — or until the
 * deal closed, when the history lacks the closing entry. Stays that were under
 * way at some point of the period count (entered before R, left after its start).
 * Grouped by stage, by a deal dimension, or by the local time of entry.
 */
async function stageTime(
  ctx: MetricContext,
  filters: ResolvedFilters,
  period: ResolvedPeriod,
  groupBy: GroupBy | undefined,
  pipelineId?: string,
): Promise<{ total: number | null; groups: Map<string, number | null> }> {
  // Time groups bucket stays by their entry, which the stay rollup does not keep.
  if (!(groupBy && isTimeGroup(groupBy)) && (await useDealRollups(ctx, filters))) {
    return stageTimeFromRollups(ctx, filters, period, groupBy, pipelineId);
  }
  const p = new Params();
  const ref = referenceMoment(ctx, period);
  const r = `${p.add(ref.toISOString())}::timestamptz`;
  const start = `${p.add(period.start.toISOString())}::timestamptz`;
  let g: GroupSql | null = null;
  if (groupBy === 'stage') g = { key: 'st.stage_id', label: 'NULL::text', joins: '' };
  else if (groupBy) g = groupKeySql(groupBy, 'st', 'st.at', p, ctx, period);
  const ctes = `alive AS (
      SELECT d.id, d.manager_id, d.source_id, d.pipeline_id, d.closed_at FROM deals d
       WHERE d.created_at < ${r} AND (d.closed_at IS NULL OR d.closed_at >= ${start})
             ${recordFilterSql(p, filters, 'deal', 'd')}${pipelineId ? ` AND d.pipeline_id = ${p.add(pipelineId)}` : ''}
    ),
    stays AS (
      SELECT a.id, a.manager_id, a.source_id, a.pipeline_id, h.stage_id, h.at,
             least(coalesce(lead(h.at) OVER w, ${r}), CASE WHEN a.closed_at > h.at THEN a.closed_at END) AS left_at
        FROM alive a JOIN stage_history h ON h.entity = 'deal' AND h.entity_id = a.id AND h.at < ${r}
      WINDOW w AS (PARTITION BY h.entity_id ORDER BY h.at, h.stage_id)
    ),
    base AS MATERIALIZED (
      SELECT extract(epoch FROM st.left_at - st.at) / 86400 AS days,
             ${g ? g.key : 'NULL::text'} AS gkey, ${g ? g.label : 'NULL::text'} AS glabel
        FROM stays st JOIN stages s ON s.id = st.stage_id AND s.semantic = 'open'
        ${g ? g.joins : ''}
       WHERE st.left_at > ${start}
    )`;
  const { total, groups } = await runGrouped(ctx, p, ctes, 'avg(days) AS stage_time', g !== null);
  return {
    total: num(total.stage_time),
    groups: new Map(groups.map((row) => [String(row.gkey), num(row.stage_time)])),
  };
}

/** The deal rollups (src/db/rollups/deals.ts) serve every query but one filtered by campaign, a property of the linked leads. */
async function useDealRollups(ctx: MetricContext, filters: ResolvedFilters): Promise<boolean> {
  if (filters.campaigns !== null) return false;
  await ensureDealRollups(ctx.db, ctx.tz);
  return true;
}

/**
 * The smallest cube of the deal rollups that has what a query filters and
 * groups by: f every dimension, m without the source, n without the source and the manager.
 */
function dealCube(filters: ResolvedFilters, groupBy: GroupBy | undefined): Cube {
  if (filters.sourceIds !== null || groupBy === 'source') return 'f';
  return filters.managerIds !== null || groupBy === 'manager' || groupBy === 'department' ? 'm' : 'n';
}

type Cube = 'f' | 'm' | 'n';

function shiftDay(day: string, days: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
}

function monthStart(day: string, after: boolean): string {
  if (day.endsWith('-01') || !after) return `${day.slice(0, 7)}-01`;
  const d = new Date(`${day.slice(0, 7)}-01T00:00:00Z`);
  d.setUTCMonth(d.getUTCMonth() + 1);
  return d.toISOString().slice(0, 10);
}

/**
 * Rows of deal rollup `a` (cube `cube`) for the local days [from, until):
 * month rows for the whole months, day rows for the rest; day rows only when
 * `months` is false (a grouping by day or week).
 */
function rollupDays(p: Params, a: string, cube: Cube, from: string, until: string, months = true): string {
  const firstMonth = monthStart(from, true);
  const lastMonth = monthStart(until, false);
  if (!months || firstMonth >= lastMonth) {
    return `(${a}.level = '${cube}d' AND ${a}.day >= ${p.add(from)}::date AND ${a}.day < ${p.add(until)}::date)`;
  }
  const m1 = `${p.add(firstMonth)}::date`;
  const m2 = `${p.add(lastMonth)}::date`;
  return `((${a}.level = '${cube}m' AND ${a}.day >= ${m1} AND ${a}.day < ${m2})
        OR (${a}.level = '${cube}d' AND ((${a}.day >= ${p.add(from)}::date AND ${a}.day < ${m1})
                                      OR (${a}.day >= ${m2} AND ${a}.day < ${p.add(until)}::date))))`;
}

/** rollupDays over the days of the period. */
function periodDays(p: Params, a: string, cube: Cube, period: ResolvedPeriod, months = true): string {
  return rollupDays(p, a, cube, period.from, shiftDay(period.to, 1), months);
}

/**
 * stage_time from deal_stays: a regular stay (see schema.ts) counts when it
 * ended after the start of the period and entered before R, lasting until
 * least(its end, R). Stays that ended on whole local days before R's day come
 * summed from deal_stay_rollup (less those that ended exactly at the start);
 * those that ended on R's day, those still under way at R and the irregular
 * ones are read row by row.
 */
async function stageTimeFromRollups(
  ctx: MetricContext,
  filters: ResolvedFilters,
  period: ResolvedPeriod,
  groupBy: GroupBy | undefined,
  pipelineId?: string,
  alsoByStage = false,
): Promise<StageTimes> {
  const ref = referenceMoment(ctx, period);
  // Every stay counted ends after the start and is cut at R: nothing is left when R is not after the start.
  if (ref.getTime() <= period.start.getTime()) return { total: null, groups: new Map(), stages: new Map() };
  const p = new Params();
  const r = `${p.add(ref.toISOString())}::timestamptz`;
  const start = `${p.add(period.start.toISOString())}::timestamptz`;
  const refDay = localDate(ref, ctx.tz);
  const refDayStart = `${p.add(startOfLocalDay(refDay, ctx.tz).toISOString())}::timestamptz`;
  const wholeDays = refDay > period.from;
  const only = (a: string) =>
    recordFilterSql(p, filters, 'deal', a) +
    (pipelineId ? ` AND ${a}.pipeline_id = ${p.add(pipelineId)}` : '');
  const dims = (a: string) => `${a}.stage_id, ${a}.manager_id, ${a}.source_id, ${a}.pipeline_id`;
  const parts: string[] = [];
  if (wholeDays) {
    const cube = dealCube(filters, groupBy);
    // R's day late in its month (as for this month or year to date): that month's row less the days from
    // R's day on (rarely any: nothing has ended after now) reads far fewer rows than its days one by one.
    const nextMonth = monthStart(refDay, true);
    const lateInMonth =
      nextMonth > refDay &&
      monthStart(refDay, false) >= monthStart(period.from, true) &&
      Date.parse(refDay) - Date.parse(monthStart(refDay, false)) > Date.parse(nextMonth) - Date.parse(refDay);
    parts.push(
      `SELECT ${dims('x')}, x.stays::float8 AS n, x.seconds::float8 FROM deal_stay_rollup x
        WHERE ${rollupDays(p, 'x', cube, period.from, lateInMonth ? nextMonth : refDay)} ${only('x')}`,
      `SELECT ${dims('x')}, -1, -date_part('epoch', x.ended_at - x.at) FROM deal_stays x
        WHERE x.ended_at = ${start} AND x.regular ${only('x')}`,
    );
    if (lateInMonth)
      parts.push(
        `SELECT ${dims('x')}, -x.stays::float8, -x.seconds::float8 FROM deal_stay_rollup x
          WHERE ${rollupDays(p, 'x', cube, refDay, nextMonth, false)} ${only('x')}`,
      );
  }
  parts.push(
    `SELECT ${dims('x')}, 1, date_part('epoch', x.ended_at - x.at) FROM deal_stays x
      WHERE x.ended_at >= ${refDayStart} AND x.ended_at <= ${r} AND x.ended_at > ${start} AND x.at < ${r}
        AND x.regular ${only('x')}`,
    `SELECT ${dims('x')}, 1, date_part('epoch', ${r} - x.at) FROM deal_stays x
      WHERE x.ended_at > ${r} AND x.at < ${r} AND x.regular ${only('x')}`,
    `SELECT ${dims('x')}, 1, date_part('epoch', ${r} - x.at) FROM deal_stays x
      WHERE x.ended_at IS NULL AND x.at < ${r} AND x.regular ${only('x')}`,
    `SELECT ${dims('x')}, 1, date_part('epoch', least(x.ended_at, ${r}) - x.at) FROM deal_stays x
      WHERE NOT x.regular AND x.at < ${r} AND least(x.ended_at, ${r}) > ${start}
        AND x.created_at < ${r} AND (x.closed_at IS NULL OR x.closed_at >= ${start}) ${only('x')}`,
  );
  let g: GroupSql | null = null;
  if (groupBy === 'stage') g = { key: 'st.stage_id', label: 'NULL::text', joins: '' };
  else if (groupBy) g = groupKeySql(groupBy, 'st', 'NULL::timestamptz', p, ctx, period);
  const sets = ['()'];
  if (g) sets.unshift(`(${g.key})`);
  if (alsoByStage && groupBy !== 'stage') sets.unshift('(st.stage_id)');
  // Summed per stage, manager, source and pipeline first: the joins and the grouping then see far fewer rows.
  // In float8 (date_part), not numeric: the hash aggregation of a year's open stays takes half the time.
  const rows = await ctx.db.query(
    `WITH stays AS (
      SELECT stage_id, manager_id, source_id, pipeline_id, sum(n) AS n, sum(seconds) AS seconds
        FROM (${parts.join('\n      UNION ALL\n      ')}) u(stage_id, manager_id, source_id, pipeline_id, n, seconds)
       GROUP BY 1, 2, 3, 4)
     SELECT GROUPING(st.stage_id) AS no_stage, ${g ? `GROUPING(${g.key})` : '1'} AS no_group, st.stage_id,
            ${g ? g.key : 'NULL::text'} AS gkey, sum(st.seconds) / nullif(sum(st.n), 0) / 86400 AS stage_time
       FROM stays st JOIN stages s ON s.id = st.stage_id AND s.semantic = 'open'
       ${g ? g.joins : ''}
      GROUP BY GROUPING SETS (${sets.join(', ')})`,
    p.values,
  );
  const set = (noStage: number, noGroup: number) =>
    rows.filter((r) => Number(r.no_stage) === noStage && Number(r.no_group) === noGroup);
  // By stage, the group key is the stage itself: that set is grouped by both.
  const groupRows = groupBy === 'stage' ? set(0, 0) : set(1, 0);
  return {
    total: num(set(1, 1)[0]?.stage_time),
    groups: new Map(groupRows.filter((r) => r.gkey !== null).map((r) => [String(r.gkey), num(r.stage_time)])),
    stages: new Map(set(0, 1).map((r) => [String(r.stage_id), num(r.stage_time)])),
  };
}

interface StageTimes {
  total: number | null;
  /** Per key of the grouping asked. */
  groups: Map<string, number | null>;
  /** Per stage, when asked along with another grouping. */
  stages: Map<string, number | null>;
}

// ---------------------------------------------------------------------------
// deal_stats

const DEAL_STATS_GROUPS = [
  'manager',
  'department',
  'source',
  'pipeline',
  'stage',
  'day',
  'week',
  'month',
  'quarter',
] as const;

type ForecastMode = 'current' | 'past' | 'future';

/**
 * Which open deals the forecast adds: deals carry no expected close date, so
 * the whole open pipeline is expected to close in the period that contains
 * now; a finished period adds none (forecast = its sales); a period entirely
 * in the future gets no forecast.
 */
function forecastMode(ctx: MetricContext, period: ResolvedPeriod): ForecastMode {
  if (period.start > ctx.now) return 'future';
  return period.end > ctx.now ? 'current' : 'past';
}

function dealFigures(r: Row | undefined, mode: ForecastMode): Figures {
  const won = num(r?.won) ?? 0;
  const lost = num(r?.lost) ?? 0;
  const wonAmount = num(r?.won_amount) ?? 0;
  const repeat = num(r?.won_repeat) ?? 0;
  return {
    created: num(r?.created) ?? 0,
    open: num(r?.open) ?? 0,
    open_amount: num(r?.open_amount) ?? 0,
    won,
    won_amount: wonAmount,
    lost,
    lost_amount: num(r?.lost_amount) ?? 0,
    avg_check: ratio(wonAmount, won),
    win_rate: ratio(won, won + lost),
    cycle_days: num(r?.cycle_days),
    cycle_days_median: num(r?.cycle_days_median),
    won_new: won - repeat,
    won_repeat: repeat,
    forecast_amount:
      mode === 'future' ? null : wonAmount + (mode === 'current' ? (num(r?.weighted_open) ?? 0) : 0),
  };
}

/** Open deals by current stage and lost deals of the period by their last open stage, from the base tables. */
async function openAndLostRaw(
  ctx: MetricContext,
  filters: ResolvedFilters,
  period: ResolvedPeriod,
): Promise<{ open: Row[]; lost: Row[] }> {
  const po = new Params();
  const open = await ctx.db.query(
    `SELECT d.stage_id, count(*) AS n, coalesce(sum(d.amount), 0) AS amount
       FROM deals d JOIN stages s ON s.id = d.stage_id AND s.semantic = 'open'
      WHERE true ${recordFilterSql(po, filters, 'deal', 'd')}
      GROUP BY 1`,
    po.values,
  );
  const pl = new Params();
  const lost = await ctx.db.query(
    `SELECT coalesce(ls.stage_id, '${UNKNOWN_STAGE_KEY}') AS stage_id, count(*) AS n, coalesce(sum(d.amount), 0) AS amount
       FROM deals d JOIN stages s ON s.id = d.stage_id AND s.semantic = 'lost'
       LEFT JOIN LATERAL (
         SELECT h.stage_id FROM stage_history h JOIN stages hs ON hs.id = h.stage_id AND hs.semantic = 'open'
          WHERE h.entity = 'deal' AND h.entity_id = d.id AND h.at <= d.closed_at
          ORDER BY h.at DESC, h.stage_id DESC LIMIT 1
       ) ls ON true
      WHERE d.closed_at >= ${pl.add(period.start.toISOString())}::timestamptz
        AND d.closed_at < ${pl.add(period.end.toISOString())}::timestamptz
        ${recordFilterSql(pl, filters, 'deal', 'd')}
      GROUP BY 1`,
    pl.values,
  );
  return { open, lost };
}

/** openAndLostRaw from deal_rollup: kind o for the deals open now, kind x for those lost on the days of the period. */
async function openAndLostFromRollups(
  ctx: MetricContext,
  filters: ResolvedFilters,
  period: ResolvedPeriod,
): Promise<{ open: Row[]; lost: Row[] }> {
  const po = new Params();
  const open = await ctx.db.query(
    `SELECT r.stage_id, sum(r.deals) AS n, coalesce(sum(r.amount), 0) AS amount
       FROM deal_rollup r JOIN stages s ON s.id = r.stage_id AND s.semantic = 'open'
      WHERE r.level = '${dealCube(filters, undefined)}d' AND r.kind = 'o' ${recordFilterSql(po, filters, 'deal', 'r')}
      GROUP BY 1`,
    po.values,
  );
  const pl = new Params();
  const lost = await ctx.db.query(
    `SELECT coalesce(r.lost_stage_id, '${UNKNOWN_STAGE_KEY}') AS stage_id, sum(r.deals) AS n,
            coalesce(sum(r.amount), 0) AS amount
       FROM deal_rollup r JOIN stages s ON s.id = r.stage_id AND s.semantic = 'lost'
      WHERE r.kind = 'x' AND ${periodDays(pl, 'r', dealCube(filters, undefined), period)}
        ${recordFilterSql(pl, filters, 'deal', 'r')}
      GROUP BY 1`,
    pl.values,
  );
  return { open, lost };
}

/**
 * By stage ("По стадиям" and "на каком этапе отвалились"): per open stage of the
 * deal pipelines, open deals now (count, amount), deals lost in the period
 * whose last open stage in the history was this one (count, amount), and the
 * stage_time of the stage; lost deals without an open stage in their history
 * form the "Этап не известен" row.
 */
async function dealsByStage(
  ctx: MetricContext,
  filters: ResolvedFilters,
  period: ResolvedPeriod,
  times: Map<string, number | null>,
): Promise<EnvelopeGroup[]> {
  const stages = await ctx.db.query<{ id: string; name: string; pipeline_id: string; pipeline: string }>(
    `SELECT s.id, s.name, s.pipeline_id, p.name AS pipeline
       FROM stages s JOIN pipelines p ON p.id = s.pipeline_id
      WHERE p.entity = 'deal' AND s.semantic = 'open' ${filters.pipelineIds ? 'AND p.id = ANY($1::text[])' : ''}
      ORDER BY p.name, p.id, s.sort, s.id`,
    filters.pipelineIds ? [filters.pipelineIds] : [],
  );
  const { open, lost } = (await useDealRollups(ctx, filters))
    ? await openAndLostFromRollups(ctx, filters, period)
    : await openAndLostRaw(ctx, filters, period);
  const openBy = new Map(open.map((r) => [String(r.stage_id), r]));
  const lostBy = new Map(lost.map((r) => [String(r.stage_id), r]));
  const figuresOf = (id: string): Figures => ({
    open: num(openBy.get(id)?.n) ?? 0,
    open_amount: num(openBy.get(id)?.amount) ?? 0,
    lost: num(lostBy.get(id)?.n) ?? 0,
    lost_amount: num(lostBy.get(id)?.amount) ?? 0,
    stage_time: times.get(id) ?? null,
  });
  const rows = stages.map((s) => ({ s, figures: figuresOf(s.id) }));
  const active = new Set(
    rows
      .filter((r) => r.figures.open || r.figures.lost || r.figures.stage_time !== null)
      .map((r) => r.s.pipeline_id),
  );
  const shown = active.size > 0 ? rows.filter((r) => active.has(r.s.pipeline_id)) : rows;
  const several = new Set(shown.map((r) => r.s.pipeline_id)).size > 1;
  const groups: EnvelopeGroup[] = shown.map((r) => ({
    key: r.s.id,
    label: several ? `${r.s.pipeline}: ${r.s.name}` : r.s.name,
    figures: r.figures,
  }));
  const unknown = lostBy.get(UNKNOWN_STAGE_KEY);
  if (unknown) {
    groups.push({
      key: UNKNOWN_STAGE_KEY,
      label: UNKNOWN_STAGE_LABEL,
      figures: {
        open: 0,
        open_amount: 0,
        lost: num(unknown.n) ?? 0,
        lost_amount: num(unknown.amount) ?? 0,
        stage_time: null,
      },
    });
  }
  return groups;
}

/** A stage's default probability: 10 % on the first open stage of its pipeline up to 90 % on the last. */
const STAGE_PROB = `stage_prob AS (
      SELECT id, CASE WHEN n = 1 THEN 0.5 ELSE 0.1 + 0.8 * (r - 1)::float8 / (n - 1) END AS p
        FROM (SELECT id, r, max(r) OVER (PARTITION BY pipeline_id) AS n
                FROM (SELECT id, pipeline_id, dense_rank() OVER (PARTITION BY pipeline_id ORDER BY sort) AS r
                        FROM stages WHERE semantic = 'open') ranked) sized
    )`;

/** deal_stats totals and groups (everything but stage_time) from the base tables. */
async function dealTotalsRaw(
  ctx: MetricContext,
  filters: ResolvedFilters,
  period: ResolvedPeriod,
  groupBy: GroupBy | undefined,
): Promise<{ total: Row; groups: Row[] }> {
  const p = new Params();
  const f = recordFilterSql(p, filters, 'deal', 'd');
  const start = `${p.add(period.start.toISOString())}::timestamptz`;
  const end = `${p.add(period.end.toISOString())}::timestamptz`;
  const now = `${p.add(ctx.now.toISOString())}::timestamptz`;
  const g = groupBy ? groupKeySql(groupBy, 'r', 'r.ts', p, ctx, period) : null;
  const cols = 'd.id, d.manager_id, d.source_id, d.pipeline_id, d.amount, s.semantic';
  const ctes = `${STAGE_PROB},
    rows AS (
      SELECT 'created'::text AS role, ${cols}, NULL::float8 AS cycle, NULL::boolean AS repeat,
             NULL::float8 AS prob, d.created_at AS ts
        FROM deals d JOIN stages s ON s.id = d.stage_id
       WHERE d.created_at >= ${start} AND d.created_at < ${end} ${f}
      UNION ALL
      SELECT 'closed', ${cols}, extract(epoch FROM d.closed_at - d.created_at)::float8 / 86400,
             CASE WHEN s.semantic = 'won' THEN
               (d.contact_id IS NOT NULL AND EXISTS (SELECT 1 FROM deals o
                  WHERE o.contact_id = d.contact_id AND o.created_at < d.created_at))
               OR (d.company_id IS NOT NULL AND EXISTS (SELECT 1 FROM deals o
                  WHERE o.company_id = d.company_id AND o.created_at < d.created_at))
             END,
             NULL, d.closed_at
        FROM deals d JOIN stages s ON s.id = d.stage_id
       WHERE d.closed_at >= ${start} AND d.closed_at < ${end} AND s.semantic IN ('won', 'lost') ${f}
      UNION ALL
      SELECT 'open', ${cols}, NULL, NULL, coalesce(s.probability, sp.p), ${now}
        FROM deals d JOIN stages s ON s.id = d.stage_id LEFT JOIN stage_prob sp ON sp.id = s.id
       WHERE s.semantic = 'open' ${f}
    ),
    base AS MATERIALIZED (
      SELECT r.*, ${g ? g.key : 'NULL::text'} AS gkey, ${g ? g.label : 'NULL::text'} AS glabel
        FROM rows r ${g ? g.joins : ''}
    )`;
  const won = `role = 'closed' AND semantic = 'won'`;
  const aggregates = `count(*) FILTER (WHERE role = 'created') AS created,
      count(*) FILTER (WHERE role = 'open') AS open,
      coalesce(sum(amount) FILTER (WHERE role = 'open'), 0) AS open_amount,
      count(*) FILTER (WHERE ${won}) AS won,
      coalesce(sum(amount) FILTER (WHERE ${won}), 0) AS won_amount,
      count(*) FILTER (WHERE role = 'closed' AND semantic = 'lost') AS lost,
      coalesce(sum(amount) FILTER (WHERE role = 'closed' AND semantic = 'lost'), 0) AS lost_amount,
      avg(cycle) FILTER (WHERE ${won}) AS cycle_days,
      percentile_cont(0.5) WITHIN GROUP (ORDER BY cycle) FILTER (WHERE ${won}) AS cycle_days_median,
      count(*) FILTER (WHERE ${won} AND repeat) AS won_repeat,
      coalesce(sum(amount * prob) FILTER (WHERE role = 'open'), 0) AS weighted_open`;
  return runGrouped(ctx, p, ctes, aggregates, g !== null);
}

/**
 * dealTotalsRaw from deal_rollup: deals created (kind c) and closed (kind w)
 * on the local days of the period, open now (kind o); the cycle median from
 * the cycles of the won deals themselves (deal_facts_won_idx).
 */
async function dealTotalsFromRollups(
  ctx: MetricContext,
  filters: ResolvedFilters,
  period: ResolvedPeriod,
  groupBy: GroupBy | undefined,
): Promise<{ total: Row; groups: Row[] }> {
  const p = new Params();
  const f = recordFilterSql(p, filters, 'deal', 'r');
  const cube = dealCube(filters, groupBy);
  const months = groupBy !== 'day' && groupBy !== 'week';
  // Noon of the local day stands for the moments of that day in a time group.
  const dayMoment = `((r.day::timestamp + interval '12 hours') AT TIME ZONE ${p.add(ctx.tz)}::text)`;
  const now = `${p.add(ctx.now.toISOString())}::timestamptz`;
  const g = groupBy ? groupKeySql(groupBy, 'x', 'x.ts', p, ctx, period) : null;
  const cols = 'r.manager_id, r.source_id, r.pipeline_id, r.deals, r.amount';
  const ctes = `${STAGE_PROB},
    rows AS (
      SELECT 'created'::text AS role, ${cols}, NULL::text AS semantic, 0::numeric AS cycle_seconds,
             0::bigint AS repeats, NULL::float8 AS prob, ${dayMoment} AS ts
        FROM deal_rollup r
       WHERE r.kind = 'c' AND r.stage_id IS NULL AND ${periodDays(p, 'r', cube, period, months)} ${f}
      UNION ALL
      SELECT 'closed', ${cols}, s.semantic, r.cycle_seconds, r.repeats, NULL, ${dayMoment}
        FROM deal_rollup r JOIN stages s ON s.id = r.stage_id AND s.semantic IN ('won', 'lost')
       WHERE r.kind = 'w' AND ${periodDays(p, 'r', cube, period, months)} ${f}
      UNION ALL
      SELECT 'open', ${cols}, s.semantic, 0, 0, coalesce(s.probability, sp.p), ${now}
        FROM deal_rollup r JOIN stages s ON s.id = r.stage_id AND s.semantic = 'open'
        LEFT JOIN stage_prob sp ON sp.id = s.id
       WHERE r.level = '${cube}d' AND r.kind = 'o' ${f}
    ),
    base AS MATERIALIZED (
      SELECT x.*, ${g ? g.key : 'NULL::text'} AS gkey, ${g ? g.label : 'NULL::text'} AS glabel
        FROM rows x ${g ? g.joins : ''}
    )`;
  const won = `role = 'closed' AND semantic = 'won'`;
  const aggregates = `coalesce(sum(deals) FILTER (WHERE role = 'created'), 0) AS created,
      coalesce(sum(deals) FILTER (WHERE role = 'open'), 0) AS open,
      coalesce(sum(amount) FILTER (WHERE role = 'open'), 0) AS open_amount,
      coalesce(sum(deals) FILTER (WHERE ${won}), 0) AS won,
      coalesce(sum(amount) FILTER (WHERE ${won}), 0) AS won_amount,
      coalesce(sum(deals) FILTER (WHERE role = 'closed' AND semantic = 'lost'), 0) AS lost,
      coalesce(sum(amount) FILTER (WHERE role = 'closed' AND semantic = 'lost'), 0) AS lost_amount,
      sum(cycle_seconds) FILTER (WHERE ${won}) / nullif(sum(deals) FILTER (WHERE ${won}), 0) / 86400 AS cycle_days,
      coalesce(sum(repeats) FILTER (WHERE ${won}), 0) AS won_repeat,
      coalesce(sum(amount * prob) FILTER (WHERE role = 'open'), 0) AS weighted_open`;
  const [{ total, groups }, medians] = await Promise.all([
    runGrouped(ctx, p, ctes, aggregates, g !== null),
    cycleMedians(ctx, filters, period, groupBy),
  ]);
  total.cycle_days_median = medians.total;
  for (const row of groups) row.cycle_days_median = medians.groups.get(String(row.gkey)) ?? null;
  return { total, groups };
}

/** Past this many time groups (a year by week or day), one sort of the period's cycles is cheaper. */
const MAX_CYCLE_PARTS = 31;

/** Median cycle (days) of the deals won in the period, in total and per group key of deal_stats. */
async function cycleMedians(
  ctx: MetricContext,
  filters: ResolvedFilters,
  period: ResolvedPeriod,
  groupBy: GroupBy | undefined,
): Promise<{ total: unknown; groups: Map<string, unknown> }> {
  // Exact, from the cycle histograms and one bucket of cycles per group instead of sorting the period's deals.
  const histograms = filters.sourceIds === null && filters.pipelineIds === null;
  const fromHistograms = (within: ResolvedPeriod, by?: 'manager' | 'department') =>
    delayPercentiles(ctx.db, {
      kind: 'cycle',
      period: within,
      tz: ctx.tz,
      now: ctx.now,
      managerIds: filters.managerIds,
      ...(by ? { groupBy: by } : {}),
      fractions: [0.5],
    });
  if (histograms && (groupBy === undefined || groupBy === 'manager' || groupBy === 'department')) {
    const found = await fromHistograms(period, groupBy);
    const groups = new Map<string, unknown>();
    for (const [key, [median] = []] of found)
      if (key !== null) groups.set(key === '' ? NONE_KEY : key, median);
    return { total: found.get(null)?.[0] ?? null, groups };
  }
  const parts = groupBy && isTimeGroup(groupBy) ? splitPeriod(period, groupBy, ctx.tz) : [];
  if (histograms && parts.length > 0 && parts.length <= MAX_CYCLE_PARTS) {
    // A time group is the median of its own part of the period.
    const [total, ...each] = await Promise.all(
      [period, ...parts.map((x) => x.period)].map(
        async (within) => (await fromHistograms(within)).get(null)?.[0],
      ),
    );
    return { total: total ?? null, groups: new Map(parts.map((x, i) => [x.key, each[i] ?? null])) };
  }
  const p = new Params();
  const g = groupBy ? groupKeySql(groupBy, 'd', 'd.closed_at', p, ctx, period) : null;
  // Text keys sort bytewise: the group sort is over a year of won deals, and the order does not matter.
  const gkeyC = g && !isTimeGroup(groupBy) ? `(${g.key}) COLLATE "C"` : g?.key;
  // Straight from the index, not through a materialized CTE: a year of won deals is a few hundred thousand rows.
  const rows = await ctx.db.query(
    `SELECT ${g ? 'GROUPING(gkey)' : '1'} AS is_total, ${g ? 'gkey' : 'NULL::text AS gkey'},
            percentile_cont(0.5) WITHIN GROUP (ORDER BY cycle) AS median
       FROM (SELECT extract(epoch FROM d.closed_at - d.created_at)::float8 / 86400 AS cycle,
                    ${g ? gkeyC : 'NULL::text'} AS gkey
               FROM deal_facts d ${g ? g.joins : ''}
              WHERE d.won AND d.closed_at >= ${p.add(period.start.toISOString())}::timestamptz
                AND d.closed_at < ${p.add(period.end.toISOString())}::timestamptz
                ${recordFilterSql(p, filters, 'deal', 'd')}) won
      ${g ? 'GROUP BY GROUPING SETS ((gkey), ())' : ''}`,
    p.values,
  );
  const total = rows.find((r) => Number(r.is_total) === 1) ?? {};
  const groups = rows.filter((r) => Number(r.is_total) !== 1 && r.gkey !== null);
  return { total: total.median ?? null, groups: new Map(groups.map((r) => [String(r.gkey), r.median])) };
}

/**
 * deal_stats' stage_time in total and per stage, and per the grouping asked:
 * one statement over the stays when the rollups serve both.
 */
async function dealStageTimes(
  ctx: MetricContext,
  filters: ResolvedFilters,
  period: ResolvedPeriod,
  groupBy: GroupBy | undefined,
  rollups: boolean,
): Promise<{ stageTimes: Omit<StageTimes, 'stages'>; groupTimes?: Omit<StageTimes, 'stages'> }> {
  if (rollups && groupBy && !isTimeGroup(groupBy)) {
    const t = await stageTimeFromRollups(ctx, filters, period, groupBy, undefined, true);
    return { stageTimes: { total: t.total, groups: t.stages }, groupTimes: t };
  }
  const [stageTimes, groupTimes] = await Promise.all([
    stageTime(ctx, filters, period, 'stage'),
    groupBy ? stageTime(ctx, filters, period, groupBy) : undefined,
  ]);
  return groupTimes ? { stageTimes, groupTimes } : { stageTimes };
}

/**
 * Сделки. created: created in the period; open/open_amount: in an open stage
 * now, any creation date; won/lost: closed_at in the period with a won/lost
 * stage (deals opened earlier included); cycle over those won deals; a won
 * deal is repeat when its contact or company has a deal created earlier.
 */
export async function dealStats(ctx: MetricContext, input: ToolInput): Promise<Envelope> {
  checkGroupBy('deal_stats', input.group_by, DEAL_STATS_GROUPS);
  const notes: string[] = [];
  const period = periodOf(ctx, input, 'this_month');
  if (!input.period) notes.push('Период не указан — взят текущий месяц.');
  const filters = dropChannelFilter(await resolveFilters(ctx.db, ctx.caller, input.filters), notes);
  const mode = forecastMode(ctx, period);
  const groupBy = input.group_by === 'stage' ? undefined : input.group_by;

  const fast = await useDealRollups(ctx, filters);
  // The queries are independent: on PostgreSQL they run side by side on the pool's connections.
  const [{ total, groups }, { stageTimes, groupTimes }] = await Promise.all([
    fast
      ? dealTotalsFromRollups(ctx, filters, period, groupBy)
      : dealTotalsRaw(ctx, filters, period, groupBy),
    dealStageTimes(ctx, filters, period, groupBy, fast),
  ]);
  const times = groupTimes ?? stageTimes;
  const figures = { ...dealFigures(total, mode), stage_time: stageTimes.total };
  const body: Omit<Envelope, 'metric' | 'period' | 'filters'> = { figures };

  const byStage = await dealsByStage(ctx, filters, period, stageTimes.groups);
  if (input.group_by === 'stage') body.groups = byStage;
  else body.series = { by_stage: byStage };
  if (groupBy) {
    const time = isTimeGroup(groupBy);
    body.groups = buildGroups(
      groupBy,
      groups,
      (r) => {
        const gf: Figures = {
          ...dealFigures(r, mode),
          stage_time: r ? (times.groups.get(String(r.gkey)) ?? null) : null,
        };
        if (time) {
          delete gf.open;
          delete gf.open_amount;
        }
        return gf;
      },
      'won_amount',
      ctx,
      period,
      'created',
    );
    if (time) notes.push('«В работе» — срез на текущий момент, по периодам не делится.');
  }

  notes.push('«В работе» — сделки в открытых этапах на текущий момент, независимо от даты создания.');
  if (mode === 'current') {
    notes.push(
      'Прогноз = продажи периода + сумма открытых сделок × вероятность их этапа; у сделок нет плановой даты закрытия, ' +
        'поэтому к текущему периоду относятся все открытые сделки.',
    );
  } else if (mode === 'past') {
    notes.push('Период завершён: прогноз равен фактическим продажам.');
  } else {
    notes.push('Для будущего периода прогноз не считается: у сделок нет плановой даты закрытия.');
  }
  if (input.group_by === 'stage') {
    notes.push(
      'По этапам: «в работе» — открытые сделки на этапе сейчас; «проваленные» — сделки, проигранные в периоде, ' +
        'по последнему открытому этапу перед провалом.',
    );
  }
  body.notes = notes;
  return envelope('deal_stats', period, filters, body);
}

// ---------------------------------------------------------------------------
// stage_funnel

/** Deals created on the local days of the period per pipeline (deal_rollup kind c). */
async function createdByPipeline(
  ctx: MetricContext,
  filters: ResolvedFilters,
  period: ResolvedPeriod,
  ids: string[],
): Promise<Map<string, number>> {
  const p = new Params();
  const rows = await ctx.db.query<{ pipeline_id: string; n: number }>(
    `SELECT r.pipeline_id, sum(r.deals) AS n FROM deal_rollup r
      WHERE r.kind = 'c' AND ${periodDays(p, 'r', dealCube(filters, undefined), period)}
        AND r.pipeline_id = ANY(${p.add(ids)}::text[])
        ${recordFilterSql(p, filters, 'deal', 'r', { pipelines: false })}
      GROUP BY 1`,
    p.values,
  );
  return new Map(rows.map((r) => [r.pipeline_id, Number(r.n)]));
}

/** stageReach for deals from deal_rollup: the cohort from kind c, the reach of each stage from kind r. */
async function stageReachFromRollups(
  ctx: MetricContext,
  pipelineId: string,
  filters: ResolvedFilters,
  period: ResolvedPeriod,
): ReturnType<typeof stageReach> {
  const p = new Params();
  const pid = p.add(pipelineId);
  const days = periodDays(p, 'r', dealCube(filters, undefined), period);
  const f = recordFilterSql(p, filters, 'deal', 'r', { pipelines: false });
  const rows = await ctx.db.query(
    `WITH counts AS (
       SELECT r.stage_id, sum(r.deals) AS reached FROM deal_rollup r
        WHERE r.kind = 'r' AND r.pipeline_id = ${pid} AND ${days} ${f}
        GROUP BY 1
     )
     SELECT s.id, s.name, s.sort, s.semantic, coalesce(k.reached, 0) AS reached,
            (SELECT coalesce(sum(r.deals), 0) FROM deal_rollup r
              WHERE r.kind = 'c' AND r.pipeline_id = ${pid} AND ${days} ${f}) AS cohort
       FROM stages s LEFT JOIN counts k ON k.stage_id = s.id
      WHERE s.pipeline_id = ${pid}
      ORDER BY s.sort, s.id`,
    p.values,
  );
  const cohort = num(rows[0]?.cohort) ?? 0;
  return {
    cohort,
    stages: rows.map((r) => ({
      id: String(r.id),
      name: String(r.name),
      sort: Number(r.sort),
      semantic: r.semantic as 'open' | 'won' | 'lost',
      reached: num(r.reached) ?? 0,
    })),
  };
}

/**
 * Конверсия по этапам: of the deals created in the period in one pipeline, the
 * share that reached each stage (history or current stage), and the
 * conversion of a stage to the next one along the funnel (open stages, then
 * won): reached next / reached this. Lost stages are listed without a conversion.
 */
export async function stageFunnel(ctx: MetricContext, input: ToolInput): Promise<Envelope> {
  checkGroupBy('stage_funnel', input.group_by, ['stage']);
  const notes: string[] = [];
  const period = periodOf(ctx, input, 'this_month');
  if (!input.period) notes.push('Период не указан — взят текущий месяц.');
  const filters = dropChannelFilter(await resolveFilters(ctx.db, ctx.caller, input.filters), notes);
  const fast = await useDealRollups(ctx, filters);
  const pipeline = await choosePipeline(
    ctx,
    'deal',
    filters,
    period,
    notes,
    fast ? (ids) => createdByPipeline(ctx, filters, period, ids) : undefined,
  );
  const { cohort, stages } = fast
    ? await stageReachFromRollups(ctx, pipeline.id, filters, period)
    : await stageReach(ctx, 'deal', pipeline.id, filters, period);
  const times = await stageTime(ctx, { ...filters, pipelineIds: null }, period, 'stage', pipeline.id);
  const chain = stages.filter((s) => s.semantic !== 'lost');
  const conversion = new Map<string, number | null>();
  chain.forEach((s, i) => {
    const next = chain[i + 1];
    conversion.set(s.id, next ? ratio(next.reached, s.reached) : null);
  });
  const groups = stages.map((s) => ({
    key: s.id,
    label: s.name,
    figures: {
      reached: s.reached,
      stage_reach: ratio(s.reached, cohort),
      stage_conversion: conversion.get(s.id) ?? null,
      stage_time: s.semantic === 'open' ? (times.groups.get(s.id) ?? null) : null,
    },
  }));
  notes.push(
    'Доля сделок периода, побывавших на этапе (по истории этапов и текущему этапу; пропущенные этапы не засчитываются); ' +
      'конверсия этапа — дошли до следующего / дошли до этого.',
  );
  if ([...conversion.values()].some((v) => v !== null && v > 1)) {
    notes.push('Часть сделок перескакивала этапы, поэтому конверсия некоторых этапов больше 100 %.');
  }
  notes.push('Время на этапе — по всем сделкам воронки, находившимся на этапе в периоде.');
  return envelope('stage_funnel', period, filters, {
    figures: { created: cohort, stage_time: times.total },
    groups,
    notes,
  });
}

// ---------------------------------------------------------------------------
// forgotten_deals

export function forgottenDeals(ctx: MetricContext, input: ToolInput): Promise<Envelope> {
  return forgottenRecords(ctx, input, { tool: 'forgotten_deals', kind: 'deal', defaultDays: 14 });
}

// ---------------------------------------------------------------------------
// deals_without_tasks

/** Сделки без задач: open deals now with no unclosed linked task and no linked activity with a deadline not completed. */
export async function dealsWithoutTasks(ctx: MetricContext, input: ToolInput): Promise<Envelope> {
  checkGroupBy('deals_without_tasks', input.group_by, ['manager']);
  const notes: string[] = [];
  const period = snapshotOf(ctx, { ...input, period: undefined }).period;
  if (input.period) notes.push('Это срез на текущий момент: период не применяется.');
  const filters = dropChannelFilter(await resolveFilters(ctx.db, ctx.caller, input.filters), notes);
  const limit = input.limit ?? DEFAULT_LIMIT;
  const noTasks = `NOT EXISTS (SELECT 1 FROM tasks t WHERE t.entity = 'deal' AND t.entity_id = d.id AND t.closed_at IS NULL)
      AND NOT EXISTS (SELECT 1 FROM activities a WHERE a.entity = 'deal' AND a.entity_id = d.id
                        AND a.deadline IS NOT NULL AND a.completed_at IS NULL)`;

  const { open } = await stageIdsByState(ctx);

  const p = new Params();
  const g = input.group_by === 'manager' ? groupKeySql('manager', 'd', 'd.created_at', p, ctx, period) : null;
  const ctes = `base AS MATERIALIZED (
      SELECT d.amount, (${noTasks}) AS no_tasks,
             ${g ? g.key : 'NULL::text'} AS gkey, ${g ? g.label : 'NULL::text'} AS glabel
        FROM deals d
        ${g ? g.joins : ''}
       WHERE d.stage_id = ANY(${p.add(open)}::text[]) ${recordFilterSql(p, filters, 'deal', 'd')}
    )`;
  const aggregates = `count(*) FILTER (WHERE no_tasks) AS n, coalesce(sum(amount) FILTER (WHERE no_tasks), 0) AS amount,
      count(*) AS open`;
  const { total, groups } = await runGrouped(ctx, p, ctes, aggregates, g !== null);
  const figuresOf = (r: Row | undefined): Figures => ({
    deals_without_tasks: num(r?.n) ?? 0,
    amount: num(r?.amount) ?? 0,
    open: num(r?.open) ?? 0,
  });

  const pi = new Params();
  const rows = await ctx.db.query(
    // The page is chosen over the narrow open-deal rows; titles are read for it only.
    `SELECT x.id, x.title, x.amount, x.created_at, x.last_activity_at, st.name AS stage_name,
            coalesce(m.name, ${sqlText(NO_MANAGER_LABEL)}) AS manager_name
       FROM (SELECT d.id, d.amount, d.created_at FROM deals d
              WHERE d.stage_id = ANY(${pi.add(open)}::text[]) AND ${noTasks} ${recordFilterSql(pi, filters, 'deal', 'd')}
              ORDER BY d.amount DESC, d.created_at, d.id
              LIMIT ${pi.add(limit)}) top
       JOIN deals x ON x.id = top.id
       JOIN stages st ON st.id = x.stage_id
       LEFT JOIN managers m ON m.id = x.manager_id
      ORDER BY top.amount DESC, top.created_at, top.id`,
    pi.values,
  );
  const items: EnvelopeItem[] = rows.map((r) => ({
    id: String(r.id),
    title: (r.title as string | null) ?? null,
    manager: String(r.manager_name),
    amount: num(r.amount),
    stage: r.stage_name,
    created_at: isoOrNull(r.created_at),
    last_activity_at: isoOrNull(r.last_activity_at),
  }));
  const figures = figuresOf(total);
  const body: Omit<Envelope, 'metric' | 'period' | 'filters'> = { figures, items };
  if (g)
    body.groups = buildGroups('manager', groups, figuresOf, 'deals_without_tasks', ctx, period, 'amount');
  notes.unshift(
    'Открытые сделки без незакрытой задачи и без дела со сроком, которое ещё не выполнено; на текущий момент.',
  );
  if ((figures.deals_without_tasks ?? 0) > items.length) {
    notes.push(`В списке ${items.length} из ${figures.deals_without_tasks} — самые крупные по сумме.`);
  }
  body.notes = notes;
  return envelope('deals_without_tasks', period, filters, body);
}

// ---------------------------------------------------------------------------
// list_records

type ListKind = 'deals' | 'leads';
type ListStatus = NonNullable<ToolInput['status']>;

const DEAL_STATUSES: readonly ListStatus[] = ['created', 'won', 'lost', 'open'];
const LEAD_STATUSES: readonly ListStatus[] = ['received', 'new', 'in_work', 'qualified', 'junk', 'open'];

const LIST_WORDS: Record<ListKind, Partial<Record<ListStatus, string>>> = {
  deals: {
    created: 'Сделки, созданные в периоде',
    won: 'Успешные сделки, закрытые в периоде',
    lost: 'Проваленные сделки, закрытые в периоде',
    open: 'Сделки в работе на текущий момент',
  },
  leads: {
    received: 'Лиды, поступившие в периоде',
    new: 'Новые (неразобранные) лиды из поступивших в периоде',
    in_work: 'Лиды в работе из поступивших в периоде',
    qualified: 'Качественные лиды из поступивших в периоде',
    junk: 'Некачественные лиды из поступивших в периоде',
    open: 'Открытые лиды на текущий момент',
  },
};

async function resolveStage(
  ctx: MetricContext,
  kind: RecordKind,
  value: string,
): Promise<{ ids: string[]; name: string }> {
  const rows = await ctx.db.query<{ id: string; name: string }>(
    `SELECT s.id, s.name FROM stages s JOIN pipelines p ON p.id = s.pipeline_id WHERE p.entity = $1`,
    [kind],
  );
  const wanted = normalizeName(value);
  const hits = rows.filter((r) => r.id === value || normalizeName(r.name) === wanted);
  if (hits.length === 0) {
    throw new AppError('unknown_filter', `Unknown ${kind} stage "${value}"`, `Не нашёл этап «${value}».`);
  }
  return { ids: hits.map((h) => h.id), name: hits[0]!.name };
}

/**
 * Drill-down lists behind the lead and deal figures: deals created / won /
 * lost in the period or open now; leads of the period (all, new, in work,
 * qualified, junk) or open now; optionally only those now in one stage.
 */
export async function listRecords(ctx: MetricContext, input: ToolInput): Promise<Envelope> {
  checkGroupBy('list_records', input.group_by, []);
  const which: ListKind = input.which ?? 'deals';
  const status: ListStatus =
    input.status ?? (which === 'deals' ? (input.period ? 'created' : 'open') : 'received');
  const allowed = which === 'deals' ? DEAL_STATUSES : LEAD_STATUSES;
  if (!allowed.includes(status)) {
    throw new AppError(
      'bad_list',
      `list_records: status ${status} does not apply to ${which}`,
      which === 'deals'
        ? 'Списки сделок: созданные, успешные, проваленные или в работе.'
        : 'Списки лидов: поступившие, новые, в работе, качественные, некачественные или открытые.',
    );
  }
  const notes: string[] = [];
  const snapshot = status === 'open';
  const period = snapshot
    ? snapshotOf(ctx, { ...input, period: undefined }).period
    : periodOf(ctx, input, 'this_month');
  if (snapshot && input.period) notes.push('Список на текущий момент: период не применяется.');
  if (!snapshot && !input.period) notes.push('Период не указан — взят текущий месяц.');
  const filters = dropChannelFilter(await resolveFilters(ctx.db, ctx.caller, input.filters), notes);
  const kind: RecordKind = which === 'deals' ? 'deal' : 'lead';
  const limit = input.limit ?? DEFAULT_LIMIT;

  const p = new Params();
  const inPeriod = (col: string) =>
    `${col} >= ${p.add(period.start.toISOString())}::timestamptz AND ${col} < ${p.add(period.end.toISOString())}::timestamptz`;
  // What a status asks of the current stage (s, with fo = its pipeline's first open stage) and of the record (x).
  const condition = (): { stage: string; record: string } => {
    switch (status) {
      case 'open':
        return { stage: `s.semantic = 'open'`, record: 'true' };
      case 'won':
      case 'lost':
        return { stage: `s.semantic = '${status}'`, record: inPeriod('x.closed_at') };
      case 'new':
        return { stage: `s.semantic = 'open' AND s.sort = fo.sort`, record: inPeriod('x.created_at') };
      case 'in_work':
        return { stage: `s.semantic = 'open' AND s.sort > fo.sort`, record: inPeriod('x.created_at') };
      case 'qualified':
        return { stage: `s.semantic = 'won'`, record: inPeriod('x.created_at') };
      case 'junk':
        return { stage: `s.semantic = 'lost'`, record: inPeriod('x.created_at') };
      default:
        return { stage: 'true', record: inPeriod('x.created_at') };
    }
  };
  const cond = condition();
  // The stages a status means, bound as ids: the count and the page then read
  // only narrow index entries of the records, and titles only for the page.
  const stageRows = await ctx.db.query<{ id: string }>(
    `WITH first_open AS (SELECT pipeline_id, min(sort) AS sort FROM stages WHERE semantic = 'open' GROUP BY pipeline_id)
     SELECT s.id FROM stages s LEFT JOIN first_open fo ON fo.pipeline_id = s.pipeline_id
      WHERE ${cond.stage}`,
  );
  let where =
    `x.stage_id = ANY(${p.add(stageRows.map((r) => r.id))}::text[]) AND ${cond.record}` +
    recordFilterSql(p, filters, kind, 'x');
  if (input.stage) {
    const stage = await resolveStage(ctx, kind, input.stage);
    where += ` AND x.stage_id = ANY(${p.add(stage.ids)}::text[])`;
    filters.echo.stages = [stage.name];
  }
  const order: Record<ListStatus, string> = {
    created: 'x.created_at DESC',
    received: 'x.created_at DESC',
    new: 'x.created_at DESC',
    in_work: 'x.created_at DESC',
    qualified: 'x.created_at DESC',
    junk: 'x.created_at DESC',
    won: 'x.closed_at DESC',
    lost: 'x.closed_at DESC',
    open: kind === 'deal' ? 'x.amount DESC, x.created_at' : 'x.created_at DESC',
  };
  const deal = kind === 'deal';
  const table = deal ? 'deals' : 'leads';
  const countParams = [...p.values];
  const [[counts], rows] = await Promise.all([
    ctx.db.query(
      `SELECT count(*) AS total, ${deal ? 'coalesce(sum(x.amount), 0)' : 'NULL::numeric'} AS total_amount
         FROM ${table} x WHERE ${where}`,
      countParams,
    ),
    ctx.db.query(
      `SELECT x.id, x.title, x.created_at, x.closed_at, ${deal ? 'x.amount, x.lost_reason' : 'x.city'},
              s.name AS stage_name, coalesce(m.name, ${sqlText(NO_MANAGER_LABEL)}) AS manager_name,
              coalesce(so.name, ${sqlText(NO_SOURCE_LABEL)}) AS source_name
         FROM (SELECT x.id FROM ${table} x WHERE ${where}
                ORDER BY ${order[status]}, x.id LIMIT ${p.add(limit)}) page
         JOIN ${table} x ON x.id = page.id
         JOIN stages s ON s.id = x.stage_id
         LEFT JOIN managers m ON m.id = x.manager_id
         LEFT JOIN sources so ON so.id = x.source_id
        ORDER BY ${order[status]}, x.id`,
      p.values,
    ),
  ]);
  const total = num(counts?.total) ?? 0;
  const figures: Figures = { total };
  if (deal) figures.amount = num(counts?.total_amount) ?? 0;
  const items: EnvelopeItem[] = rows.map((r) => {
    const item: EnvelopeItem = {
      id: String(r.id),
      title: (r.title as string | null) ?? null,
      manager: String(r.manager_name),
      stage: r.stage_name,
      source: r.source_name,
      created_at: isoOrNull(r.created_at),
      closed_at: isoOrNull(r.closed_at),
    };
    if (deal) {
      item.amount = num(r.amount);
      if (status === 'lost') item.lost_reason = r.lost_reason ?? null;
    } else {
      item.city = r.city ?? null;
    }
    return item;
  });
  notes.unshift(`${LIST_WORDS[which][status]}.`);
  if (total > items.length) notes.push(`Показаны ${items.length} из ${total}.`);
  return envelope('list_records', period, filters, { figures, items, notes });
}

// ---------------------------------------------------------------------------
// Tools

export const dealTools: MetricTool[] = [
  {
    name: 'deal_stats',
    description:
      'Сделки за период: создано (created), в работе сейчас (open, open_amount), успешные (won, won_amount), ' +
      'проваленные (lost, lost_amount), средний чек (avg_check), конверсия сделок (win_rate), цикл сделки в днях ' +
      '(cycle_days, cycle_days_median), новые и повторные продажи (won_new, won_repeat), время на этапе (stage_time), ' +
      'прогноз продаж (forecast_amount). По этапам (series.by_stage, или groups при group_by=stage): сделки в работе и их сумма ' +
      'на каждом этапе, проваленные по этапу, на котором отвалились, время на этапе. ' +
      'Разбивка по менеджерам, отделам, источникам, воронкам, этапам, дням, неделям, месяцам, кварталам.',
    explain:
      'Успешные и проваленные — сделки, закрытые в периоде (даже если созданы раньше); конверсия — успешные / (успешные + проваленные), ' +
      'средний чек — сумма продаж / число успешных, цикл — дни от создания до закрытия успешных сделок. ' +
      '«В работе» — открытые сделки сейчас; повторная продажа — у контакта или компании была сделка, созданная раньше. ' +
      'Прогноз — продажи периода плюс открытые сделки × вероятность этапа (из настроек этапа, иначе от 10 % на первом ' +
      'до 90 % на последнем открытом этапе); открытые сделки добавляются только для текущего периода.',
    defaultPeriod: 'this_month',
    groupBy: DEAL_STATS_GROUPS,
    options: [],
    run: dealStats,
  },
  {
    name: 'stage_funnel',
    description:
      'Конверсия по этапам воронки сделок: для сделок, созданных в периоде, — сколько дошли до каждого этапа (reached), ' +
      'доля (stage_reach), конверсия этапа в следующий (stage_conversion) и среднее время на этапе в днях (stage_time); ' +
      'created — всего сделок периода. Одна воронка: из фильтра, иначе с наибольшим числом сделок.',
    explain:
      'Для сделок, созданных в периоде, смотрим, на каких этапах они побывали — по истории этапов и текущему этапу; пропущенные ' +
      'этапы не засчитываются. Конверсия этапа — сколько дошли до следующего этапа / сколько дошли до этого. ' +
      'Время на этапе — среднее число дней от входа в этап до перехода дальше (текущий этап — до конца периода).',
    defaultPeriod: 'this_month',
    groupBy: ['stage'],
    options: [],
    run: stageFunnel,
  },
  {
    name: 'forgotten_deals',
    description:
      'Забытые сделки (forgotten_deals, сумма forgotten_amount): открытые сделки без активности дольше N дней ' +
      '(days, по умолчанию 14) на текущий момент или на конец прошедшего периода; список с днями без активности ' +
      '(days_idle), этапом, суммой; разбивка по менеджерам.',
    explain:
      'Сделка забыта, если она открыта и её последняя активность раньше, чем N×24 часа до момента отсчёта (сейчас или конец прошедшего периода). ' +
      'Активность — создание, смена этапа, дела и задачи по сделке, звонки по сделке и звонки на телефоны её контакта; ' +
      'дела на контакте или компании и сроки не считаются.',
    defaultPeriod: undefined,
    groupBy: ['manager'],
    options: ['days', 'limit'],
    run: forgottenDeals,
  },
  {
    name: 'deals_without_tasks',
    description:
      'Сделки без задач (deals_without_tasks, их сумма amount, всего открытых open): открытые сделки, у которых нет ' +
      'незакрытой задачи и нет дела со сроком, которое не выполнено; список и разбивка по менеджерам.',
    explain:
      'Берём сделки в открытых этапах на текущий момент и оставляем те, у которых нет ни одной незакрытой задачи по сделке ' +
      'и ни одного дела по сделке со сроком и без отметки о выполнении.',
    defaultPeriod: undefined,
    groupBy: ['manager'],
    options: ['limit'],
    run: dealsWithoutTasks,
  },
  {
    name: 'list_records',
    description:
      'Список сделок или лидов (which: deals | leads). Сделки (status): created — созданные в периоде, won — успешные, ' +
      'lost — проваленные (закрытые в периоде), open — в работе сейчас. Лиды: received — поступившие в периоде, new, ' +
      'in_work, qualified, junk — из поступивших по текущей стадии, open — открытые сейчас. stage — только записи на этом ' +
      'этапе. Фигуры: total (всего записей), amount (сумма сделок).',
    explain:
      'Список записей, стоящих за цифрой: те же правила, что в показателях сделок и лидов (успешные и проваленные — по дате ' +
      'закрытия в периоде, лиды — по дате создания, «в работе» и «открытые» — на текущий момент).',
    defaultPeriod: 'this_month',
    groupBy: [],
    options: ['which', 'status', 'stage', 'limit'],
    run: listRecords,
  },
];
